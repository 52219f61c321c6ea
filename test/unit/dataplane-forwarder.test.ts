import { randomBytes } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import type { ChildSaInstall, EspSaKeys, Ipv4Range } from '../../dataplane/backend.js';
import { EspDataplane, SaInstallError, tunnelInnerMtu } from '../../dataplane/forwarder.js';
import { internetChecksum, ipv4ToUint32 } from '../../dataplane/ipv4.js';
import { clampTcpMss } from '../../dataplane/mss-clamp.js';
import { createTransportPair, InMemoryTun, type InMemoryTransport } from '../../dataplane/testing.js';

// ---- packet builders ----

function ipv4(src: string, dst: string, protocol: number, payload: Buffer, opts: { df?: boolean; id?: number } = {}): Buffer {
  const p = Buffer.alloc(20 + payload.length);
  p[0] = 0x45;
  p.writeUInt16BE(p.length, 2);
  p.writeUInt16BE(opts.id ?? 0x1234, 4);
  p.writeUInt16BE(opts.df ? 0x4000 : 0, 6);
  p[8] = 64;
  p[9] = protocol;
  p.writeUInt32BE(ipv4ToUint32(src), 12);
  p.writeUInt32BE(ipv4ToUint32(dst), 16);
  p.writeUInt16BE(internetChecksum(p, 0, 20), 10);
  payload.copy(p, 20);
  return p;
}

function icmpEcho(src: string, dst: string, seq: number, dataLength = 56, df = true): Buffer {
  const icmp = Buffer.alloc(8 + dataLength);
  icmp[0] = 8;
  icmp.writeUInt16BE(0x77, 4);
  icmp.writeUInt16BE(seq, 6);
  for (let i = 8; i < icmp.length; i++) icmp[i] = i & 0xff;
  icmp.writeUInt16BE(internetChecksum(icmp, 0, icmp.length), 2);
  return ipv4(src, dst, 1, icmp, { df });
}

/** TCP checksum over pseudo-header + segment; 0 when the stored checksum is right. */
function tcpChecksumResidue(p: Buffer): number {
  const ihl = (p[0]! & 15) * 4;
  const segLen = p.readUInt16BE(2) - ihl;
  const pseudo = Buffer.alloc(12);
  p.copy(pseudo, 0, 12, 20);
  pseudo[9] = 6;
  pseudo.writeUInt16BE(segLen, 10);
  let sum = 0;
  for (const [b, o, l] of [[pseudo, 0, 12], [p, ihl, segLen]] as const) {
    for (let i = 0; i < l; i += 2) sum += (b[o + i]! << 8) | (i + 1 < l ? b[o + i + 1]! : 0);
  }
  while (sum > 0xffff) sum = (sum & 0xffff) + (sum >>> 16);
  return ~sum & 0xffff;
}

/** A TCP SYN (or SYN-ACK) with the given options bytes; checksum filled in. */
function tcpSyn(src: string, dst: string, options: number[], synAck = false): Buffer {
  const opts = Buffer.from(options);
  const hdrLen = 20 + opts.length;
  const tcp = Buffer.alloc(hdrLen);
  tcp.writeUInt16BE(40000, 0);
  tcp.writeUInt16BE(443, 2);
  tcp.writeUInt32BE(0x01020304, 4);
  tcp[12] = (hdrLen / 4) << 4;
  tcp[13] = synAck ? 0x12 : 0x02;
  tcp.writeUInt16BE(64240, 14);
  opts.copy(tcp, 20);
  const p = ipv4(src, dst, 6, tcp, { df: true });
  const sumNow = tcpChecksumResidue(p); // with checksum field 0 this is the checksum to store
  p.writeUInt16BE(sumNow, 20 + 16);
  expect(tcpChecksumResidue(p)).toBe(0);
  return p;
}

const mssOption = (mss: number) => [2, 4, mss >> 8, mss & 0xff];

// ---- SA setup ----

