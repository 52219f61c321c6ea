/**
 * Active-active flow spreading in the dataplane (5-tuple hash over the tunnels
 * of different connections with equal selectors, skipping dead ones) and the
 * tunnel-liveness heartbeat (RFC 4303 dummy packets) that decides which are dead.
 */
import { randomBytes } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import type { ChildSaInstall, EspSaKeys, Ipv4Range, UdpEndpoint } from '../../dataplane/backend.js';
import { EspDataplane, type EspTransportLike } from '../../dataplane/forwarder.js';
import { ipv4ToUint32 } from '../../dataplane/ipv4.js';
import { InMemoryTun } from '../../dataplane/testing.js';
import { multipathGroups, TunnelLiveness } from '../../ha/tunnel-liveness.js';

const range = (start: string, end: string): Ipv4Range => ({ start, end });
const NET_A = range('10.1.0.0', '10.1.0.255');
const NET_B = range('10.2.0.0', '10.2.0.255');

/** A wire between several endpoints: sendEsp delivers to whoever owns the remote address. */
class Hub {
  readonly ends = new Map<string, HubEnd>();
  /** Addresses that are "dead": their datagrams vanish both ways. */
  readonly down = new Set<string>();
  end(address: string): HubEnd {
    const e = new HubEnd(this, { address, port: 4500 });
    this.ends.set(address, e);
    return e;
  }
}
class HubEnd implements EspTransportLike {
  readonly sent: Array<{ pkt: Buffer; remote: UdpEndpoint }> = [];
  private handler?: (pkt: Buffer, remote: UdpEndpoint) => void;
  constructor(private readonly hub: Hub, readonly local: UdpEndpoint) {}
  sendEsp(buf: Buffer, offset: number, length: number, remote: UdpEndpoint): void {
    const pkt = Buffer.from(buf.subarray(offset, offset + length));
    this.sent.push({ pkt, remote: { ...remote } });
    if (this.hub.down.has(remote.address) || this.hub.down.has(this.local.address)) return;
    this.hub.ends.get(remote.address)?.handler?.(pkt, this.local);
  }
  setEspHandler(h: (pkt: Buffer, remote: UdpEndpoint) => void): void { this.handler = h; }
}

function udp(src: string, dst: string, sport: number, dport = 5001): Buffer {
  const p = Buffer.alloc(20 + 8 + 16);
  p[0] = 0x45;
  p.writeUInt16BE(p.length, 2);
  p[8] = 64;
  p[9] = 17;
  p.writeUInt32BE(ipv4ToUint32(src), 12);
  p.writeUInt32BE(ipv4ToUint32(dst), 16);
  p.writeUInt16BE(sport, 20);
  p.writeUInt16BE(dport, 22);
  p.writeUInt16BE(24, 24);
  return p;
}

const gcm = (spi: number): EspSaKeys => ({ spi, cipher: 'aes-gcm-16', encKey: randomBytes(36), integ: 'none', integKey: Buffer.alloc(0) });

/** gwB (site 10.2/24) with one tunnel to each of two instances gwA-0 / gwA-1 (site 10.1/24). */
function topology(clock: { now: number } = { now: 1_000_000 }) {
  const hub = new Hub();
  const now = (): number => clock.now;
  const mk = (addr: string, name: string) => {
    const tun = new InMemoryTun({ name });
    const transport = hub.end(addr);
    return { tun, transport, dp: new EspDataplane({ tun, transport, now }) };
  };
  const b = mk('192.0.2.2', 'tunB');
  const a0 = mk('192.0.2.1', 'tunA0');
  const a1 = mk('192.0.2.3', 'tunA1');
  let spi = 0x1000;
  /** One Child SA between gwB (connection `conn`) and instance `a`. */
  const link = (id: string, conn: string, a: typeof a0, remote: Ipv4Range[] = [NET_A]): { out: number } => {
    const bOut = spi++, bIn = spi++;
    const kOut = gcm(bOut), kIn = gcm(bIn);
    const base = { id, localPort: 4500 };
    const sB: ChildSaInstall = { ...base, connection: conn, inbound: kIn, outbound: kOut, peer: a.transport.local, tsLocal: [NET_B], tsRemote: remote };
    const sA: ChildSaInstall = { ...base, connection: 'to-gwB', inbound: kOut, outbound: kIn, peer: b.transport.local, tsLocal: [NET_A], tsRemote: [NET_B] };
    b.dp.installChildSa(sB);
    a.dp.installChildSa(sA);
    return { out: bOut };
  };
  return { hub, b, a0, a1, link, clock };
}

