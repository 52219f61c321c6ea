/*
 * vgw_tun: a minimal Linux TUN device binding for the userspace ESP dataplane.
 *
 * JS surface (wrapped by dataplane/tun.ts; not meant to be used directly):
 *   open(name: string, multiQueue?: boolean, vnetHdr?: boolean, tso?: boolean)
 *     -> { fd, name, tso }   tso: TUNSETOFFLOAD(CSUM|TSO4) took effect, so reads may be
 *     64 KiB TCP super-packets, cut here into MSS segments with full checksums
 *   start(fd, slab: ArrayBuffer, slotSize, headroom, maxBatch, lengths: Uint32Array,
 *         callback(count: number, errno: number))
 *   write(fd, buf: Uint8Array, offset, length) -> boolean (false = EAGAIN drop)
 *   writeBatch(fd, bufs: Uint8Array[], offsets: Uint32Array, lengths: Uint32Array) -> written count
 *   writeGro(fd, buf, offsets: Uint32Array, lengths: Uint32Array, count) -> packets delivered
 *     (needs vnetHdr: consecutive segments of one TCP flow are coalesced into one
 *     GSO super-packet, like the kernel's GRO, so the stack forwards them once)
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
#include <linux/virtio_net.h>
#include <sys/ioctl.h>
#include <sys/uio.h>
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

/* fds opened with IFF_VNET_HDR: every read/write carries a struct virtio_net_hdr first. */
#define MAX_TRACKED_FD 4096
#define VNET_HDR_LEN ((uint32_t)sizeof(struct virtio_net_hdr))
static unsigned char fd_vnet[MAX_TRACKED_FD];
/* fds with TUNSETOFFLOAD(TUN_F_CSUM | TUN_F_TSO4): reads may be 64 KiB TCP super-packets. */
static unsigned char fd_tso[MAX_TRACKED_FD];
static int is_tso(int fd) { return fd >= 0 && fd < MAX_TRACKED_FD && fd_tso[fd]; }
static int is_vnet(int fd) { return fd >= 0 && fd < MAX_TRACKED_FD && fd_vnet[fd]; }

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
  /* TSO reads (fd_tso): one super-packet at a time lands here and is cut into
   * MSS-sized segments in the slab; seg_next > 0 while segments are left. */
  uint8_t* big;
  uint32_t big_len, seg_next;
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
  free(p->big);
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

static uint16_t rd16(const uint8_t* p);
static uint32_t rd32(const uint8_t* p);
static void wr16(uint8_t* p, uint16_t v);
static uint32_t sum16(const uint8_t* p, size_t n, uint32_t acc);
static uint16_t fold(uint32_t acc);

/* Finishes a CHECKSUM_PARTIAL packet: the field at csum_start + csum_offset holds
 * the pseudo-header sum; the checksum covers [csum_start, end). 0 = malformed. */
static int finish_csum(uint8_t* pkt, uint32_t len, uint32_t start, uint32_t offset) {
  if (start >= len || start + offset + 2 > len) return 0;
  uint16_t c = (uint16_t)~fold(sum16(pkt + start, len - start, 0));
  if (pkt[9] == 17 && c == 0) c = 0xffff; /* UDP: 0 means "no checksum" */
  wr16(pkt + start + offset, c);
  return 1;
}

/* Cuts TCP segment k out of the IPv4 TSO super-packet p->big (after its vnet
 * header) into dst, as the kernel's tcp4 GSO would: IP ID + k, seq + k*mss,
 * PSH/FIN only on the last, CWR only on the first, full checksums. Returns the
 * segment length; *last = 1 for the final one. */
