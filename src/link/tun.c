/*
 * tun.c: the TUN device addon (Node-API, plain C).
 *
 * Opens a Linux TUN device, configures it with interface ioctls, and moves batches of
 * IPv4 packets between it and memory owned by JavaScript. No protocol logic lives here:
 * see tun-device.ts for the TypeScript wrapper and native-notes/README.md for the kernel
 * interface and the full ABI.
 *
 * Exports:
 *   open(name, batchSize, slotSize, rxBuf, rxLens, onBatch[, flags]) -> TunHandle
 *     flags: OPEN_OFFLOAD (1) = IFF_VNET_HDR + TUNSETOFFLOAD (checksum, TSO4, TSO6):
 *     every packet in both directions is prefixed by a 10-byte virtio_net_hdr, which this
 *     file passes through untouched; OPEN_MULTI_QUEUE (2) = IFF_MULTI_QUEUE: attach one
 *     more queue to the named device.
 *   setIpv4(name, address, prefix), getIpv4(name) -> {address, prefix} | null
 *   setMtu(name, mtu), getMtu(name) -> number
 *   setUp(name, up), isUp(name) -> boolean, setTxQueueLen(name, n)
 *   onesSum(buf, off, len, initial) -> number (the RFC 1071 sum, for wire/checksum.ts)
 *   copyBytes(src, srcOff, dst, dstOff, len) -> number (memmove, for wire/bytes.ts)
 * TunHandle methods: write(buf, off, len) -> boolean,
 *   writeBatch(buf, offsets, lengths, count) -> number, close(), ref(), unref();
 *   property name (the interface name the kernel assigned).
 * onBatch(count, truncated[, error]) is called once per wake-up that read something.
 *
 * Threading: everything runs on the Node main thread (or the worker that loaded the
 * addon); reads happen in a libuv poll callback, never on the thread pool.
 */
#define NAPI_VERSION 8

#include <node_api.h>
#include <uv.h>

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <linux/if_tun.h>
#include <linux/virtio_net.h>
#include <net/if.h>
#include <netinet/in.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <unistd.h>

#define TUN_CLONE_PATH "/dev/net/tun"

/* open()'s flags argument. */
#define OPEN_OFFLOAD 1u
#define OPEN_MULTI_QUEUE 2u

/* Abort the current binding call (returning NULL, i.e. undefined) when a Node-API call
 * fails; the failing call has already left an exception pending, or we raise one. */
