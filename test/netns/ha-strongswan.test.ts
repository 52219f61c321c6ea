/**
 * Active-standby HA pair of vgwd processes against a strongSwan peer (charon
 * with kernel-libipsec in gwB):
 *
 *   hostA ── LAN ──┬── gwA0 (vgwd --instance gwA-0) ──┬── WAN ── gwB (charon) ── hostB
 *                  └── gwA1 (vgwd --instance gwA-1) ──┘
 *
 * The point: strongSwan sees no new handshake across a failover. Its IKE SA
 * keeps its unique id and SPIs, its CHILD_SA its SPIs, no rekey happens, and
 * its DPD exchanges (every 2 s) keep being answered by the new active, which
 * proves the IKE message IDs were carried over too.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { canRunNetns, hasStrongSwan, requireOrSkip, skipLabel, type Prerequisite } from '../helpers/env.js';
import { ping } from './lib/traffic.js';
import { waitFor } from './lib/wait.js';
import { builtOk } from './lib/vgwd.js';
import { spawnIn } from './lib/proc.js';
import type { Topology } from './lib/topology.js';
import { startStrongSwan, type IkeSaInfo, type StrongSwanHandle } from './lib/strongswan.js';
import { createHaTopology, haPairConfig, HA_ADDR, startDaemon, waitRole, type DaemonHandle, type HaTopology } from './lib/ha-topology.js';

const built: Prerequisite = { name: 'build', ...builtOk() };
const skip = requireOrSkip(canRunNetns, hasStrongSwan, built);
const CONN = 'gwA-to-siteB';

/** What strongSwan would show changing if it saw a new handshake or a rekey. */
function identity(sas: readonly IkeSaInfo[]): string {
  return sas.map((s) => `${s.uniqueId} ${s.state} ${s.initiatorSpi}/${s.responderSpi} ` +
    s.children.map((c) => `${c.uniqueId}:${c.spiIn}/${c.spiOut}`).join(',')).join(' | ');
}

describe.skipIf(skip)(`HA active-standby with a strongSwan peer${skipLabel(canRunNetns, hasStrongSwan, built)}`, () => {
  let topo: HaTopology;
  let swan: StrongSwanHandle;
  let a0: DaemonHandle;
  let a1: DaemonHandle;
  const cfg = haPairConfig();

  beforeAll(async () => {
    topo = await createHaTopology('hasw');
    // startStrongSwan only needs spawn() from the topology.
    const adapter = { spawn: (ns: string, cmd: string, args: readonly string[], opts?: Parameters<typeof spawnIn>[3]) => spawnIn(ns, cmd, args, opts) } as unknown as Topology;
    swan = await startStrongSwan(adapter, topo.ns.gwB, {
      localAddress: HA_ADDR.gwBWan, remoteAddress: HA_ADDR.floatPublic, localTs: ['10.2.0.0/24'], remoteTs: ['10.1.0.0/24'],
      psk: 'vgw-ha-psk', dpdDelay: 2, stateDir: `/tmp/vgw-netns/strongswan/${topo.ns.gwB}`,
    });
    a0 = await startDaemon(topo, topo.ns.gwA0, cfg, 'gwA-0');
    await waitRole(a0, 'active');
    a1 = await startDaemon(topo, topo.ns.gwA1, cfg, 'gwA-1');
    await waitRole(a1, 'standby');
    await waitFor(async () => (await a0.connection(CONN)).state === 'Connected', 20_000, 100, 'tunnel up on the active');
    await swan.waitForChild(undefined, 10_000);
    await waitFor(async () => (await a1.status()).ha?.replication.shadowChildSas === 1, 5_000, 50, 'standby to hold the replicated Child SA');
  }, 60_000);

  afterAll(async () => {
    await swan?.stop();
    await topo?.destroy();
  }, 30_000);

  it('carries traffic through the active instance', async () => {
    const r = await ping(topo.ns.hostA, HA_ADDR.hostB, { count: 3, intervalS: 0.2, timeoutS: 3 });
    expect(r.received, r.output).toBe(3);
    expect(await swan.listSas()).toHaveLength(1);
  });

  it('kill -9 of the active: strongSwan sees no new handshake, no rekey, and its DPD keeps being answered', async () => {
    const before = identity(await swan.listSas());
    const rekeys = swan.rekeyCounts();
    const pinger = ping(topo.ns.hostA, HA_ADDR.hostB, { count: 150, intervalS: 0.02, timeoutS: 2 });
    await new Promise((r) => setTimeout(r, 800));
    a0.process.kill('SIGKILL');
    await waitRole(a1, 'active', 5_000);
    const r = await pinger;
    expect(r.received, r.output).toBeGreaterThan(100);
    const after = await ping(topo.ns.hostA, HA_ADDR.hostB, { count: 5, intervalS: 0.1, timeoutS: 2 });
    expect(after.received).toBe(5);
    // Both directions: hostB → hostA through strongSwan's CHILD_SA into the new active.
    const back = await ping(topo.ns.hostB, HA_ADDR.hostA, { count: 3, intervalS: 0.1, timeoutS: 2 });
    expect(back.received).toBe(3);
    expect(identity(await swan.listSas())).toBe(before);
    // Three DPD rounds (2 s) against the new active: same IKE SA, still established.
    await new Promise((r) => setTimeout(r, 6_500));
    expect(identity(await swan.listSas())).toBe(before);
    expect(swan.rekeyCounts()).toEqual(rekeys);
    expect(swan.log()).not.toMatch(/deleting IKE_SA|giving up after \d+ retransmits/);
    expect((await a1.status()).ha?.lastFailover).toMatchObject({ kind: 'unplanned', role: 'took-over', ikeSas: 1, childSas: 1, incomplete: [] });
  }, 40_000);

  it('the old active rejoins as standby, then a planned switchover back: still the same SAs at strongSwan', async () => {
    const before = identity(await swan.listSas());
    a0 = await startDaemon(topo, topo.ns.gwA0, cfg, 'gwA-0', 'gwA0-again');
    await waitRole(a0, 'standby');
    await waitFor(async () => (await a0.status()).ha?.replication.shadowChildSas === 1, 5_000, 50, 'rejoined standby to get the state');
    const pinger = ping(topo.ns.hostA, HA_ADDR.hostB, { count: 100, intervalS: 0.02, timeoutS: 2 });
    await new Promise((r) => setTimeout(r, 500));
    const rep = (await a1.request('failover', {}, 10_000)) as { role: string; incomplete: string[] };
    expect(rep).toMatchObject({ role: 'handed-over', incomplete: [] });
    await waitRole(a0, 'active', 3_000);
    const r = await pinger;
    expect(r.received).toBeGreaterThanOrEqual(90);
    await new Promise((r2) => setTimeout(r2, 4_500));
    expect(identity(await swan.listSas())).toBe(before);
    const back = await ping(topo.ns.hostB, HA_ADDR.hostA, { count: 3, intervalS: 0.1, timeoutS: 2 });
    expect(back.received).toBe(3);
  }, 40_000);
});