static uint32_t tso_segment(poller_t* p, uint32_t k, uint8_t* dst, int* last) {
  const struct virtio_net_hdr* h = (const struct virtio_net_hdr*)p->big;
  const uint8_t* ip = p->big + VNET_HDR_LEN;
  uint32_t len = p->big_len;
  uint32_t ihl = (uint32_t)(ip[0] & 0x0f) * 4;
  uint32_t hdrs = ihl + (uint32_t)(ip[ihl + 12] >> 4) * 4;
  uint32_t mss = h->gso_size;
  uint32_t at = hdrs + k * mss;
  uint32_t chunk = len - at < mss ? len - at : mss;
  *last = at + chunk >= len;
  memcpy(dst, ip, hdrs);
  memcpy(dst + hdrs, ip + at, chunk);
  uint32_t slen = hdrs + chunk;
  wr16(dst + 2, (uint16_t)slen);
  wr16(dst + 4, (uint16_t)(rd16(ip + 4) + k));
  dst[10] = dst[11] = 0;
  wr16(dst + 10, (uint16_t)~fold(sum16(dst, ihl, 0)));
  uint8_t* th = dst + ihl;
  uint32_t seq = rd32(th + 4) + k * mss;
  th[4] = (uint8_t)(seq >> 24), th[5] = (uint8_t)(seq >> 16), th[6] = (uint8_t)(seq >> 8), th[7] = (uint8_t)seq;
  if (!*last) th[13] &= (uint8_t)~0x09; /* PSH, FIN */
  if (k > 0) th[13] &= (uint8_t)~0x80;  /* CWR */
  th[16] = th[17] = 0;
  uint32_t ph = sum16(dst + 12, 8, 0) + 6 + (slen - ihl);
  wr16(th + 16, (uint16_t)~fold(sum16(th, slen - ihl, ph)));
  return slen;
}

/* Super-packets cut so far (all TUNs): tests check the TSO path really ran. */
static double tso_super_packets = 0;

/* Validates the super-packet in p->big; 1 = can be segmented. */
static int tso_valid(poller_t* p) {
  const struct virtio_net_hdr* h = (const struct virtio_net_hdr*)p->big;
  const uint8_t* ip = p->big + VNET_HDR_LEN;
  uint32_t len = p->big_len;
  if (len < 40 || (ip[0] >> 4) != 4 || ip[9] != 6 || h->gso_size == 0) return 0;
  uint32_t ihl = (uint32_t)(ip[0] & 0x0f) * 4;
  if (ihl < 20 || ihl + 20 > len) return 0;
  uint32_t hdrs = ihl + (uint32_t)(ip[ihl + 12] >> 4) * 4;
  return hdrs <= len && hdrs + h->gso_size <= p->slot_size - p->headroom;
}

/* Fills the slab: first the rest of a super-packet being cut, then new reads. */
static uint32_t fill_batch(poller_t* p, int* err, int* drained) {
  uint32_t count = 0;
  uint32_t vnet = is_vnet(p->fd) ? VNET_HDR_LEN : 0;
  uint32_t room = p->slot_size - p->headroom;
  int tso = is_tso(p->fd);
  *drained = 0;
  while (count < p->max_batch) {
    uint8_t* slot = p->slab + (size_t)count * p->slot_size + p->headroom;
    if (tso && p->seg_next > 0) {
      int last = 0;
      p->lengths[count++] = tso_segment(p, p->seg_next, slot, &last);
      p->seg_next = last ? 0 : p->seg_next + 1;
      continue;
    }
    /* TSO: read into the 64 KiB buffer; else straight into the slot (vnet header in the headroom). */
    uint8_t* dst = tso ? p->big : slot - vnet;
    ssize_t n = read(p->fd, dst, tso ? VNET_HDR_LEN + 65535 : room + vnet);
    if (n < 0) {
      if (errno == EINTR) continue;
      if (errno != EAGAIN && errno != EWOULDBLOCK) *err = errno;
      else *drained = 1;
      break;
    }
    if (n == 0) break;
    if ((size_t)n < vnet + 20) continue;
    uint32_t len = (uint32_t)n - vnet;
    struct virtio_net_hdr* h = (struct virtio_net_hdr*)dst;
    if (!tso) {
      /* No offloads enabled: the kernel never sends GSO or partial checksums here. */
      if (vnet && h->gso_type != VIRTIO_NET_HDR_GSO_NONE) continue;
      p->lengths[count++] = len;
      continue;
    }
    p->big_len = len;
    uint8_t* ip = p->big + VNET_HDR_LEN;
    if ((h->gso_type & ~VIRTIO_NET_HDR_GSO_ECN) == VIRTIO_NET_HDR_GSO_TCPV4) {
      if (!tso_valid(p)) continue; /* dropped: malformed */
      tso_super_packets++;
      int last = 0;
      p->lengths[count++] = tso_segment(p, 0, slot, &last);
      p->seg_next = last ? 0 : 1;
      continue;
    }
    if (h->gso_type != VIRTIO_NET_HDR_GSO_NONE || len > room) continue; /* not offered: cannot happen */
    if ((h->flags & VIRTIO_NET_HDR_F_NEEDS_CSUM) && !finish_csum(ip, len, h->csum_start, h->csum_offset)) continue;
    memcpy(slot, ip, len);
    p->lengths[count++] = len;
  }
  return count;
}

