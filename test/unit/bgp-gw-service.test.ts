/**
 * GatewayBgp glue without root: gateways on 127.0.0.x (all local on Linux),
 * "tunnels" are booleans, the kernel and the dataplane are recorders.
 *
 *   site1 (AS65050, 127.0.0.21) ── gwA (AS65515, 127.0.0.11) ── site2 (AS65060, 127.0.0.31)
 */
import { afterEach, describe, expect, it } from 'vitest';
import { pino } from 'pino';
import { GatewayBgp, type BgpSystem } from '../../daemon/bgp-service.js';
import type { GatewayConfig } from '../../daemon/config-types.js';
import { BgpState } from '../../bgp/index.js';

const PORT = 17000 + (process.pid % 2000);
const log = pino({ level: process.env.BGPGW_LOG ?? 'silent' });

interface Site { name: string; gw: string; asn: number; peer: string; prefixes: string[] }

function config(name: string, asn: number, peering: string, space: string[], sites: Site[]): GatewayConfig {
  return {
    source: '<test>',
    gateway: { name, addressSpace: space, publicIpAddress: '192.0.2.1', vpnType: 'RouteBased', bgp: { asn, peeringAddress: [peering], holdTime: 30, maxPrefixes: 100 } },
    localNetworkGateways: sites.map((s) => ({ name: s.name, gatewayIpAddress: s.gw, addressPrefixes: s.prefixes, bgp: { asn: s.asn, peeringAddress: s.peer } })),
    connections: sites.map((s) => ({
      name: `to-${s.name}`, connectionType: 'IPsec', connectionProtocol: 'IKEv2', localNetworkGateway: s.name, sharedKey: 'k',
      connectionMode: 'Default', dpdTimeoutSeconds: 45, usePolicyBasedTrafficSelectors: false, ipsecPolicies: [], enableBgp: true,
    })),
    runtime: { tunName: 'vgw0', controlSocket: '/tmp/x.sock', logLevel: 'info', mtu: 1400 },
  };
}

class Recorder implements BgpSystem {
  kernel = new Set<string>();
  peerRoutes: string[] = [];
  learned = new Map<string, readonly string[]>();
  async addOwnAddress(): Promise<void> {}
  async delOwnAddress(): Promise<void> {}
  async addPeerRoute(p: string): Promise<void> { this.peerRoutes.push(p); }
  async delPeerRoute(): Promise<void> {}
  applyRoutes = async (replace: readonly string[], remove: readonly string[]): Promise<string> => {
    for (const p of remove) this.kernel.delete(p);
    for (const p of replace) this.kernel.add(p);
    return '';
  };
  setLearnedRoute = (prefix: string, conns: readonly string[]): void => {
    if (conns.length) this.learned.set(prefix, conns);
    else this.learned.delete(prefix);
  };
}

const running: GatewayBgp[] = [];
afterEach(async () => {
  await Promise.all(running.splice(0).map((g) => g.stop()));
});

function make(cfg: GatewayConfig, up: Set<string>): { bgp: GatewayBgp; rec: Recorder } {
  const rec = new Recorder();
  const bgp = GatewayBgp.create({ config: cfg, tunName: 'vgw0', dataplane: rec, tunnelUp: (c) => up.has(c), log, system: rec, port: PORT });
  if (!bgp) throw new Error('no bgp');
  running.push(bgp);
  return { bgp, rec };
}

