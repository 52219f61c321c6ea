/*
 * vgw_tun: a minimal Linux TUN device binding for the userspace ESP dataplane.
 *
 * JS surface (wrapped by dataplane/tun.ts; not meant to be used directly):
 *   open(name: string, multiQueue?: boolean) -> { fd: number, name: string }
 *   start(fd, slab: ArrayBuffer, slotSize, headroom, maxBatch, lengths: Uint32Array,
 *         callback(count: number, errno: number))
 *   write(fd, buf: Uint8Array, offset, length) -> boolean (false = EAGAIN drop)
 *   writeBatch(fd, bufs: Uint8Array[], offsets: Uint32Array, lengths: Uint32Array) -> written count
 *   stop(fd); close(fd)
 *
 * Receive path: one uv_poll per fd. When the fd is readable we read() packets
 * until EAGAIN or maxBatch, packet i landing at slab[i*slotSize + headroom],
 * its length in lengths[i]; then the JS callback runs ONCE for the batch.
 * The slab and lengths array are allocated by JS once and reused: no
 * allocation per packet. JS must consume (or copy) the packets before the
 * callback returns; the next batch overwrites them. The headroom lets the
 * ESP encapsulator write SPI/seq/IV in front of the packet without copying.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <linux/if.h>
#include <linux/if_tun.h>
#include <node_api.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <unistd.h>
#include <uv.h>

#define CHECK(env, call)                                                  \
  do {                                                                    \
    napi_status status_ = (call);                                         \
    if (status_ != napi_ok) {                                             \
      throw_status(env, #call, status_);                                  \
      return NULL;                                                        \
    }                                                                     \
  } while (0)

static void throw_status(napi_env env, const char* what, napi_status status) {
  bool pending = false;
  napi_is_exception_pending(env, &pending);
  if (pending) return;
  char msg[256];
  snprintf(msg, sizeof msg, "vgw_tun: %s failed (napi status %d)", what, (int)status);
  napi_throw_error(env, "ERR_VGW_TUN", msg);
}

/* Throws an Error with .code = errno name and .errno = number. */
static void throw_errno(napi_env env, const char* msg, int err, const char* code) {
  napi_value message, error, errno_value, code_value;
  char buf[320];
  snprintf(buf, sizeof buf, "%s: %s", msg, strerror(err));
  napi_create_string_utf8(env, buf, NAPI_AUTO_LENGTH, &message);
  napi_create_error(env, NULL, message, &error);
  napi_create_int32(env, err, &errno_value);
  napi_set_named_property(env, error, "errno", errno_value);
  napi_create_string_utf8(env, code, NAPI_AUTO_LENGTH, &code_value);
  napi_set_named_property(env, error, "code", code_value);
  napi_throw(env, error);
}

static const char* errno_code(int err) {
  switch (err) {
    case ENOENT: return "ENOENT";
    case EPERM: return "EPERM";
    case EACCES: return "EACCES";
    case EBUSY: return "EBUSY";
    case EINVAL: return "EINVAL";
    case EBADF: return "EBADF";
    case ENODEV: return "ENODEV";
    default: return "EIO";
  }
}

/* ---- per-fd poll state ---- */

typedef struct poller {
  uv_poll_t poll;
  napi_env env;
  int fd;
  napi_ref callback;
  napi_ref slab_ref;
  napi_ref lengths_ref;
  napi_async_context async_context;
  uint8_t* slab;
  size_t slab_len;
  uint32_t* lengths;
  uint32_t slot_size;
  uint32_t headroom;
  uint32_t max_batch;
  struct poller* next;
} poller_t;

static poller_t* pollers = NULL;

static poller_t* find_poller(int fd) {
  for (poller_t* p = pollers; p; p = p->next)
    if (p->fd == fd) return p;
  return NULL;
}

static void unlink_poller(poller_t* target) {
  for (poller_t** pp = &pollers; *pp; pp = &(*pp)->next) {
    if (*pp == target) {
      *pp = target->next;
      return;
    }
  }
}

