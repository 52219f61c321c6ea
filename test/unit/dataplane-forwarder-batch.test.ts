import { randomBytes } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import type { ChildSaInstall, UdpEndpoint } from '../../dataplane/backend.js';
import { EspDataplane, type EspRawHandler, type EspTransportLike } from '../../dataplane/forwarder.js';
import { internetChecksum, ipv4ToUint32 } from '../../dataplane/ipv4.js';
import { InMemoryTun } from '../../dataplane/testing.js';

// The batched paths of EspDataplane (what the addon-backed UdpTransport and
// a vnetHdr TunDevice offer): borrowed sends + one flush per TUN batch,
// the raw receive handler (sender as a uint32), and decrypted packets handed
// to writeCoalesced once per receive batch.

const A: UdpEndpoint = { address: '192.0.2.1', port: 4500 };
const B: UdpEndpoint = { address: '192.0.2.2', port: 4500 };

/** Queues what is sent; flush() delivers the queue to the peer as one receive batch in one slab. */
class BatchingTransport implements EspTransportLike {
  peer?: BatchingTransport;
  flushes = 0;
  borrowed = 0;
  copied = 0;
  private queue: Buffer[] = [];
  private raw?: EspRawHandler;
  private batchEnd?: () => void;
  private legacy?: (pkt: Buffer, remote: UdpEndpoint) => void;
  constructor(readonly local: UdpEndpoint) {}

  sendEsp(buf: Buffer, offset: number, length: number): void {
    this.copied++;
    this.queue.push(Buffer.from(buf.subarray(offset, offset + length)));
  }
  sendEspBorrowed(buf: Buffer, offset: number, length: number): void {
    this.borrowed++;
    this.queue.push(buf.subarray(offset, offset + length)); // a view: must stay valid until flush
  }
  setEspHandler(h: (pkt: Buffer, remote: UdpEndpoint) => void): void {
    this.legacy = h;
  }
  setEspRawHandler(h: EspRawHandler, onBatchEnd?: () => void): void {
    this.raw = h;
    this.batchEnd = onBatchEnd;
  }
  flush(): void {
    this.flushes++;
    const q = this.queue;
    this.queue = [];
    if (q.length) this.peer?.receiveBatch(q, this.local);
  }
  /** Like recvmmsg: all datagrams in one slab, then the batch-end hook. */
  receiveBatch(pkts: Buffer[], from: UdpEndpoint, srcIpv4 = ipv4ToUint32(from.address)): void {
    const slab = Buffer.concat(pkts);
    let at = 0;
    for (const p of pkts) {
      this.raw?.(slab, at, p.length, srcIpv4, from.port);
      at += p.length;
    }
    this.batchEnd?.();
    slab.fill(0xdd); // the slab is reused by the next batch
  }
  receiveLegacy(pkt: Buffer, from: UdpEndpoint): void {
    this.legacy?.(pkt, from);
  }
}

class CoalescingTun extends InMemoryTun {
  calls: number[] = [];
  deliver = Infinity;
  writeCoalesced(buf: Buffer, offsets: Uint32Array, lengths: Uint32Array, count: number): number {
    this.calls.push(count);
    const n = Math.min(count, this.deliver);
    for (let i = 0; i < n; i++) this.written.push(Buffer.from(buf.subarray(offsets[i]!, offsets[i]! + lengths[i]!)));
    return n;
  }
}

function icmp(src: string, dst: string, seq: number): Buffer {
  const p = Buffer.alloc(20 + 64);
  p[0] = 0x45;
  p.writeUInt16BE(p.length, 2);
  p[8] = 64;
  p[9] = 1;
  p.writeUInt32BE(ipv4ToUint32(src), 12);
  p.writeUInt32BE(ipv4ToUint32(dst), 16);
  p.writeUInt16BE(internetChecksum(p, 0, 20), 10);
  p[20] = 8;
  p.writeUInt16BE(seq, 26);
  return p;
}

