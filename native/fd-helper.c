// ringwire's fd helper: duplicates a socket's file descriptor so that a worker thread can
// adopt the socket (`new net.Socket({ fd })`) after the main thread closes its own copy.
// Node cannot transfer sockets to worker threads; this is the whole of the workaround.
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/ip.h>
#include <netinet/tcp.h>
#include <arpa/inet.h>
#include <node_api.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
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

// setSocketOption(fd, option, value, seconds) -> sets one of Panda3D's Connection options
// that Node has no call for, on a socket a shard owns. option: 1 SO_LINGER (value 0/1,
// seconds), 2 SO_REUSEADDR, 3 SO_RCVBUF, 4 SO_SNDBUF, 5 the unicast TTL / hop limit
// (IP_TTL, or IPV6_UNICAST_HOPS on an IPv6 socket), 6 TCP_MAXSEG. Throws on failure.
static napi_value set_socket_option(napi_env env, napi_callback_info info) {
  size_t argc = 4;
  napi_value argv[4];
  int32_t fd = -1, option = 0, value = 0, seconds = 0;
  if (napi_get_cb_info(env, info, &argc, argv, NULL, NULL) != napi_ok || argc < 4 ||
      napi_get_value_int32(env, argv[0], &fd) != napi_ok || fd < 0 ||
      napi_get_value_int32(env, argv[1], &option) != napi_ok ||
      napi_get_value_int32(env, argv[2], &value) != napi_ok ||
      napi_get_value_int32(env, argv[3], &seconds) != napi_ok) {
    napi_throw_type_error(env, NULL, "setSocketOption(fd, option, value, seconds): integers expected");
    return NULL;
  }
  int rc;
  if (option == 1) {
    struct linger linger = {value != 0, seconds};
    rc = setsockopt(fd, SOL_SOCKET, SO_LINGER, &linger, sizeof linger);
  } else if (option == 2) {
    rc = setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &value, sizeof value);
  } else if (option == 3) {
    rc = setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &value, sizeof value);
  } else if (option == 4) {
    rc = setsockopt(fd, SOL_SOCKET, SO_SNDBUF, &value, sizeof value);
  } else if (option == 5) {
    struct sockaddr_storage local;
    socklen_t length = sizeof local;
    if (getsockname(fd, (struct sockaddr *)&local, &length) != 0) return fail(env, "setSocketOption", fd);
    // A dual-stack IPv6 socket sends IPv4 too: it gets both the hop limit and the TTL.
    rc = setsockopt(fd, IPPROTO_IP, IP_TTL, &value, sizeof value);
    if (local.ss_family == AF_INET6) rc = setsockopt(fd, IPPROTO_IPV6, IPV6_UNICAST_HOPS, &value, sizeof value);
  } else if (option == 6) {
    rc = setsockopt(fd, IPPROTO_TCP, TCP_MAXSEG, &value, sizeof value);
  } else {
    napi_throw_range_error(env, NULL, "setSocketOption: unknown option");
    return NULL;
  }
  if (rc != 0) return fail(env, "setSocketOption", fd);
  napi_value result;
  napi_get_undefined(env, &result);
  return result;
}

// getSocketOption(fd, option) -> the option's value as the kernel holds it (for tests):
// 1 SO_LINGER (seconds, or -1 when off), 2..6 as above.
static napi_value get_socket_option(napi_env env, napi_callback_info info) {
  size_t argc = 2;
  napi_value argv[2];
  int32_t fd = -1, option = 0;
  if (napi_get_cb_info(env, info, &argc, argv, NULL, NULL) != napi_ok || argc < 2 ||
      napi_get_value_int32(env, argv[0], &fd) != napi_ok || fd < 0 ||
      napi_get_value_int32(env, argv[1], &option) != napi_ok) {
    napi_throw_type_error(env, NULL, "getSocketOption(fd, option): integers expected");
    return NULL;
  }
  int value = 0;
  socklen_t length = sizeof value;
  int rc;
  if (option == 1) {
    struct linger linger;
    socklen_t size = sizeof linger;
    rc = getsockopt(fd, SOL_SOCKET, SO_LINGER, &linger, &size);
    value = linger.l_onoff ? linger.l_linger : -1;
  } else if (option == 2) {
    rc = getsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &value, &length);
  } else if (option == 3) {
    rc = getsockopt(fd, SOL_SOCKET, SO_RCVBUF, &value, &length);
  } else if (option == 4) {
    rc = getsockopt(fd, SOL_SOCKET, SO_SNDBUF, &value, &length);
  } else if (option == 5) {
    struct sockaddr_storage local;
    socklen_t size = sizeof local;
    if (getsockname(fd, (struct sockaddr *)&local, &size) != 0) return fail(env, "getSocketOption", fd);
    rc = local.ss_family == AF_INET6 ? getsockopt(fd, IPPROTO_IPV6, IPV6_UNICAST_HOPS, &value, &length)
                                     : getsockopt(fd, IPPROTO_IP, IP_TTL, &value, &length);
  } else if (option == 6) {
    rc = getsockopt(fd, IPPROTO_TCP, TCP_MAXSEG, &value, &length);
  } else {
    napi_throw_range_error(env, NULL, "getSocketOption: unknown option");
    return NULL;
  }
  if (rc != 0) return fail(env, "getSocketOption", fd);
  napi_value result;
  napi_create_int32(env, value, &result);
  return result;
}

