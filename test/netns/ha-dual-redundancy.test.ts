/**
 * Dual redundancy: two active-active gateways, a full mesh of 4 tunnels.
 *
 *   hostA ─ LAN ─┬─ gwA-0 (192.0.2.1) ═╦═ gwB-0 (192.0.2.2) ─┬─ LAN-B ─ hostB
 *                └─ gwA-1 (192.0.2.3) ═╩═ gwB-1 (192.0.2.4) ─┘
 *                          every A instance ⇄ every B instance
 *
 * Each instance has two connections with the same remote prefixes and pins
 * each flow to one of them (5-tuple hash); hosts spread over the instances
 * by ECMP. Killing gwB-0: both A instances declare their tunnel to it dead
 * and move its flows to gwB-1, which also takes gwB-0's private address.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { canRunNetns, requireOrSkip, skipLabel, type Prerequisite } from '../helpers/env.js';
import { waitFor } from './lib/wait.js';
import { builtOk } from './lib/vgwd.js';
import { execIn, mustRun } from './lib/proc.js';
import { createHaTopology, dualPairConfig, HA_ADDR, pacedTcpTransfer, startDaemon, waitRole, type DaemonHandle, type HaTopology } from './lib/ha-topology.js';

const built: Prerequisite = { name: 'build', ...builtOk() };
const skip = requireOrSkip(canRunNetns, built);
const SOURCES = Array.from({ length: 24 }, (_v, i) => `10.1.0.${100 + i}`);

/** Packets each tunnel carried so far, keyed "A-instance→B-instance", both ends' egress added. */
async function tunnelPackets(a: DaemonHandle[], b: DaemonHandle[]): Promise<Record<string, number>> {
  const out: Record<string, number> = {};
  for (let i = 0; i < 2; i++) {
    for (let j = 0; j < 2; j++) {
      const ea = (await a[i]!.connection(`gwA-to-siteB${j}`)).egressPackets;
      const eb = (await b[j]!.connection(`gwB-to-siteA${i}`)).egressPackets;
      out[`A${i}-B${j}`] = ea + eb;
    }
  }
  return out;
}

async function pingFromAll(topo: HaTopology): Promise<number> {
  const rs = await Promise.all(SOURCES.map((src) => execIn(topo.ns.hostA, 'ping', ['-n', '-q', '-c', '2', '-i', '0.2', '-W', '2', '-I', src, HA_ADDR.hostB])));
  return rs.filter((r) => r.code === 0).length;
}

describe.skipIf(skip)(`HA dual redundancy: 4 tunnels between two active-active gateways${skipLabel(canRunNetns, built)}`, () => {
  let topo: HaTopology;
  const a: DaemonHandle[] = [];
  const b: DaemonHandle[] = [];

  beforeAll(async () => {
    topo = await createHaTopology('hadual', { activeActive: true, dual: true });
    for (const src of SOURCES) await mustRun('ip', ['-n', topo.ns.hostA, 'addr', 'add', `${src}/32`, 'dev', 'eth0']);
    const cfgA = dualPairConfig('A');
    const cfgB = dualPairConfig('B');
    b.push(await startDaemon(topo, topo.ns.gwB, cfgB, 'gwB-0'), await startDaemon(topo, topo.ns.gwB1, cfgB, 'gwB-1'));
    a.push(await startDaemon(topo, topo.ns.gwA0, cfgA, 'gwA-0'), await startDaemon(topo, topo.ns.gwA1, cfgA, 'gwA-1'));
    for (const h of [...a, ...b]) await waitRole(h, 'active');
    await waitFor(async () => {
      for (const h of a) for (const c of ['gwA-to-siteB0', 'gwA-to-siteB1']) if ((await h.connection(c)).state !== 'Connected') return false;
      for (const h of b) for (const c of ['gwB-to-siteA0', 'gwB-to-siteA1']) if ((await h.connection(c)).state !== 'Connected') return false;
      return true;
    }, 40_000, 200, 'all 4 tunnels up at both ends');
  }, 90_000);

  afterAll(async () => { await topo?.destroy(); }, 30_000);

  it('all 4 tunnels are up and carry flows', async () => {
    const before = await tunnelPackets(a, b);
    expect(await pingFromAll(topo)).toBe(SOURCES.length);
    const after = await tunnelPackets(a, b);
    // 24 flows, each direction hashed independently: a tunnel left out entirely has probability ~4·(3/4)^48.
    for (const k of Object.keys(before)) expect(after[k], k).toBeGreaterThan(before[k]!);
  }, 30_000);

  it('kill -9 of gwB-0: both A instances move its flows to gwB-1; pings and a TCP transfer continue', async () => {
    const finish = await pacedTcpTransfer(topo, 5_000);
    const streams = SOURCES.slice(0, 4).map((src) =>
      execIn(topo.ns.hostA, 'ping', ['-n', '-q', '-c', '250', '-i', '0.02', '-W', '1', '-I', src, HA_ADDR.hostB], { timeoutMs: 30_000 }));
    await new Promise((r) => setTimeout(r, 1_500));
    b[0]!.process.kill('SIGKILL');
    const results = await Promise.all(streams);
    const tcp = await finish();
    expect(tcp.ok, tcp.detail).toBe(true);
    for (const r of results) expect(Number(/(\d+) received/.exec(r.stdout)?.[1] ?? 0), r.stdout).toBeGreaterThanOrEqual(200);
    for (const h of a) expect(h.log()).toMatch(/"event":"tunnel-dead".*gwA-to-siteB0|gwA-to-siteB0.*"event":"tunnel-dead"/);
    expect((await b[1]!.status()).ha?.floatingAddresses).toContain(HA_ADDR.bbPrivate0);
    const e = [(await a[0]!.connection('gwA-to-siteB1')).egressPackets, (await a[1]!.connection('gwA-to-siteB1')).egressPackets];
    expect(await pingFromAll(topo)).toBe(SOURCES.length);
    // Everything towards site B now leaves through the tunnels to gwB-1.
    const e2 = [(await a[0]!.connection('gwA-to-siteB1')).egressPackets, (await a[1]!.connection('gwA-to-siteB1')).egressPackets];
    expect(e2[0]! + e2[1]! - e[0]! - e[1]!).toBeGreaterThanOrEqual(SOURCES.length * 2);
  }, 40_000);
});
