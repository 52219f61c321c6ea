/*
 * vgw_tun fast path: AES-GCM ESP seal/open with OpenSSL EVP, and a UDP
 * socket read with recvmmsg / written with sendmmsg. Registered on the same
 * addon object as the TUN functions (tun_addon.c calls fastpath_register).
 *
 * OpenSSL: node links OpenSSL statically and exports its symbols, so the
 * EVP_* calls below resolve against the running node binary (the headers
 * come from node's own include dir). One EVP_CIPHER_CTX per SA direction is
 * keyed once; per packet only the nonce changes: no allocation per packet.
 *
 * JS surface (wrapped by dataplane/esp-cipher.ts and dataplane/udp-transport.ts):
 *   gcmCreate(key: Uint8Array(16|24|32), salt: Uint8Array(4)) -> handle
 *   gcmFree(handle)
 *   gcmSeal(handle, buf, esp, seq, plaintextLength)      RFC 4106 ESP: IV = 0^32 ‖ seq,
 *   gcmOpen(handle, buf, esp, length) -> boolean          AAD = SPI ‖ seq, ICV 16 bytes
 *   udpOpen(ipv4: number, port: number, rcvBytes: number, sndBytes: number) -> { fd, port }
 *   udpStart(fd, slab: ArrayBuffer, slotSize, maxBatch, offsets, lengths, addrs, ports: Uint32Array,
 *            cb(count, errno))      recvmmsg batches, one callback each; UDP GRO super-datagrams
 *                                   are split here, so entry i is slab[offsets[i], +lengths[i])
 *                                   (the arrays need maxBatch * 64 entries)
 *   udpSendBatch(fd, buf, offsets, lengths, addrs, ports: Uint32Array, count) -> sent count
 *            (sendmmsg; runs of same-size datagrams to one peer use UDP GSO)
 *   udpSend(fd, buf, offset, length, ipv4, port) -> boolean
 *   udpClose(fd)
 * IPv4 addresses are passed as host-order uint32.
 * Threading: the GCM handle table is process-wide and not locked: create,
 * use and free SAs from one thread (the daemon's main thread does).
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <netinet/udp.h>
#include <node_api.h>
#include <openssl/aes.h>
#include <openssl/evp.h>
#include <openssl/modes.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>
#include <uv.h>

#define FP_CHECK(env, call)                                              \
  do {                                                                   \
    if ((call) != napi_ok) {                                             \
      napi_throw_error(env, "ERR_VGW_FASTPATH", #call " failed");        \
      return NULL;                                                       \
    }                                                                    \
  } while (0)

static napi_value throw_type(napi_env env, const char* msg) {
  napi_throw_type_error(env, "ERR_INVALID_ARG_TYPE", msg);
  return NULL;
}

static napi_value throw_errno_fp(napi_env env, const char* what, int err) {
  char buf[256];
  snprintf(buf, sizeof buf, "%s: %s", what, strerror(err));
  napi_value message, error, errno_value;
  napi_create_string_utf8(env, buf, NAPI_AUTO_LENGTH, &message);
  napi_create_error(env, NULL, message, &error);
  napi_create_int32(env, err, &errno_value);
  napi_set_named_property(env, error, "errno", errno_value);
  napi_throw(env, error);
  return NULL;
}

static int u8(napi_env env, napi_value v, uint8_t** data, size_t* len) {
  bool is_typed = false;
  napi_is_typedarray(env, v, &is_typed);
  if (is_typed) {
    napi_typedarray_type type;
    size_t byte_offset;
    napi_value ab;
    void* ptr;
    if (napi_get_typedarray_info(env, v, &type, len, &ptr, &ab, &byte_offset) != napi_ok || type != napi_uint8_array) return 0;
    *data = (uint8_t*)ptr;
    return 1;
  }
  bool is_ab = false;
  napi_is_arraybuffer(env, v, &is_ab);
  if (!is_ab) return 0;
  void* ptr;
  if (napi_get_arraybuffer_info(env, v, &ptr, len) != napi_ok) return 0;
  *data = (uint8_t*)ptr;
  return 1;
}

static int u32arr(napi_env env, napi_value v, uint32_t** data, size_t* len) {
  bool is_typed = false;
  napi_is_typedarray(env, v, &is_typed);
  if (!is_typed) return 0;
  napi_typedarray_type type;
  size_t byte_offset;
  napi_value ab;
  void* ptr;
  if (napi_get_typedarray_info(env, v, &type, len, &ptr, &ab, &byte_offset) != napi_ok || type != napi_uint32_array) return 0;
  *data = (uint32_t*)ptr;
  return 1;
}

static int u32(napi_env env, napi_value v, uint32_t* out) { return napi_get_value_uint32(env, v, out) == napi_ok; }

/* ------------------------------------------------------------------ */
/* AES-GCM (RFC 4106)                                                  */