/** Which instance each of `n` flows (by source port) reaches from gwB. */
function spread(t: ReturnType<typeof topology>, n: number, firstPort = 20000): string[] {
  const out: string[] = [];
  for (let i = 0; i < n; i++) {
    const before = t.b.transport.sent.length;
    t.b.tun.inject(udp('10.2.0.5', '10.1.0.7', firstPort + i));
    const s = t.b.transport.sent[before];
    out.push(s ? s.remote.address : 'none');
  }
  return out;
}

describe('multipath outbound lookup (active-active tunnels)', () => {
  it('spreads flows over both tunnels by 5-tuple and keeps each flow on its tunnel', () => {
    const t = topology();
    t.link('c0', 'to-gwA0', t.a0);
    t.link('c1', 'to-gwA1', t.a1);
    const first = spread(t, 400);
    const n0 = first.filter((x) => x === '192.0.2.1').length;
    const n1 = first.filter((x) => x === '192.0.2.3').length;
    expect(n0 + n1).toBe(400);
    expect(n0).toBeGreaterThan(120);
    expect(n1).toBeGreaterThan(120);
    expect(spread(t, 400)).toEqual(first); // stable per flow
    // Packets arrive decrypted at the instance the flow was pinned to.
    expect(t.a0.tun.written.length).toBe(n0 * 2);
    expect(t.a1.tun.written.length).toBe(n1 * 2);
  });

  it('a dead tunnel: only its flows move, to the survivor; back when it revives', () => {
    const t = topology();
    t.link('c0', 'to-gwA0', t.a0);
    t.link('c1', 'to-gwA1', t.a1);
    const before = spread(t, 300);
    t.b.dp.setConnectionLive('to-gwA0', false);
    const during = spread(t, 300);
    expect(during.every((x) => x === '192.0.2.3')).toBe(true);
    t.b.dp.setConnectionLive('to-gwA0', true);
    expect(spread(t, 300)).toEqual(before);
    expect(t.b.dp.deadConnections()).toEqual([]);
  });

  it('rendezvous: with three tunnels, killing one leaves the flows of the others where they were', () => {
    const t = topology();
    const a2 = { ...t.a1, transport: t.hub.end('192.0.2.4') };
    const dp2 = new EspDataplane({ tun: new InMemoryTun(), transport: a2.transport });
    t.link('c0', 'to-gwA0', t.a0);
    t.link('c1', 'to-gwA1', t.a1);
    t.link('c2', 'to-gwA2', { ...a2, dp: dp2 });
    const before = spread(t, 300);
    t.b.dp.setConnectionLive('to-gwA1', false);
    const after = spread(t, 300);
    for (let i = 0; i < before.length; i++) {
      if (before[i] !== '192.0.2.3') expect(after[i]).toBe(before[i]);
      else expect(after[i]).not.toBe('192.0.2.3');
    }
  });

  it('all tunnels dead: traffic still goes out (fallback), and a dead state survives reinstalls', () => {
    const t = topology();
    t.b.dp.setConnectionLive('to-gwA0', false);
    t.b.dp.setConnectionLive('to-gwA1', false);
    t.link('c0', 'to-gwA0', t.a0);
    t.link('c1', 'to-gwA1', t.a1);
    expect(spread(t, 20).every((x) => x !== 'none')).toBe(true);
    t.b.dp.setConnectionLive('to-gwA1', true);
    expect(spread(t, 50).every((x) => x === '192.0.2.3')).toBe(true);
  });

  it('a rekey inside one connection keeps the flows on that connection, on the newest SA', () => {
    const t = topology();
    t.link('c0', 'to-gwA0', t.a0);
    t.link('c1', 'to-gwA1', t.a1);
    const before = spread(t, 200);
    const rekeyed = t.link('c0b', 'to-gwA0', t.a0);
    const from = t.b.transport.sent.length;
    const after = spread(t, 200);
    expect(after).toEqual(before);
    const spis = t.b.transport.sent.slice(from).filter((s) => s.remote.address === '192.0.2.1').map((s) => s.pkt.readUInt32BE(0));
    expect(spis.length).toBeGreaterThan(0);
    expect(new Set(spis)).toEqual(new Set([rekeyed.out]));
  });

  it('different selectors are not multipath: the most specific tunnel wins as before', () => {
    const t = topology();
    t.link('c0', 'to-gwA0', t.a0, [NET_A]);
    t.link('c1', 'to-gwA1', t.a1, [range('10.1.0.0', '10.1.0.127')]);
    expect(spread(t, 50).every((x) => x === '192.0.2.3')).toBe(true);
  });
});

