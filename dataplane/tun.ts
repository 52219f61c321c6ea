/**
 * TUN device wrapper around the vgw_tun N-API addon (dataplane/tun/tun_addon.c).
 *
 * Receive: the addon reads every ready packet (up to `batchSize`) into one
 * preallocated slab and calls back once per batch. Packet i lives at
 * `batch.slab[batch.offset(i), batch.offset(i) + batch.lengths[i])`; the
 * `headroom` bytes before it are free for the ESP header (like wireguard-go's
 * readBatch(bufs, sizes, offset)). The slab is reused: consume or copy the
 * packets before the callback returns.
 */
import { loadNativeAddon, type NativeAddon } from './native.js';

type TunAddon = Pick<NativeAddon, 'open' | 'start' | 'stop' | 'close' | 'write' | 'writeBatch' | 'writeGro'>;

/** One callback's worth of packets, all in the shared slab. */
export interface PacketBatch {
  readonly count: number;
  readonly slab: Buffer;
  /** lengths[i] for i < count is the length of packet i. */
  readonly lengths: Uint32Array;
  /** Bytes free in front of every packet (for in-place encapsulation). */
  readonly headroom: number;
  readonly slotSize: number;
  /** Start of packet i in `slab`. */
  offset(i: number): number;
}

/** The TUN surface the forwarder needs; tests inject an in-memory one (dataplane/testing.ts). */
export interface PacketDevice {
  readonly name: string;
  readonly headroom: number;
  onPackets(cb: (batch: PacketBatch) => void): void;
  writePacket(buf: Buffer, offset: number, length: number): boolean;
  /**
   * Optional: writes packet i = buf[offsets[i], +lengths[i]) for i < count in
   * order, merging consecutive TCP segments of a flow (GRO); returns how many
   * packets were delivered (the others were dropped: queue full).
   */
  writeCoalesced?(buf: Buffer, offsets: Uint32Array, lengths: Uint32Array, count: number): number;
  close(): void;
}

export interface TunOpenOptions {
  multiQueue?: boolean;
  /** Largest packet the device delivers (its MTU). Default 1500. */
  mtu?: number;
  /** Free bytes in front of each received packet. Default 64. */
  headroom?: number;
  /** Max packets per callback. Default 64. */
  batchSize?: number;
  /** Spare room after each packet (ESP trailer + ICV). Default 64. */
  tailroom?: number;
  /**
   * Open with IFF_VNET_HDR so writes can carry coalesced TCP (writeCoalesced).
   * Default true; VGW_TUN_VNET=0 in the environment turns it off.
   */
  vnetHdr?: boolean;
  /**
   * With vnetHdr: let the kernel hand over 64 KiB TCP super-packets (TSO4 +
   * checksum offload) that the addon cuts into MSS segments itself, so the
   * stack forwards a TCP burst into the TUN once instead of per segment.
   * Default true; VGW_TUN_TSO=0 turns it off.
   */
  tso?: boolean;
}

export class TunError extends Error {
  constructor(
    message: string,
    readonly code: string,
    readonly errno: number,
  ) {
    super(message);
    this.name = 'TunError';
  }
}

/** Loads build/Release/vgw_tun.node (built by `node-gyp rebuild`, i.e. `npm ci`). */
export function loadTunAddon(): TunAddon {
  try {
    return loadNativeAddon();
  } catch (err) {
    throw new TunError(`vgw_tun addon not built (run \`npm ci\` or \`npx node-gyp rebuild\`): ${String(err)}`, 'ENOADDON', 0);
  }
}

function toTunError(err: unknown, what: string): TunError {
  if (err instanceof Error) {
    const e = err as Error & { code?: string; errno?: number };
    return new TunError(`${what}: ${e.message}`, e.code ?? 'EIO', e.errno ?? 0);
  }
  return new TunError(`${what}: ${String(err)}`, 'EIO', 0);
}

export class TunDevice implements PacketDevice {
  readonly headroom: number;
  readonly slotSize: number;
  readonly batchSize: number;
  private readonly slab: Buffer;
  private readonly lengths: Uint32Array;
  private readonly batchOffsets: Uint32Array;
  private readonly batchLengths: Uint32Array;
  private started = false;
  private closed = false;
  /** Exceptions thrown by the onPackets callback (swallowed to keep the loop alive). */
  callbackErrors = 0;
  lastCallbackError: unknown;
  /** Set when a hard read error stopped the receive loop (errno); 0 while healthy. */
  readStoppedErrno = 0;
  /** Receive errors reported by the addon (errno → count). */
  readonly readErrors = new Map<number, number>();
  /** True when opened with IFF_VNET_HDR (writeCoalesced available). */
  readonly vnetHdr: boolean;
  /** True when the kernel accepted TSO offload (reads are cut into segments by the addon). */
  tso = false;

