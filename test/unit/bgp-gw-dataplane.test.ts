/**
 * Learned (BGP) routes in the ESP dataplane: longest-prefix match after the
 * static selectors, ECMP by 5-tuple hash across the connections that carry a
 * prefix, failover to the tunnel that is up.
 */
import { randomBytes } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import type { ChildSaInstall, EspSaKeys } from '../../dataplane/backend.js';
import { EspDataplane } from '../../dataplane/forwarder.js';
import { internetChecksum, ipv4ToUint32 } from '../../dataplane/ipv4.js';
import { flowHash, LearnedRoutes } from '../../dataplane/learned-routes.js';
import { PrefixTable } from '../../dataplane/prefix-table.js';
import { InMemoryTransport, InMemoryTun } from '../../dataplane/testing.js';

function udp(src: string, dst: string, sport: number, dport = 53): Buffer {
  const p = Buffer.alloc(28);
  p[0] = 0x45;
  p.writeUInt16BE(28, 2);
  p[8] = 64;
  p[9] = 17;
  p.writeUInt32BE(ipv4ToUint32(src), 12);
  p.writeUInt32BE(ipv4ToUint32(dst), 16);
  p.writeUInt16BE(internetChecksum(p, 0, 20), 10);
  p.writeUInt16BE(sport, 20);
  p.writeUInt16BE(dport, 22);
  p.writeUInt16BE(8, 24);
  return p;
}

const keys = (spi: number): EspSaKeys => ({ spi, cipher: 'aes-gcm-16', encKey: randomBytes(36), integ: 'none', integKey: Buffer.alloc(0) });
const ANY = { start: '0.0.0.0', end: '255.255.255.255' };
const PEERS = { 'to-b': { address: '192.0.2.2', port: 4500 }, 'to-c': { address: '192.0.2.3', port: 4500 } } as const;

function setup() {
  const tun = new InMemoryTun({ name: 't' });
  const link = new InMemoryTransport({ address: '192.0.2.1', port: 4500 });
  const dp = new EspDataplane({ tun, transport: link });
  let spi = 0x1000;
  const install = (conn: keyof typeof PEERS, remote: string, id = conn) => {
    const sa: ChildSaInstall = {
      id, connection: conn, localPort: 4500, inbound: keys(spi++), outbound: keys(spi++), peer: PEERS[conn],
      tsLocal: [ANY], tsRemote: [{ start: remote, end: remote }],
    };
    dp.installChildSa(sa);
  };
  const sentTo = () => link.sent.map((s) => s.remote.address);
  return { tun, link, dp, install, sentTo };
}

describe('PrefixTable', () => {
  it.each([
    ['10.9.1.7', '10.9.1.0/24'],
    ['10.9.2.7', '10.9.0.0/16'],
    ['10.8.0.1', '0.0.0.0/0'],
    ['10.9.1.255', '10.9.1.0/24'],
  ])('%s → %s (longest match)', (addr, want) => {
    const t = new PrefixTable<string>();
    for (const p of ['0.0.0.0/0', '10.9.0.0/16', '10.9.1.0/24', '10.9.3.4/32']) {
      const { network, length } = PrefixTable.parse(p);
      t.set(network, length, p);
    }
    expect(t.lookup(ipv4ToUint32(addr))).toBe(want);
    expect(t.matchedLength).toBe(Number(want.split('/')[1]));
  });
  it('refuses malformed prefixes and host bits', () => {
    expect(() => PrefixTable.parse('10.9.1.1/24')).toThrow(RangeError);
    expect(() => PrefixTable.parse('10.9.1.0/33')).toThrow(RangeError);
    expect(() => PrefixTable.parse('300.1.1.0/24')).toThrow(RangeError);
  });
  it('delete shrinks the table and the lengths probed', () => {
    const t = new LearnedRoutes();
    t.set('10.9.0.0/16', ['a']);
    t.set('10.9.0.0/16', []);
    expect(t.size).toBe(0);
    expect(t.connectionsFor(ipv4ToUint32('10.9.0.1'))).toBeUndefined();
  });
});

describe('EspDataplane learned routes', () => {
  it('sends a learned prefix through the connection that carries it; unknown stays noRoute', () => {
    const s = setup();
    s.install('to-b', '10.2.255.1');
    s.install('to-c', '10.3.255.1');
    s.tun.inject(udp('10.1.0.2', '10.9.0.1', 1000));
    expect(s.link.sent).toHaveLength(0);
    expect(s.dp.globalDrops().noRoute).toBe(1);
    s.dp.setLearnedRoute('10.9.0.0/16', ['to-c']);
    s.tun.inject(udp('10.1.0.2', '10.9.0.1', 1000));
    expect(s.sentTo()).toEqual(['192.0.2.3']);
    // the static /32 selector still wins for the peer address itself
    s.dp.setLearnedRoute('10.2.0.0/16', ['to-c']);
    s.tun.inject(udp('10.1.0.2', '10.2.255.1', 1000));
    expect(s.sentTo()[1]).toBe('192.0.2.2');
    // a more specific learned prefix beats a less specific one
    s.dp.setLearnedRoute('10.9.7.0/24', ['to-b']);
    s.tun.inject(udp('10.1.0.2', '10.9.7.1', 1000));
    expect(s.sentTo()[2]).toBe('192.0.2.2');
  });

  it('ECMP: flows spread over both tunnels, one flow stays on one tunnel, a dead tunnel is skipped', () => {
    const s = setup();
    s.install('to-b', '10.2.255.1');
    s.install('to-c', '10.3.255.1');
    s.dp.setLearnedRoute('10.9.0.0/16', ['to-b', 'to-c']);
    for (let port = 1000; port < 1200; port++) s.tun.inject(udp('10.1.0.2', '10.9.0.1', port));
    const counts = new Map<string, number>();
    for (const a of s.sentTo()) counts.set(a, (counts.get(a) ?? 0) + 1);
    expect(counts.get('192.0.2.2')).toBeGreaterThan(60);
    expect(counts.get('192.0.2.3')).toBeGreaterThan(60);
    const before = s.link.sent.length;
    for (let i = 0; i < 10; i++) s.tun.inject(udp('10.1.0.2', '10.9.0.1', 4242));
    expect(new Set(s.link.sent.slice(before).map((x) => x.remote.address)).size).toBe(1);
    s.dp.removeChildSa('to-b');
    const n = s.link.sent.length;
    for (let port = 2000; port < 2050; port++) s.tun.inject(udp('10.1.0.2', '10.9.0.1', port));
    expect(new Set(s.link.sent.slice(n).map((x) => x.remote.address))).toEqual(new Set(['192.0.2.3']));
  });

  it('flowHash depends on ports for TCP/UDP and ignores them for fragments', () => {
    const a = udp('10.1.0.2', '10.9.0.1', 1000);
    const b = udp('10.1.0.2', '10.9.0.1', 1001);
    expect(flowHash(a, 0)).not.toBe(flowHash(b, 0));
    a.writeUInt16BE(0x2000, 6); // MF: a first fragment
    b.writeUInt16BE(0x2000, 6);
    expect(flowHash(a, 0)).toBe(flowHash(b, 0));
  });
});