async function until<T>(what: string, f: () => T | undefined | false, ms = 8000): Promise<T> {
  const end = Date.now() + ms;
  for (;;) {
    const v = f();
    if (v) return v;
    if (Date.now() > end) throw new Error(`timed out: ${what}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

describe('GatewayBgp: sessions follow tunnels, learned routes reach kernel + dataplane, transit', () => {
  it('learns, installs, re-advertises between sites and withdraws when a tunnel goes down', async () => {
    const gwUp = new Set<string>();
    const gwA = make(config('gwA', 65515, '127.0.0.11', ['10.1.0.0/16'], [
      { name: 'site1', gw: '192.0.2.2', asn: 65050, peer: '127.0.0.21', prefixes: [] },
      { name: 'site2', gw: '192.0.2.3', asn: 65060, peer: '127.0.0.31', prefixes: [] },
    ]), gwUp);
    const s1 = make(config('site1', 65050, '127.0.0.21', ['10.2.0.0/16', '10.20.0.0/24'], [{ name: 'gwA', gw: '192.0.2.1', asn: 65515, peer: '127.0.0.11', prefixes: [] }]), new Set(['to-gwA']));
    const s2 = make(config('site2', 65060, '127.0.0.31', ['10.3.0.0/16'], [{ name: 'gwA', gw: '192.0.2.1', asn: 65515, peer: '127.0.0.11', prefixes: [] }]), new Set(['to-gwA']));
    await Promise.all([gwA.bgp.start(), s1.bgp.start(), s2.bgp.start()]);
    expect(gwA.rec.peerRoutes.sort()).toEqual(['127.0.0.21/32', '127.0.0.31/32']);

    // Tunnels down: no session at all.
    await new Promise((r) => setTimeout(r, 600));
    expect(gwA.bgp.peers().every((p) => p.state !== BgpState.Established && !p.enabled)).toBe(true);

    gwUp.add('to-site1');
    gwUp.add('to-site2');
    await until('both sessions', () => gwA.bgp.peers().every((p) => p.state === BgpState.Established));
    await until('site routes installed', () => gwA.rec.kernel.has('10.2.0.0/16') && gwA.rec.kernel.has('10.3.0.0/16') && gwA.rec.kernel.has('10.20.0.0/24'));
    expect(gwA.rec.learned.get('10.2.0.0/16')).toEqual(['to-site1']);
    expect(gwA.rec.learned.get('10.3.0.0/16')).toEqual(['to-site2']);
    expect(gwA.rec.kernel.has('10.1.0.0/16')).toBe(false); // our own prefix is never installed

    // Transit: site2 learns site1's prefixes through gwA (AS path 65515 65050).
    await until('transit at site2', () => s2.rec.learned.get('10.2.0.0/16')?.[0] === 'to-gwA');
    const at2 = s2.bgp.learnedRoutes().find((r) => r.network === '10.2.0.0/16');
    expect(at2?.asPath).toBe('65515 65050');
    expect(at2?.nextHop).toBe('127.0.0.11');
    const adv = gwA.bgp.advertisedRoutes('127.0.0.31').map((r) => r.network).sort();
    expect(adv).toEqual(['10.1.0.0/16', '10.2.0.0/16', '10.20.0.0/24']);

    const learned = gwA.bgp.learnedRoutes().find((r) => r.network === '10.2.0.0/16');
    expect(learned).toMatchObject({ sourcePeer: '127.0.0.21', origin: 'EBgp', asPath: '65050', best: true, installed: true, connection: 'to-site1' });

    // Tunnel to site1 goes down: the session stops at once, its routes leave gwA's kernel and site2.
    gwUp.delete('to-site1');
    await until('withdrawn locally', () => !gwA.rec.kernel.has('10.2.0.0/16') && !gwA.rec.learned.has('10.20.0.0/24'), 3000);
    await until('withdrawn at site2', () => !s2.rec.learned.has('10.2.0.0/16'), 3000);
    expect(gwA.rec.kernel.has('10.3.0.0/16')).toBe(true);
    const p1 = gwA.bgp.peers().find((p) => p.neighbor === '127.0.0.21');
    expect(p1).toMatchObject({ enabled: false, state: BgpState.Idle, routesReceived: 0 });

    // Back up: learned again.
    gwUp.add('to-site1');
    await until('relearned', () => gwA.rec.kernel.has('10.2.0.0/16'));
  }, 30_000);

  it('ECMP: two on-premises devices with the same prefix are both used; one leaving keeps the other', async () => {
    const up = new Set(['to-dev1', 'to-dev2']);
    const gw = make(config('gwE', 65515, '127.0.0.41', ['10.1.0.0/16'], [
      { name: 'dev1', gw: '192.0.2.5', asn: 65050, peer: '127.0.0.51', prefixes: [] },
      { name: 'dev2', gw: '192.0.2.6', asn: 65050, peer: '127.0.0.52', prefixes: [] },
    ]), up);
    const d1 = make(config('dev1', 65050, '127.0.0.51', ['10.9.0.0/16'], [{ name: 'gwE', gw: '192.0.2.1', asn: 65515, peer: '127.0.0.41', prefixes: [] }]), new Set(['to-gwE']));
    const d2 = make(config('dev2', 65050, '127.0.0.52', ['10.9.0.0/16'], [{ name: 'gwE', gw: '192.0.2.1', asn: 65515, peer: '127.0.0.41', prefixes: [] }]), new Set(['to-gwE']));
    await Promise.all([gw.bgp.start(), d1.bgp.start(), d2.bgp.start()]);
    await until('ECMP set', () => gw.rec.learned.get('10.9.0.0/16')?.length === 2, 10_000).catch((e) => { throw new Error(`${String(e)} ${JSON.stringify(gw.bgp.peers())} ${JSON.stringify(gw.bgp.learnedRoutes())}`); });
    expect(gw.rec.learned.get('10.9.0.0/16')).toEqual(['to-dev1', 'to-dev2']);
    expect(gw.bgp.learnedRoutes().filter((r) => r.network === '10.9.0.0/16').every((r) => r.installed)).toBe(true);
    up.delete('to-dev1');
    await until('one path left', () => gw.rec.learned.get('10.9.0.0/16')?.length === 1, 3000);
    expect(gw.rec.learned.get('10.9.0.0/16')).toEqual(['to-dev2']);
    expect(gw.rec.kernel.has('10.9.0.0/16')).toBe(true);
  }, 30_000);

  it('max-prefix: past the limit the session is closed with Cease 6/1 and not retried for the backoff', async () => {
    const up = new Set(['to-big']);
    const gw = make(config('gwM', 65515, '127.0.0.61', ['10.1.0.0/16'], [{ name: 'big', gw: '192.0.2.7', asn: 65070, peer: '127.0.0.71', prefixes: [] }]), up);
    const many = Array.from({ length: 150 }, (_, i) => `10.${50 + Math.floor(i / 256)}.${i % 256}.0/24`);
    const big = make(config('big', 65070, '127.0.0.71', many, [{ name: 'gwM', gw: '192.0.2.1', asn: 65515, peer: '127.0.0.61', prefixes: [] }]), new Set(['to-gwM']));
    await Promise.all([gw.bgp.start(), big.bgp.start()]);
    await until('max-prefix cease', () => gw.bgp.peers()[0]?.lastError?.includes('6/1') || gw.bgp.peers()[0]?.lastError?.toLowerCase().includes('prefix'), 10_000)
      .catch((e) => { throw new Error(`${String(e)} ${JSON.stringify(gw.bgp.peers())}`); });
    expect(gw.rec.kernel.size).toBe(0); // nothing of the oversized table was applied
    await new Promise((r) => setTimeout(r, 4000)); // > idle hold (2 s): still down because of the 60 s backoff
    expect(gw.bgp.peers()[0]?.state).not.toBe(BgpState.Established);
  }, 30_000);
});