/* Fast engine: OpenSSL's GCM128 mode code driven by its AES-NI block and CTR32
 * routines (exported by node on x86-64). EVP_EncryptInit_ex/ctrl cost ~1 µs per
 * packet in OpenSSL 3.0 (provider dispatch, OSSL_PARAM translation); this path
 * skips that and still uses the CLMUL/AVX GHASH. The symbols are weak: on a
 * node without them (other arch, other build) or a CPU without AES-NI and
 * PCLMULQDQ the EVP path is used. VGW_GCM_EVP=1 forces EVP (tests compare both). */
extern int aesni_set_encrypt_key(const unsigned char* user_key, int bits, AES_KEY* key) __attribute__((weak));
extern void aesni_encrypt(const unsigned char* in, unsigned char* out, const AES_KEY* key) __attribute__((weak));
extern void aesni_ctr32_encrypt_blocks(const unsigned char* in, unsigned char* out, size_t blocks, const void* key,
                                       const unsigned char* ivec) __attribute__((weak));

static int aesni_usable(void) {
  const char* force = getenv("VGW_GCM_EVP");
  if (force && force[0] == '1') return 0;
  if (!aesni_set_encrypt_key || !aesni_encrypt || !aesni_ctr32_encrypt_blocks) return 0;
#if defined(__x86_64__)
  return __builtin_cpu_supports("aes") && __builtin_cpu_supports("pclmul");
#else
  return 0;
#endif
}

typedef struct {
  EVP_CIPHER_CTX* enc;
  EVP_CIPHER_CTX* dec;
  AES_KEY aes;           /* fast engine: key schedule shared by both directions (CTR mode) */
  GCM128_CONTEXT* genc;  /* fast engine, NULL when EVP is used */
  GCM128_CONTEXT* gdec;
  uint8_t salt[4];
  int in_use;
} gcm_sa_t;

/* Entries are allocated one by one: GCM128_CONTEXT keeps a pointer to sa->aes,
 * so an SA must never move (a realloc'ed array of structs would break that). */
static gcm_sa_t** gcm_table = NULL;
static uint32_t gcm_cap = 0;

static napi_value js_gcm_create(napi_env env, napi_callback_info info) {
  size_t argc = 2;
  napi_value argv[2];
  FP_CHECK(env, napi_get_cb_info(env, info, &argc, argv, NULL, NULL));
  uint8_t *key, *salt;
  size_t key_len, salt_len;
  if (argc < 2 || !u8(env, argv[0], &key, &key_len) || !u8(env, argv[1], &salt, &salt_len) || salt_len != 4)
    return throw_type(env, "gcmCreate(key: Uint8Array, salt: Uint8Array(4))");
  const EVP_CIPHER* cipher = key_len == 16 ? EVP_aes_128_gcm() : key_len == 24 ? EVP_aes_192_gcm() : key_len == 32 ? EVP_aes_256_gcm() : NULL;
  if (!cipher) {
    napi_throw_range_error(env, "ERR_OUT_OF_RANGE", "gcmCreate: key must be 16, 24 or 32 bytes");
    return NULL;
  }
  uint32_t h = 0;
  while (h < gcm_cap && gcm_table[h]) h++;
  if (h == gcm_cap) {
    uint32_t cap = gcm_cap ? gcm_cap * 2 : 16;
    gcm_sa_t** t = realloc(gcm_table, cap * sizeof *t);
    if (!t) return throw_errno_fp(env, "gcmCreate", ENOMEM);
    memset(t + gcm_cap, 0, (cap - gcm_cap) * sizeof *t);
    gcm_table = t;
    gcm_cap = cap;
  }
  gcm_sa_t* sa = calloc(1, sizeof *sa);
  if (!sa) return throw_errno_fp(env, "gcmCreate", ENOMEM);
  gcm_table[h] = sa;
  if (aesni_usable() && aesni_set_encrypt_key(key, (int)key_len * 8, &sa->aes) == 0) {
    sa->genc = CRYPTO_gcm128_new(&sa->aes, (block128_f)aesni_encrypt);
    sa->gdec = CRYPTO_gcm128_new(&sa->aes, (block128_f)aesni_encrypt);
    if (sa->genc && sa->gdec) {
      memcpy(sa->salt, salt, 4);
      sa->in_use = 1;
      napi_value result;
      FP_CHECK(env, napi_create_uint32(env, h, &result));
      return result;
    }
    if (sa->genc) CRYPTO_gcm128_release(sa->genc);
    if (sa->gdec) CRYPTO_gcm128_release(sa->gdec);
    sa->genc = sa->gdec = NULL;
  }
  sa->enc = EVP_CIPHER_CTX_new();
  sa->dec = EVP_CIPHER_CTX_new();
  if (!sa->enc || !sa->dec || EVP_EncryptInit_ex(sa->enc, cipher, NULL, NULL, NULL) != 1 ||
      EVP_CIPHER_CTX_ctrl(sa->enc, EVP_CTRL_GCM_SET_IVLEN, 12, NULL) != 1 ||
      EVP_EncryptInit_ex(sa->enc, NULL, NULL, key, NULL) != 1 || EVP_DecryptInit_ex(sa->dec, cipher, NULL, NULL, NULL) != 1 ||
      EVP_CIPHER_CTX_ctrl(sa->dec, EVP_CTRL_GCM_SET_IVLEN, 12, NULL) != 1 ||
      EVP_DecryptInit_ex(sa->dec, NULL, NULL, key, NULL) != 1) {
    EVP_CIPHER_CTX_free(sa->enc);
    EVP_CIPHER_CTX_free(sa->dec);
    OPENSSL_cleanse(sa, sizeof *sa);
    free(sa);
    gcm_table[h] = NULL;
    napi_throw_error(env, "ERR_VGW_FASTPATH", "gcmCreate: OpenSSL EVP init failed");
    return NULL;
  }
  memcpy(sa->salt, salt, 4);
  sa->in_use = 1;
  napi_value result;
  FP_CHECK(env, napi_create_uint32(env, h, &result));
  return result;
}