describe('dummy packets and tunnel liveness', () => {
  it('sendDummy: the peer authenticates it, refreshes lastInboundMs and writes nothing to its TUN', () => {
    const t = topology();
    t.link('c0', 'to-gwA0', t.a0);
    expect(t.b.dp.sendDummy('c0')).toBe(true);
    expect(t.b.dp.sendDummy('nope')).toBe(false);
    const c = t.a0.dp.counters('c0')!;
    expect(c.lastInboundMs).toBe(t.clock.now);
    expect(c.drops.dummy).toBe(1);
    expect(c.inPackets).toBe(0);
    expect(t.a0.tun.written).toEqual([]);
    expect(t.b.dp.counters('c0')!.outPackets).toBe(0);
  });

  it('declares a silent tunnel dead after 500 ms, moves its flows, and revives it', () => {
    const t = topology();
    t.link('c0', 'to-gwA0', t.a0);
    t.link('c1', 'to-gwA1', t.a1);
    const changes: string[] = [];
    const ids: Record<string, string[]> = { 'to-gwA0': ['c0'], 'to-gwA1': ['c1'], 'to-gwB': ['c0', 'c1'] };
    const mkLiveness = (dp: EspDataplane, conns: string[], watched: string[], onlyIds?: string[]) => new TunnelLiveness({
      dataplane: dp, connections: conns, watched, now: () => t.clock.now,
      childIds: (c) => (ids[c] ?? []).filter((id) => !onlyIds || onlyIds.includes(id)),
      onChange: (c, live) => changes.push(`${c}:${live ? 'up' : 'down'}`),
    });
    const lb = mkLiveness(t.b.dp, ['to-gwA0', 'to-gwA1'], ['to-gwA0', 'to-gwA1']);
    // The instances only echo (they are not told to watch): they answer because gwB sends dummies.
    const l0 = mkLiveness(t.a0.dp, ['to-gwB'], [], ['c0']);
    const l1 = mkLiveness(t.a1.dp, ['to-gwB'], [], ['c1']);
    const step = (ms: number): void => {
      for (let x = 0; x < ms; x += 100) { t.clock.now += 100; lb.tick(); l0.tick(); l1.tick(); }
    };
    step(2_000);
    expect(changes).toEqual([]);
    expect(lb.stats.dummiesSent).toBeGreaterThan(10);
    expect(l0.stats.dummiesSent).toBeGreaterThan(10); // echo
    // Instance 0 dies: its address goes silent.
    t.hub.down.add('192.0.2.1');
    step(400);
    expect(changes).toEqual([]);
    step(300);
    expect(changes).toEqual(['to-gwA0:down']);
    expect(lb.isLive('to-gwA0')).toBe(false);
    expect(spread(t, 100).every((x) => x === '192.0.2.3')).toBe(true);
    expect(lb.views().find((v) => v.connection === 'to-gwA0')).toMatchObject({ live: false });
    t.hub.down.delete('192.0.2.1');
    step(300);
    expect(changes).toEqual(['to-gwA0:down', 'to-gwA0:up']);
  });

  it('multipathGroups: connections towards the same prefixes, point-to-site excluded', () => {
    const pfx = (s: string, e: string) => [{ start: s, end: e }];
    expect(multipathGroups([
      { name: 'a', remotePrefixes: pfx('10.1.0.0', '10.1.0.255') },
      { name: 'b', remotePrefixes: pfx('10.1.0.0', '10.1.0.255') },
      { name: 'c', remotePrefixes: pfx('10.3.0.0', '10.3.0.255') },
      { name: 'p2s', remotePrefixes: pfx('10.1.0.0', '10.1.0.255'), p2s: {} },
    ])).toEqual([['a', 'b']]);
  });
});
