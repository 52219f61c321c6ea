/**
 * A point-to-site client across active-standby failovers:
 *
 *   hostA 10.1.0.2 ── LAN ──┬── gwA0 (vgwd --instance gwA-0) ──┬── WAN ── client 192.0.2.50 (vgw client)
 *   (pool via 10.1.0.1)     └── gwA1 (vgwd --instance gwA-1) ──┘
 *
 * The active replicates the client's IKE SA, Child SA, leased address and
 * certificate identity; the standby adopts them on takeover. The client keeps
 * its SA (same SPIs, no reconnect), its address, and reaches the VNet again;
 * the new active lists it among its point-to-site clients.
 */
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { canRunNetns, requireOrSkip, skipLabel, type Prerequisite } from '../helpers/env.js';
import { ping } from './lib/traffic.js';
import { waitFor } from './lib/wait.js';
import { builtOk, VGW } from './lib/vgwd.js';
import { mustRun, run } from './lib/proc.js';
import { controlRequest } from '../../daemon/control.js';
import type { ClientStatus } from '../../daemon/client/vpn-client.js';
import { makePki, p2sGatewayConfig, POOL, type P2sClientsStatus, type P2sPki } from './p2s-fixtures.js';
import { configPathOf, createHaTopology, HA_ADDR, startDaemon, waitRole, type DaemonHandle, type HaTopology } from './lib/ha-topology.js';

const built: Prerequisite = { name: 'build', ...builtOk() };
const p2sClients = async (h: DaemonHandle): Promise<P2sClientsStatus> => (await h.request('p2s-status')) as P2sClientsStatus;
const skip = requireOrSkip(canRunNetns, built);

function haP2sConfig(pki: P2sPki): Record<string, unknown> {
  const base = p2sGatewayConfig(pki, '/unused.sock') as { gateway: Record<string, unknown>; runtime: Record<string, unknown> };
  return {
    gateway: {
      ...base.gateway, activeActive: false, privateIpAddress: HA_ADDR.floatPrivate,
      instances: [{ name: 'gwA-0', haAddress: HA_ADDR.gwA0Lan }, { name: 'gwA-1', haAddress: HA_ADDR.gwA1Lan }],
    },
    runtime: { tunName: 'vgw0', logLevel: 'debug' },
  };
}