static gcm_sa_t* gcm_get(uint32_t h) { return h < gcm_cap ? gcm_table[h] : NULL; }

static napi_value js_gcm_free(napi_env env, napi_callback_info info) {
  size_t argc = 1;
  napi_value argv[1];
  uint32_t h;
  FP_CHECK(env, napi_get_cb_info(env, info, &argc, argv, NULL, NULL));
  if (argc < 1 || !u32(env, argv[0], &h)) return throw_type(env, "gcmFree(handle)");
  gcm_sa_t* sa = gcm_get(h);
  if (sa) {
    if (sa->genc) CRYPTO_gcm128_release(sa->genc); /* release cleanses the context */
    if (sa->gdec) CRYPTO_gcm128_release(sa->gdec);
    EVP_CIPHER_CTX_free(sa->enc);
    EVP_CIPHER_CTX_free(sa->dec);
    OPENSSL_cleanse(sa, sizeof *sa); /* key schedule and salt */
    free(sa);
    gcm_table[h] = NULL;
  }
  return NULL;
}

/* Seals in place; returns 0 on success. */
static int gcm_seal(gcm_sa_t* sa, uint8_t* esp, uint32_t seq, uint32_t pt_len) {
  uint8_t* iv = esp + 8;
  uint8_t* ct = esp + 16;
  uint8_t nonce[12];
  iv[0] = iv[1] = iv[2] = iv[3] = 0;
  iv[4] = (uint8_t)(seq >> 24);
  iv[5] = (uint8_t)(seq >> 16);
  iv[6] = (uint8_t)(seq >> 8);
  iv[7] = (uint8_t)seq;
  memcpy(nonce, sa->salt, 4);
  memcpy(nonce + 4, iv, 8);
  if (sa->genc) {
    CRYPTO_gcm128_setiv(sa->genc, nonce, 12);
    if (CRYPTO_gcm128_aad(sa->genc, esp, 8) != 0) return -1;
    if (CRYPTO_gcm128_encrypt_ctr32(sa->genc, ct, ct, pt_len, (ctr128_f)aesni_ctr32_encrypt_blocks) != 0) return -1;
    CRYPTO_gcm128_tag(sa->genc, ct + pt_len, 16);
    return 0;
  }
  int outl = 0;
  if (EVP_EncryptInit_ex(sa->enc, NULL, NULL, NULL, nonce) != 1) return -1;
  if (EVP_EncryptUpdate(sa->enc, NULL, &outl, esp, 8) != 1) return -1; /* AAD: SPI ‖ seq */
  if (EVP_EncryptUpdate(sa->enc, ct, &outl, ct, (int)pt_len) != 1) return -1;
  if (EVP_EncryptFinal_ex(sa->enc, ct + outl, &outl) != 1) return -1;
  if (EVP_CIPHER_CTX_ctrl(sa->enc, EVP_CTRL_GCM_GET_TAG, 16, ct + pt_len) != 1) return -1;
  return 0;
}

/* Verifies and decrypts in place; 1 = ok. GCM decrypts while hashing, so a
 * packet that fails the ICV is left with garbage in its payload: callers drop it. */
static int gcm_open(gcm_sa_t* sa, uint8_t* esp, uint32_t len) {
  uint8_t nonce[12];
  uint8_t* ct = esp + 16;
  uint32_t ct_len = len - 32;
  memcpy(nonce, sa->salt, 4);
  memcpy(nonce + 4, esp + 8, 8);
  if (sa->gdec) {
    CRYPTO_gcm128_setiv(sa->gdec, nonce, 12);
    if (CRYPTO_gcm128_aad(sa->gdec, esp, 8) != 0) return 0;
    if (CRYPTO_gcm128_decrypt_ctr32(sa->gdec, ct, ct, ct_len, (ctr128_f)aesni_ctr32_encrypt_blocks) != 0) return 0;
    return CRYPTO_gcm128_finish(sa->gdec, ct + ct_len, 16) == 0; /* constant-time tag compare */
  }
  int outl = 0;
  if (EVP_DecryptInit_ex(sa->dec, NULL, NULL, NULL, nonce) != 1) return 0;
  if (EVP_DecryptUpdate(sa->dec, NULL, &outl, esp, 8) != 1) return 0;
  if (EVP_DecryptUpdate(sa->dec, ct, &outl, ct, (int)ct_len) != 1) return 0;
  if (EVP_CIPHER_CTX_ctrl(sa->dec, EVP_CTRL_GCM_SET_TAG, 16, ct + ct_len) != 1) return 0;
  return EVP_DecryptFinal_ex(sa->dec, ct + outl, &outl) == 1;
}