static void on_readable(uv_poll_t* handle, int status, int events) {
  poller_t* p = (poller_t*)handle->data;
  if (status < 0) {
    deliver(p, 0, -status);
    return;
  }
  int fd = p->fd;
  /* Up to 8 batches per wakeup; a super-packet being cut is always finished
   * (the poll would not fire again for it). */
  for (int round = 0; round < 8 || p->seg_next > 0; round++) {
    int err = 0, drained = 0;
    uint32_t count = fill_batch(p, &err, &drained);
    if (err != 0 && count == 0) {
      /* A hard read error with nothing read would make the poll fire forever:
       * stop polling and let JS know (it sees errno != 0 with count 0). */
      uv_poll_stop(&p->poll);
    }
    if (count > 0 || err != 0) deliver(p, count, err);
    if (find_poller(fd) != p) return; /* stopped or closed from the callback */
    if (err != 0 || (drained && p->seg_next == 0) || count == 0) return;
  }
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
  size_t argc = 4;
  napi_value argv[4];
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
  bool multi_queue = false, vnet_hdr = false, tso = false;
  if (argc >= 2) napi_get_value_bool(env, argv[1], &multi_queue);
  if (argc >= 3) napi_get_value_bool(env, argv[2], &vnet_hdr);
  if (argc >= 4) napi_get_value_bool(env, argv[3], &tso);

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
  ifr.ifr_flags = IFF_TUN | IFF_NO_PI | (multi_queue ? IFF_MULTI_QUEUE : 0) | (vnet_hdr ? IFF_VNET_HDR : 0);
  if (vnet_hdr && fd >= MAX_TRACKED_FD) {
    close(fd);
    throw_errno(env, "open /dev/net/tun: fd too high for vnetHdr", EMFILE, "EIO");
    return NULL;
  }
  memcpy(ifr.ifr_name, name, name_len);
  if (ioctl(fd, TUNSETIFF, &ifr) < 0) {
    int err = errno;
    close(fd);
    if (err == EPERM) throw_errno(env, "TUNSETIFF: CAP_NET_ADMIN required (EPERM)", err, "EPERM");
    else if (err == EBUSY) throw_errno(env, "TUNSETIFF: interface busy or exists with other flags (EBUSY)", err, "EBUSY");
    else throw_errno(env, "TUNSETIFF", err, errno_code(err));
    return NULL;
  }
  if (fd < MAX_TRACKED_FD) fd_vnet[fd] = vnet_hdr ? 1 : 0;
  if (fd < MAX_TRACKED_FD) fd_tso[fd] = 0;
  /* TSO needs checksum offload too; best effort (an old kernel keeps segmenting itself). */
  if (vnet_hdr && tso && ioctl(fd, TUNSETOFFLOAD, TUN_F_CSUM | TUN_F_TSO4) == 0) fd_tso[fd] = 1;
  napi_value result, fd_value, name_value;
  CHECK(env, napi_create_object(env, &result));
  CHECK(env, napi_create_int32(env, fd, &fd_value));
  CHECK(env, napi_create_string_utf8(env, ifr.ifr_name, strnlen(ifr.ifr_name, IFNAMSIZ), &name_value));
  CHECK(env, napi_set_named_property(env, result, "fd", fd_value));
  CHECK(env, napi_set_named_property(env, result, "name", name_value));
  napi_value tso_value;
  CHECK(env, napi_get_boolean(env, is_tso(fd), &tso_value));
  CHECK(env, napi_set_named_property(env, result, "tso", tso_value));
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
  if (is_tso(p->fd) && !(p->big = malloc(VNET_HDR_LEN + 65535))) {
    free(p);
    napi_throw_error(env, "ERR_VGW_TUN", "start: out of memory");
    return NULL;
  }
  int rc = uv_poll_init(loop, &p->poll, p->fd);
  if (rc != 0) {
    free(p->big);
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
  if (fd < MAX_TRACKED_FD) fd_vnet[fd] = 0, fd_tso[fd] = 0;
  if (close((int)fd) != 0) {
    throw_errno(env, "close", errno, errno_code(errno));
    return NULL;
  }
  return NULL;
}

/* Returns 1 written, 0 dropped (EAGAIN/ENOBUFS), -errno on other errors. */
static int write_one(int fd, const uint8_t* data, size_t len) {
  static const struct virtio_net_hdr plain; /* all zero: no GSO, checksum complete */
  struct iovec iov[2] = {{(void*)&plain, VNET_HDR_LEN}, {(void*)data, len}};
  int vnet = is_vnet(fd);
  for (;;) {
    ssize_t n = vnet ? writev(fd, iov, 2) : write(fd, data, len);
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


/* ---- TUN write with TCP coalescing (GRO) ----
 *
 * Consecutive in-order segments of one TCP flow in a batch are merged into
 * one IPv4 super-packet written with a virtio_net_hdr (gso_type TCPV4,
 * gso_size = the first segment's payload, NEEDS_CSUM): the kernel forwards it
 * as one skb and segments it only if it must. Merge rules (as in the kernel's
 * tcp_gro_receive and wireguard-go's tun offload): same addresses, ports,
 * ack, TOS, TTL, DF and TCP options; no IP options; flags ACK or ACK|PSH
 * only; seq = previous seq + previous payload; every segment but the last
 * exactly gso_size; PSH or a short segment ends the super-packet; at most
 * 64 KiB. Everything else is written as it is, in order. */

typedef struct {
  uint8_t buf[VNET_HDR_LEN + 65535];
  uint32_t len;       /* IP bytes in buf after the vnet header */
  uint32_t segments;
  uint32_t gso_size;
  uint32_t next_seq;
  int open;           /* more segments may be appended */
} gro_item_t;

/* Per thread: the addon may be loaded by worker threads too. */
static _Thread_local gro_item_t gro_item;

/* Where finished packets go: the TUN fd, or (groPlan, for tests) a capture buffer. */
typedef struct {
  int fd;
  uint8_t* out;
  size_t out_cap, out_len;
  uint32_t* out_lengths;
  uint32_t out_count, out_max;
} gro_sink_t;

/* Emits vnet header + packet; returns 1 written, 0 dropped (queue full), -errno. */
static int sink_emit(gro_sink_t* k, const uint8_t* vnet, const uint8_t* pkt, uint32_t len) {
  if (k->out) {
    if (k->out_count >= k->out_max || k->out_len + VNET_HDR_LEN + len > k->out_cap) return -ENOSPC;
    memcpy(k->out + k->out_len, vnet, VNET_HDR_LEN);
    memcpy(k->out + k->out_len + VNET_HDR_LEN, pkt, len);
    k->out_len += VNET_HDR_LEN + len;
    k->out_lengths[k->out_count++] = VNET_HDR_LEN + len;
    return 1;
  }
  struct iovec iov[2] = {{(void*)vnet, VNET_HDR_LEN}, {(void*)pkt, len}};
  for (;;) {
    ssize_t n = writev(k->fd, iov, 2);
    if (n >= 0) return 1;
    if (errno == EINTR) continue;
    if (errno == EAGAIN || errno == EWOULDBLOCK || errno == ENOBUFS) return 0;
    return -errno;
  }
}

static uint16_t rd16(const uint8_t* p) { return (uint16_t)(p[0] << 8 | p[1]); }
static uint32_t rd32(const uint8_t* p) { return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3]; }
static void wr16(uint8_t* p, uint16_t v) { p[0] = (uint8_t)(v >> 8); p[1] = (uint8_t)v; }

static uint32_t sum16(const uint8_t* p, size_t n, uint32_t acc) {
  for (size_t i = 0; i + 1 < n; i += 2) acc += rd16(p + i);
  if (n & 1) acc += (uint32_t)p[n - 1] << 8;
  return acc;
}
static uint16_t fold(uint32_t acc) {
  while (acc >> 16) acc = (acc & 0xffff) + (acc >> 16);
  return (uint16_t)acc;
}

/* TCP payload offset if pkt is a coalescable IPv4 TCP segment with payload, else 0. */
static uint32_t tcp_candidate(const uint8_t* pkt, uint32_t len) {
  if (len < 40 || pkt[0] != 0x45 || pkt[9] != 6) return 0;       /* IPv4, no options, TCP */
  if (rd16(pkt + 2) != len) return 0;
  if ((rd16(pkt + 6) & 0x3fff) != 0) return 0;                     /* fragment */
  uint32_t thl = (uint32_t)(pkt[32] >> 4) * 4;
  if (thl < 20 || 20 + thl >= len) return 0;                       /* no payload */
  uint8_t flags = pkt[33];
  if (flags != 0x10 && flags != 0x18) return 0;                    /* ACK, ACK|PSH */
  return 20 + thl;
}

/* Writes the item; returns the segments it held (0 = dropped: queue full), -errno on error. */
static int gro_flush(gro_sink_t* k) {
  gro_item_t* it = &gro_item;
  if (!it->len) return 0;
  int segments = (int)it->segments;
  uint8_t* ip = it->buf + VNET_HDR_LEN;
  struct virtio_net_hdr* h = (struct virtio_net_hdr*)it->buf;
  memset(h, 0, sizeof *h);
  if (it->segments > 1) {
    uint32_t thl = (uint32_t)(ip[32] >> 4) * 4;
    wr16(ip + 2, (uint16_t)it->len);
    ip[10] = ip[11] = 0;
    wr16(ip + 10, (uint16_t)~fold(sum16(ip, 20, 0)));
    /* CHECKSUM_PARTIAL: the TCP checksum field holds the folded pseudo-header sum. */
    uint32_t ph = sum16(ip + 12, 8, 0) + 6 + (it->len - 20);
    wr16(ip + 36, fold(ph));
    h->flags = VIRTIO_NET_HDR_F_NEEDS_CSUM;
    h->gso_type = VIRTIO_NET_HDR_GSO_TCPV4;
    h->hdr_len = (uint16_t)(20 + thl);
    h->gso_size = (uint16_t)it->gso_size;
    h->csum_start = 20;
    h->csum_offset = 16;
  }
  int rc = sink_emit(k, it->buf, ip, it->len);
  if (rc == 1) rc = segments;
  it->len = 0;
  it->segments = 0;
  it->open = 0;
  return rc;
}

/* Tries to append pkt to the open item; 1 = appended. */
static int gro_append(const uint8_t* pkt, uint32_t len, uint32_t payload_at) {
  gro_item_t* it = &gro_item;
  if (!it->open) return 0;
  const uint8_t* head = it->buf + VNET_HDR_LEN;
  uint32_t payload = len - payload_at;
  if (payload_at != (uint32_t)(20 + (head[32] >> 4) * 4)) return 0;
  if (memcmp(pkt + 12, head + 12, 8) != 0 || memcmp(pkt + 20, head + 20, 4) != 0) return 0; /* addresses, ports */
  if (pkt[1] != head[1] || pkt[8] != head[8] || (pkt[6] & 0x40) != (head[6] & 0x40)) return 0; /* TOS, TTL, DF */
  if (rd32(pkt + 24) != it->next_seq || memcmp(pkt + 28, head + 28, 4) != 0) return 0;          /* seq, ack */
  if (memcmp(pkt + 34, head + 34, 2) != 0) return 0;                                           /* window */
  if (payload_at > 40 && memcmp(pkt + 40, head + 40, payload_at - 40) != 0) return 0;          /* options */
  if (payload > it->gso_size || it->len + payload > 65535) return 0;
  memcpy(it->buf + VNET_HDR_LEN + it->len, pkt + payload_at, payload);
  it->len += payload;
  it->segments++;
  it->next_seq += payload;
  if (pkt[33] & 0x08) it->buf[VNET_HDR_LEN + 33] |= 0x08;
  if (payload < it->gso_size || (pkt[33] & 0x08)) it->open = 0;
  return 1;
}

/* Coalesces and emits packets [0, count); returns packets delivered or -errno. */
static int64_t gro_run(gro_sink_t* k, uint8_t* buf, const uint32_t* offsets, const uint32_t* lengths, uint32_t count) {
  static const struct virtio_net_hdr plain;
  uint32_t delivered = 0;
  int err = 0;
  gro_item.len = 0;
  gro_item.open = 0;
  for (uint32_t i = 0; i < count && !err; i++) {
    const uint8_t* pkt = buf + offsets[i];
    uint32_t len = lengths[i];
    uint32_t payload_at = tcp_candidate(pkt, len);
    if (payload_at && gro_append(pkt, len, payload_at)) continue;
    int rc = gro_flush(k);
    if (rc < 0) { err = -rc; break; }
    delivered += (uint32_t)rc;
    if (payload_at) {
      gro_item_t* it = &gro_item;
      memcpy(it->buf + VNET_HDR_LEN, pkt, len);
      it->len = len;
      it->segments = 1;
      it->gso_size = len - payload_at;
      it->next_seq = rd32(pkt + 24) + it->gso_size;
      it->open = (pkt[33] & 0x08) == 0;
    } else {
      rc = sink_emit(k, (const uint8_t*)&plain, pkt, len);
      if (rc < 0) { err = -rc; break; }
      delivered += (uint32_t)rc;
    }
  }
  if (!err) {
    int rc = gro_flush(k);
    if (rc < 0) err = -rc;
    else delivered += (uint32_t)rc;
  }
  gro_item.len = 0;
  gro_item.open = 0;
  return err ? -(int64_t)err : (int64_t)delivered;
}

static napi_value js_write_gro(napi_env env, napi_callback_info info) {
  size_t argc = 5;
  napi_value argv[5];
  CHECK(env, napi_get_cb_info(env, info, &argc, argv, NULL, NULL));
  uint32_t fd, count;
  uint8_t* buf;
  size_t buf_len, ol, ll;
  uint32_t *offsets, *lengths;
  if (argc < 5 || !get_u32(env, argv[0], &fd) || !get_bytes(env, argv[1], &buf, &buf_len) ||
      !get_u32_array(env, argv[2], &offsets, &ol) || !get_u32_array(env, argv[3], &lengths, &ll) ||
      !get_u32(env, argv[4], &count)) {
    napi_throw_type_error(env, "ERR_INVALID_ARG_TYPE", "writeGro(fd, buf, offsets, lengths, count)");
    return NULL;
  }
  if (!is_vnet((int)fd)) {
    napi_throw_error(env, "ERR_VGW_TUN", "writeGro: the TUN was not opened with vnetHdr");
    return NULL;
  }
  if (count > ol || count > ll) {
    napi_throw_range_error(env, "ERR_OUT_OF_RANGE", "writeGro: count beyond arrays");
    return NULL;
  }
  for (uint32_t i = 0; i < count; i++) {
    if ((uint64_t)offsets[i] + lengths[i] > buf_len || lengths[i] > 65535) {
      napi_throw_range_error(env, "ERR_OUT_OF_RANGE", "writeGro: packet beyond buffer");
      return NULL;
    }
  }
  gro_sink_t sink = {.fd = (int)fd};
  int64_t r = gro_run(&sink, buf, offsets, lengths, count);
  if (r < 0) {
    throw_errno(env, "write to TUN", (int)-r, errno_code((int)-r));
    return NULL;
  }
  uint32_t delivered = (uint32_t)r;
  napi_value result;
  CHECK(env, napi_create_uint32(env, delivered, &result));
  return result;
}

/* groPlan(buf, offsets, lengths, count, out, outLengths) -> packets out: what writeGro
 * would write (vnet header + packet each, back to back in out), without a TUN. */
static napi_value js_gro_plan(napi_env env, napi_callback_info info) {
  size_t argc = 6;
  napi_value argv[6];
  CHECK(env, napi_get_cb_info(env, info, &argc, argv, NULL, NULL));
  uint32_t count;
  uint8_t *buf, *out;
  size_t buf_len, out_len, ol, ll, lol;
  uint32_t *offsets, *lengths, *out_lengths;
  if (argc < 6 || !get_bytes(env, argv[0], &buf, &buf_len) || !get_u32_array(env, argv[1], &offsets, &ol) ||
      !get_u32_array(env, argv[2], &lengths, &ll) || !get_u32(env, argv[3], &count) || !get_bytes(env, argv[4], &out, &out_len) ||
      !get_u32_array(env, argv[5], &out_lengths, &lol)) {
    napi_throw_type_error(env, "ERR_INVALID_ARG_TYPE", "groPlan(buf, offsets, lengths, count, out, outLengths)");
    return NULL;
  }
  if (count > ol || count > ll) {
    napi_throw_range_error(env, "ERR_OUT_OF_RANGE", "groPlan: count beyond arrays");
    return NULL;
  }
  for (uint32_t i = 0; i < count; i++) {
    if ((uint64_t)offsets[i] + lengths[i] > buf_len || lengths[i] > 65535) {
      napi_throw_range_error(env, "ERR_OUT_OF_RANGE", "groPlan: packet beyond buffer");
      return NULL;
    }
  }
  gro_sink_t sink = {.fd = -1, .out = out, .out_cap = out_len, .out_lengths = out_lengths, .out_max = (uint32_t)lol};
  int64_t r = gro_run(&sink, buf, offsets, lengths, count);
  if (r < 0) {
    throw_errno(env, "groPlan", (int)-r, errno_code((int)-r));
    return NULL;
  }
  napi_value result;
  CHECK(env, napi_create_uint32(env, sink.out_count, &result));
  return result;
}

static napi_value js_tso_stats(napi_env env, napi_callback_info info) {
  napi_value result;
  CHECK(env, napi_create_double(env, tso_super_packets, &result));
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
      {"writeGro", NULL, js_write_gro, NULL, NULL, NULL, napi_enumerable, NULL},
      {"groPlan", NULL, js_gro_plan, NULL, NULL, NULL, napi_enumerable, NULL},
      {"tsoSuperPackets", NULL, js_tso_stats, NULL, NULL, NULL, napi_enumerable, NULL},
  };
  napi_define_properties(env, exports, sizeof props / sizeof props[0], props);
  fastpath_register(env, exports);
  return exports;
}

NAPI_MODULE(NODE_GYP_MODULE_NAME, init)
