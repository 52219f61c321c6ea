/**
 * Active-active HA pair of real vgwd processes against a vgwd peer:
 *
 *   hostA ── LAN ──┬── gwA0 (vgwd --instance gwA-0, 192.0.2.1 / 10.1.0.1) ──┬── WAN ── gwB (vgwd) ── hostB
 *   (ECMP via      └── gwA1 (vgwd --instance gwA-1, 192.0.2.3 / 10.1.0.3) ──┘   one connection per instance
 *    10.1.0.1 and 10.1.0.3)
 *
 * Each instance has its own IKE SA with gwB; gwB pins each flow to one tunnel
 * (5-tuple hash) and hostA spreads by ECMP. Killing an instance: gwB's tunnel
 * liveness declares its tunnel dead and moves its flows; the survivor takes
 * the dead instance's private address (hostA's next hop). Asserts recovery
 * and state; timings are bench/failover.ts's business.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { canRunNetns, requireOrSkip, skipLabel, type Prerequisite } from '../helpers/env.js';
import { ping } from './lib/traffic.js';
import { waitFor } from './lib/wait.js';
import { builtOk } from './lib/vgwd.js';
import { execIn, mustRun } from './lib/proc.js';
import {
  createHaTopology, haPairConfig, HA_ADDR, pacedTcpTransfer, peerConfig, startDaemon, waitRole, type DaemonHandle, type HaTopology,
} from './lib/ha-topology.js';

const built: Prerequisite = { name: 'build', ...builtOk() };
const skip = requireOrSkip(canRunNetns, built);
const CONN = 'gwA-to-siteB';
const TO_A0 = 'gwB-to-siteA0';
const TO_A1 = 'gwB-to-siteA1';
/** Extra source addresses on hostA: distinct 5-tuples for ICMP flows. */
const SOURCES = Array.from({ length: 16 }, (_v, i) => `10.1.0.${100 + i}`);

async function egress(h: DaemonHandle, conn: string): Promise<number> {
  return (await h.connection(conn)).egressPackets;
}

/** One ping from each extra source; returns how many got an answer. */
async function pingFromAll(topo: HaTopology, count = 2): Promise<number> {
  const rs = await Promise.all(SOURCES.map((src) => topo.exec(topo.ns.hostA, 'ping', ['-n', '-q', '-c', String(count), '-i', '0.2', '-W', '2', '-I', src, HA_ADDR.hostB])));
  return rs.filter((r) => r.code === 0).length;
}