static napi_value js_gcm_seal(napi_env env, napi_callback_info info) {
  size_t argc = 5;
  napi_value argv[5];
  FP_CHECK(env, napi_get_cb_info(env, info, &argc, argv, NULL, NULL));
  uint32_t h, esp, seq, pt_len;
  uint8_t* buf;
  size_t buf_len;
  if (argc < 5 || !u32(env, argv[0], &h) || !u8(env, argv[1], &buf, &buf_len) || !u32(env, argv[2], &esp) ||
      !u32(env, argv[3], &seq) || !u32(env, argv[4], &pt_len))
    return throw_type(env, "gcmSeal(handle, buf, esp, seq, plaintextLength)");
  gcm_sa_t* sa = gcm_get(h);
  if (!sa) return throw_type(env, "gcmSeal: unknown handle");
  if ((uint64_t)esp + 16 + pt_len + 16 > buf_len || pt_len > 0x7fffffff) {
    napi_throw_range_error(env, "ERR_OUT_OF_RANGE", "gcmSeal: packet beyond buffer");
    return NULL;
  }
  if (gcm_seal(sa, buf + esp, seq, pt_len) != 0) {
    napi_throw_error(env, "ERR_VGW_FASTPATH", "gcmSeal: OpenSSL failure");
    return NULL;
  }
  return NULL;
}

static napi_value js_gcm_open(napi_env env, napi_callback_info info) {
  size_t argc = 4;
  napi_value argv[4];
  FP_CHECK(env, napi_get_cb_info(env, info, &argc, argv, NULL, NULL));
  uint32_t h, esp, len;
  uint8_t* buf;
  size_t buf_len;
  if (argc < 4 || !u32(env, argv[0], &h) || !u8(env, argv[1], &buf, &buf_len) || !u32(env, argv[2], &esp) ||
      !u32(env, argv[3], &len))
    return throw_type(env, "gcmOpen(handle, buf, esp, length)");
  gcm_sa_t* sa = gcm_get(h);
  if (!sa) return throw_type(env, "gcmOpen: unknown handle");
  napi_value result;
  int ok = len >= 32 && (uint64_t)esp + len <= buf_len && gcm_open(sa, buf + esp, len);
  FP_CHECK(env, napi_get_boolean(env, ok, &result));
  return result;
}

/* ------------------------------------------------------------------ */
/* UDP with recvmmsg / sendmmsg                                        */

#define UDP_MAX_BATCH 256
#ifndef UDP_GRO
#define UDP_GRO 104
#endif
/* The kernel's UDP GRO merges at most 64 segments (UDP_GRO_CNT_MAX). */
#define GRO_MAX_SEGS 64

typedef struct udp_poller {
  uv_poll_t poll;
  napi_env env;
  int fd;
  napi_ref callback, slab_ref, offsets_ref, lengths_ref, addrs_ref, ports_ref;
  napi_async_context async_context;
  uint8_t* slab;
  uint32_t slot_size, max_batch;
  uint32_t *offsets, *lengths, *addrs, *ports;
  uint32_t max_entries;
  union {
    char buf[CMSG_SPACE(sizeof(int))];
    struct cmsghdr align;
  } ctrl[UDP_MAX_BATCH];
  struct mmsghdr msgs[UDP_MAX_BATCH];
  struct iovec iov[UDP_MAX_BATCH];
  struct sockaddr_in from[UDP_MAX_BATCH];
  struct udp_poller* next;
} udp_poller_t;

static udp_poller_t* udp_pollers = NULL;

static udp_poller_t* find_udp(int fd) {
  for (udp_poller_t* p = udp_pollers; p; p = p->next)
    if (p->fd == fd) return p;
  return NULL;
}

static void udp_closed(uv_handle_t* h) { free(h->data); }

static void udp_release(udp_poller_t* p) {
  for (udp_poller_t** pp = &udp_pollers; *pp; pp = &(*pp)->next)
    if (*pp == p) {
      *pp = p->next;
      break;
    }
  uv_poll_stop(&p->poll);
  napi_delete_reference(p->env, p->callback);
  napi_delete_reference(p->env, p->slab_ref);
  napi_delete_reference(p->env, p->lengths_ref);
  napi_delete_reference(p->env, p->offsets_ref);
  napi_delete_reference(p->env, p->addrs_ref);
  napi_delete_reference(p->env, p->ports_ref);
  napi_async_destroy(p->env, p->async_context);
  uv_close((uv_handle_t*)&p->poll, udp_closed);
}

