/**
 * Active-standby HA pair of real vgwd processes against a vgwd peer:
 *
 *   hostA ── LAN bridge ──┬── gwA0 (vgwd --instance gwA-0) ──┬── WAN bridge ── gwB (vgwd) ── hostB
 *                         └── gwA1 (vgwd --instance gwA-1) ──┘
 *
 * The active holds 192.0.2.1 (IKE/ESP) and 10.1.0.1 (hostA's next hop).
 * Asserts recovery and state (same SPIs, no new handshake at the peer);
 * timings are bench/failover.ts's business.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { canRunNetns, requireOrSkip, skipLabel, type Prerequisite } from '../helpers/env.js';
import { ping } from './lib/traffic.js';
import { waitFor } from './lib/wait.js';
import { builtOk } from './lib/vgwd.js';
import {
  createHaTopology, haPairConfig, HA_ADDR, ikeSaInitCount, peerConfig, startDaemon, waitRole, type DaemonHandle, type HaTopology,
} from './lib/ha-topology.js';

const built: Prerequisite = { name: 'build', ...builtOk() };
const skip = requireOrSkip(canRunNetns, built);
const CONN = 'gwA-to-siteB';
const PEER_CONN = 'gwB-to-siteA0';

async function spis(h: DaemonHandle, conn: string): Promise<{ ike: string; child: string }> {
  const c = await h.connection(conn);
  return { ike: `${c.ikeSa?.spiI}/${c.ikeSa?.spiR}`, child: c.childSas.map((x) => `${x.spiIn}/${x.spiOut}`).sort().join(',') };
}

describe.skipIf(skip)(`HA active-standby with a vgwd peer${skipLabel(canRunNetns, built)}`, () => {
  let topo: HaTopology;
  let a0: DaemonHandle;
  let a1: DaemonHandle;
  let b: DaemonHandle;
  const cfg = haPairConfig();

  beforeAll(async () => {
    topo = await createHaTopology('has');
    b = await startDaemon(topo, topo.ns.gwB, peerConfig([HA_ADDR.floatPublic]));
    a0 = await startDaemon(topo, topo.ns.gwA0, cfg, 'gwA-0');
    await waitRole(a0, 'active');
    a1 = await startDaemon(topo, topo.ns.gwA1, cfg, 'gwA-1');
    await waitRole(a1, 'standby');
    await waitFor(async () => (await a0.connection(CONN)).state === 'Connected', 20_000, 100, 'tunnel up on the active');
    await waitFor(async () => (await a1.status()).ha?.replication.shadowChildSas === 1, 5_000, 50, 'standby to hold the replicated Child SA');
  }, 60_000);

  afterAll(async () => { await topo?.destroy(); }, 30_000);

  it('elects gwA-0 active, gwA-1 standby with a full shadow, and carries traffic', async () => {
    const st0 = await a0.status();
    const st1 = await a1.status();
    expect(st0.ha?.role).toBe('active');
    expect(st0.ha?.floatingAddresses.sort()).toEqual([HA_ADDR.floatPrivate, HA_ADDR.floatPublic].sort());
    expect(st0.ha?.partner).toMatchObject({ name: 'gwA-1', role: 'standby', linkUp: true });
    expect(st1.ha?.role).toBe('standby');
    expect(st1.ha?.floatingAddresses).toEqual([]);
    expect(st1.ha?.replication.shadowIkeSas).toBe(1);
    const r = await ping(topo.ns.hostA, HA_ADDR.hostB, { count: 3, intervalS: 0.2, timeoutS: 3 });
    expect(r.received).toBe(3);
  });

  it('kill -9 of the active: the standby carries on with the same SPIs and no new handshake at the peer', async () => {
    const before = await spis(a0, CONN);
    const peerBefore = await spis(b, PEER_CONN);
    const initsBefore = ikeSaInitCount(b.log());
    const pinger = ping(topo.ns.hostA, HA_ADDR.hostB, { count: 150, intervalS: 0.02, timeoutS: 2 });
    await new Promise((r) => setTimeout(r, 800));
    a0.process.kill('SIGKILL');
    const st = await waitRole(a1, 'active', 5_000);
    expect(st.ha?.epoch).toBeGreaterThan(1);
    const r = await pinger;
    // Traffic resumed: the tail of the stream got through.
    const after = await ping(topo.ns.hostA, HA_ADDR.hostB, { count: 5, intervalS: 0.1, timeoutS: 2 });
    expect(after.received).toBe(5);
    expect(r.received).toBeGreaterThan(100);
    expect(await spis(a1, CONN)).toEqual(before);
    expect(await spis(b, PEER_CONN)).toEqual(peerBefore);
    expect(ikeSaInitCount(b.log())).toBe(initsBefore);
    const last = (await a1.status()).ha?.lastFailover;
    expect(last).toMatchObject({ kind: 'unplanned', role: 'took-over', ikeSas: 1, childSas: 1, incomplete: [] });
    expect(a1.log()).toMatch(/"event":"failover"/);
  }, 30_000);

  it('the old active comes back as standby without disturbing traffic', async () => {
    const pinger = ping(topo.ns.hostA, HA_ADDR.hostB, { count: 100, intervalS: 0.02, timeoutS: 2 });
    a0 = await startDaemon(topo, topo.ns.gwA0, cfg, 'gwA-0', 'gwA0-again');
    await waitRole(a0, 'standby');
    const r = await pinger;
    expect(r.received).toBe(100);
    await waitFor(async () => (await a0.status()).ha?.replication.shadowChildSas === 1, 5_000, 50, 'rejoined standby to get the state');
    expect((await a1.status()).ha?.role).toBe('active');
    // Stale floating addresses from the killed run were removed at start.
    const addrs = await topo.exec(topo.ns.gwA0, 'ip', ['-4', '-o', 'addr', 'show']);
    expect(addrs.stdout).not.toContain(`${HA_ADDR.floatPublic}/32`);
  }, 30_000);

  it('planned switchover (vgw failover): no handshake, same SPIs, the stream keeps flowing', async () => {
    const before = await spis(a1, CONN);
    const initsBefore = ikeSaInitCount(b.log());
    const pinger = ping(topo.ns.hostA, HA_ADDR.hostB, { count: 100, intervalS: 0.02, timeoutS: 2 });
    await new Promise((r) => setTimeout(r, 500));
    const rep = (await a1.request('failover', {}, 10_000)) as { role: string; incomplete: string[] };
    expect(rep.role).toBe('handed-over');
    expect(rep.incomplete).toEqual([]);
    await waitRole(a0, 'active', 3_000);
    await waitRole(a1, 'standby', 3_000);
    const r = await pinger;
    // A gap of a few 20 ms pings at most; the exact figure is bench/failover.ts business.
    expect(r.received).toBeGreaterThanOrEqual(90);
    expect(await spis(a0, CONN)).toEqual(before);
    expect(ikeSaInitCount(b.log())).toBe(initsBefore);
    expect((await a0.status()).ha?.lastFailover).toMatchObject({ kind: 'planned', role: 'took-over', childSas: 1 });
  }, 30_000);
});
