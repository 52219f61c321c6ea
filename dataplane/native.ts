/**
 * Loader and typed surface of the vgw_tun N-API addon (dataplane/tun/*.c):
 * the TUN device functions plus the fast path (AES-GCM via OpenSSL EVP,
 * recvmmsg/sendmmsg UDP). Built by `node-gyp rebuild` into build/Release.
 */
import { createRequire } from 'node:module';
import { fileURLToPath } from 'node:url';
import path from 'node:path';

export interface NativeAddon {
  /** tso: ask for TUNSETOFFLOAD(CSUM | TSO4); the result says whether it took effect. */
  open(name: string, multiQueue?: boolean, vnetHdr?: boolean, tso?: boolean): { fd: number; name: string; tso?: boolean };
  start(
    fd: number,
    slab: ArrayBuffer,
    slotSize: number,
    headroom: number,
    maxBatch: number,
    lengths: Uint32Array,
    cb: (count: number, errno: number) => void,
  ): void;
  stop(fd: number): void;
  close(fd: number): void;
  write(fd: number, buf: Uint8Array, offset: number, length: number): boolean;
  writeBatch(fd: number, bufs: Uint8Array[], offsets: Uint32Array, lengths: Uint32Array): number;
  /** TUN opened with vnetHdr only: writes in order, coalescing TCP segments; returns packets delivered. */
  writeGro(fd: number, buf: Uint8Array, offsets: Uint32Array, lengths: Uint32Array, count: number): number;
  /**
   * What writeGro would write, without a TUN: each output packet is a 10-byte
   * virtio_net_hdr + IPv4 packet, back to back in `out`; returns how many.
   */
  /** TSO super-packets the addon has cut into segments so far (all TUNs of the process). */
  tsoSuperPackets(): number;
  groPlan(buf: Uint8Array, offsets: Uint32Array, lengths: Uint32Array, count: number, out: Uint8Array, outLengths: Uint32Array): number;

  /** RFC 4106 AES-GCM-16 contexts keyed once; returns a handle. */
  gcmCreate(key: Uint8Array, salt: Uint8Array): number;
  gcmFree(handle: number): void;
  /** Writes IV (0^32 ‖ seq) at esp+8, encrypts buf[esp+16, +plaintextLength) in place, ICV after it. */
  gcmSeal(handle: number, buf: Uint8Array, esp: number, seq: number, plaintextLength: number): void;
  /** Verifies and decrypts buf[esp, esp+length) in place; false = ICV mismatch. */
  gcmOpen(handle: number, buf: Uint8Array, esp: number, length: number): boolean;

  /** IPv4 UDP socket bound to (host-order ipv4, port) with SO_RCVBUF/SO_SNDBUF (the kernel doubles them). */
  udpOpen(ipv4: number, port: number, rcvBytes: number, sndBytes: number): { fd: number; port: number };
  /** recvmmsg into slab slots; UDP GRO super-datagrams are split: entry i = slab[offsets[i], +lengths[i]). */
  udpStart(
    fd: number,
    slab: ArrayBuffer,
    slotSize: number,
    maxBatch: number,
    offsets: Uint32Array,
    lengths: Uint32Array,
    addrs: Uint32Array,
    ports: Uint32Array,
    cb: (count: number, errno: number) => void,
  ): void;
  udpSendBatch(
    fd: number,
    buf: Uint8Array,
    offsets: Uint32Array,
    lengths: Uint32Array,
    addrs: Uint32Array,
    ports: Uint32Array,
    count: number,
  ): number;
  udpSend(fd: number, buf: Uint8Array, offset: number, length: number, ipv4: number, port: number): boolean;
  udpClose(fd: number): void;
}

let cached: NativeAddon | undefined;
let loadError: unknown;

/** Loads build/Release/vgw_tun.node; throws if it is not built. */
export function loadNativeAddon(): NativeAddon {
  if (cached) return cached;
  const require = createRequire(import.meta.url);
  // Source lives in dataplane/, compiled JS in dist/dataplane/: try both roots.
  const here = path.dirname(fileURLToPath(import.meta.url));
  for (const candidate of [path.resolve(here, '../build/Release/vgw_tun.node'), path.resolve(here, '../../build/Release/vgw_tun.node')]) {
    try {
      cached = require(candidate) as NativeAddon;
      return cached;
    } catch (err) {
      loadError = err;
    }
  }
  throw loadError instanceof Error ? loadError : new Error(String(loadError));
}

/**
 * The addon when it is built and has the fast-path functions, else undefined
 * (the callers then use node:crypto / node:dgram). `VGW_FASTPATH=0` turns the
 * fast path off (for comparisons and for debugging).
 */
export function fastPathAddon(): NativeAddon | undefined {
  if (process.env['VGW_FASTPATH'] === '0') return undefined;
  try {
    const a = loadNativeAddon();
    return typeof a.gcmSeal === 'function' && typeof a.udpSendBatch === 'function' ? a : undefined;
  } catch {
    return undefined;
  }
}
