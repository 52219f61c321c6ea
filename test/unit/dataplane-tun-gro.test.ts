import { describe, expect, it } from 'vitest';
import { internetChecksum, onesComplementSum } from '../../dataplane/ipv4.js';
import { fastPathAddon } from '../../dataplane/native.js';

// writeGro's coalescing, checked through groPlan (the same code writing into
// a buffer instead of the TUN): merged super-packets must carry a correct
// virtio_net_hdr, and cutting them up the way the kernel's TCP GSO does must
// give back the original segments byte for byte.
const addon = fastPathAddon();
const skip = addon === undefined ? ' (skipped: vgw_tun addon not built)' : '';
const VNET = 10;

interface Seg {
  src?: string;
  dst?: string;
  sport?: number;
  dport?: number;
  seq: number;
  ack?: number;
  flags?: number;
  payload: number;
  id?: number;
  tsval?: number;
  proto?: number;
}

const ACK = 0x10;
const PSH = 0x08;
const SYN = 0x02;

function ip4(s: string): number[] {
  return s.split('.').map(Number);
}

/** IPv4 (DF) + TCP with a timestamp option (12 bytes: NOP NOP TS), valid checksums. */
function tcp(s: Seg): Buffer {
  const thl = 32;
  const len = 20 + thl + s.payload;
  const p = Buffer.alloc(len);
  p[0] = 0x45;
  p.writeUInt16BE(len, 2);
  p.writeUInt16BE(s.id ?? 100, 4);
  p.writeUInt16BE(0x4000, 6);
  p[8] = 64;
  p[9] = s.proto ?? 6;
  Buffer.from(ip4(s.src ?? '10.1.0.10')).copy(p, 12);
  Buffer.from(ip4(s.dst ?? '10.2.0.10')).copy(p, 16);
  p.writeUInt16BE(internetChecksum(p, 0, 20), 10);
  p.writeUInt16BE(s.sport ?? 40000, 20);
  p.writeUInt16BE(s.dport ?? 5201, 22);
  p.writeUInt32BE(s.seq >>> 0, 24);
  p.writeUInt32BE(s.ack ?? 777, 28);
  p[32] = (thl / 4) << 4;
  p[33] = s.flags ?? ACK;
  p.writeUInt16BE(502, 34);
  p[40] = 1;
  p[41] = 1;
  p[42] = 8;
  p[43] = 10;
  p.writeUInt32BE(s.tsval ?? 1234, 44);
  p.writeUInt32BE(99, 48);
  for (let i = 0; i < s.payload; i++) p[52 + i] = (s.seq + i) & 0xff;
  setTcpChecksum(p);
  return p;
}

function pseudoSum(p: Buffer): number {
  const tcpLen = p.readUInt16BE(2) - 20;
  return onesComplementSum(p, 12, 8, 6 + tcpLen);
}

function setTcpChecksum(p: Buffer): void {
  p.writeUInt16BE(0, 36);
  p.writeUInt16BE(internetChecksum(p, 20, p.length - 20, pseudoSum(p)), 36);
}

function fold(x: number): number {
  while (x > 0xffff) x = (x & 0xffff) + (x >>> 16);
  return x;
}

interface Out {
  vnet: { flags: number; gsoType: number; hdrLen: number; gsoSize: number; csumStart: number; csumOffset: number };
  pkt: Buffer;
}

function plan(pkts: Buffer[]): Out[] {
  const buf = Buffer.concat(pkts);
  const offsets = new Uint32Array(pkts.length);
  const lengths = new Uint32Array(pkts.length);
  let at = 0;
  pkts.forEach((p, i) => {
    offsets[i] = at;
    lengths[i] = p.length;
    at += p.length;
  });
  const out = Buffer.alloc(pkts.length * (VNET + 65535));
  const outLengths = new Uint32Array(pkts.length);
  const n = addon!.groPlan(buf, offsets, lengths, pkts.length, out, outLengths);
  const res: Out[] = [];
  let o = 0;
  for (let i = 0; i < n; i++) {
    const len = outLengths[i]!;
    const v = out.subarray(o, o + VNET);
    res.push({
      vnet: {
        flags: v[0]!,
        gsoType: v[1]!,
        hdrLen: v.readUInt16LE(2),
        gsoSize: v.readUInt16LE(4),
        csumStart: v.readUInt16LE(6),
        csumOffset: v.readUInt16LE(8),
      },
      pkt: Buffer.from(out.subarray(o + VNET, o + len)),
    });
    o += len;
  }
  return res;
}