#define NAPI_CHECK(env, call)                                                        \
  do {                                                                               \
    if ((call) != napi_ok) {                                                         \
      bool pending_ = false;                                                         \
      napi_is_exception_pending((env), &pending_);                                   \
      if (!pending_) napi_throw_error((env), NULL, "tun addon: " #call " failed");   \
      return NULL;                                                                   \
    }                                                                                \
  } while (0)

/* ------------------------------------------------------------------------------------ */
/* Errors: one factory, Node's shape (code, errno, syscall), and a hint naming the fix.  */

/* The fix for the common failures, or NULL when strerror says it all. */
static const char *error_hint(int err, const char *syscall, const char *ifname, char *scratch,
                              size_t scratch_len) {
  bool opening = strcmp(syscall, "open") == 0;
  switch (err) {
    case EPERM:
    case EACCES:
      return opening ? "needs CAP_NET_ADMIN: run as root or in a container with --cap-add NET_ADMIN"
                       " (and --device /dev/net/tun)"
                     : "needs CAP_NET_ADMIN: run as root or in a container with --cap-add NET_ADMIN";
    case ENOENT:
    case ENODEV:
    case ENXIO:
      if (opening) return "load the tun module (modprobe tun) or pass --device /dev/net/tun to the container";
      snprintf(scratch, scratch_len, "there is no interface named %s (was it deleted?)", ifname);
      return scratch;
    case EBUSY:
      snprintf(scratch, scratch_len, "device name %s is in use: pick another with --dev", ifname);
      return scratch;
    case EBADFD:
      snprintf(scratch, scratch_len, "the interface %s was deleted while open", ifname);
      return scratch;
    case EINVAL:
      if (strcmp(syscall, "ioctl(TUNSETIFF)") != 0) return NULL;
      snprintf(scratch, scratch_len,
               "%s is not a valid interface name, belongs to a device that is not a TUN device, or"
               " is a TUN device opened with other flags (--offload, --workers): pick another with --dev",
               ifname);
      return scratch;
    default:
      return NULL;
  }
}

/* An Error for a failed system call: err.code is the errno name ('EBUSY'), err.errno
 * the negated errno (Node's convention: -16), err.syscall the call ('ioctl(TUNSETIFF)'),
 * err.path the clone device for open(). `err` is a positive errno value. */
static napi_value make_syscall_error(napi_env env, int err, const char *syscall, const char *ifname) {
  char code[32];
  char hint_buf[256];
  char message[512];
  if (err == EBADFD) {
    /* libuv has no name for it; read() on a TUN fd whose interface was deleted says so. */
    snprintf(code, sizeof code, "EBADFD");
  } else {
    uv_err_name_r(-err, code, sizeof code);
  }
  const char *hint = error_hint(err, syscall, ifname, hint_buf, sizeof hint_buf);
  const char *subject = strcmp(syscall, "open") == 0 ? TUN_CLONE_PATH : ifname;
  snprintf(message, sizeof message, "%s: %s %s failed (%s)%s%s", code, syscall, subject, strerror(err),
           hint != NULL ? ": " : "", hint != NULL ? hint : "");

  napi_value code_v, msg_v, error, errno_v, syscall_v;
  if (napi_create_string_utf8(env, code, NAPI_AUTO_LENGTH, &code_v) != napi_ok ||
      napi_create_string_utf8(env, message, NAPI_AUTO_LENGTH, &msg_v) != napi_ok ||
      napi_create_error(env, code_v, msg_v, &error) != napi_ok ||
      napi_create_int32(env, -err, &errno_v) != napi_ok ||
      napi_create_string_utf8(env, syscall, NAPI_AUTO_LENGTH, &syscall_v) != napi_ok ||
      napi_set_named_property(env, error, "errno", errno_v) != napi_ok ||
      napi_set_named_property(env, error, "syscall", syscall_v) != napi_ok) {
    return NULL;
  }
  if (strcmp(syscall, "open") == 0) {
    napi_value path_v;
    if (napi_create_string_utf8(env, TUN_CLONE_PATH, NAPI_AUTO_LENGTH, &path_v) != napi_ok ||
        napi_set_named_property(env, error, "path", path_v) != napi_ok) {
      return NULL;
    }
  }
  return error;
}

/* Throw make_syscall_error(); always returns NULL so callers can `return throw_...`. */
static napi_value throw_syscall_error(napi_env env, int err, const char *syscall, const char *ifname) {
  napi_value error = make_syscall_error(env, err, syscall, ifname);
  if (error != NULL) napi_throw(env, error);
  return NULL;
}

/* ------------------------------------------------------------------------------------ */
/* Argument helpers.                                                                     */

/* An interface name: 1..IFNAMSIZ-1 bytes, no NUL. An empty string is allowed only where
 * `allow_empty` (TUNSETIFF then picks tunN). Throws and returns false otherwise. */
static bool get_ifname(napi_env env, napi_value v, char out[IFNAMSIZ], bool allow_empty) {
  size_t len = 0;
  if (napi_get_value_string_utf8(env, v, NULL, 0, &len) != napi_ok) {
    napi_throw_type_error(env, "ERR_INVALID_ARG_TYPE", "the interface name must be a string");
    return false;
  }
  char tmp[IFNAMSIZ];
  if (len < IFNAMSIZ) napi_get_value_string_utf8(env, v, tmp, sizeof tmp, &len);
  if (len >= IFNAMSIZ || strlen(tmp) != len || (len == 0 && !allow_empty)) {
    char msg[160];
    snprintf(msg, sizeof msg,
             "an interface name is 1 to %d bytes with no NUL (IFNAMSIZ - 1), not %zu: pick another with --dev",
             IFNAMSIZ - 1, len);
    napi_throw_range_error(env, "ERR_INVALID_ARG_VALUE", msg);
    return false;
  }
  memset(out, 0, IFNAMSIZ);
  memcpy(out, tmp, len);
  return true;
}

static bool get_u32(napi_env env, napi_value v, const char *what, uint32_t *out) {
  double d;
  if (napi_get_value_double(env, v, &d) != napi_ok || !(d >= 0 && d <= UINT32_MAX) || d != (double)(uint32_t)d) {
    char msg[96];
    snprintf(msg, sizeof msg, "%s must be an integer from 0 to 2^32-1", what);
    napi_throw_range_error(env, "ERR_OUT_OF_RANGE", msg);
    return false;
  }
  *out = (uint32_t)d;
  return true;
}

/* A typed array's first element and element count, checking its element type. */
static bool get_typed(napi_env env, napi_value v, napi_typedarray_type want, const char *what, void **data,
                      size_t *length) {
  bool is_typed = false;
  napi_typedarray_type type;
  if (napi_is_typedarray(env, v, &is_typed) != napi_ok || !is_typed ||
      napi_get_typedarray_info(env, v, &type, length, data, NULL, NULL) != napi_ok || type != want) {
    char msg[96];
    snprintf(msg, sizeof msg, "%s must be a %s", what, want == napi_uint32_array ? "Uint32Array" : "Buffer");
    napi_throw_type_error(env, "ERR_INVALID_ARG_TYPE", msg);
    return false;
  }
  return true;
}

/* ------------------------------------------------------------------------------------ */
/* Interface configuration: ioctls on an AF_INET datagram socket, by interface name.     */

/* Run one SIOC* ioctl; returns 0 or a positive errno, and names the failing call. */
static int ifreq_ioctl(unsigned long request, struct ifreq *ifr, const char **syscall, const char *name) {
  int fd = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
  if (fd < 0) {
    *syscall = "socket";
    return errno;
  }
  int err = ioctl(fd, request, ifr) < 0 ? errno : 0;
  close(fd);
  *syscall = name;
  return err;
}
#define IFREQ_IOCTL(request, ifr, syscall) ifreq_ioctl((request), (ifr), (syscall), "ioctl(" #request ")")

/* Parse (name, ...) into a zeroed ifreq; returns false with an exception pending. */
static bool ifreq_for(napi_env env, napi_callback_info info, size_t want, napi_value *argv, struct ifreq *ifr) {
  size_t argc = want;
  if (napi_get_cb_info(env, info, &argc, argv, NULL, NULL) != napi_ok) return false;
  memset(ifr, 0, sizeof *ifr);
  return get_ifname(env, argv[0], ifr->ifr_name, false);
}

static void put_sin(struct sockaddr *sa, uint32_t addr_be) {
  struct sockaddr_in sin;
  memset(&sin, 0, sizeof sin);
  sin.sin_family = AF_INET;
  sin.sin_addr.s_addr = addr_be;
  memcpy(sa, &sin, sizeof sin);
}

static uint32_t get_sin(const struct sockaddr *sa) {
  struct sockaddr_in sin;
  memcpy(&sin, sa, sizeof sin);
  return sin.sin_addr.s_addr;
}

/* setIpv4(name, address: string, prefix: number): SIOCSIFADDR then SIOCSIFNETMASK. */
static napi_value set_ipv4(napi_env env, napi_callback_info info) {
  napi_value argv[3];
  struct ifreq ifr;
  if (!ifreq_for(env, info, 3, argv, &ifr)) return NULL;
  char text[INET_ADDRSTRLEN + 1];
  size_t len = 0;
  struct in_addr addr;
  uint32_t prefix;
  if (napi_get_value_string_utf8(env, argv[1], text, sizeof text, &len) != napi_ok ||
      inet_pton(AF_INET, text, &addr) != 1) {
    napi_throw_type_error(env, "ERR_INVALID_ARG_VALUE", "the address must be a dotted-quad IPv4 address");
    return NULL;
  }
  if (!get_u32(env, argv[2], "the prefix length", &prefix)) return NULL;
  if (prefix > 32) {
    napi_throw_range_error(env, "ERR_OUT_OF_RANGE", "the prefix length must be 0 to 32");
    return NULL;
  }
  const char *syscall;
  put_sin(&ifr.ifr_addr, addr.s_addr);
  int err = IFREQ_IOCTL(SIOCSIFADDR, &ifr, &syscall);
  if (err != 0) return throw_syscall_error(env, err, syscall, ifr.ifr_name);
  /* A TUN device is point-to-point, so SIOCSIFADDR installs a /32; widen it. */
  uint32_t mask = prefix == 0 ? 0 : htonl(UINT32_MAX << (32 - prefix));
  put_sin(&ifr.ifr_netmask, mask);
  err = IFREQ_IOCTL(SIOCSIFNETMASK, &ifr, &syscall);
  if (err != 0) return throw_syscall_error(env, err, syscall, ifr.ifr_name);
  return NULL;
}

/* getIpv4(name) -> {address, prefix} | null (null when no IPv4 address is set). */
static napi_value get_ipv4(napi_env env, napi_callback_info info) {
  napi_value argv[1];
  struct ifreq ifr;
  if (!ifreq_for(env, info, 1, argv, &ifr)) return NULL;
  const char *syscall;
  int err = IFREQ_IOCTL(SIOCGIFADDR, &ifr, &syscall);
  napi_value result;
  if (err == EADDRNOTAVAIL) {
    NAPI_CHECK(env, napi_get_null(env, &result));
    return result;
  }
  if (err != 0) return throw_syscall_error(env, err, syscall, ifr.ifr_name);
  char text[INET_ADDRSTRLEN];
  struct in_addr addr = {.s_addr = get_sin(&ifr.ifr_addr)};
  inet_ntop(AF_INET, &addr, text, sizeof text);
  err = IFREQ_IOCTL(SIOCGIFNETMASK, &ifr, &syscall);
  if (err != 0) return throw_syscall_error(env, err, syscall, ifr.ifr_name);
  /* The kernel accepts only contiguous masks (bad_mask()), so the popcount is the prefix. */
  uint32_t prefix = (uint32_t)__builtin_popcount(get_sin(&ifr.ifr_netmask));
  napi_value address_v, prefix_v;
  NAPI_CHECK(env, napi_create_object(env, &result));
  NAPI_CHECK(env, napi_create_string_utf8(env, text, NAPI_AUTO_LENGTH, &address_v));
  NAPI_CHECK(env, napi_create_uint32(env, prefix, &prefix_v));
  NAPI_CHECK(env, napi_set_named_property(env, result, "address", address_v));
  NAPI_CHECK(env, napi_set_named_property(env, result, "prefix", prefix_v));
  return result;
}

/* setMtu(name, mtu): SIOCSIFMTU. */
static napi_value set_mtu(napi_env env, napi_callback_info info) {
  napi_value argv[2];
  struct ifreq ifr;
  uint32_t mtu;
  if (!ifreq_for(env, info, 2, argv, &ifr) || !get_u32(env, argv[1], "the MTU", &mtu)) return NULL;
  if (mtu > INT32_MAX) mtu = INT32_MAX; /* the kernel answers EINVAL */
  ifr.ifr_mtu = (int)mtu;
  const char *syscall;
  int err = IFREQ_IOCTL(SIOCSIFMTU, &ifr, &syscall);
  if (err != 0) return throw_syscall_error(env, err, syscall, ifr.ifr_name);
  return NULL;
}

/* getMtu(name) -> number: SIOCGIFMTU. */
static napi_value get_mtu(napi_env env, napi_callback_info info) {
  napi_value argv[1], result;
  struct ifreq ifr;
  if (!ifreq_for(env, info, 1, argv, &ifr)) return NULL;
  const char *syscall;
  int err = IFREQ_IOCTL(SIOCGIFMTU, &ifr, &syscall);
  if (err != 0) return throw_syscall_error(env, err, syscall, ifr.ifr_name);
  NAPI_CHECK(env, napi_create_int32(env, ifr.ifr_mtu, &result));
  return result;
}

/* setTxQueueLen(name, n): SIOCSIFTXQLEN, the packets the kernel queues for us to read. */
static napi_value set_tx_queue_len(napi_env env, napi_callback_info info) {
  napi_value argv[2];
  struct ifreq ifr;
  uint32_t qlen;
  if (!ifreq_for(env, info, 2, argv, &ifr) || !get_u32(env, argv[1], "the queue length", &qlen)) return NULL;
  if (qlen > INT32_MAX) qlen = INT32_MAX; /* the kernel answers EINVAL */
  ifr.ifr_qlen = (int)qlen;
  const char *syscall;
  int err = IFREQ_IOCTL(SIOCSIFTXQLEN, &ifr, &syscall);
  if (err != 0) return throw_syscall_error(env, err, syscall, ifr.ifr_name);
  return NULL;
}

/* setUp(name, up): read-modify-write of the flags (SIOCGIFFLAGS, SIOCSIFFLAGS). */
static napi_value set_up(napi_env env, napi_callback_info info) {
  napi_value argv[2];
  struct ifreq ifr;
  bool up;
  if (!ifreq_for(env, info, 2, argv, &ifr)) return NULL;
  if (napi_get_value_bool(env, argv[1], &up) != napi_ok) {
    napi_throw_type_error(env, "ERR_INVALID_ARG_TYPE", "up must be a boolean");
    return NULL;
  }
  const char *syscall;
  int err = IFREQ_IOCTL(SIOCGIFFLAGS, &ifr, &syscall);
  if (err != 0) return throw_syscall_error(env, err, syscall, ifr.ifr_name);
  if (up == ((ifr.ifr_flags & IFF_UP) != 0)) return NULL;
  ifr.ifr_flags = (short)(up ? ifr.ifr_flags | IFF_UP : ifr.ifr_flags & ~IFF_UP);
  err = IFREQ_IOCTL(SIOCSIFFLAGS, &ifr, &syscall);
  if (err != 0) return throw_syscall_error(env, err, syscall, ifr.ifr_name);
  return NULL;
}

/* isUp(name) -> boolean: IFF_UP from SIOCGIFFLAGS. */
static napi_value is_up(napi_env env, napi_callback_info info) {
  napi_value argv[1], result;
  struct ifreq ifr;
  if (!ifreq_for(env, info, 1, argv, &ifr)) return NULL;
  const char *syscall;
  int err = IFREQ_IOCTL(SIOCGIFFLAGS, &ifr, &syscall);
  if (err != 0) return throw_syscall_error(env, err, syscall, ifr.ifr_name);
  NAPI_CHECK(env, napi_get_boolean(env, (ifr.ifr_flags & IFF_UP) != 0, &result));
  return result;
}

/* ------------------------------------------------------------------------------------ */
/* The device handle.                                                                    */

/*
 * Lifetime. The struct has two holders: the JS wrapper object (released by its
 * finalizer) and the uv_poll_t (released by its close callback). It is freed when both
 * have let go. While the device is open a strong reference to the wrapper keeps it
 * alive (like Node's own handles), so closing is always explicit: close(), or the
 * environment's async cleanup hook at exit.
 */
typedef struct {
  napi_env env;
  int fd;                    /* -1 once closed */
  char name[IFNAMSIZ];       /* as the kernel assigned it */
  uv_poll_t poll;
  bool poll_inited;
  int holders;

  /* Receive side: packet i is at rx_base + i * slot_size, its length in rx_lens[i]. */
  uint8_t *rx_base;
  uint32_t *rx_lens;
  uint32_t batch_size;
  uint32_t slot_size;

  napi_ref self_ref, rx_buf_ref, rx_lens_ref, callback_ref;
  napi_async_context async_context;
  napi_async_cleanup_hook_handle cleanup_hook;
} tun_dev;

static void dev_release(tun_dev *dev) {
  if (--dev->holders == 0) free(dev);
}

static void on_poll_closed(uv_handle_t *handle) {
  tun_dev *dev = handle->data;
  /* During environment teardown this also tells Node our cleanup is complete. */
  if (dev->cleanup_hook != NULL) napi_remove_async_cleanup_hook(dev->cleanup_hook);
  dev->cleanup_hook = NULL;
  dev_release(dev);
}

/* Stop I/O: poll handle first (uv_close also drops the fd from epoll), then the fd. */
static void dev_stop_io(tun_dev *dev) {
  if (dev->fd < 0) return;
  if (dev->poll_inited) uv_close((uv_handle_t *)&dev->poll, on_poll_closed);
  close(dev->fd);
  dev->fd = -1;
}

static void delete_ref(napi_env env, napi_ref *ref) {
  if (*ref != NULL) napi_delete_reference(env, *ref);
  *ref = NULL;
}

/* Drop what the device holds in JS: its buffers, the callback, and the self-pin. */
static void dev_release_js(tun_dev *dev) {
  napi_env env = dev->env;
  delete_ref(env, &dev->callback_ref);
  delete_ref(env, &dev->rx_buf_ref);
  delete_ref(env, &dev->rx_lens_ref);
  delete_ref(env, &dev->self_ref);
  if (dev->async_context != NULL) napi_async_destroy(env, dev->async_context);
  dev->async_context = NULL;
  dev->rx_base = NULL;
  dev->rx_lens = NULL;
}

/* Node is tearing the environment down with the device still open (the hook exists only
 * while the poll handle does). If the handle is already closing, on_poll_closed finishes. */
static void on_env_teardown(napi_async_cleanup_hook_handle hook, void *arg) {
  (void)hook;
  dev_stop_io(arg);
}

static void on_wrapper_finalized(napi_env env, void *data, void *hint) {
  tun_dev *dev = data;
  (void)env;
  (void)hint;
  dev_stop_io(dev);
  dev_release_js(dev);
  dev_release(dev);
}

/* Call onBatch(count, truncated[, error]) as a top-level callback: microtasks and
 * nextTicks run after it, and an exception it throws becomes an uncaught exception. */
static void deliver(tun_dev *dev, uint32_t count, uint32_t truncated, int err, const char *syscall) {
  napi_env env = dev->env;
  napi_handle_scope scope;
  if (napi_open_handle_scope(env, &scope) != napi_ok) return;
  napi_value callback, self, argv[3];
  size_t argc = 2;
  if (napi_get_reference_value(env, dev->callback_ref, &callback) == napi_ok &&
      napi_get_reference_value(env, dev->self_ref, &self) == napi_ok &&
      napi_create_uint32(env, count, &argv[0]) == napi_ok && napi_create_uint32(env, truncated, &argv[1]) == napi_ok) {
    if (err != 0 && (argv[2] = make_syscall_error(env, err, syscall, dev->name)) != NULL) argc = 3;
    napi_make_callback(env, dev->async_context, self, callback, argc, argv, NULL);
  }
  bool pending = false;
  napi_is_exception_pending(env, &pending);
  if (pending) {
    napi_value exception;
    napi_get_and_clear_last_exception(env, &exception);
    napi_fatal_exception(env, exception);
  }
  napi_close_handle_scope(env, scope);
}

/*
 * The fd is readable: drain up to batch_size packets into the JS-owned slots, stopping at
 * EAGAIN, then call JS once. The poll is level-triggered, so a full batch simply leaves the
 * rest for the next wake-up (after other handles get their turn).
 */
static void on_readable(uv_poll_t *handle, int status, int events) {
  tun_dev *dev = handle->data;
  (void)events;
  if (dev->fd < 0 || dev->rx_base == NULL) return;
  uint32_t count = 0, truncated = 0;
  int err = 0;
  const char *syscall = "read";
  for (uint32_t attempt = 0; attempt < dev->batch_size; attempt++) {
    uint8_t *slot = dev->rx_base + (size_t)count * dev->slot_size;
    ssize_t n = read(dev->fd, slot, dev->slot_size);
    if (n >= 0) {
      /* tun_put_user() returns the packet's full length even when it copied only the
       * first slot_size bytes: such a packet is cut short, so drop it. */
      if ((size_t)n > dev->slot_size) {
        truncated++;
      } else {
        dev->rx_lens[count++] = (uint32_t)n;
      }
      continue;
    }
    if (errno == EINTR) continue;
    if (errno != EAGAIN && errno != EWOULDBLOCK) err = errno; /* e.g. EBADFD: device deleted */
    break;
  }
  if (err == 0 && status < 0) {
    /* libuv saw POLLERR and has already stopped the handle. */
    err = -status;
    syscall = "poll";
  }
  if (err != 0) uv_poll_stop(&dev->poll); /* do not spin on a dead fd; JS decides */
  if (count == 0 && truncated == 0 && err == 0) return;
  deliver(dev, count, truncated, err, syscall);
}

/* this -> tun_dev; throws (returning NULL) if `this` is not a TunHandle. */
static tun_dev *unwrap_this(napi_env env, napi_callback_info info, size_t *argc, napi_value *argv) {
  napi_value self;
  void *data = NULL;
  if (napi_get_cb_info(env, info, argc, argv, &self, NULL) != napi_ok) return NULL;
  if (napi_unwrap(env, self, &data) != napi_ok || data == NULL) {
    napi_throw_type_error(env, "ERR_INVALID_THIS", "not a TunHandle");
    return NULL;
  }
  return data;
}

static tun_dev *unwrap_open(napi_env env, napi_callback_info info, size_t *argc, napi_value *argv) {
  tun_dev *dev = unwrap_this(env, info, argc, argv);
  if (dev != NULL && dev->fd < 0) {
    napi_throw_error(env, "ERR_TUN_CLOSED", "the TUN device is closed");
    return NULL;
  }
  return dev;
}

/* Write one packet. Returns true if the kernel took it; EAGAIN (queue full) and
 * per-packet errors (EINVAL for a non-IP packet, EIO while the device is down) drop it. */
static bool write_packet(int fd, const uint8_t *pkt, uint32_t len, bool *queue_full) {
  for (;;) {
    ssize_t n = write(fd, pkt, len);
    if (n >= 0) return true;
    if (errno == EINTR) continue;
    *queue_full = errno == EAGAIN || errno == EWOULDBLOCK;
    return false;
  }
}

/* handle.write(buf, off, len) -> boolean */
static napi_value handle_write(napi_env env, napi_callback_info info) {
  size_t argc = 3;
  napi_value argv[3], result;
  tun_dev *dev = unwrap_open(env, info, &argc, argv);
  if (dev == NULL) return NULL;
  void *data;
  size_t length;
  uint32_t off, len;
  if (!get_typed(env, argv[0], napi_uint8_array, "buf", &data, &length) ||
      !get_u32(env, argv[1], "off", &off) || !get_u32(env, argv[2], "len", &len)) {
    return NULL;
  }
  if ((uint64_t)off + len > length) {
    napi_throw_range_error(env, "ERR_OUT_OF_RANGE", "off + len is beyond the end of buf");
    return NULL;
  }
  bool queue_full = false;
  NAPI_CHECK(env, napi_get_boolean(env, write_packet(dev->fd, (uint8_t *)data + off, len, &queue_full), &result));
  return result;
}

/* handle.writeBatch(buf, offsets, lengths, count) -> packets written. Every span is
 * checked before anything is written; the first EAGAIN ends the batch. */
static napi_value handle_write_batch(napi_env env, napi_callback_info info) {
  size_t argc = 4;
  napi_value argv[4], result;
  tun_dev *dev = unwrap_open(env, info, &argc, argv);
  if (dev == NULL) return NULL;
  void *data, *offs_data, *lens_data;
  size_t length, offs_length, lens_length;
  uint32_t count;
  if (!get_typed(env, argv[0], napi_uint8_array, "buf", &data, &length) ||
      !get_typed(env, argv[1], napi_uint32_array, "offsets", &offs_data, &offs_length) ||
      !get_typed(env, argv[2], napi_uint32_array, "lengths", &lens_data, &lens_length) ||
      !get_u32(env, argv[3], "count", &count)) {
    return NULL;
  }
  const uint32_t *offsets = offs_data, *lengths = lens_data;
  if (count > offs_length || count > lens_length) {
    napi_throw_range_error(env, "ERR_OUT_OF_RANGE", "count exceeds offsets.length or lengths.length");
    return NULL;
  }
  for (uint32_t i = 0; i < count; i++) {
    if ((uint64_t)offsets[i] + lengths[i] > length) {
      napi_throw_range_error(env, "ERR_OUT_OF_RANGE", "a packet extends beyond the end of buf");
      return NULL;
    }
  }
  uint32_t written = 0;
  bool queue_full = false;
  for (uint32_t i = 0; i < count && !queue_full; i++) {
    if (write_packet(dev->fd, (uint8_t *)data + offsets[i], lengths[i], &queue_full)) written++;
  }
  NAPI_CHECK(env, napi_create_uint32(env, written, &result));
  return result;
}

/* handle.close(): idempotent. */
static napi_value handle_close(napi_env env, napi_callback_info info) {
  size_t argc = 0;
  tun_dev *dev = unwrap_this(env, info, &argc, NULL);
  if (dev == NULL || dev->fd < 0) return NULL;
  dev_stop_io(dev);
  dev_release_js(dev);
  return NULL;
}

/* handle.ref() / handle.unref(): whether the open device keeps the event loop alive. */
static napi_value handle_ref(napi_env env, napi_callback_info info) {
  size_t argc = 0;
  tun_dev *dev = unwrap_this(env, info, &argc, NULL);
  if (dev != NULL && dev->fd >= 0) uv_ref((uv_handle_t *)&dev->poll);
  return NULL;
}

static napi_value handle_unref(napi_env env, napi_callback_info info) {
  size_t argc = 0;
  tun_dev *dev = unwrap_this(env, info, &argc, NULL);
  if (dev != NULL && dev->fd >= 0) uv_unref((uv_handle_t *)&dev->poll);
  return NULL;
}

/* The TunHandle constructor is internal: open() makes instances. */
static napi_value handle_construct(napi_env env, napi_callback_info info) {
  napi_value self;
  NAPI_CHECK(env, napi_get_cb_info(env, info, NULL, NULL, &self, NULL));
  return self;
}

/* Per-environment data: the TunHandle class. */
typedef struct {
  napi_ref handle_class;
} addon_data;

static void free_addon_data(napi_env env, void *data, void *hint) {
  addon_data *ad = data;
  (void)hint;
  napi_delete_reference(env, ad->handle_class);
  free(ad);
}

/* One ioctl on the TUN fd; on failure closes it, throws, and returns false. */
static bool tun_ioctl(napi_env env, int fd, unsigned long request, void *arg, const char *syscall, const char *name) {
  if (ioctl(fd, request, arg) == 0) return true;
  int err = errno;
  close(fd);
  throw_syscall_error(env, err, syscall, name);
  return false;
}

/* TUNSETIFF on a fresh clone fd, then the offload ioctls if asked. Returns the fd, or -1
 * with an exception thrown. */
static int open_tun(napi_env env, char name[IFNAMSIZ], uint32_t flags) {
  int fd = open(TUN_CLONE_PATH, O_RDWR | O_NONBLOCK | O_CLOEXEC);
  if (fd < 0) {
    throw_syscall_error(env, errno, "open", name);
    return -1;
  }
  struct ifreq ifr;
  memset(&ifr, 0, sizeof ifr);
  memcpy(ifr.ifr_name, name, IFNAMSIZ);
  /* Layer 3 packets with no packet-information prefix; optionally a virtio-net header
   * (offloads) and more than one queue. */
  ifr.ifr_flags = IFF_TUN | IFF_NO_PI;
  if (flags & OPEN_OFFLOAD) ifr.ifr_flags |= IFF_VNET_HDR;
  if (flags & OPEN_MULTI_QUEUE) ifr.ifr_flags |= IFF_MULTI_QUEUE;
  if (!tun_ioctl(env, fd, TUNSETIFF, &ifr, "ioctl(TUNSETIFF)", name[0] != '\0' ? name : "(kernel-chosen name)")) return -1;
  memcpy(name, ifr.ifr_name, IFNAMSIZ);
  name[IFNAMSIZ - 1] = '\0';
  if (flags & OPEN_OFFLOAD) {
    /* The header is struct virtio_net_hdr (10 bytes), its fields little-endian whatever
     * the host; the kernel may then hand us checksum-partial and TSO packets, and takes
     * them from us (native-notes: "Offloads"). */
    int hdr_size = (int)sizeof(struct virtio_net_hdr);
    int le = 1;
    unsigned long offload = TUN_F_CSUM | TUN_F_TSO4 | TUN_F_TSO6;
    if (!tun_ioctl(env, fd, TUNSETVNETHDRSZ, &hdr_size, "ioctl(TUNSETVNETHDRSZ)", name) ||
        !tun_ioctl(env, fd, TUNSETVNETLE, &le, "ioctl(TUNSETVNETLE)", name) ||
        !tun_ioctl(env, fd, TUNSETOFFLOAD, (void *)offload, "ioctl(TUNSETOFFLOAD)", name)) {
      return -1;
    }
  }
  return fd;
}

/* Undo a half-done open(): close what is open, drop the references, throw. `err` is a
 * positive errno from libuv, or 0 when a Node-API call failed (its exception, if any, is
 * already pending). */
static napi_value fail_open(napi_env env, tun_dev *dev, int err) {
  if (dev != NULL) {
    dev_stop_io(dev);
    dev_release_js(dev);
  }
  if (err != 0 && dev != NULL) return throw_syscall_error(env, err, "uv_poll_start", dev->name);
  bool pending = false;
  napi_is_exception_pending(env, &pending);
  if (!pending) napi_throw_error(env, NULL, "tun addon: a Node-API call failed while opening the device");
  return NULL;
}

/* open(name, batchSize, slotSize, rxBuf, rxLens, onBatch[, flags]) -> TunHandle */
static napi_value tun_open(napi_env env, napi_callback_info info) {
  size_t argc = 7;
  napi_value argv[7];
  addon_data *ad;
  NAPI_CHECK(env, napi_get_cb_info(env, info, &argc, argv, NULL, (void **)&ad));

  char name[IFNAMSIZ];
  uint32_t batch_size, slot_size, flags = 0;
  void *rx_base, *rx_lens;
  size_t rx_length, lens_length;
  napi_valuetype cb_type;
  if (!get_ifname(env, argv[0], name, true) || !get_u32(env, argv[1], "batchSize", &batch_size) ||
      !get_u32(env, argv[2], "slotSize", &slot_size) ||
      !get_typed(env, argv[3], napi_uint8_array, "rxBuf", &rx_base, &rx_length) ||
      !get_typed(env, argv[4], napi_uint32_array, "rxLens", &rx_lens, &lens_length) ||
      (argc >= 7 && !get_u32(env, argv[6], "flags", &flags))) {
    return NULL;
  }
  if ((flags & ~(OPEN_OFFLOAD | OPEN_MULTI_QUEUE)) != 0) {
    napi_throw_range_error(env, "ERR_OUT_OF_RANGE", "flags: only OFFLOAD (1) and MULTI_QUEUE (2) are defined");
    return NULL;
  }
  NAPI_CHECK(env, napi_typeof(env, argv[5], &cb_type));
  if (cb_type != napi_function) {
    napi_throw_type_error(env, "ERR_INVALID_ARG_TYPE", "onBatch must be a function");
    return NULL;
  }
  if (batch_size == 0 || slot_size == 0 || (uint64_t)batch_size * slot_size > rx_length ||
      batch_size > lens_length) {
    napi_throw_range_error(env, "ERR_OUT_OF_RANGE",
                           "need batchSize >= 1, slotSize >= 1, rxBuf.length >= batchSize * slotSize and "
                           "rxLens.length >= batchSize");
    return NULL;
  }

  napi_value ctor, self;
  uv_loop_t *loop;
  NAPI_CHECK(env, napi_get_uv_event_loop(env, &loop));
  NAPI_CHECK(env, napi_get_reference_value(env, ad->handle_class, &ctor));
  NAPI_CHECK(env, napi_new_instance(env, ctor, 0, NULL, &self));

  tun_dev *dev = calloc(1, sizeof *dev);
  if (dev == NULL) return throw_syscall_error(env, ENOMEM, "malloc", name);
  dev->env = env;
  dev->fd = -1;
  dev->holders = 1; /* the wrapper */
  if (napi_wrap(env, self, dev, on_wrapper_finalized, NULL, NULL) != napi_ok) {
    free(dev);
    return fail_open(env, NULL, 0);
  }
  /* From here on the finalizer owns cleanup of whatever has been set up. */

  int fd = open_tun(env, name, flags);
  if (fd < 0) return NULL;
  dev->fd = fd;
  memcpy(dev->name, name, IFNAMSIZ);
  dev->rx_base = rx_base;
  dev->rx_lens = rx_lens;
  dev->batch_size = batch_size;
  dev->slot_size = slot_size;

  napi_value resource_name;
  napi_property_descriptor name_prop = {"name", NULL, NULL, NULL, NULL, NULL, napi_enumerable, NULL};
  if (napi_create_string_utf8(env, dev->name, NAPI_AUTO_LENGTH, &name_prop.value) != napi_ok ||
      napi_define_properties(env, self, 1, &name_prop) != napi_ok ||
      napi_create_reference(env, self, 1, &dev->self_ref) != napi_ok ||
      napi_create_reference(env, argv[3], 1, &dev->rx_buf_ref) != napi_ok ||
      napi_create_reference(env, argv[4], 1, &dev->rx_lens_ref) != napi_ok ||
      napi_create_reference(env, argv[5], 1, &dev->callback_ref) != napi_ok ||
      napi_create_string_utf8(env, "TunDevice", NAPI_AUTO_LENGTH, &resource_name) != napi_ok ||
      napi_async_init(env, self, resource_name, &dev->async_context) != napi_ok) {
    return fail_open(env, dev, 0);
  }

  int uverr = uv_poll_init(loop, &dev->poll, fd);
  if (uverr != 0) return fail_open(env, dev, -uverr);
  dev->poll.data = dev;
  dev->poll_inited = true;
  dev->holders++; /* the poll handle, until on_poll_closed */
  uverr = uv_poll_start(&dev->poll, UV_READABLE, on_readable);
  if (uverr != 0) return fail_open(env, dev, -uverr);
  /* Last: from here on Node waits at exit for on_poll_closed to remove this hook. */
  if (napi_add_async_cleanup_hook(env, on_env_teardown, dev, &dev->cleanup_hook) != napi_ok) {
    return fail_open(env, dev, 0);
  }
  return self;
}

/* ------------------------------------------------------------------------------------ */
/* The Internet checksum (RFC 1071), for wire/checksum.ts: the one piece of arithmetic   */
/* measurably faster here than in JavaScript (native-notes, "The checksum").            */

/*
 * onesSum(buf, off, len, initial) -> the ones' complement sum of buf[off, off + len) as
 * big-endian 16-bit words, plus `initial`, folded to 16 bits, not complemented. Bytes
 * past the end of buf count as zero, as in the JS version. RFC 1071 §2(B) (byte-order
 * independence): sum native 32-bit words into 64 bits, fold, and swap the bytes of the
 * result on a little-endian host; §2(C), §2(D): wide words, carries folded at the end.
 */
static napi_value ones_sum(napi_env env, napi_callback_info info) {
  size_t argc = 4;
  napi_value argv[4], result;
  NAPI_CHECK(env, napi_get_cb_info(env, info, &argc, argv, NULL, NULL));
  void *data;
  size_t length;
  uint32_t off, len, initial;
  if (!get_typed(env, argv[0], napi_uint8_array, "buf", &data, &length) || !get_u32(env, argv[1], "off", &off) ||
      !get_u32(env, argv[2], "len", &len) || !get_u32(env, argv[3], "initial", &initial)) {
    return NULL;
  }
  size_t n = off >= length ? 0 : (length - off < len ? length - off : len);
  const uint8_t *p = (const uint8_t *)data + off;
  uint64_t sum = 0;
  for (; n >= 8; n -= 8, p += 8) {
    uint64_t w;
    memcpy(&w, p, 8);
    sum += (w & 0xffffffffu) + (w >> 32);
  }
  if (n >= 4) {
    uint32_t w;
    memcpy(&w, p, 4);
    sum += w;
    p += 4;
    n -= 4;
  }
  if (n >= 2) {
    uint16_t w;
    memcpy(&w, p, 2);
    sum += w;
    p += 2;
    n -= 2;
  }
#if __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
  if (n == 1) sum += p[0]; /* the high byte of a big-endian word: low byte here */
#else
  if (n == 1) sum += (uint32_t)p[0] << 8;
#endif
  while (sum >> 16) sum = (sum & 0xffff) + (sum >> 16);
#if __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
  sum = ((sum & 0xff) << 8) | (sum >> 8);
#endif
  sum += initial;
  while (sum >> 16) sum = (sum & 0xffff) + (sum >> 16);
  NAPI_CHECK(env, napi_create_uint32(env, (uint32_t)sum, &result));
  return result;
}

/*
 * copyBytes(src, srcOff, dst, dstOff, len) -> bytes copied: memmove between two buffers
 * with no JavaScript object made on the way (Buffer#copy of part of a buffer allocates a
 * Uint8Array view per call: one per packet on the send path). The span is clamped to
 * both buffers, like Buffer#copy.
 */
static napi_value copy_bytes(napi_env env, napi_callback_info info) {
  size_t argc = 5;
  napi_value argv[5], result;
  NAPI_CHECK(env, napi_get_cb_info(env, info, &argc, argv, NULL, NULL));
  void *src, *dst;
  size_t src_len, dst_len;
  uint32_t src_off, dst_off, len;
  if (!get_typed(env, argv[0], napi_uint8_array, "src", &src, &src_len) || !get_u32(env, argv[1], "srcOff", &src_off) ||
      !get_typed(env, argv[2], napi_uint8_array, "dst", &dst, &dst_len) || !get_u32(env, argv[3], "dstOff", &dst_off) ||
      !get_u32(env, argv[4], "len", &len)) {
    return NULL;
  }
  size_t n = len;
  if (src_off >= src_len || dst_off >= dst_len) n = 0;
  if (n > src_len - src_off) n = src_len - src_off;
  if (n > dst_len - dst_off) n = dst_len - dst_off;
  if (n > 0) memmove((uint8_t *)dst + dst_off, (const uint8_t *)src + src_off, n);
  NAPI_CHECK(env, napi_create_uint32(env, (uint32_t)n, &result));
  return result;
}

#define METHOD(js_name, fn) {js_name, NULL, fn, NULL, NULL, NULL, napi_default_method, NULL}
#define FUNCTION(js_name, fn) {js_name, NULL, fn, NULL, NULL, NULL, napi_enumerable, NULL}

NAPI_MODULE_INIT(/* napi_env env, napi_value exports */) {
  addon_data *ad = calloc(1, sizeof *ad);
  if (ad == NULL) {
    napi_throw_error(env, NULL, "tun addon: out of memory");
    return NULL;
  }
  if (napi_set_instance_data(env, ad, free_addon_data, NULL) != napi_ok) {
    free(ad);
    return NULL;
  }

  napi_property_descriptor methods[] = {
      METHOD("write", handle_write), METHOD("writeBatch", handle_write_batch), METHOD("close", handle_close),
      METHOD("ref", handle_ref),     METHOD("unref", handle_unref),
  };
  napi_value handle_class;
  NAPI_CHECK(env, napi_define_class(env, "TunHandle", NAPI_AUTO_LENGTH, handle_construct, NULL,
                                    sizeof methods / sizeof methods[0], methods, &handle_class));
  NAPI_CHECK(env, napi_create_reference(env, handle_class, 1, &ad->handle_class));

  napi_property_descriptor functions[] = {
      {"open", NULL, tun_open, NULL, NULL, NULL, napi_enumerable, ad},
      FUNCTION("setIpv4", set_ipv4),
      FUNCTION("getIpv4", get_ipv4),
      FUNCTION("setMtu", set_mtu),
      FUNCTION("getMtu", get_mtu),
      FUNCTION("setUp", set_up),
      FUNCTION("isUp", is_up),
      FUNCTION("setTxQueueLen", set_tx_queue_len),
      FUNCTION("onesSum", ones_sum),
      FUNCTION("copyBytes", copy_bytes),
  };
  NAPI_CHECK(env, napi_define_properties(env, exports, sizeof functions / sizeof functions[0], functions));
  return exports;
}
