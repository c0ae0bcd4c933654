{
  "targets": [
    {
      "target_name": "ringwire_fd",
      "sources": ["fd-helper.c"],
      "cflags": ["-O2", "-Wall"]
    }
  ]
}