/** What the kernel's tcp4 GSO makes of a super-packet (IDs increase, PSH only on the last). */
function segment(o: Out): Buffer[] {
  const { pkt, vnet } = o;
  const hdr = vnet.hdrLen;
  const payload = pkt.subarray(hdr);
  const segs: Buffer[] = [];
  const seq0 = pkt.readUInt32BE(24);
  const id0 = pkt.readUInt16BE(4);
  for (let off = 0, k = 0; off < payload.length; off += vnet.gsoSize, k++) {
    const chunk = payload.subarray(off, Math.min(payload.length, off + vnet.gsoSize));
    const s = Buffer.concat([pkt.subarray(0, hdr), chunk]);
    s.writeUInt16BE(s.length, 2);
    s.writeUInt16BE((id0 + k) & 0xffff, 4);
    s.writeUInt16BE(0, 10);
    s.writeUInt16BE(internetChecksum(s, 0, 20), 10);
    s.writeUInt32BE((seq0 + off) >>> 0, 24);
    if (off + vnet.gsoSize < payload.length) s[33] = s[33]! & ~PSH;
    // CHECKSUM_PARTIAL: the field must hold the folded pseudo-header sum of the whole packet;
    // GSO adjusts it per segment by the length difference, then the checksum is finished.
    setTcpChecksum(s);
    segs.push(s);
  }
  return segs;
}

function run(n: number, from: Partial<Seg> & { seq: number }, payload = 1000): Buffer[] {
  return Array.from({ length: n }, (_, i) => tcp({ ...from, seq: from.seq + i * payload, payload, id: (from.id ?? 100) + i }));
}

describe(`TUN GRO coalescing (groPlan)${skip}`, () => {
  it.skipIf(!addon)('merges consecutive full segments and a short last one into one GSO packet', () => {
    const segs = [...run(5, { seq: 1000 }), tcp({ seq: 6000, payload: 300, id: 105, flags: ACK | PSH })];
    const out = plan(segs);
    expect(out).toHaveLength(1);
    const o = out[0]!;
    expect(o.vnet).toEqual({ flags: 1, gsoType: 1, hdrLen: 52, gsoSize: 1000, csumStart: 20, csumOffset: 16 });
    expect(o.pkt.readUInt16BE(2)).toBe(52 + 5300);
    expect(internetChecksum(o.pkt, 0, 20)).toBe(0); // IP header checksum valid
    expect(o.pkt.readUInt16BE(36)).toBe(fold(pseudoSum(o.pkt))); // partial checksum = pseudo header
    expect(o.pkt[33]).toBe(ACK | PSH);
    expect(segment(o)).toEqual(segs);
  });

  it.skipIf(!addon)('leaves a lone segment and non-TCP packets unchanged, with an empty vnet header', () => {
    const udp = tcp({ seq: 1, payload: 50, proto: 17 });
    const lone = tcp({ seq: 1, payload: 10 });
    const out = plan([udp, lone]);
    expect(out.map((o) => o.pkt)).toEqual([udp, lone]);
    for (const o of out) expect(o.vnet).toEqual({ flags: 0, gsoType: 0, hdrLen: 0, gsoSize: 0, csumStart: 0, csumOffset: 0 });
  });

  it.skipIf(!addon)('never reorders: gaps, other flows, SYNs, changed options or ACKs start a new packet', () => {
    const a = run(2, { seq: 0 });
    const cases: Buffer[][] = [
      [...a, tcp({ seq: 3000, payload: 1000 })], // gap in seq
      [...a, tcp({ seq: 2000, payload: 1000, dport: 1 })], // other flow
      [...a, tcp({ seq: 2000, payload: 1000, ack: 778 })], // new ack
      [...a, tcp({ seq: 2000, payload: 1000, tsval: 9 })], // other timestamp
      [...a, tcp({ seq: 2000, payload: 1000, flags: SYN | ACK })], // not ACK/PSH only
      [tcp({ seq: 0, payload: 1000, flags: ACK | PSH }), tcp({ seq: 1000, payload: 1000 })], // PSH ends a run
      [tcp({ seq: 0, payload: 500 }), tcp({ seq: 500, payload: 1000 })], // bigger than gso_size after a short one
    ];
    for (const segs of cases) {
      const out = plan(segs);
      expect(out.length).toBeGreaterThan(1);
      expect(out.flatMap((o) => (o.vnet.gsoType ? segment(o) : [o.pkt]))).toEqual(segs);
    }
  });

  it.skipIf(!addon)('stays within 64 KiB per super-packet and keeps interleaved flows in order', () => {
    const big = run(60, { seq: 5 }, 1400);
    const out = plan(big);
    expect(out.length).toBe(2);
    for (const o of out) expect(o.pkt.length).toBeLessThanOrEqual(65535);
    expect(out.flatMap(segment)).toEqual(big);

    const x = run(3, { seq: 0, sport: 1 });
    const y = run(3, { seq: 0, sport: 2 });
    const mixed = [x[0]!, x[1]!, y[0]!, y[1]!, y[2]!, x[2]!];
    const o2 = plan(mixed);
    expect(o2.flatMap((o) => (o.vnet.gsoType ? segment(o) : [o.pkt]))).toEqual(mixed);
    expect(o2).toHaveLength(3);
  });

  it.skipIf(!addon)('rejects offsets beyond the buffer with RangeError', () => {
    expect(() =>
      addon!.groPlan(Buffer.alloc(10), new Uint32Array([5]), new Uint32Array([10]), 1, Buffer.alloc(100), new Uint32Array(1)),
    ).toThrow(RangeError);
  });
});