static void on_poll_closed(uv_handle_t* handle) {
  poller_t* p = (poller_t*)handle->data;
  free(p);
}

static void release_poller(poller_t* p) {
  unlink_poller(p);
  uv_poll_stop(&p->poll);
  napi_delete_reference(p->env, p->callback);
  napi_delete_reference(p->env, p->slab_ref);
  napi_delete_reference(p->env, p->lengths_ref);
  napi_async_destroy(p->env, p->async_context);
  uv_close((uv_handle_t*)&p->poll, on_poll_closed);
}

static void deliver(poller_t* p, uint32_t count, int err) {
  napi_env env = p->env;
  napi_handle_scope scope;
  if (napi_open_handle_scope(env, &scope) != napi_ok) return;
  napi_value cb, recv, argv[2], result;
  napi_get_reference_value(env, p->callback, &cb);
  napi_get_global(env, &recv); /* make_callback needs an object receiver */
  napi_create_uint32(env, count, &argv[0]);
  napi_create_int32(env, err, &argv[1]);
  /* make_callback drains the nextTick/microtask queues like any I/O callback. */
  napi_status status = napi_make_callback(env, p->async_context, recv, cb, 2, argv, &result);
  if (status == napi_pending_exception) {
    napi_value exception;
    napi_get_and_clear_last_exception(env, &exception);
    napi_fatal_exception(env, exception);
  }
  napi_close_handle_scope(env, scope);
}

static void on_readable(uv_poll_t* handle, int status, int events) {
  poller_t* p = (poller_t*)handle->data;
  if (status < 0) {
    deliver(p, 0, -status);
    return;
  }
  uint32_t count = 0;
  int err = 0;
  while (count < p->max_batch) {
    uint8_t* dst = p->slab + (size_t)count * p->slot_size + p->headroom;
    ssize_t n = read(p->fd, dst, p->slot_size - p->headroom);
    if (n < 0) {
      if (errno == EINTR) continue;
      if (errno != EAGAIN && errno != EWOULDBLOCK) err = errno;
      break;
    }
    if (n == 0) break;
    p->lengths[count++] = (uint32_t)n;
  }
  if (err != 0 && count == 0) {
    /* A hard read error with nothing read would make the poll fire forever:
     * stop polling and let JS know (it sees errno != 0 with count 0). */
    uv_poll_stop(&p->poll);
  }
  if (count > 0 || err != 0) deliver(p, count, err);
}

/* ---- helpers for argument parsing ---- */

static bool get_u32(napi_env env, napi_value v, uint32_t* out) {
  return napi_get_value_uint32(env, v, out) == napi_ok;
}

static bool get_bytes(napi_env env, napi_value v, uint8_t** data, size_t* len) {
  bool is_typed = false;
  napi_is_typedarray(env, v, &is_typed);
  if (is_typed) {
    napi_typedarray_type type;
    size_t length, byte_offset;
    void* ptr;
    napi_value ab;
    if (napi_get_typedarray_info(env, v, &type, &length, &ptr, &ab, &byte_offset) != napi_ok) return false;
    if (type != napi_uint8_array) return false;
    *data = (uint8_t*)ptr;
    *len = length;
    return true;
  }
  bool is_ab = false;
  napi_is_arraybuffer(env, v, &is_ab);
  if (is_ab) {
    void* ptr;
    if (napi_get_arraybuffer_info(env, v, &ptr, len) != napi_ok) return false;
    *data = (uint8_t*)ptr;
    return true;
  }
  return false;
}

static bool get_u32_array(napi_env env, napi_value v, uint32_t** data, size_t* len) {
  bool is_typed = false;
  napi_is_typedarray(env, v, &is_typed);
  if (!is_typed) return false;
  napi_typedarray_type type;
  size_t byte_offset;
  void* ptr;
  napi_value ab;
  if (napi_get_typedarray_info(env, v, &type, len, &ptr, &ab, &byte_offset) != napi_ok) return false;
  if (type != napi_uint32_array) return false;
  *data = (uint32_t*)ptr;
  return true;
}

/* ---- exported functions ---- */