  private constructor(
    private readonly native: TunAddon,
    readonly fd: number,
    readonly name: string,
    opts: Required<Pick<TunOpenOptions, 'mtu' | 'headroom' | 'batchSize' | 'tailroom' | 'vnetHdr'>>,
  ) {
    this.vnetHdr = opts.vnetHdr;
    if (!opts.vnetHdr) this.writeCoalesced = undefined;
    this.headroom = opts.headroom;
    this.batchSize = opts.batchSize;
    // Round slots to 64 bytes so every packet starts cache-aligned.
    this.slotSize = Math.ceil((opts.headroom + opts.mtu + opts.tailroom) / 64) * 64;
    this.slab = Buffer.from(new ArrayBuffer(this.slotSize * opts.batchSize));
    this.lengths = new Uint32Array(opts.batchSize);
    this.batchOffsets = new Uint32Array(opts.batchSize);
    this.batchLengths = new Uint32Array(opts.batchSize);
  }

  static open(name: string, opts: TunOpenOptions = {}): TunDevice {
    const native = loadTunAddon();
    const vnetHdr = (opts.vnetHdr ?? process.env['VGW_TUN_VNET'] !== '0') && typeof native.writeGro === 'function';
    const headroom = opts.headroom ?? 64;
    if (vnetHdr && headroom < 10) throw new TunError('vnetHdr needs headroom >= 10 (virtio_net_hdr is read there)', 'EINVAL', 0);
    let opened: { fd: number; name: string; tso?: boolean };
    try {
      const tso = vnetHdr && (opts.tso ?? process.env['VGW_TUN_TSO'] !== '0');
      opened = native.open(name, opts.multiQueue ?? false, vnetHdr, tso);
    } catch (err) {
      throw toTunError(err, `open TUN ${name}`);
    }
    const dev = new TunDevice(native, opened.fd, opened.name, {
      mtu: opts.mtu ?? 1500,
      headroom,
      batchSize: opts.batchSize ?? 64,
      tailroom: opts.tailroom ?? 64,
      vnetHdr,
    });
    dev.tso = opened.tso === true;
    return dev;
  }

  /** Starts polling; `cb` runs once per batch of ready packets. Call once. */
  onPackets(cb: (batch: PacketBatch) => void): void {
    if (this.closed) throw new TunError(`TUN ${this.name} is closed`, 'EBADF', 0);
    if (this.started) throw new TunError(`TUN ${this.name}: onPackets already set`, 'EBUSY', 0);
    this.started = true;
    const slotSize = this.slotSize;
    const headroom = this.headroom;
    let count = 0;
    const batch: PacketBatch = {
      get count() {
        return count;
      },
      slab: this.slab,
      lengths: this.lengths,
      headroom,
      slotSize,
      offset: (i: number) => i * slotSize + headroom,
    };
    this.native.start(this.fd, this.slab.buffer as ArrayBuffer, slotSize, headroom, this.batchSize, this.lengths, (n, errno) => {
      if (errno !== 0) {
        this.readErrors.set(errno, (this.readErrors.get(errno) ?? 0) + 1);
        if (n === 0) this.readStoppedErrno = errno; // the addon stopped polling
      }
      if (n === 0) return;
      count = n;
      try {
        cb(batch);
      } catch (err) {
        // A throw here would surface as an uncaught exception from native code.
        this.callbackErrors++;
        this.lastCallbackError = err;
      }
    });
  }

  /** Writes one packet; false when the device queue is full (packet dropped). */
  writePacket(buf: Buffer, offset: number, length: number): boolean {
    return this.native.write(this.fd, buf, offset, length);
  }

  /** Writes packets in one native call; returns how many were written (others dropped on EAGAIN). */
  writeBatch(bufs: Buffer[], offsets: ArrayLike<number>, lengths: ArrayLike<number>): number {
    const n = bufs.length;
    const offs = n <= this.batchOffsets.length ? this.batchOffsets : new Uint32Array(n);
    const lens = n <= this.batchLengths.length ? this.batchLengths : new Uint32Array(n);
    for (let i = 0; i < n; i++) {
      offs[i] = offsets[i] ?? 0;
      lens[i] = lengths[i] ?? 0;
    }
    return this.native.writeBatch(this.fd, bufs, offs, lens);
  }

  writeCoalesced?(buf: Buffer, offsets: Uint32Array, lengths: Uint32Array, count: number): number {
    return this.native.writeGro(this.fd, buf, offsets, lengths, count);
  }

  close(): void {
    if (this.closed) return;
    this.closed = true;
    this.native.close(this.fd);
  }
}