function pair(): { a: EspDataplane; b: EspDataplane; ta: BatchingTransport; tb: BatchingTransport; tunA: CoalescingTun; tunB: CoalescingTun } {
  const ta = new BatchingTransport(A);
  const tb = new BatchingTransport(B);
  ta.peer = tb;
  tb.peer = ta;
  const tunA = new CoalescingTun();
  const tunB = new CoalescingTun();
  const a = new EspDataplane({ tun: tunA, transport: ta });
  const b = new EspDataplane({ tun: tunB, transport: tb });
  const k1 = randomBytes(36);
  const k2 = randomBytes(36);
  const sa = (spiIn: number, spiOut: number, kin: Buffer, kout: Buffer, peer: UdpEndpoint, local: string, remote: string): ChildSaInstall => ({
    id: 'c1',
    connection: 'conn',
    inbound: { spi: spiIn, cipher: 'aes-gcm-16', integ: 'none', encKey: kin, integKey: Buffer.alloc(0) },
    outbound: { spi: spiOut, cipher: 'aes-gcm-16', integ: 'none', encKey: kout, integKey: Buffer.alloc(0) },
    tsLocal: [{ start: `${local}.0`, end: `${local}.255` }],
    tsRemote: [{ start: `${remote}.0`, end: `${remote}.255` }],
    peer,
  });
  a.installChildSa(sa(0x100, 0x200, k1, k2, B, '10.1.0', '10.2.0'));
  b.installChildSa(sa(0x200, 0x100, k2, k1, A, '10.2.0', '10.1.0'));
  return { a, b, ta, tb, tunA, tunB };
}

describe('EspDataplane batched paths', () => {
  it('lends the TUN slab, flushes once per TUN batch, and writes a receive batch with one writeCoalesced', () => {
    const p = pair();
    const pkts = Array.from({ length: 10 }, (_, i) => icmp('10.1.0.2', '10.2.0.2', i));
    p.tunA.inject(...pkts);
    expect(p.ta.borrowed).toBe(10); // in place in the slab: no copy
    expect(p.ta.copied).toBe(0);
    expect(p.ta.flushes).toBe(1);
    expect(p.tunB.calls).toEqual([10]); // one call for the whole receive batch
    expect(p.tunB.written).toEqual(pkts); // in order, intact
    expect(p.b.counters('c1')!.inPackets).toBe(10);
  });

  it('checks the sender as a uint32 on the raw path and counts tunFull when the TUN takes fewer', () => {
    const p = pair();
    // capture A's datagrams instead of delivering them
    const captured: Buffer[] = [];
    const spy = new BatchingTransport(B);
    spy.setEspRawHandler((buf, off, len) => captured.push(Buffer.from(buf.subarray(off, off + len))));
    p.ta.peer = spy;
    p.tunA.inject(...Array.from({ length: 3 }, (_, i) => icmp('10.1.0.2', '10.2.0.2', i)));
    expect(captured).toHaveLength(3);
    p.tb.receiveBatch(captured, { address: '192.0.2.99', port: 4500 }); // valid ESP, wrong sender
    expect(p.b.counters('c1')!.drops).toEqual({ peerMismatch: 3 });
    expect(p.tunB.written).toHaveLength(0);

    // the same datagrams from the right peer, but the TUN takes only 1 of 3
    p.tunB.deliver = 1;
    p.tb.receiveBatch(captured, A);
    expect(p.tunB.calls).toEqual([3]);
    expect(p.b.globalDrops()).toEqual({ tunFull: 2 });
    expect(p.tunB.written).toEqual([icmp('10.1.0.2', '10.2.0.2', 0)]);
  });

  it('keeps using writePacket on the legacy (dgram) receive path', () => {
    const p = pair();
    const captured: Buffer[] = [];
    const spy = new BatchingTransport(B);
    spy.setEspRawHandler((buf, off, len) => captured.push(Buffer.from(buf.subarray(off, off + len))));
    p.ta.peer = spy;
    const pkt = icmp('10.1.0.2', '10.2.0.2', 5);
    p.tunA.inject(pkt);
    p.tb.receiveLegacy(captured[0]!, A);
    expect(p.tunB.calls).toEqual([]); // not coalesced: written at once
    expect(p.tunB.written).toEqual([pkt]);
  });
});