static napi_value js_open(napi_env env, napi_callback_info info) {
  size_t argc = 2;
  napi_value argv[2];
  CHECK(env, napi_get_cb_info(env, info, &argc, argv, NULL, NULL));
  char name[IFNAMSIZ] = {0};
  size_t name_len = 0;
  if (argc < 1 || napi_get_value_string_utf8(env, argv[0], name, sizeof name, &name_len) != napi_ok) {
    napi_throw_type_error(env, "ERR_INVALID_ARG_TYPE", "open(name): name must be a string");
    return NULL;
  }
  if (name_len >= IFNAMSIZ - 1 && name_len > 0) {
    /* napi truncates silently; refuse names that would not fit IFNAMSIZ-1. */
    char probe[64] = {0};
    size_t probe_len = 0;
    napi_get_value_string_utf8(env, argv[0], probe, sizeof probe, &probe_len);
    if (probe_len > IFNAMSIZ - 1) {
      napi_throw_range_error(env, "ERR_OUT_OF_RANGE", "open(name): interface name longer than 15 bytes");
      return NULL;
    }
  }
  bool multi_queue = false;
  if (argc >= 2) napi_get_value_bool(env, argv[1], &multi_queue);

  int fd = open("/dev/net/tun", O_RDWR | O_NONBLOCK | O_CLOEXEC);
  if (fd < 0) {
    int err = errno;
    if (err == ENOENT) throw_errno(env, "/dev/net/tun missing (ENOENT)", err, "ENOENT");
    else if (err == EPERM || err == EACCES) throw_errno(env, "CAP_NET_ADMIN required to open /dev/net/tun (EPERM)", err, errno_code(err));
    else throw_errno(env, "open /dev/net/tun", err, errno_code(err));
    return NULL;
  }
  struct ifreq ifr;
  memset(&ifr, 0, sizeof ifr);
  ifr.ifr_flags = IFF_TUN | IFF_NO_PI | (multi_queue ? IFF_MULTI_QUEUE : 0);
  memcpy(ifr.ifr_name, name, name_len);
  if (ioctl(fd, TUNSETIFF, &ifr) < 0) {
    int err = errno;
    close(fd);
    if (err == EPERM) throw_errno(env, "TUNSETIFF: CAP_NET_ADMIN required (EPERM)", err, "EPERM");
    else if (err == EBUSY) throw_errno(env, "TUNSETIFF: interface busy or exists with other flags (EBUSY)", err, "EBUSY");
    else throw_errno(env, "TUNSETIFF", err, errno_code(err));
    return NULL;
  }
  napi_value result, fd_value, name_value;
  CHECK(env, napi_create_object(env, &result));
  CHECK(env, napi_create_int32(env, fd, &fd_value));
  CHECK(env, napi_create_string_utf8(env, ifr.ifr_name, strnlen(ifr.ifr_name, IFNAMSIZ), &name_value));
  CHECK(env, napi_set_named_property(env, result, "fd", fd_value));
  CHECK(env, napi_set_named_property(env, result, "name", name_value));
  return result;
}