describe.skipIf(skip)(`HA active-active with a vgwd peer${skipLabel(canRunNetns, built)}`, () => {
  let topo: HaTopology;
  let a0: DaemonHandle;
  let a1: DaemonHandle;
  let b: DaemonHandle;
  const cfg = haPairConfig({ activeActive: true });

  beforeAll(async () => {
    topo = await createHaTopology('haa', { activeActive: true });
    for (const src of SOURCES) await mustRun('ip', ['-n', topo.ns.hostA, 'addr', 'add', `${src}/32`, 'dev', 'eth0']);
    b = await startDaemon(topo, topo.ns.gwB, peerConfig([HA_ADDR.aaPublic0, HA_ADDR.aaPublic1], 9));
    a0 = await startDaemon(topo, topo.ns.gwA0, cfg, 'gwA-0');
    a1 = await startDaemon(topo, topo.ns.gwA1, cfg, 'gwA-1');
    await waitRole(a0, 'active');
    await waitRole(a1, 'active');
    await waitFor(async () => (await b.connection(TO_A0)).state === 'Connected' && (await b.connection(TO_A1)).state === 'Connected',
      25_000, 100, 'both tunnels up at gwB');
    await waitFor(async () => (await a0.connection(CONN)).state === 'Connected' && (await a1.connection(CONN)).state === 'Connected', 10_000, 100, 'tunnels up at the instances');
  }, 60_000);

  afterAll(async () => { await topo?.destroy(); }, 30_000);

  it('both instances are active with their own addresses and tunnels; flows spread over both', async () => {
    const st0 = await a0.status();
    const st1 = await a1.status();
    expect(st0.ha).toMatchObject({ mode: 'active-active', role: 'active', partner: { name: 'gwA-1', linkUp: true } });
    expect(st0.ha?.floatingAddresses.sort()).toEqual([HA_ADDR.aaPrivate0, HA_ADDR.aaPublic0].sort());
    expect(st1.ha?.floatingAddresses.sort()).toEqual([HA_ADDR.aaPrivate1, HA_ADDR.aaPublic1].sort());
    // Two different IKE SAs, one per instance, both of one connection at gwB's side of things.
    expect((await a0.connection(CONN)).ikeSa?.spiI).not.toBe((await a1.connection(CONN)).ikeSa?.spiI);
    const e0 = await egress(b, TO_A0);
    const e1 = await egress(b, TO_A1);
    expect(await pingFromAll(topo)).toBe(SOURCES.length);
    // gwB spread the 16 reply flows over both tunnels (all on one: probability 2^-15).
    expect(await egress(b, TO_A0)).toBeGreaterThan(e0);
    expect(await egress(b, TO_A1)).toBeGreaterThan(e1);
  }, 30_000);

  it('kill -9 of an instance: its flows move to the survivor, pings and a TCP transfer continue', async () => {
    const initsBefore = (b.log().match(/IKE_SA_INIT received, responding|initiating IKE_SA /g) ?? []).length;
    const finish = await pacedTcpTransfer(topo, 5_000);
    const streams = SOURCES.slice(0, 4).map((src) =>
      execIn(topo.ns.hostA, 'ping', ['-n', '-q', '-c', '250', '-i', '0.02', '-W', '1', '-I', src, HA_ADDR.hostB], { timeoutMs: 30_000 }));
    await new Promise((r) => setTimeout(r, 1_500));
    a0.process.kill('SIGKILL');
    const results = await Promise.all(streams);
    const tcp = await finish();
    expect(tcp.ok, tcp.detail).toBe(true);
    for (const r of results) {
      const m = /(\d+) received/.exec(r.stdout);
      // 5 s of pings; the outage (≤ 1 s) may cost at most 50 of 250.
      expect(Number(m?.[1] ?? 0), r.stdout).toBeGreaterThanOrEqual(200);
    }
    // gwB declared the dead instance's tunnel dead and carries everything on the other one.
    expect(b.log()).toMatch(/"event":"tunnel-dead".*gwB-to-siteA0|gwB-to-siteA0.*"event":"tunnel-dead"/);
    const st1 = await a1.status();
    expect(st1.ha?.floatingAddresses).toContain(HA_ADDR.aaPrivate0);
    expect(st1.ha?.partner.linkUp).toBe(false);
    expect(st1.ha?.lastFailover).toMatchObject({ kind: 'unplanned', role: 'took-over' });
    const e1 = await egress(b, TO_A1);
    expect(await pingFromAll(topo)).toBe(SOURCES.length);
    expect(await egress(b, TO_A1)).toBeGreaterThanOrEqual(e1 + SOURCES.length * 2);
    // The survivor's tunnel was not renegotiated: no new handshake at gwB.
    expect((b.log().match(/IKE_SA_INIT received, responding|initiating IKE_SA /g) ?? []).length).toBe(initsBefore);
  }, 40_000);

  it('the instance comes back: it takes back its address, its tunnel is rebuilt and carries flows again', async () => {
    a0 = await startDaemon(topo, topo.ns.gwA0, cfg, 'gwA-0', 'gwA0-again');
    await waitRole(a0, 'active');
    await waitFor(async () => !(await a1.status()).ha?.floatingAddresses.includes(HA_ADDR.aaPrivate0), 5_000, 50, 'survivor to return the address');
    await waitFor(async () => (await a0.connection(CONN)).state === 'Connected', 20_000, 100, 'returning instance tunnel up');
    await waitFor(async () => /"event":"tunnel-live".*gwB-to-siteA0|gwB-to-siteA0.*"event":"tunnel-live"/.test(b.log())
      || (await b.connection(TO_A0)).childSas.length > 0, 10_000, 100, 'gwB to use the tunnel again');
    const e0 = await egress(b, TO_A0);
    expect(await pingFromAll(topo)).toBe(SOURCES.length);
    expect(await egress(b, TO_A0)).toBeGreaterThan(e0);
    expect((await a0.status()).ha?.floatingAddresses.sort()).toEqual([HA_ADDR.aaPrivate0, HA_ADDR.aaPublic0].sort());
  }, 60_000);
});
