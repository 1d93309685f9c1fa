/*
 * A UDP socket read in batches, for the UDP listener thread (src/ingest/udp-listener.ts).
 *
 * Node's dgram hands JavaScript one datagram a time: a system call, a buffer, a sender object and
 * a callback each, which at high rates costs more than everything edgeban does with the datagram.
 * Here one recvmmsg(2) fills up to a batch of fixed slots, each with its sender's raw address, and
 * JavaScript walks them. The socket is blocking with a receive timeout, so that the thread sleeps in
 * the kernel while nothing comes and still looks at its commands a few times a second.
 *
 * Functions (all synchronous; a failed system call throws an Error with `syscall` and `errno`):
 *   open(host, port, ipv6, receiveBufferBytes, waitMs) -> [fd, boundPort]
 *   receive(fd, slots: Uint8Array, slotBytes, meta: Int32Array) -> count
 *       meta holds META_STRIDE int32 a datagram: length, truncated (0/1), family (4/6), the
 *       address as four 32-bit words, most significant first (IPv4 in the first), port
 *   close(fd)
 */
#define _GNU_SOURCE
#define NAPI_VERSION 8
#include <node_api.h>

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdint.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

#define META_STRIDE 8
#define MAX_BATCH 256

/* Throws an Error whose `syscall` and `errno` (negative, as Node's) JavaScript turns into Node's form. */
static napi_value throw_errno(napi_env env, const char *syscall, int error) {
  napi_value message, error_value, syscall_value, errno_value;
  napi_create_string_utf8(env, strerror(error), NAPI_AUTO_LENGTH, &message);
  napi_create_error(env, NULL, message, &error_value);
  napi_create_string_utf8(env, syscall, NAPI_AUTO_LENGTH, &syscall_value);
  napi_create_int32(env, -error, &errno_value);
  napi_set_named_property(env, error_value, "syscall", syscall_value);
  napi_set_named_property(env, error_value, "errno", errno_value);
  napi_throw(env, error_value);
  return NULL;
}

static napi_value throw_type(napi_env env, const char *message) {
  napi_throw_type_error(env, NULL, message);
  return NULL;
}

static int32_t int_arg(napi_env env, napi_value value) {
  int32_t out = 0;
  napi_get_value_int32(env, value, &out);
  return out;
}

/* A bound socket for the host (an IP literal), or -1 with errno set and `what` naming the step. */
static int open_socket(const char *host, int port, int ipv6, int receive_buffer, int wait_ms, const char **what) {
  struct sockaddr_storage address;
  socklen_t length;
  memset(&address, 0, sizeof address);
  if (ipv6) {
    struct sockaddr_in6 *six = (struct sockaddr_in6 *)&address;
    six->sin6_family = AF_INET6;
    six->sin6_port = htons((uint16_t)port);
    length = sizeof *six;
    if (inet_pton(AF_INET6, host, &six->sin6_addr) != 1) return (*what = "bind", errno = EINVAL, -1);
  } else {
    struct sockaddr_in *four = (struct sockaddr_in *)&address;
    four->sin_family = AF_INET;
    four->sin_port = htons((uint16_t)port);
    length = sizeof *four;
    if (inet_pton(AF_INET, host, &four->sin_addr) != 1) return (*what = "bind", errno = EINVAL, -1);
  }
  int fd = socket(ipv6 ? AF_INET6 : AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return (*what = "socket", -1);
  int off = 0;
  struct timeval wait = {.tv_sec = wait_ms / 1000, .tv_usec = (wait_ms % 1000) * 1000};
  /* as Node's udp6 sockets: "::" takes IPv4 senders too */
  if ((ipv6 && setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &off, sizeof off) != 0) ||
      (receive_buffer > 0 && setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &receive_buffer, sizeof receive_buffer) != 0) ||
      setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &wait, sizeof wait) != 0) {
    int error = errno;
    close(fd);
    return (*what = "setsockopt", errno = error, -1);
  }
  if (bind(fd, (struct sockaddr *)&address, length) != 0) {
    int error = errno;
    close(fd);
    return (*what = "bind", errno = error, -1);
  }
  return fd;
}

static int bound_port(int fd) {
  struct sockaddr_storage address;
  socklen_t length = sizeof address;
  if (getsockname(fd, (struct sockaddr *)&address, &length) != 0) return -1;
  if (address.ss_family == AF_INET6) return ntohs(((struct sockaddr_in6 *)&address)->sin6_port);
  return ntohs(((struct sockaddr_in *)&address)->sin_port);
}

/* A thread that ends without close() (terminated, or the process exits) must not keep the port bound. */
static void close_at_exit(void *fd) { close((int)(intptr_t)fd); }

static napi_value js_open(napi_env env, napi_callback_info info) {
  size_t argc = 5;
  napi_value argv[5];
  napi_get_cb_info(env, info, &argc, argv, NULL, NULL);
  if (argc < 5) return throw_type(env, "open(host, port, ipv6, receiveBufferBytes, waitMs)");
  char host[64];
  size_t host_length = 0;
  if (napi_get_value_string_utf8(env, argv[0], host, sizeof host, &host_length) != napi_ok) return throw_type(env, "host must be a string");
  bool ipv6 = false;
  napi_get_value_bool(env, argv[2], &ipv6);
  const char *what = "open";
  int fd = open_socket(host, int_arg(env, argv[1]), ipv6, int_arg(env, argv[3]), int_arg(env, argv[4]), &what);
  if (fd < 0) return throw_errno(env, what, errno);
  napi_add_env_cleanup_hook(env, close_at_exit, (void *)(intptr_t)fd);
  napi_value result, fd_value, port_value;
  napi_create_array_with_length(env, 2, &result);
  napi_create_int32(env, fd, &fd_value);
  napi_create_int32(env, bound_port(fd), &port_value);
  napi_set_element(env, result, 0, fd_value);
  napi_set_element(env, result, 1, port_value);
  return result;
}