static void udp_deliver(udp_poller_t* p, uint32_t count, int err) {
  napi_env env = p->env;
  napi_handle_scope scope;
  if (napi_open_handle_scope(env, &scope) != napi_ok) return;
  napi_value cb, recv, argv[2], result;
  napi_get_reference_value(env, p->callback, &cb);
  napi_get_global(env, &recv);
  napi_create_uint32(env, count, &argv[0]);
  napi_create_int32(env, err, &argv[1]);
  if (napi_make_callback(env, p->async_context, recv, cb, 2, argv, &result) == napi_pending_exception) {
    napi_value exception;
    napi_get_and_clear_last_exception(env, &exception);
    napi_fatal_exception(env, exception);
  }
  napi_close_handle_scope(env, scope);
}

/* Bounded work per wakeup so a busy socket does not starve the TUN side (and
 * the packets queued there, pings included): at most 16 datagrams per
 * recvmmsg (each may be a GRO super-datagram of up to 64 segments) and no new
 * recvmmsg once 512 packets were delivered in this wakeup. */
#define UDP_RECV_VLEN 16
#define UDP_WAKEUP_BUDGET 512
static void udp_on_readable(uv_poll_t* handle, int status, int events) {
  udp_poller_t* p = (udp_poller_t*)handle->data;
  if (status < 0) {
    udp_deliver(p, 0, -status);
    return;
  }
  uint32_t vlen = p->max_batch < UDP_RECV_VLEN ? p->max_batch : UDP_RECV_VLEN;
  uint32_t budget = 0;
  for (int round = 0; round < 8 && budget < UDP_WAKEUP_BUDGET; round++) {
    for (uint32_t i = 0; i < vlen; i++) {
      p->iov[i].iov_base = p->slab + (size_t)i * p->slot_size;
      p->iov[i].iov_len = p->slot_size;
      memset(&p->msgs[i].msg_hdr, 0, sizeof p->msgs[i].msg_hdr);
      p->msgs[i].msg_hdr.msg_iov = &p->iov[i];
      p->msgs[i].msg_hdr.msg_iovlen = 1;
      p->msgs[i].msg_hdr.msg_name = &p->from[i];
      p->msgs[i].msg_hdr.msg_namelen = sizeof p->from[i];
      p->msgs[i].msg_hdr.msg_control = p->ctrl[i].buf;
      p->msgs[i].msg_hdr.msg_controllen = sizeof p->ctrl[i].buf;
    }
    int n = recvmmsg(p->fd, p->msgs, vlen, MSG_DONTWAIT, NULL);
    if (n < 0) {
      if (errno == EINTR) continue;
      if (errno != EAGAIN && errno != EWOULDBLOCK) udp_deliver(p, 0, errno);
      return;
    }
    if (n == 0) return;
    uint32_t e = 0;
    for (int i = 0; i < n; i++) {
      struct msghdr* h = &p->msgs[i].msg_hdr;
      uint32_t len = p->msgs[i].msg_len;
      uint32_t base = (uint32_t)i * p->slot_size;
      uint32_t addr = ntohl(p->from[i].sin_addr.s_addr), port = ntohs(p->from[i].sin_port);
      uint32_t seg = len;
      for (struct cmsghdr* c = CMSG_FIRSTHDR(h); c; c = CMSG_NXTHDR(h, c)) {
        if (c->cmsg_level == SOL_UDP && c->cmsg_type == UDP_GRO) {
          int g;
          memcpy(&g, CMSG_DATA(c), sizeof g);
          if (g > 0) seg = (uint32_t)g;
        }
      }
      /* A datagram bigger than the slot is truncated: report length 0 (dropped). */
      if (h->msg_flags & MSG_TRUNC) len = 0, seg = 0;
      uint32_t at = 0;
      do {
        if (e >= p->max_entries) break;
        uint32_t l = len - at < seg ? len - at : seg;
        p->offsets[e] = base + at;
        p->lengths[e] = l;
        p->addrs[e] = addr;
        p->ports[e] = port;
        e++;
        at += l;
      } while (at < len && seg > 0);
    }
    udp_deliver(p, e, 0);
    budget += e;
    if ((uint32_t)n < vlen) return;
    if (!find_udp(p->fd)) return; /* closed from the callback */
  }
}