const range = (start: string, end: string): Ipv4Range => ({ start, end });
const NET_A = range('10.1.0.0', '10.1.0.255');
const NET_B = range('10.2.0.0', '10.2.0.255');
const GW_A = { address: '192.0.2.1', port: 4500 };
const GW_B = { address: '192.0.2.2', port: 4500 };

function gcmKeys(spi: number): EspSaKeys {
  return { spi, cipher: 'aes-gcm-16', encKey: randomBytes(36), integ: 'none', integKey: Buffer.alloc(0) };
}
function cbcKeys(spi: number): EspSaKeys {
  return { spi, cipher: 'aes-cbc', encKey: randomBytes(32), integ: 'hmac-sha2-256-128', integKey: randomBytes(32) };
}

interface Pair {
  a: EspDataplane;
  b: EspDataplane;
  tunA: InMemoryTun;
  tunB: InMemoryTun;
  linkA: InMemoryTransport;
  linkB: InMemoryTransport;
  /** Installs matching SAs on both sides (A's outbound = B's inbound). */
  install(id: string, opts?: { aLocal?: Ipv4Range[]; aRemote?: Ipv4Range[]; bLocal?: Ipv4Range[]; bRemote?: Ipv4Range[]; cbc?: boolean; spiBase?: number; connection?: string }): { aToB: number; bToA: number };
}

function makePair(opts: { headroom?: number; mtu?: number } = {}): Pair {
  const tunA = new InMemoryTun({ name: 'tunA', headroom: opts.headroom });
  const tunB = new InMemoryTun({ name: 'tunB', headroom: opts.headroom });
  const [linkA, linkB] = createTransportPair(GW_A, GW_B);
  const a = new EspDataplane({ tun: tunA, transport: linkA, mtu: opts.mtu });
  const b = new EspDataplane({ tun: tunB, transport: linkB, mtu: opts.mtu });
  let nextSpi = 0xc0000001;
  return {
    a, b, tunA, tunB, linkA, linkB,
    install(id, o = {}) {
      const aToB = o.spiBase ?? nextSpi++;
      const bToA = (o.spiBase ?? nextSpi++) + (o.spiBase ? 1 : 0);
      const keysAB = o.cbc ? cbcKeys(aToB) : gcmKeys(aToB);
      const keysBA = o.cbc ? cbcKeys(bToA) : gcmKeys(bToA);
      const base = { id, connection: o.connection ?? 'net', localPort: 4500 };
      const saA: ChildSaInstall = { ...base, inbound: keysBA, outbound: keysAB, peer: GW_B, tsLocal: o.aLocal ?? [NET_A], tsRemote: o.aRemote ?? [NET_B] };
      const saB: ChildSaInstall = { ...base, inbound: keysAB, outbound: keysBA, peer: GW_A, tsLocal: o.bLocal ?? [NET_B], tsRemote: o.bRemote ?? [NET_A] };
      a.installChildSa(saA);
      b.installChildSa(saB);
      return { aToB, bToA };
    },
  };
}