static void *typed_array_data(napi_env env, napi_value value, napi_typedarray_type want, size_t *length) {
  napi_typedarray_type type;
  void *data = NULL;
  bool is_typed = false;
  if (napi_is_typedarray(env, value, &is_typed) != napi_ok || !is_typed) return NULL;
  if (napi_get_typedarray_info(env, value, &type, length, &data, NULL, NULL) != napi_ok || type != want) return NULL;
  return data;
}

static void describe_sender(const struct sockaddr_storage *from, int32_t *meta) {
  memset(meta + 2, 0, 6 * sizeof *meta);
  if (from->ss_family == AF_INET) {
    const struct sockaddr_in *four = (const struct sockaddr_in *)from;
    meta[2] = 4;
    meta[3] = (int32_t)ntohl(four->sin_addr.s_addr);
    meta[7] = ntohs(four->sin_port);
  } else if (from->ss_family == AF_INET6) {
    const struct sockaddr_in6 *six = (const struct sockaddr_in6 *)from;
    uint32_t words[4];
    memcpy(words, &six->sin6_addr, sizeof words);
    meta[2] = 6;
    for (int i = 0; i < 4; i++) meta[3 + i] = (int32_t)ntohl(words[i]);
    meta[7] = ntohs(six->sin6_port);
  }
}

static napi_value js_receive(napi_env env, napi_callback_info info) {
  size_t argc = 4;
  napi_value argv[4];
  napi_get_cb_info(env, info, &argc, argv, NULL, NULL);
  if (argc < 4) return throw_type(env, "receive(fd, slots, slotBytes, meta)");
  int fd = int_arg(env, argv[0]);
  int slot_bytes = int_arg(env, argv[2]);
  size_t slots_length = 0, meta_length = 0;
  uint8_t *slots = typed_array_data(env, argv[1], napi_uint8_array, &slots_length);
  int32_t *meta = typed_array_data(env, argv[3], napi_int32_array, &meta_length);
  if (!slots || !meta || slot_bytes <= 0) return throw_type(env, "slots must be a Uint8Array, meta an Int32Array, slotBytes > 0");
  size_t count = slots_length / (size_t)slot_bytes;
  if (count > meta_length / META_STRIDE) count = meta_length / META_STRIDE;
  if (count > MAX_BATCH) count = MAX_BATCH;
  struct mmsghdr messages[MAX_BATCH];
  struct iovec vectors[MAX_BATCH];
  struct sockaddr_storage senders[MAX_BATCH];
  for (size_t i = 0; i < count; i++) {
    vectors[i].iov_base = slots + i * (size_t)slot_bytes;
    vectors[i].iov_len = (size_t)slot_bytes;
    memset(&messages[i].msg_hdr, 0, sizeof messages[i].msg_hdr);
    messages[i].msg_hdr.msg_iov = &vectors[i];
    messages[i].msg_hdr.msg_iovlen = 1;
    messages[i].msg_hdr.msg_name = &senders[i];
    messages[i].msg_hdr.msg_namelen = sizeof senders[i];
  }
  /* blocks until one datagram or the receive timeout, then takes what else waits without blocking */
  int received = count == 0 ? 0 : recvmmsg(fd, messages, (unsigned)count, MSG_WAITFORONE, NULL);
  if (received < 0) {
    int error = errno;
    /* a broken call is a bug: the thread dies, and the main thread restarts it */
    if (error == EBADF || error == ENOTSOCK || error == EFAULT || error == EINVAL) return throw_errno(env, "recvmmsg", error);
    /* anything else (no datagram within the wait, a signal, the kernel short of memory) passes;
       a pause keeps an error that persists from spinning the thread */
    if (error != EAGAIN && error != EWOULDBLOCK && error != EINTR) usleep(10000);
    received = 0;
  }
  for (int i = 0; i < received; i++) {
    int32_t *row = meta + (size_t)i * META_STRIDE;
    row[0] = (int32_t)messages[i].msg_len;
    row[1] = (messages[i].msg_hdr.msg_flags & MSG_TRUNC) ? 1 : 0;
    describe_sender(&senders[i], row);
  }
  napi_value result;
  napi_create_int32(env, received, &result);
  return result;
}

static napi_value js_close(napi_env env, napi_callback_info info) {
  size_t argc = 1;
  napi_value argv[1];
  napi_get_cb_info(env, info, &argc, argv, NULL, NULL);
  if (argc < 1) return NULL;
  int fd = int_arg(env, argv[0]);
  napi_remove_env_cleanup_hook(env, close_at_exit, (void *)(intptr_t)fd);
  close(fd);
  return NULL;
}

static napi_value export_function(napi_env env, napi_value exports, const char *name, napi_callback function) {
  napi_value value;
  napi_create_function(env, name, NAPI_AUTO_LENGTH, function, NULL, &value);
  napi_set_named_property(env, exports, name, value);
  return exports;
}

NAPI_MODULE_INIT() {
  export_function(env, exports, "open", js_open);
  export_function(env, exports, "receive", js_receive);
  export_function(env, exports, "close", js_close);
  napi_value stride;
  napi_create_int32(env, META_STRIDE, &stride);
  napi_set_named_property(env, exports, "META_STRIDE", stride);
  return exports;
}
