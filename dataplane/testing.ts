/**
 * In-memory stand-ins for the TUN device and the UDP transport, so dataplanes
 * can be tested without root: wire two EspDataplanes back to back with
 * createTransportPair() and a packet injected into A's TUN comes out of B's TUN.
 */
import type { UdpEndpoint } from './backend.js';
import type { EspTransportLike } from './forwarder.js';
import type { PacketBatch, PacketDevice } from './tun.js';

export interface InMemoryTunOptions {
  name?: string;
  headroom?: number;
  /** Room per packet slot (headroom + packet + tailroom). Default 2048. */
  slotSize?: number;
  batchSize?: number;
}

/** A TUN device whose "kernel side" is the test: inject() packets in, read `written` out. */
export class InMemoryTun implements PacketDevice {
  readonly name: string;
  readonly headroom: number;
  readonly slotSize: number;
  readonly batchSize: number;
  /** Copies of every packet the dataplane wrote to the device. */
  readonly written: Buffer[] = [];
  /** Called with each written packet (a copy), after it was recorded. */
  onWrite?: (pkt: Buffer) => void;
  /** When false, writePacket reports a full queue (drop). */
  accepting = true;
  private readonly slab: Buffer;
  private readonly lengths: Uint32Array;
  private handler?: (batch: PacketBatch) => void;
  private closed = false;

  constructor(opts: InMemoryTunOptions = {}) {
    this.name = opts.name ?? 'memtun0';
    this.headroom = opts.headroom ?? 64;
    this.slotSize = opts.slotSize ?? 2048;
    this.batchSize = opts.batchSize ?? 64;
    this.slab = Buffer.alloc(this.slotSize * this.batchSize);
    this.lengths = new Uint32Array(this.batchSize);
  }

  onPackets(cb: (batch: PacketBatch) => void): void {
    this.handler = cb;
  }

  /** Delivers packets to the dataplane as TUN read batches (synchronously). */
  inject(...packets: Buffer[]): void {
    if (this.closed) throw new Error(`${this.name} is closed`);
    const handler = this.handler;
    if (!handler) throw new Error(`${this.name}: nobody called onPackets`);
    for (let start = 0; start < packets.length; start += this.batchSize) {
      const chunk = packets.slice(start, start + this.batchSize);
      chunk.forEach((p, i) => {
        if (p.length > this.slotSize - this.headroom) throw new RangeError(`packet of ${p.length} bytes exceeds the slot`);
        this.slab.fill(0xee, i * this.slotSize, (i + 1) * this.slotSize); // poison: catches reads outside the packet
        p.copy(this.slab, i * this.slotSize + this.headroom);
        this.lengths[i] = p.length;
      });
      const slotSize = this.slotSize;
      const headroom = this.headroom;
      handler({
        count: chunk.length,
        slab: this.slab,
        lengths: this.lengths,
        headroom,
        slotSize,
        offset: (i: number) => i * slotSize + headroom,
      });
    }
  }

  writePacket(buf: Buffer, offset: number, length: number): boolean {
    if (this.closed || !this.accepting) return false;
    const copy = Buffer.from(buf.subarray(offset, offset + length));
    this.written.push(copy);
    this.onWrite?.(copy);
    return true;
  }

  close(): void {
    this.closed = true;
  }
}

/** One end of an in-memory ESP-in-UDP link. */
export class InMemoryTransport implements EspTransportLike {
  peer?: InMemoryTransport;
  /** Copies of every datagram sent. */
  readonly sent: Array<{ pkt: Buffer; remote: UdpEndpoint }> = [];
  /** Lets a test drop (return undefined) or rewrite a datagram in flight. */
  tap?: (pkt: Buffer) => Buffer | undefined;
  private handler?: (pkt: Buffer, remote: UdpEndpoint) => void;

  constructor(readonly local: UdpEndpoint) {}

  sendEsp(buf: Buffer, offset: number, length: number, remote: UdpEndpoint): void {
    const copy = Buffer.from(buf.subarray(offset, offset + length)); // the caller reuses buf
    this.sent.push({ pkt: copy, remote: { ...remote } });
    const peer = this.peer;
    if (!peer || peer.local.address !== remote.address || peer.local.port !== remote.port) return; // no such host
    const delivered = this.tap ? this.tap(Buffer.from(copy)) : Buffer.from(copy);
    if (delivered) peer.receive(delivered, this.local);
  }

  setEspHandler(handler: (pkt: Buffer, remote: UdpEndpoint) => void): void {
    this.handler = handler;
  }

  /** Hands a datagram to the ESP handler as if it came from `remote`. */
  receive(pkt: Buffer, remote: UdpEndpoint): void {
    this.handler?.(pkt, remote);
  }
}

/** Two transports linked to each other: what A sends to B's endpoint arrives at B. */
export function createTransportPair(a: UdpEndpoint, b: UdpEndpoint): [InMemoryTransport, InMemoryTransport] {
  const ta = new InMemoryTransport(a);
  const tb = new InMemoryTransport(b);
  ta.peer = tb;
  tb.peer = ta;
  return [ta, tb];
}