static napi_value js_start(napi_env env, napi_callback_info info) {
  size_t argc = 7;
  napi_value argv[7];
  CHECK(env, napi_get_cb_info(env, info, &argc, argv, NULL, NULL));
  uint32_t fd, slot_size, headroom, max_batch;
  uint8_t* slab;
  size_t slab_len, lengths_len;
  uint32_t* lengths;
  napi_valuetype cb_type = napi_undefined;
  if (argc < 7) {
    napi_throw_type_error(env, "ERR_INVALID_ARG_TYPE", "start(fd, slab, slotSize, headroom, maxBatch, lengths, cb)");
    return NULL;
  }
  napi_typeof(env, argv[6], &cb_type);
  if (!get_u32(env, argv[0], &fd) || !get_bytes(env, argv[1], &slab, &slab_len) ||
      !get_u32(env, argv[2], &slot_size) || !get_u32(env, argv[3], &headroom) ||
      !get_u32(env, argv[4], &max_batch) || !get_u32_array(env, argv[5], &lengths, &lengths_len) ||
      cb_type != napi_function) {
    napi_throw_type_error(env, "ERR_INVALID_ARG_TYPE", "start(fd, slab, slotSize, headroom, maxBatch, lengths, cb): bad argument");
    return NULL;
  }
  if (max_batch == 0 || headroom >= slot_size || (size_t)max_batch * slot_size > slab_len || lengths_len < max_batch) {
    napi_throw_range_error(env, "ERR_OUT_OF_RANGE", "start: slab or lengths too small for maxBatch x slotSize");
    return NULL;
  }
  if (find_poller((int)fd)) {
    napi_throw_error(env, "ERR_VGW_TUN", "start: already started on this fd");
    return NULL;
  }
  uv_loop_t* loop;
  CHECK(env, napi_get_uv_event_loop(env, &loop));
  poller_t* p = calloc(1, sizeof *p);
  if (!p) {
    napi_throw_error(env, "ERR_VGW_TUN", "start: out of memory");
    return NULL;
  }
  p->env = env;
  p->fd = (int)fd;
  p->slab = slab;
  p->slab_len = slab_len;
  p->lengths = lengths;
  p->slot_size = slot_size;
  p->headroom = headroom;
  p->max_batch = max_batch;
  int rc = uv_poll_init(loop, &p->poll, p->fd);
  if (rc != 0) {
    free(p);
    throw_errno(env, "uv_poll_init", -rc, errno_code(-rc));
    return NULL;
  }
  p->poll.data = p;
  napi_value resource_name;
  napi_create_string_utf8(env, "vgw_tun.read", NAPI_AUTO_LENGTH, &resource_name);
  napi_async_init(env, NULL, resource_name, &p->async_context);
  napi_create_reference(env, argv[6], 1, &p->callback);
  napi_create_reference(env, argv[1], 1, &p->slab_ref);
  napi_create_reference(env, argv[5], 1, &p->lengths_ref);
  p->next = pollers;
  pollers = p;
  rc = uv_poll_start(&p->poll, UV_READABLE, on_readable);
  if (rc != 0) {
    release_poller(p);
    throw_errno(env, "uv_poll_start", -rc, errno_code(-rc));
    return NULL;
  }
  return NULL;
}

static napi_value js_stop(napi_env env, napi_callback_info info) {
  size_t argc = 1;
  napi_value argv[1];
  uint32_t fd;
  CHECK(env, napi_get_cb_info(env, info, &argc, argv, NULL, NULL));
  if (argc < 1 || !get_u32(env, argv[0], &fd)) {
    napi_throw_type_error(env, "ERR_INVALID_ARG_TYPE", "stop(fd)");
    return NULL;
  }
  poller_t* p = find_poller((int)fd);
  if (p) release_poller(p);
  return NULL;
}

static napi_value js_close(napi_env env, napi_callback_info info) {
  size_t argc = 1;
  napi_value argv[1];
  uint32_t fd;
  CHECK(env, napi_get_cb_info(env, info, &argc, argv, NULL, NULL));
  if (argc < 1 || !get_u32(env, argv[0], &fd)) {
    napi_throw_type_error(env, "ERR_INVALID_ARG_TYPE", "close(fd)");
    return NULL;
  }
  poller_t* p = find_poller((int)fd);
  if (p) release_poller(p); /* stop polling before the fd number can be reused */
  if (close((int)fd) != 0) {
    throw_errno(env, "close", errno, errno_code(errno));
    return NULL;
  }
  return NULL;
}

/* Returns 1 written, 0 dropped (EAGAIN/ENOBUFS), -errno on other errors. */
static int write_one(int fd, const uint8_t* data, size_t len) {
  for (;;) {
    ssize_t n = write(fd, data, len);
    if (n >= 0) return 1;
    if (errno == EINTR) continue;
    if (errno == EAGAIN || errno == EWOULDBLOCK || errno == ENOBUFS) return 0;
    return -errno;
  }
}