static napi_value js_udp_open(napi_env env, napi_callback_info info) {
  size_t argc = 4;
  napi_value argv[4];
  FP_CHECK(env, napi_get_cb_info(env, info, &argc, argv, NULL, NULL));
  uint32_t addr, port, rcv, snd;
  if (argc < 4 || !u32(env, argv[0], &addr) || !u32(env, argv[1], &port) || !u32(env, argv[2], &rcv) ||
      !u32(env, argv[3], &snd) || port > 65535 || rcv > 0x3fffffff || snd > 0x3fffffff)
    return throw_type(env, "udpOpen(ipv4: uint32, port, rcvBytes, sndBytes)");
  int fd = socket(AF_INET, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  if (fd < 0) return throw_errno_fp(env, "socket", errno);
  int r = (int)rcv, w = (int)snd;
  /* FORCE variants need CAP_NET_ADMIN (the daemon has it); fall back to rmem_max-capped ones. */
  if (setsockopt(fd, SOL_SOCKET, SO_RCVBUFFORCE, &r, sizeof r) != 0) setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &r, sizeof r);
  if (setsockopt(fd, SOL_SOCKET, SO_SNDBUFFORCE, &w, sizeof w) != 0) setsockopt(fd, SOL_SOCKET, SO_SNDBUF, &w, sizeof w);
  struct sockaddr_in sin;
  memset(&sin, 0, sizeof sin);
  sin.sin_family = AF_INET;
  sin.sin_port = htons((uint16_t)port);
  sin.sin_addr.s_addr = htonl(addr);
  if (bind(fd, (struct sockaddr*)&sin, sizeof sin) != 0) {
    int err = errno;
    close(fd);
    return throw_errno_fp(env, "bind", err);
  }
  socklen_t sl = sizeof sin;
  getsockname(fd, (struct sockaddr*)&sin, &sl);
  napi_value result, v;
  FP_CHECK(env, napi_create_object(env, &result));
  FP_CHECK(env, napi_create_int32(env, fd, &v));
  FP_CHECK(env, napi_set_named_property(env, result, "fd", v));
  FP_CHECK(env, napi_create_uint32(env, ntohs(sin.sin_port), &v));
  FP_CHECK(env, napi_set_named_property(env, result, "port", v));
  return result;
}

static napi_value js_udp_start(napi_env env, napi_callback_info info) {
  size_t argc = 9;
  napi_value argv[9];
  FP_CHECK(env, napi_get_cb_info(env, info, &argc, argv, NULL, NULL));
  uint32_t fd, slot_size, max_batch;
  uint8_t* slab;
  size_t slab_len, ol, ll, al, pl;
  uint32_t *offsets, *lengths, *addrs, *ports;
  napi_valuetype cbt = napi_undefined;
  if (argc >= 9) napi_typeof(env, argv[8], &cbt);
  if (argc < 9 || !u32(env, argv[0], &fd) || !u8(env, argv[1], &slab, &slab_len) || !u32(env, argv[2], &slot_size) ||
      !u32(env, argv[3], &max_batch) || !u32arr(env, argv[4], &offsets, &ol) || !u32arr(env, argv[5], &lengths, &ll) ||
      !u32arr(env, argv[6], &addrs, &al) || !u32arr(env, argv[7], &ports, &pl) || cbt != napi_function)
    return throw_type(env, "udpStart(fd, slab, slotSize, maxBatch, offsets, lengths, addrs, ports, cb)");
  size_t need = (size_t)max_batch * GRO_MAX_SEGS;
  if (max_batch == 0 || max_batch > UDP_MAX_BATCH || (size_t)max_batch * slot_size > slab_len || ol < need || ll < need ||
      al < need || pl < need) {
    napi_throw_range_error(env, "ERR_OUT_OF_RANGE", "udpStart: arrays need maxBatch * 64 entries, maxBatch <= 256");
    return NULL;
  }
  if (find_udp((int)fd)) {
    napi_throw_error(env, "ERR_VGW_FASTPATH", "udpStart: already started");
    return NULL;
  }
  uv_loop_t* loop;
  FP_CHECK(env, napi_get_uv_event_loop(env, &loop));
  udp_poller_t* p = calloc(1, sizeof *p);
  if (!p) return throw_errno_fp(env, "udpStart", ENOMEM);
  p->env = env;
  p->fd = (int)fd;
  p->slab = slab;
  p->slot_size = slot_size;
  p->max_batch = max_batch;
  p->offsets = offsets;
  p->lengths = lengths;
  p->addrs = addrs;
  p->ports = ports;
  p->max_entries = (uint32_t)need;
  /* Let the kernel hand over GRO'd super-datagrams (split above); best effort. */
  int one = 1;
  setsockopt(p->fd, SOL_UDP, UDP_GRO, &one, sizeof one);
  int rc = uv_poll_init(loop, &p->poll, p->fd);
  if (rc != 0) {
    free(p);
    return throw_errno_fp(env, "uv_poll_init", -rc);
  }
  p->poll.data = p;
  napi_value name;
  napi_create_string_utf8(env, "vgw_udp.read", NAPI_AUTO_LENGTH, &name);
  napi_async_init(env, NULL, name, &p->async_context);
  napi_create_reference(env, argv[8], 1, &p->callback);
  napi_create_reference(env, argv[1], 1, &p->slab_ref);
  napi_create_reference(env, argv[4], 1, &p->offsets_ref);
  napi_create_reference(env, argv[5], 1, &p->lengths_ref);
  napi_create_reference(env, argv[6], 1, &p->addrs_ref);
  napi_create_reference(env, argv[7], 1, &p->ports_ref);
  p->next = udp_pollers;
  udp_pollers = p;
  rc = uv_poll_start(&p->poll, UV_READABLE, udp_on_readable);
  if (rc != 0) {
    udp_release(p);
    return throw_errno_fp(env, "uv_poll_start", -rc);
  }
  return NULL;
}