describe('EspDataplane back to back', () => {
  for (const cbc of [false, true]) {
    it(`moves an IPv4 packet both ways (${cbc ? 'AES-CBC/HMAC' : 'AES-GCM'})`, () => {
      const p = makePair();
      const { aToB, bToA } = p.install('c1', { cbc });
      const ping = icmpEcho('10.1.0.2', '10.2.0.2', 1);
      p.tunA.inject(ping);
      expect(p.linkA.sent).toHaveLength(1);
      expect(p.linkA.sent[0]!.pkt.readUInt32BE(0)).toBe(aToB);
      expect(p.linkA.sent[0]!.remote).toEqual(GW_B);
      expect(p.tunB.written).toEqual([ping]);
      const pong = icmpEcho('10.2.0.2', '10.1.0.2', 1);
      pong[20] = 0;
      p.tunB.inject(pong);
      expect(p.linkB.sent[0]!.pkt.readUInt32BE(0)).toBe(bToA);
      expect(p.tunA.written).toEqual([pong]);
      expect(p.a.counters('c1')).toMatchObject({ outPackets: 1, outBytes: ping.length, inPackets: 1, inBytes: pong.length, outboundSeq: 2n });
      expect(p.a.counters('c1')!.lastInboundMs).toBeGreaterThan(0);
      expect(p.b.counters('c1')).toMatchObject({ outPackets: 1, inPackets: 1, drops: {} });
    });
  }

  it('carries a whole batch and keeps packet order', () => {
    const p = makePair();
    p.install('c1');
    const pings = Array.from({ length: 100 }, (_, i) => icmpEcho('10.1.0.2', '10.2.0.7', i + 1, i * 7));
    p.tunA.inject(...pings);
    expect(p.tunB.written).toEqual(pings);
    expect(p.b.counters('c1')!.inPackets).toBe(100);
  });

  it('works without TUN headroom (scratch buffer path)', () => {
    const p = makePair({ headroom: 0 });
    p.install('c1');
    const ping = icmpEcho('10.1.0.2', '10.2.0.2', 1, 1000);
    p.tunA.inject(ping);
    expect(p.tunB.written).toEqual([ping]);
  });

  it('drops packets without a matching SA (noRoute) and after removal', () => {
    const p = makePair();
    p.install('c1');
    p.tunA.inject(icmpEcho('10.1.0.2', '10.3.0.1', 1)); // dst outside tsRemote
    p.tunA.inject(icmpEcho('10.9.0.2', '10.2.0.1', 1)); // src outside tsLocal
    expect(p.a.globalDrops()).toEqual({ noRoute: 2 });
    p.a.removeChildSa('c1');
    p.a.removeChildSa('no-such-id');
    p.tunA.inject(icmpEcho('10.1.0.2', '10.2.0.1', 1));
    expect(p.a.globalDrops()).toEqual({ noRoute: 3 });
    expect(p.a.counters('c1')).toBeUndefined();
    expect(p.linkA.sent).toHaveLength(0);
  });

  it('enforces the inbound SA selectors (RFC 4301 inbound policy check)', () => {
    const p = makePair();
    // A believes it may send for all of 10.1.0.0/24; B only accepts 10.1.0.2 from this SA.
    p.install('c1', { bRemote: [range('10.1.0.2', '10.1.0.2')] });
    p.tunA.inject(icmpEcho('10.1.0.2', '10.2.0.2', 1));
    p.tunA.inject(icmpEcho('10.1.0.3', '10.2.0.2', 2)); // src not allowed by B
    expect(p.tunB.written).toHaveLength(1);
    expect(p.b.counters('c1')!.drops).toEqual({ policy: 1 });
    // and the destination side: B's tsLocal narrower than what A sends to
    const q = makePair();
    q.install('c2', { bLocal: [range('10.2.0.9', '10.2.0.9')] });
    q.tunA.inject(icmpEcho('10.1.0.2', '10.2.0.8', 1));
    expect(q.tunB.written).toHaveLength(0);
    expect(q.b.counters('c2')!.drops).toEqual({ policy: 1 });
  });

  it('counts tampered (icv), replayed and unknown-SPI datagrams', () => {
    const p = makePair();
    p.install('c1');
    p.linkA.tap = (pkt) => {
      pkt[20] = pkt[20]! ^ 0x01;
      return pkt;
    };
    p.tunA.inject(icmpEcho('10.1.0.2', '10.2.0.2', 1));
    p.linkA.tap = undefined;
    p.tunA.inject(icmpEcho('10.1.0.2', '10.2.0.2', 2));
    expect(p.tunB.written).toHaveLength(1);
    const replayed = p.linkA.sent[1]!.pkt;
    p.linkB.receive(Buffer.from(replayed), GW_A);
    const unknown = Buffer.from(replayed);
    unknown.writeUInt32BE(0x0bad0bad, 0);
    p.linkB.receive(unknown, GW_A);
    p.linkB.receive(Buffer.alloc(3), GW_A);
    p.linkB.receive(Buffer.from(replayed), { address: '203.0.113.9', port: 4500 });
    expect(p.b.counters('c1')!.drops).toEqual({ icv: 1, replay: 1, peerMismatch: 1 });
    expect(p.b.globalDrops()).toEqual({ unknownSpi: 1, badLength: 1 });
    expect(p.tunB.written).toHaveLength(1);
  });

  it('prefers the most specific remote selector, then the newest SA (make-before-break rekey)', () => {
    const p = makePair();
    const wide = p.install('wide', { aRemote: [range('10.2.0.0', '10.2.255.255')], bLocal: [range('10.2.0.0', '10.2.255.255')] });
    const narrow = p.install('narrow', { connection: 'other' });
    p.tunA.inject(icmpEcho('10.1.0.2', '10.2.0.5', 1), icmpEcho('10.1.0.2', '10.2.7.5', 2));
    expect(p.linkA.sent.map((s) => s.pkt.readUInt32BE(0))).toEqual([narrow.aToB, wide.aToB]);
    // rekey of 'narrow': the new SA takes over at once, the old inbound SA still works
    const rekeyed = p.install('narrow-2', { connection: 'other' });
    p.tunA.inject(icmpEcho('10.1.0.2', '10.2.0.5', 3));
    expect(p.linkA.sent[2]!.pkt.readUInt32BE(0)).toBe(rekeyed.aToB);
    expect(p.tunB.written).toHaveLength(3);
    p.b.removeChildSa('narrow-2'); // B still sends on the new SA? no: falls back to 'narrow'
    p.tunB.inject(icmpEcho('10.2.0.5', '10.1.0.2', 4));
    expect(p.linkB.sent.at(-1)!.pkt.readUInt32BE(0)).toBe(narrow.bToA);
    expect(p.tunA.written).toHaveLength(1);
  });

  it('a rekey responder keeps sending on the old SA until the peer uses the new one (outboundActive: false)', () => {
    const p = makePair();
    const old = p.install('old');
    const ab = gcmKeys(0xd0000001);
    const ba = gcmKeys(0xd0000002);
    const base = { connection: 'net', localPort: 4500 };
    // B answered the rekey: inbound live, outbound deferred.
    p.b.installChildSa({ ...base, id: 'new', inbound: ab, outbound: ba, peer: GW_A, tsLocal: [NET_B], tsRemote: [NET_A], outboundActive: false });
    p.tunB.inject(icmpEcho('10.2.0.2', '10.1.0.2', 1));
    expect(p.linkB.sent.at(-1)!.pkt.readUInt32BE(0)).toBe(old.bToA);
    expect(p.tunA.written).toHaveLength(1); // A does not have the new SA yet: nothing lost
    // A gets the answer, installs the new SA and sends on it; B switches over.
    p.a.installChildSa({ ...base, id: 'new', inbound: ba, outbound: ab, peer: GW_B, tsLocal: [NET_A], tsRemote: [NET_B] });
    p.tunA.inject(icmpEcho('10.1.0.2', '10.2.0.2', 2));
    expect(p.linkA.sent.at(-1)!.pkt.readUInt32BE(0)).toBe(0xd0000001);
    p.tunB.inject(icmpEcho('10.2.0.2', '10.1.0.2', 3));
    expect(p.linkB.sent.at(-1)!.pkt.readUInt32BE(0)).toBe(0xd0000002);
    expect(p.tunA.written).toHaveLength(2);
    // activateOutbound does the same when IKE learns it first.
    p.b.installChildSa({ ...base, id: 'newer', inbound: gcmKeys(0xd0000003), outbound: gcmKeys(0xd0000004), peer: GW_A, tsLocal: [NET_B], tsRemote: [NET_A], outboundActive: false });
    p.tunB.inject(icmpEcho('10.2.0.2', '10.1.0.2', 4));
    expect(p.linkB.sent.at(-1)!.pkt.readUInt32BE(0)).toBe(0xd0000002);
    p.b.activateOutbound('newer');
    p.tunB.inject(icmpEcho('10.2.0.2', '10.1.0.2', 5));
    expect(p.linkB.sent.at(-1)!.pkt.readUInt32BE(0)).toBe(0xd0000004);
  });

  it('calls onAcquire for traffic matching a configured connection without an SA, rate-limited', () => {
    let now = 10_000;
    const tun = new InMemoryTun();
    const [link] = createTransportPair(GW_A, GW_B);
    const dp = new EspDataplane({ tun, transport: link, now: () => now, acquireIntervalMs: 1000 });
    const acquired: string[] = [];
    dp.onAcquire = (c) => acquired.push(c);
    dp.setAcquirePolicies([
      { connection: 'siteB', tsRemote: [NET_B], tsLocal: [NET_A] },
      { connection: 'siteC', tsRemote: [range('10.3.0.0', '10.3.0.255')] },
    ]);
    tun.inject(icmpEcho('10.1.0.2', '10.2.0.2', 1), icmpEcho('10.1.0.2', '10.2.0.3', 2));
    tun.inject(icmpEcho('10.9.0.2', '10.2.0.2', 1)); // src outside siteB's tsLocal
    tun.inject(icmpEcho('10.9.0.2', '10.3.0.2', 1));
    tun.inject(icmpEcho('10.1.0.2', '10.4.0.2', 1)); // no connection
    expect(acquired).toEqual(['siteB', 'siteC']);
    now += 1000;
    tun.inject(icmpEcho('10.1.0.2', '10.2.0.2', 3));
    expect(acquired).toEqual(['siteB', 'siteC', 'siteB']);
    expect(dp.globalDrops()).toEqual({ noRoute: 6 });
  });

  it('starts the outbound sequence at outboundSeqStart (HA takeover)', () => {
    const p = makePair();
    const keys = gcmKeys(0x1000);
    p.a.installChildSa({
      id: 'ha', connection: 'net', inbound: gcmKeys(0x1001), outbound: keys, peer: GW_B, localPort: 4500,
      tsLocal: [NET_A], tsRemote: [NET_B], outboundSeqStart: 1_000_001n,
    });
    p.tunA.inject(icmpEcho('10.1.0.2', '10.2.0.2', 1));
    expect(p.linkA.sent[0]!.pkt.readUInt32BE(4)).toBe(1_000_001);
    expect(p.a.counters('ha')!.outboundSeq).toBe(1_000_002n);
  });

  it('refuses an inbound SPI that another Child SA already uses', () => {
    const p = makePair();
    p.install('c1', { spiBase: 0x5000 });
    expect(() => p.install('c2', { spiBase: 0x5000 })).toThrow(SaInstallError);
  });
});

