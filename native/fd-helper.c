// ringwire's fd helper: duplicates a socket's file descriptor so that a worker thread can
// adopt the socket (`new net.Socket({ fd })`) after the main thread closes its own copy.
// Node cannot transfer sockets to worker threads; this is the whole of the workaround.
#include <errno.h>
#include <fcntl.h>
#include <node_api.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

static int fd_argument(napi_env env, napi_callback_info info, const char *name) {
  size_t argc = 1;
  napi_value argv[1];
  int32_t fd = -1;
  if (napi_get_cb_info(env, info, &argc, argv, NULL, NULL) != napi_ok || argc < 1 ||
      napi_get_value_int32(env, argv[0], &fd) != napi_ok || fd < 0) {
    char message[96];
    snprintf(message, sizeof message, "%s(fd): fd must be a non-negative integer", name);
    napi_throw_type_error(env, NULL, message);
    return -1;
  }
  return fd;
}

static napi_value fail(napi_env env, const char *name, int fd) {
  char message[160];
  snprintf(message, sizeof message, "%s(%d) failed: %s", name, fd, strerror(errno));
  napi_throw_error(env, NULL, message);
  return NULL;
}

// dupFd(fd) -> a new descriptor for the same socket, close-on-exec; throws on failure.
static napi_value dup_fd(napi_env env, napi_callback_info info) {
  int fd = fd_argument(env, info, "dupFd");
  if (fd < 0) return NULL;
  int copy = fcntl(fd, F_DUPFD_CLOEXEC, 0);
  if (copy < 0) return fail(env, "dupFd", fd);
  napi_value result;
  napi_create_int32(env, copy, &result);
  return result;
}

// threadCpuMs() -> the calling thread's CPU time in ms (CLOCK_THREAD_CPUTIME_ID), for the
// benchmarks: event-loop utilization counts by the clock, and on a small machine the OS runs
// other threads on this one's core while its loop is busy.
static napi_value thread_cpu_ms(napi_env env, napi_callback_info info) {
  (void)info;
  struct timespec now;
  if (clock_gettime(CLOCK_THREAD_CPUTIME_ID, &now) != 0) return fail(env, "threadCpuMs", -1);
  napi_value result;
  napi_create_double(env, (double)now.tv_sec * 1e3 + (double)now.tv_nsec / 1e6, &result);
  return result;
}

NAPI_MODULE_INIT() {
  napi_value fn;
  napi_create_function(env, "dupFd", NAPI_AUTO_LENGTH, dup_fd, NULL, &fn);
  napi_set_named_property(env, exports, "dupFd", fn);
  napi_create_function(env, "threadCpuMs", NAPI_AUTO_LENGTH, thread_cpu_ms, NULL, &fn);
  napi_set_named_property(env, exports, "threadCpuMs", fn);
  return exports;
}