// bindSocket(kind, ip, port, reusePort) -> a new bound socket's fd (close-on-exec,
// non-blocking), for Node to listen on (TCP) or bind to (UDP) where Node has no reusePort.
// kind 1: TCP (SO_REUSEADDR, as Node sets it), 2: UDP. `ip` is an IPv4 or IPv6 literal;
// "::" is dual-stack (IPV6_V6ONLY off), as Node binds it. reusePort sets SO_REUSEPORT, so
// that several processes bind the same port and the kernel spreads the load over them.
static napi_value bind_socket(napi_env env, napi_callback_info info) {
  size_t argc = 4;
  napi_value argv[4];
  int32_t kind = 0, port = -1;
  bool reuse_port = false;
  char ip[64];
  size_t ip_length = 0;
  if (napi_get_cb_info(env, info, &argc, argv, NULL, NULL) != napi_ok || argc < 4 ||
      napi_get_value_int32(env, argv[0], &kind) != napi_ok ||
      napi_get_value_string_utf8(env, argv[1], ip, sizeof ip, &ip_length) != napi_ok ||
      napi_get_value_int32(env, argv[2], &port) != napi_ok ||
      napi_get_value_bool(env, argv[3], &reuse_port) != napi_ok || (kind != 1 && kind != 2) || port < 0 ||
      port > 65535) {
    napi_throw_type_error(env, NULL, "bindSocket(kind 1|2, ip, port, reusePort): bad arguments");
    return NULL;
  }
  struct sockaddr_storage address;
  memset(&address, 0, sizeof address);
  socklen_t length;
  int family;
  struct sockaddr_in *v4 = (struct sockaddr_in *)&address;
  struct sockaddr_in6 *v6 = (struct sockaddr_in6 *)&address;
  if (inet_pton(AF_INET, ip, &v4->sin_addr) == 1) {
    family = AF_INET;
    v4->sin_family = AF_INET;
    v4->sin_port = htons((uint16_t)port);
    length = sizeof *v4;
  } else if (inet_pton(AF_INET6, ip, &v6->sin6_addr) == 1) {
    family = AF_INET6;
    v6->sin6_family = AF_INET6;
    v6->sin6_port = htons((uint16_t)port);
    length = sizeof *v6;
  } else {
    napi_throw_type_error(env, NULL, "bindSocket: ip must be an IPv4 or IPv6 literal");
    return NULL;
  }
  int fd = socket(family, (kind == 1 ? SOCK_STREAM : SOCK_DGRAM) | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
  int on = 1, off = 0;
  int ok = fd >= 0;
  if (kind == 1 && setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &on, sizeof on) != 0) ok = 0;
  if (ok && reuse_port && setsockopt(fd, SOL_SOCKET, SO_REUSEPORT, &on, sizeof on) != 0) ok = 0;
  if (ok && family == AF_INET6 && IN6_IS_ADDR_UNSPECIFIED(&v6->sin6_addr) &&
      setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &off, sizeof off) != 0)
    ok = 0;
  if (ok && bind(fd, (struct sockaddr *)&address, length) != 0) ok = 0;
  if (!ok) {
    int saved = errno;
    if (fd >= 0) close(fd);
    errno = saved;
    char message[200];
    snprintf(message, sizeof message, "bind %s port %d failed: %s", ip, port, strerror(errno));
    napi_value code, text, error;
    const char *name = errno == EADDRINUSE        ? "EADDRINUSE"
                       : errno == EACCES          ? "EACCES"
                       : errno == EADDRNOTAVAIL   ? "EADDRNOTAVAIL"
                       : errno == EAFNOSUPPORT    ? "EAFNOSUPPORT"
                       : errno == EPROTONOSUPPORT ? "EPROTONOSUPPORT"
                       : errno == EMFILE          ? "EMFILE"
                       : errno == ENFILE          ? "ENFILE"
                       : errno == ENOBUFS         ? "ENOBUFS"
                       : errno == EINVAL          ? "EINVAL"
                                                  : "EBIND";
    napi_create_string_utf8(env, name, NAPI_AUTO_LENGTH, &code);
    napi_create_string_utf8(env, message, NAPI_AUTO_LENGTH, &text);
    napi_create_error(env, code, text, &error);
    napi_throw(env, error);
    return NULL;
  }
  napi_value result;
  napi_create_int32(env, fd, &result);
  return result;
}

NAPI_MODULE_INIT() {
  napi_value fn;
  napi_create_function(env, "dupFd", NAPI_AUTO_LENGTH, dup_fd, NULL, &fn);
  napi_set_named_property(env, exports, "dupFd", fn);
  napi_create_function(env, "threadCpuMs", NAPI_AUTO_LENGTH, thread_cpu_ms, NULL, &fn);
  napi_set_named_property(env, exports, "threadCpuMs", fn);
  napi_create_function(env, "setSocketOption", NAPI_AUTO_LENGTH, set_socket_option, NULL, &fn);
  napi_set_named_property(env, exports, "setSocketOption", fn);
  napi_create_function(env, "getSocketOption", NAPI_AUTO_LENGTH, get_socket_option, NULL, &fn);
  napi_set_named_property(env, exports, "getSocketOption", fn);
  napi_create_function(env, "bindSocket", NAPI_AUTO_LENGTH, bind_socket, NULL, &fn);
  napi_set_named_property(env, exports, "bindSocket", fn);
  return exports;
}