describe('tunnel MTU, MSS clamping and ICMP fragmentation needed', () => {
  it('overhead math: GCM 1438 / CBC 1422 inner bytes on a 1500 path', () => {
    expect(tunnelInnerMtu(1500, { ivLength: 8, icvLength: 16, padAlign: 4 })).toBe(1438);
    expect(tunnelInnerMtu(1500, { ivLength: 16, icvLength: 16, padAlign: 16 })).toBe(1422);
    // the biggest allowed inner packet really makes a 1500-byte outer packet
    const p = makePair();
    p.install('c1');
    p.tunA.inject(icmpEcho('10.1.0.2', '10.2.0.2', 1, 1438 - 28));
    expect(20 + 8 + p.linkA.sent[0]!.pkt.length).toBe(1500);
    expect(p.tunB.written).toHaveLength(1);
  });

  it('sends ICMP type 3 code 4 with the next-hop MTU for a too big DF packet', () => {
    const p = makePair();
    p.install('c1');
    const big = icmpEcho('10.1.0.2', '10.2.0.2', 1, 1439 - 28, true);
    p.tunA.inject(big);
    expect(p.linkA.sent).toHaveLength(0);
    expect(p.a.counters('c1')!.drops).toEqual({ tooBig: 1 });
    expect(p.tunA.written).toHaveLength(1);
    const icmp = p.tunA.written[0]!;
    expect(icmp.length).toBe(20 + 8 + 28);
    expect(internetChecksum(icmp, 0, 20)).toBe(0); // IP header checksum valid
    expect(internetChecksum(icmp, 20, icmp.length - 20)).toBe(0); // ICMP checksum valid
    expect(icmp[9]).toBe(1);
    expect(icmp.subarray(16, 20).join('.')).toBe('10.1.0.2'); // back to the sender
    expect(icmp.subarray(12, 16).join('.')).toBe('10.2.0.2');
    expect([icmp[20], icmp[21]]).toEqual([3, 4]);
    expect(icmp.readUInt16BE(26)).toBe(1438);
    expect(icmp.subarray(28).equals(big.subarray(0, 28))).toBe(true); // orig header + 64 bits
    // without DF the packet goes through (the outer UDP datagram gets fragmented)
    const bigNoDf = icmpEcho('10.1.0.2', '10.2.0.2', 2, 1439 - 28, false);
    p.tunA.inject(bigNoDf);
    expect(p.tunB.written).toEqual([bigNoDf]);
    // no ICMP error about an ICMP error
    const err = Buffer.from(icmp);
    err.writeUInt32BE(ipv4ToUint32('10.1.0.9'), 12);
    err.writeUInt32BE(ipv4ToUint32('10.2.0.9'), 16);
    const padded = Buffer.concat([err.subarray(0, 20), Buffer.from([3, 4, 0, 0, 0, 0, 5, 0]), Buffer.alloc(1500)]);
    padded.writeUInt16BE(padded.length, 2);
    padded.writeUInt16BE(0x4000, 6);
    p.tunA.inject(padded);
    expect(p.tunA.written).toHaveLength(1);
  });

  it('clamps the MSS of SYN and SYN-ACK in both directions and keeps the TCP checksum valid', () => {
    const p = makePair();
    p.install('c1');
    p.tunA.inject(tcpSyn('10.1.0.2', '10.2.0.2', [...mssOption(1460), 1, 3, 3, 7, 4, 2, 0, 0]));
    const out = p.tunB.written[0]!;
    expect(out.readUInt16BE(20 + 22)).toBe(1398);
    expect(tcpChecksumResidue(out)).toBe(0);
    p.tunB.inject(tcpSyn('10.2.0.2', '10.1.0.2', mssOption(8960), true));
    const back = p.tunA.written[0]!;
    expect(back.readUInt16BE(20 + 22)).toBe(1398);
    expect(tcpChecksumResidue(back)).toBe(0);
  });

  it.each([
    { name: 'MSS first', options: [...mssOption(1460)], at: 22, expected: 1300, changed: true },
    { name: 'MSS at an odd offset after a NOP', options: [1, ...mssOption(1460), 0, 0, 0], at: 23, expected: 1300, changed: true },
    { name: 'odd offset, values with different bytes', options: [1, 1, 1, ...mssOption(0x05b4)], at: 25, expected: 1300, changed: true },
    { name: 'MSS already small', options: [...mssOption(1200)], at: 22, expected: 1200, changed: false },
    { name: 'after SACK-permitted and window scale', options: [4, 2, 3, 3, 7, 1, ...mssOption(65495), 0, 0], at: 28, expected: 1300, changed: true },
    { name: 'end-of-options before MSS', options: [0, 0, 0, 0, ...mssOption(1460)], at: 26, expected: 1460, changed: false },
    { name: 'truncated option length', options: [2, 9, 5, 0], at: 22, expected: 0x0500, changed: false },
  ])('clampTcpMss: $name', ({ options, at, expected, changed }) => {
    const pad = (4 - (options.length % 4)) % 4;
    const pkt = tcpSyn('10.1.0.2', '10.2.0.2', [...options, ...Array<number>(pad).fill(0)]);
    expect(clampTcpMss(pkt, 0, pkt.length, 1300)).toBe(changed);
    expect(pkt.readUInt16BE(20 + at)).toBe(expected); // `at`: offset of the MSS value in the TCP header
    expect(tcpChecksumResidue(pkt)).toBe(0);
  });

  it('leaves non-SYN segments alone', () => {
    const pkt = tcpSyn('10.1.0.2', '10.2.0.2', mssOption(1460));
    pkt[33] = 0x10; // ACK only
    expect(clampTcpMss(pkt, 0, pkt.length, 1300)).toBe(false);
    expect(pkt.readUInt16BE(42)).toBe(1460);
  });
});