/* UDP GSO (UDP_SEGMENT, Linux >= 4.18): a run of datagrams to one peer with
 * one size (the last may be shorter) goes down the stack as one skb and is
 * cut into datagrams only where needed. A run the kernel refuses (EINVAL: a
 * segment bigger than the path MTU allows; EIO: no checksum offload) is sent
 * datagram by datagram instead; after 16 refusals in a row GSO is turned off
 * for the process. */
#ifndef UDP_SEGMENT
#define UDP_SEGMENT 103
#endif
#define GSO_MAX_SEGS 64
static int udp_gso_enabled = 1;
static int udp_gso_refusals = 0;

typedef struct {
  struct mmsghdr msgs[UDP_MAX_BATCH];
  struct iovec iov[UDP_MAX_BATCH];
  struct sockaddr_in to[UDP_MAX_BATCH];
  union {
    char buf[CMSG_SPACE(sizeof(uint16_t))];
    struct cmsghdr align;
  } ctrl[UDP_MAX_BATCH];
  uint32_t segs[UDP_MAX_BATCH]; /* datagrams in message i */
} send_plan_t;

static _Thread_local send_plan_t plan; /* per thread, like gro_item */

/* Sends datagrams [first, first+count) (count <= UDP_MAX_BATCH); returns datagrams sent. */
static uint32_t send_chunk(int fd, uint8_t* buf, const uint32_t* offsets, const uint32_t* lengths, const uint32_t* addrs,
                           const uint32_t* ports, uint32_t first, uint32_t count, int gso) {
  uint32_t nmsg = 0;
  for (uint32_t k = 0; k < count;) {
    uint32_t i = first + k;
    uint32_t seg = lengths[i], n = 1, total = seg;
    if (gso) {
      while (k + n < count && n < GSO_MAX_SEGS) {
        uint32_t j = i + n;
        if (addrs[j] != addrs[i] || ports[j] != ports[i] || lengths[j] > seg || total + lengths[j] > 65000) break;
        total += lengths[j];
        n++;
        if (lengths[j] < seg) break; /* a shorter datagram ends the run */
      }
    }
    struct mmsghdr* m = &plan.msgs[nmsg];
    memset(m, 0, sizeof *m);
    for (uint32_t q = 0; q < n; q++) {
      plan.iov[k + q].iov_base = buf + offsets[i + q];
      plan.iov[k + q].iov_len = lengths[i + q];
    }
    memset(&plan.to[nmsg], 0, sizeof plan.to[nmsg]);
    plan.to[nmsg].sin_family = AF_INET;
    plan.to[nmsg].sin_addr.s_addr = htonl(addrs[i]);
    plan.to[nmsg].sin_port = htons((uint16_t)ports[i]);
    m->msg_hdr.msg_iov = &plan.iov[k];
    m->msg_hdr.msg_iovlen = n;
    m->msg_hdr.msg_name = &plan.to[nmsg];
    m->msg_hdr.msg_namelen = sizeof plan.to[nmsg];
    if (n > 1) {
      m->msg_hdr.msg_control = plan.ctrl[nmsg].buf;
      m->msg_hdr.msg_controllen = sizeof plan.ctrl[nmsg].buf;
      struct cmsghdr* c = CMSG_FIRSTHDR(&m->msg_hdr);
      c->cmsg_level = SOL_UDP;
      c->cmsg_type = UDP_SEGMENT;
      c->cmsg_len = CMSG_LEN(sizeof(uint16_t));
      uint16_t gso_size = (uint16_t)seg;
      memcpy(CMSG_DATA(c), &gso_size, sizeof gso_size);
    }
    plan.segs[nmsg] = n;
    nmsg++;
    k += n;
  }
  uint32_t sent = 0, off = 0;
  while (off < nmsg) {
    int r = sendmmsg(fd, plan.msgs + off, nmsg - off, MSG_DONTWAIT);
    if (r < 0) {
      if (errno == EINTR) continue;
      struct msghdr* h = &plan.msgs[off].msg_hdr;
      if ((errno == EINVAL || errno == EIO) && plan.segs[off] > 1) {
        /* GSO refused for this run: send its datagrams one by one. */
        if (++udp_gso_refusals >= 16) udp_gso_enabled = 0;
        for (uint32_t q = 0; q < plan.segs[off]; q++) {
          struct msghdr one = {.msg_name = h->msg_name, .msg_namelen = h->msg_namelen, .msg_iov = &h->msg_iov[q], .msg_iovlen = 1};
          ssize_t w;
          do w = sendmsg(fd, &one, MSG_DONTWAIT); while (w < 0 && errno == EINTR);
          if (w >= 0) sent++;
        }
      }
      off++; /* EAGAIN / ENOBUFS / a queued ICMP error: this message is lost */
      continue;
    }
    if (plan.segs[off] > 1) udp_gso_refusals = 0;
    for (int q = 0; q < r; q++) sent += plan.segs[off + (uint32_t)q];
    off += (uint32_t)r;
  }
  return sent;
}