describe.skipIf(skip)(`point-to-site client across HA failovers${skipLabel(canRunNetns, built)}`, () => {
  let topo: HaTopology;
  let pki: P2sPki;
  let a0: DaemonHandle;
  let a1: DaemonHandle;
  let clientSocket = '';
  let clientProc: ReturnType<HaTopology['spawn']>;
  let cfg: Record<string, unknown>;
  const clientStatus = async (): Promise<ClientStatus> => (await controlRequest(clientSocket, 'status')) as ClientStatus;

  beforeAll(async () => {
    pki = makePki();
    cfg = haP2sConfig(pki);
    topo = await createHaTopology('hap2s', { p2sClient: true });
    await mustRun('ip', ['-n', topo.ns.hostA, 'route', 'add', POOL, 'via', HA_ADDR.floatPrivate]);
    a0 = await startDaemon(topo, topo.ns.gwA0, cfg, 'gwA-0');
    await waitRole(a0, 'active');
    a1 = await startDaemon(topo, topo.ns.gwA1, cfg, 'gwA-1');
    await waitRole(a1, 'standby');

    const dir = mkdtempSync(join(tmpdir(), 'vgwc-ha-'));
    const c = pki.client('alice.p2s.test', { keyType: 'ecdsa' });
    writeFileSync(join(dir, 'user.pem'), c.certPem);
    writeFileSync(join(dir, 'user.key'), c.keyPem);
    const exp = await run(process.execPath, [VGW, 'client', 'export-profile', '--gateway-config', configPathOf(a0),
      '--cert', join(dir, 'user.pem'), '--key', join(dir, 'user.key'), '--out', join(dir, 'profile')]);
    expect(exp.code, exp.stdout + exp.stderr).toBe(0);
    clientSocket = join(dir, 'client.sock');
    clientProc = topo.spawn(topo.ns.client, process.execPath, [VGW, 'client', 'connect', '--profile', join(dir, 'profile', 'profile.yaml'),
      '--client-socket', clientSocket, '--log-level', 'debug'], join(dir, 'client.log'));
    await waitFor(async () => {
      if (clientProc.hasExited()) throw new Error(`vgw client exited:\n${clientProc.output().slice(-3000)}`);
      const s = await clientStatus().catch(() => undefined);
      return s?.state === 'Connected' && s.address ? s : undefined;
    }, 30_000, 200, 'vgw client to connect');
    await waitFor(async () => (await a1.status()).ha?.replication.shadowChildSas === 1, 5_000, 50, 'standby to hold the client Child SA');
  }, 90_000);

  afterAll(async () => { await topo?.destroy(); }, 30_000);

  it('the client reaches the VNet through the active instance', async () => {
    const r = await ping(topo.ns.client, HA_ADDR.hostA, { count: 3, intervalS: 0.2, timeoutS: 3 });
    expect(r.received, r.output).toBe(3);
    expect((await p2sClients(a0)).clients.map((c) => c.identity)).toEqual(['alice.p2s.test']);
  });

  it('kill -9 of the active: the client keeps its SA, its address and its session', async () => {
    const before = await clientStatus();
    const pinger = ping(topo.ns.client, HA_ADDR.hostA, { count: 150, intervalS: 0.02, timeoutS: 2 });
    await new Promise((r) => setTimeout(r, 800));
    a0.process.kill('SIGKILL');
    await waitRole(a1, 'active', 5_000);
    const r = await pinger;
    expect(r.received, r.output).toBeGreaterThan(100);
    const after = await ping(topo.ns.client, HA_ADDR.hostA, { count: 5, intervalS: 0.1, timeoutS: 2 });
    expect(after.received).toBe(5);
    const now = await clientStatus();
    expect(now).toMatchObject({ state: 'Connected', address: before.address, connects: before.connects });
    expect(now.ikeSa?.spiI).toBe(before.ikeSa?.spiI);
    expect(now.ikeSa?.spiR).toBe(before.ikeSa?.spiR);
    // The new active knows the client: lease and identity came with the SA.
    const clients = await p2sClients(a1);
    expect(clients.clients).toEqual([expect.objectContaining({ identity: 'alice.p2s.test', address: before.address })]);
    expect(clients.leased).toBe(1);
    expect((await a1.status()).ha?.lastFailover).toMatchObject({ role: 'took-over', ikeSas: 1, childSas: 1, incomplete: [] });
  }, 40_000);

  it('the old active rejoins, then a planned switchover back: the client still keeps its SA', async () => {
    const before = await clientStatus();
    a0 = await startDaemon(topo, topo.ns.gwA0, cfg, 'gwA-0', 'gwA0-again');
    await waitRole(a0, 'standby');
    await waitFor(async () => (await a0.status()).ha?.replication.shadowChildSas === 1, 5_000, 50, 'rejoined standby to get the state');
    const pinger = ping(topo.ns.client, HA_ADDR.hostA, { count: 100, intervalS: 0.02, timeoutS: 2 });
    await new Promise((r) => setTimeout(r, 500));
    const rep = (await a1.request('failover', {}, 10_000)) as { role: string; incomplete: string[] };
    expect(rep).toMatchObject({ role: 'handed-over', incomplete: [] });
    await waitRole(a0, 'active', 3_000);
    const r = await pinger;
    expect(r.received).toBeGreaterThanOrEqual(90);
    const now = await clientStatus();
    expect(now).toMatchObject({ state: 'Connected', address: before.address, connects: before.connects });
    expect(now.ikeSa?.spiI).toBe(before.ikeSa?.spiI);
    expect((await p2sClients(a0)).clients.map((c) => c.address)).toEqual([before.address]);
  }, 40_000);
});
