/**
 * `vgw client` against vgwd point-to-site, in namespaces:
 *
 *   hostA 10.1.0.2 ── gwA (vgwd 192.0.2.1, pool 172.16.201.0/24) ══ br0 ══ gwB (vgw client), gwC (vgw client)
 *
 * Profiles come from `vgw client export-profile`; clients are real
 * processes (bin/vgw.js) with their own TUN devices.
 */
import { appendFileSync, mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { canRunNetns, requireOrSkip, skipLabel, type Prerequisite } from '../helpers/env.js';
import { createMultiSite, ping, waitFor, type MultiSiteTopology, type ProcessHandle } from './lib/topology.js';
import { run } from './lib/proc.js';
import { builtOk, VGW } from './lib/vgwd.js';
import { controlRequest } from '../../daemon/control.js';
import type { ClientStatus } from '../../daemon/client/vpn-client.js';
import { makePki, p2sClients, startP2sGateway, type P2sGatewayHandle, type P2sPki } from './p2s-fixtures.js';

const built: Prerequisite = { name: 'build', ...builtOk() };
const skip = requireOrSkip(canRunNetns, built);

interface ClientHandle { proc: ProcessHandle; socket: string; status(): Promise<ClientStatus>; log: string }

describe.skipIf(skip)(`vgw client point-to-site${skipLabel(canRunNetns, built)}`, () => {
  let topo: MultiSiteTopology;
  let pki: P2sPki;
  let gw: P2sGatewayHandle | undefined;
  const clients: ClientHandle[] = [];

  beforeAll(async () => {
    pki = makePki();
    topo = await createMultiSite('p2scl');
    await topo.mustExec(topo.ns.hostA, 'ip', ['route', 'add', '172.16.201.0/24', 'via', topo.addr.gwALan]);
  }, 60_000);
  afterEach(async () => {
    for (const c of clients.splice(0)) await c.proc.stop(5000);
    await gw?.stop(); gw = undefined;
  }, 30_000);
  afterAll(async () => { await topo?.destroy(); }, 30_000);

  async function startClient(ns: string, user: string, o: { ca?: P2sPki['ca']; dpd?: number } = {}): Promise<ClientHandle> {
    const dir = mkdtempSync(join(tmpdir(), `vgwc-${user}-`));
    const c = pki.client(user, { keyType: 'ecdsa', ...(o.ca ? { ca: o.ca } : {}) });
    writeFileSync(join(dir, 'user.pem'), c.certPem);
    writeFileSync(join(dir, 'user.key'), c.keyPem);
    const exp = await run(process.execPath, [VGW, 'client', 'export-profile', '--gateway-config', gw!.configPath,
      '--cert', join(dir, 'user.pem'), '--key', join(dir, 'user.key'), '--out', join(dir, 'profile')]);
    expect(exp.code, exp.stdout + exp.stderr).toBe(0);
    if (o.dpd) appendFileSync(join(dir, 'profile', 'profile.yaml'), `dpdTimeoutSeconds: ${o.dpd}\n`);
    const socket = join(dir, 'client.sock');
    const log = join(dir, 'client.log');
    const proc = topo.spawn(ns, process.execPath, [VGW, 'client', 'connect', '--profile', join(dir, 'profile', 'profile.yaml'),
      '--client-socket', socket, '--log-level', 'debug'], { logFile: log });
    const h: ClientHandle = { proc, socket, log, status: async () => (await controlRequest(socket, 'status')) as ClientStatus };
    clients.push(h);
    await waitFor(async () => {
      if (proc.hasExited()) throw new Error(`vgw client exited:\n${proc.output().slice(-3000)}`);
      try { await h.status(); return true; } catch { return false; }
    }, 15_000, 200, 'vgw client control socket');
    return h;
  }

  const connected = (c: ClientHandle, ms = 20_000) => waitFor(async () => {
    const s = await c.status();
    return s.state === 'Connected' && s.address ? s : undefined;
  }, ms, 200, 'vgw client to connect').catch((e: Error) => { throw new Error(`${e.message}\n${c.proc.output().slice(-3000)}\n--- vgwd ---\n${gw?.log().slice(-3000)}`); });

  it('a client gets an address and pings a VNet host; two clients get distinct addresses', async () => {
    gw = await startP2sGateway(topo, topo.ns.gwA, pki, { customRoutes: ['10.50.0.0/16'] });
    const a = await startClient(topo.ns.gwB, 'alice.p2s.test');
    const b = await startClient(topo.ns.gwC, 'bob.p2s.test');
    const sa = await connected(a);
    const sb = await connected(b);
    expect(sa.address).toMatch(/^172\.16\.201\.\d+$/);
    expect(sb.address).toMatch(/^172\.16\.201\.\d+$/);
    expect(sa.address).not.toBe(sb.address);
    expect(sa.routes).toEqual(['10.1.0.0/24', '10.50.0.0/16']);
    for (const ns of [topo.ns.gwB, topo.ns.gwC]) {
      const r = await ping(ns, topo.addr.hostA, { count: 3, intervalS: 0.2, timeoutS: 3 });
      expect(r.received, r.output).toBe(3);
    }
    expect((await p2sClients(gw)).clients.map((c) => c.identity).sort()).toEqual(['alice.p2s.test', 'bob.p2s.test']);
  }, 90_000);

  it('a certificate from another CA is refused', async () => {
    gw = await startP2sGateway(topo, topo.ns.gwA, pki);
    const m = await startClient(topo.ns.gwB, 'mallory.p2s.test', { ca: pki.otherCa });
    await waitFor(async () => /AUTHENTICATION_FAILED/.test((await m.status()).lastError ?? ''), 15_000, 200, 'refusal');
    expect(gw.log()).toMatch(/authentication of 'mallory\.p2s\.test' failed: no trusted issuer/);
    expect((await p2sClients(gw)).clients).toHaveLength(0);
  }, 60_000);

  it('reconnects by itself after the gateway restarts (failover)', async () => {
    gw = await startP2sGateway(topo, topo.ns.gwA, pki);
    const a = await startClient(topo.ns.gwB, 'alice.p2s.test', { dpd: 9 });
    const before = await connected(a);
    await gw.stop();
    gw = await startP2sGateway(topo, topo.ns.gwA, pki);
    const after = await waitFor(async () => {
      const s = await a.status();
      return s.state === 'Connected' && s.ikeSa && s.ikeSa.spiI !== before.ikeSa?.spiI ? s : undefined;
    }, 40_000, 500, 'client to reconnect to the restarted gateway');
    expect(after.address).toMatch(/^172\.16\.201\.\d+$/);
    const r = await ping(topo.ns.gwB, topo.addr.hostA, { count: 3, intervalS: 0.2, timeoutS: 3 });
    expect(r.received, r.output).toBe(3);
  }, 90_000);
});
