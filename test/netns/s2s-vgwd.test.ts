/**
 * End to end, two real vgwd processes in namespaces:
 *
 *   hostA ── gwA(vgwd 192.0.2.1) ═══ IKEv2 + ESP-in-UDP ═══ gwB(vgwd 192.0.2.2) ── hostB
 *   10.1.0.2                                                                     10.2.0.2
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { canRunNetns, requireOrSkip, skipLabel, type Prerequisite } from '../helpers/env.js';
import { createSiteToSite, ping, tcpTransfer, waitFor, type SiteToSiteTopology } from './lib/topology.js';
import { builtOk, startVgwd, waitConnected, type VgwdHandle, type GatewaySpec } from './lib/vgwd.js';

const built: Prerequisite = { name: 'build', ...builtOk() };
const skip = requireOrSkip(canRunNetns, built);

const A_CONN = 'gwA-to-siteB';
const B_CONN = 'gwB-to-siteA';

function specA(over: Partial<GatewaySpec> = {}): GatewaySpec {
  return {
    name: 'gwA', publicIpAddress: '192.0.2.1', addressSpace: ['10.1.0.0/24'],
    sites: [{ name: 'siteB', gatewayIpAddress: '192.0.2.2', addressPrefixes: ['10.2.0.0/24'] }], ...over,
  };
}
function specB(over: Partial<GatewaySpec> = {}): GatewaySpec {
  return {
    name: 'gwB', publicIpAddress: '192.0.2.2', addressSpace: ['10.2.0.0/24'],
    sites: [{ name: 'siteA', gatewayIpAddress: '192.0.2.1', addressPrefixes: ['10.1.0.0/24'] }], ...over,
  };
}

describe.skipIf(skip)(`site-to-site between two vgwd${skipLabel(canRunNetns, built)}`, () => {
  let topo: SiteToSiteTopology;
  let a: VgwdHandle;
  let b: VgwdHandle;

  beforeAll(async () => {
    topo = await createSiteToSite('vs2s');
    b = await startVgwd(topo, topo.ns.gwB, specB());
    a = await startVgwd(topo, topo.ns.gwA, specA());
    await waitConnected(a, A_CONN);
    await waitConnected(b, B_CONN);
  }, 60_000);

  afterAll(async () => {
    await topo?.destroy();
  }, 30_000);

  it('pings across the tunnel both ways', async () => {
    const r = await ping(topo.ns.hostA, '10.2.0.2', { count: 3, intervalS: 0.2, timeoutS: 5 });
    expect(r.received).toBe(3);
    const r2 = await ping(topo.ns.hostB, '10.1.0.2', { count: 3, intervalS: 0.2, timeoutS: 5 });
    expect(r2.received).toBe(3);
    const st = await a.connection(A_CONN);
    expect(st.ingressPackets).toBeGreaterThanOrEqual(6);
    expect(st.egressPackets).toBeGreaterThanOrEqual(6);
    expect(st.ikeSa?.encryption).toBe('AES_GCM_16-256');
    expect(st.ikeSa?.remoteEndpoint).toBe('192.0.2.2:4500');
  });

  it('carries a TCP transfer intact (MSS/MTU handled without tuning)', async () => {
    const r = await tcpTransfer(topo.ns.hostA, topo.ns.hostB, '10.2.0.2', 8 * 1024 * 1024, { method: 'node', timeoutMs: 30_000 });
    expect(r.detail).toBe(r.ok ? r.detail : 'ok');
    expect(r.ok).toBe(true);
    expect(r.bytes).toBe(8 * 1024 * 1024);
  }, 40_000);

  it('rekeys the Child SA and the IKE SA during traffic without loss', async () => {
    const before = await a.connection(A_CONN);
    const pinger = ping(topo.ns.hostA, '10.2.0.2', { count: 60, intervalS: 0.05, timeoutS: 15 });
    await new Promise((r) => setTimeout(r, 700));
    await a.request('rekey', { connection: A_CONN, what: 'child' });
    await new Promise((r) => setTimeout(r, 700));
    await a.request('rekey', { connection: A_CONN, what: 'ike' });
    await new Promise((r) => setTimeout(r, 700));
    await b.request('rekey', { connection: B_CONN, what: 'child' });
    const r = await pinger;
    const after = await waitFor(async () => {
      const s = await a.connection(A_CONN);
      return s.childSas.length === 1 ? s : undefined;
    }, 10_000, 200, 'old Child SAs deleted');
    expect(after.childSas[0]?.spiIn).not.toBe(before.childSas[0]?.spiIn);
    expect(after.ikeSa?.spiI).not.toBe(before.ikeSa?.spiI);
    expect(after.state).toBe('Connected');
    expect(r.received).toBe(60);
    const bst = await b.connection(B_CONN);
    expect(bst.childSas).toHaveLength(1);
    expect(bst.childSas[0]?.spiOut).toBe(after.childSas[0]?.spiIn);
  }, 30_000);

  it('shows a stable status JSON and tears down with DELETE on SIGTERM', async () => {
    const st = await a.status();
    expect(st.gateway).toBe('gwA');
    const c = st.connections[0];
    expect(c && Object.keys(c).sort()).toEqual([
      'childSas', 'connectionMode', 'egressBytes', 'egressPackets', 'ikeSa', 'ingressBytes', 'ingressPackets',
      'lastError', 'localNetworkGateway', 'name', 'remoteAddress', 'state',
    ]);
    await a.stop();
    expect(a.process.hasExited()).toBe(true);
    // B hears the DELETE and drops its SAs at once (no waiting for DPD).
    await waitFor(async () => (await b.connection(B_CONN)).state === 'NotConnected', 5_000, 100, 'gwB to see the DELETE');
    expect(a.log()).toMatch(/gateway stopped/);
    expect(a.log()).not.toMatch(/vgw-test-psk/);
  }, 20_000);
});

describe.skipIf(skip)(`site-to-site with a wrong PSK${skipLabel(canRunNetns, built)}`, () => {
  let topo: SiteToSiteTopology;
  afterAll(async () => { await topo?.destroy(); }, 30_000);

  it('fails clearly on both sides and carries no traffic', async () => {
    topo = await createSiteToSite('vpsk');
    const b = await startVgwd(topo, topo.ns.gwB, specB({ sharedKey: 'the-right-key' }));
    const a = await startVgwd(topo, topo.ns.gwA, specA({ sharedKey: 'a-wrong-key', connectionMode: 'InitiatorOnly' }));
    const sa = await waitFor(async () => {
      const s = await a.connection(A_CONN);
      return s.lastError ? s : undefined;
    }, 15_000, 200, 'gwA to report the failure');
    expect(sa.lastError).toMatch(/AUTHENTICATION_FAILED/);
    expect(sa.state).not.toBe('Connected');
    const sb = await waitFor(async () => {
      const s = await b.connection(B_CONN);
      return s.lastError ? s : undefined;
    }, 5_000, 200, 'gwB to report the failure');
    expect(sb.lastError).toMatch(/shared keys differ/);
    expect(b.log()).toMatch(/authentication of '192.0.2.1' failed/);
    const r = await ping(topo.ns.hostA, '10.2.0.2', { count: 2, intervalS: 0.2, timeoutS: 2 });
    expect(r.received).toBe(0);
  }, 40_000);
});