static napi_value js_write(napi_env env, napi_callback_info info) {
  size_t argc = 4;
  napi_value argv[4];
  CHECK(env, napi_get_cb_info(env, info, &argc, argv, NULL, NULL));
  uint32_t fd, offset, length;
  uint8_t* data;
  size_t data_len;
  if (argc < 4 || !get_u32(env, argv[0], &fd) || !get_bytes(env, argv[1], &data, &data_len) ||
      !get_u32(env, argv[2], &offset) || !get_u32(env, argv[3], &length)) {
    napi_throw_type_error(env, "ERR_INVALID_ARG_TYPE", "write(fd, buf, offset, length)");
    return NULL;
  }
  if ((size_t)offset + length > data_len) {
    napi_throw_range_error(env, "ERR_OUT_OF_RANGE", "write: offset+length beyond buffer");
    return NULL;
  }
  int rc = write_one((int)fd, data + offset, length);
  if (rc < 0) {
    throw_errno(env, "write to TUN", -rc, errno_code(-rc));
    return NULL;
  }
  napi_value result;
  CHECK(env, napi_get_boolean(env, rc == 1, &result));
  return result;
}

static napi_value js_write_batch(napi_env env, napi_callback_info info) {
  size_t argc = 4;
  napi_value argv[4];
  CHECK(env, napi_get_cb_info(env, info, &argc, argv, NULL, NULL));
  uint32_t fd, count;
  uint32_t *offsets, *lengths;
  size_t offsets_len, lengths_len;
  bool is_array = false;
  if (argc >= 2) napi_is_array(env, argv[1], &is_array);
  if (argc < 4 || !get_u32(env, argv[0], &fd) || !is_array ||
      !get_u32_array(env, argv[2], &offsets, &offsets_len) ||
      !get_u32_array(env, argv[3], &lengths, &lengths_len)) {
    napi_throw_type_error(env, "ERR_INVALID_ARG_TYPE", "writeBatch(fd, bufs[], offsets: Uint32Array, lengths: Uint32Array)");
    return NULL;
  }
  CHECK(env, napi_get_array_length(env, argv[1], &count));
  if (offsets_len < count || lengths_len < count) {
    napi_throw_range_error(env, "ERR_OUT_OF_RANGE", "writeBatch: offsets/lengths shorter than bufs");
    return NULL;
  }
  uint32_t written = 0;
  for (uint32_t i = 0; i < count; i++) {
    napi_value element;
    uint8_t* data;
    size_t data_len;
    CHECK(env, napi_get_element(env, argv[1], i, &element));
    if (!get_bytes(env, element, &data, &data_len) || (size_t)offsets[i] + lengths[i] > data_len) {
      napi_throw_range_error(env, "ERR_OUT_OF_RANGE", "writeBatch: bad buffer or offset+length beyond buffer");
      return NULL;
    }
    int rc = write_one((int)fd, data + offsets[i], lengths[i]);
    if (rc < 0) {
      throw_errno(env, "write to TUN", -rc, errno_code(-rc));
      return NULL;
    }
    written += (uint32_t)rc;
  }
  napi_value result;
  CHECK(env, napi_create_uint32(env, written, &result));
  return result;
}

void fastpath_register(napi_env env, napi_value exports); /* fastpath.c */

static napi_value init(napi_env env, napi_value exports) {
  napi_property_descriptor props[] = {
      {"open", NULL, js_open, NULL, NULL, NULL, napi_enumerable, NULL},
      {"start", NULL, js_start, NULL, NULL, NULL, napi_enumerable, NULL},
      {"stop", NULL, js_stop, NULL, NULL, NULL, napi_enumerable, NULL},
      {"close", NULL, js_close, NULL, NULL, NULL, napi_enumerable, NULL},
      {"write", NULL, js_write, NULL, NULL, NULL, napi_enumerable, NULL},
      {"writeBatch", NULL, js_write_batch, NULL, NULL, NULL, napi_enumerable, NULL},
  };
  napi_define_properties(env, exports, sizeof props / sizeof props[0], props);
  fastpath_register(env, exports);
  return exports;
}

NAPI_MODULE(NODE_GYP_MODULE_NAME, init)