static napi_value js_udp_send_batch(napi_env env, napi_callback_info info) {
  size_t argc = 7;
  napi_value argv[7];
  FP_CHECK(env, napi_get_cb_info(env, info, &argc, argv, NULL, NULL));
  uint32_t fd, count;
  uint8_t* buf;
  size_t buf_len, ol, ll, al, pl;
  uint32_t *offsets, *lengths, *addrs, *ports;
  if (argc < 7 || !u32(env, argv[0], &fd) || !u8(env, argv[1], &buf, &buf_len) || !u32arr(env, argv[2], &offsets, &ol) ||
      !u32arr(env, argv[3], &lengths, &ll) || !u32arr(env, argv[4], &addrs, &al) || !u32arr(env, argv[5], &ports, &pl) ||
      !u32(env, argv[6], &count))
    return throw_type(env, "udpSendBatch(fd, buf, offsets, lengths, addrs, ports, count)");
  if (count > ol || count > ll || count > al || count > pl) {
    napi_throw_range_error(env, "ERR_OUT_OF_RANGE", "udpSendBatch: count beyond arrays");
    return NULL;
  }
  for (uint32_t k = 0; k < count; k++) {
    if ((uint64_t)offsets[k] + lengths[k] > buf_len || lengths[k] > 65507) {
      napi_throw_range_error(env, "ERR_OUT_OF_RANGE", "udpSendBatch: datagram beyond buffer");
      return NULL;
    }
  }
  uint32_t sent = 0;
  for (uint32_t done = 0; done < count;) {
    uint32_t n = count - done < UDP_MAX_BATCH ? count - done : UDP_MAX_BATCH;
    sent += send_chunk((int)fd, buf, offsets, lengths, addrs, ports, done, n, udp_gso_enabled);
    done += n;
  }
  napi_value result;
  FP_CHECK(env, napi_create_uint32(env, sent, &result));
  return result;
}

static napi_value js_udp_send(napi_env env, napi_callback_info info) {
  size_t argc = 6;
  napi_value argv[6];
  FP_CHECK(env, napi_get_cb_info(env, info, &argc, argv, NULL, NULL));
  uint32_t fd, off, len, addr, port;
  uint8_t* buf;
  size_t buf_len;
  if (argc < 6 || !u32(env, argv[0], &fd) || !u8(env, argv[1], &buf, &buf_len) || !u32(env, argv[2], &off) ||
      !u32(env, argv[3], &len) || !u32(env, argv[4], &addr) || !u32(env, argv[5], &port))
    return throw_type(env, "udpSend(fd, buf, offset, length, ipv4, port)");
  if ((uint64_t)off + len > buf_len) {
    napi_throw_range_error(env, "ERR_OUT_OF_RANGE", "udpSend: beyond buffer");
    return NULL;
  }
  struct sockaddr_in to;
  memset(&to, 0, sizeof to);
  to.sin_family = AF_INET;
  to.sin_addr.s_addr = htonl(addr);
  to.sin_port = htons((uint16_t)port);
  ssize_t r;
  do {
    r = sendto((int)fd, buf + off, len, MSG_DONTWAIT, (struct sockaddr*)&to, sizeof to);
  } while (r < 0 && errno == EINTR);
  napi_value result;
  FP_CHECK(env, napi_get_boolean(env, r >= 0, &result));
  return result;
}

static napi_value js_udp_close(napi_env env, napi_callback_info info) {
  size_t argc = 1;
  napi_value argv[1];
  uint32_t fd;
  FP_CHECK(env, napi_get_cb_info(env, info, &argc, argv, NULL, NULL));
  if (argc < 1 || !u32(env, argv[0], &fd)) return throw_type(env, "udpClose(fd)");
  udp_poller_t* p = find_udp((int)fd);
  if (p) udp_release(p);
  if (close((int)fd) != 0) return throw_errno_fp(env, "close", errno);
  return NULL;
}

void fastpath_register(napi_env env, napi_value exports) {
  napi_property_descriptor props[] = {
      {"gcmCreate", NULL, js_gcm_create, NULL, NULL, NULL, napi_enumerable, NULL},
      {"gcmFree", NULL, js_gcm_free, NULL, NULL, NULL, napi_enumerable, NULL},
      {"gcmSeal", NULL, js_gcm_seal, NULL, NULL, NULL, napi_enumerable, NULL},
      {"gcmOpen", NULL, js_gcm_open, NULL, NULL, NULL, napi_enumerable, NULL},
      {"udpOpen", NULL, js_udp_open, NULL, NULL, NULL, napi_enumerable, NULL},
      {"udpStart", NULL, js_udp_start, NULL, NULL, NULL, napi_enumerable, NULL},
      {"udpSendBatch", NULL, js_udp_send_batch, NULL, NULL, NULL, napi_enumerable, NULL},
      {"udpSend", NULL, js_udp_send, NULL, NULL, NULL, napi_enumerable, NULL},
      {"udpClose", NULL, js_udp_close, NULL, NULL, NULL, napi_enumerable, NULL},
  };
  napi_define_properties(env, exports, sizeof props / sizeof props[0], props);
}
