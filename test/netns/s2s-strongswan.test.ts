/**
 * Interop with a stock strongSwan 5.9 (charon + kernel-libipsec, encap = yes):
 *
 *   hostA ── gwA(vgwd 192.0.2.1) ═══ IKEv2 + ESP-in-UDP ═══ gwB(charon 192.0.2.2) ── hostB
 *
 * vgwd as initiator and as responder, several proposal combinations, and
 * rekeys started from either side while traffic flows.
 */
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { canRunNetns, hasStrongSwan, requireOrSkip, skipLabel, type Prerequisite } from '../helpers/env.js';
import { createSiteToSite, ping, tcpTransfer, waitFor, type SiteToSiteTopology } from './lib/topology.js';
import { startStrongSwan, type StrongSwanHandle, type StrongSwanOptions } from './lib/strongswan.js';
import { builtOk, startVgwd, waitConnected, type VgwdHandle, type GatewaySpec } from './lib/vgwd.js';

const built: Prerequisite = { name: 'build', ...builtOk() };
const skip = requireOrSkip(canRunNetns, hasStrongSwan, built);
const PSK = 'interop-test-psk';
const CONN = 'gwA-to-siteB';

function vgwdSpec(over: Partial<GatewaySpec> = {}): GatewaySpec {
  return {
    name: 'gwA', publicIpAddress: '192.0.2.1', addressSpace: ['10.1.0.0/24'], sharedKey: PSK,
    sites: [{ name: 'siteB', gatewayIpAddress: '192.0.2.2', addressPrefixes: ['10.2.0.0/24'] }], ...over,
  };
}

function swanOpts(over: Partial<StrongSwanOptions> = {}): StrongSwanOptions {
  return {
    localAddress: '192.0.2.2', remoteAddress: '192.0.2.1', localTs: ['10.2.0.0/24'], remoteTs: ['10.1.0.0/24'],
    psk: PSK, ...over,
  };
}

async function assertTraffic(topo: SiteToSiteTopology): Promise<void> {
  const r = await ping(topo.ns.hostA, '10.2.0.2', { count: 3, intervalS: 0.2, timeoutS: 3 });
  expect(r.received, r.output).toBe(3);
  const r2 = await ping(topo.ns.hostB, '10.1.0.2', { count: 3, intervalS: 0.2, timeoutS: 3 });
  expect(r2.received, r2.output).toBe(3);
}

describe.skipIf(skip)(`interop with strongSwan${skipLabel(canRunNetns, hasStrongSwan, built)}`, () => {
  let topo: SiteToSiteTopology;
  let swan: StrongSwanHandle | undefined;
  let vgwd: VgwdHandle | undefined;

  beforeAll(async () => { topo = await createSiteToSite('vswan'); }, 30_000);
  afterEach(async () => {
    await vgwd?.stop(); vgwd = undefined;
    await swan?.stop(); swan = undefined;
  }, 20_000);
  afterAll(async () => { await topo?.destroy(); }, 30_000);

  // [strongSwan IKE proposal, strongSwan ESP proposal, vgwd ipsecPolicies or defaults]
  const combos: Array<[string, string, GatewaySpec['ipsecPolicies'] | undefined, string, string]> = [
    ['aes256gcm16-prfsha256-x25519', 'aes256gcm16', undefined, 'AES_GCM_16-256', 'AES_GCM_16-256'],
    ['aes128gcm16-prfsha256-ecp256', 'aes128gcm16', undefined, 'AES_GCM_16-128', 'AES_GCM_16-128'],
    ['aes256-sha256-modp2048', 'aes256-sha256', undefined, 'AES_CBC-256', 'AES_CBC-256'],
    ['aes256gcm16-prfsha384-ecp384', 'aes256gcm16-ecp384',
      [{ ikeEncryption: 'GCMAES256', ikeIntegrity: 'SHA384', dhGroup: 'ECP384', ipsecEncryption: 'GCMAES256', ipsecIntegrity: 'GCMAES256', pfsGroup: 'ECP384', saLifeTimeSeconds: 27000, saDataSizeKilobytes: 102400000 }],
      'AES_GCM_16-256', 'AES_GCM_16-256'],
  ];

  for (const [ike, esp, policies, ikeName, espName] of combos) {
    it(`vgwd initiates to strongSwan: ${ike} / ${esp}`, async () => {
      swan = await startStrongSwan(topo, topo.ns.gwB, swanOpts({ ikeProposal: ike, espProposal: esp }));
      vgwd = await startVgwd(topo, topo.ns.gwA, vgwdSpec({ connectionMode: 'InitiatorOnly', ...(policies ? { ipsecPolicies: policies } : {}) }));
      const st = await waitConnected(vgwd, CONN);
      expect(st.ikeSa?.encryption).toBe(ikeName);
      expect(st.childSas[0]?.encryption).toBe(espName);
      const sas = await swan.listSas();
      expect(sas[0]?.state).toBe('ESTABLISHED');
      expect(sas[0]?.children[0]?.encap).toBe(true);
      await assertTraffic(topo);
      if (policies) {
        // PFS rekey from our side, then from strongSwan's.
        await vgwd.request('rekey', { connection: CONN, what: 'child' });
        await waitFor(async () => (await vgwd?.connection(CONN))?.childSas.length === 1 &&
          (await vgwd?.connection(CONN))?.childSas[0]?.spiIn !== st.childSas[0]?.spiIn, 10_000, 200, 'PFS child rekey');
        await assertTraffic(topo);
      }
    }, 60_000);
  }

  it('strongSwan initiates to vgwd (responder), then rekeys Child and IKE SAs during traffic', async () => {
    vgwd = await startVgwd(topo, topo.ns.gwA, vgwdSpec({ connectionMode: 'ResponderOnly' }));
    swan = await startStrongSwan(topo, topo.ns.gwB, swanOpts());
    const init = await swan.initiate();
    expect(init.ok, init.stdout + init.stderr).toBe(true);
    const st = await waitConnected(vgwd, CONN);
    expect(st.ikeSa?.initiator).toBe(false);
    await assertTraffic(topo);
    const pinger = ping(topo.ns.hostA, '10.2.0.2', { count: 80, intervalS: 0.05, timeoutS: 10 });
    await new Promise((r) => setTimeout(r, 800));
    expect((await swan.rekey({ child: 'net' })).ok).toBe(true);
    await new Promise((r) => setTimeout(r, 1000));
    expect((await swan.rekey({ ike: 's2s' })).ok).toBe(true);
    await new Promise((r) => setTimeout(r, 1000));
    await vgwd.request('rekey', { connection: CONN, what: 'child' });
    const r = await pinger;
    // Allow one lost echo around a rekey the peer started (strongSwan switches outbound at once).
    expect(r.received, r.output).toBeGreaterThanOrEqual(79);
    const after = await waitFor(async () => {
      const s = await vgwd?.connection(CONN);
      return s && s.childSas.length === 1 ? s : undefined;
    }, 10_000, 200, 'one Child SA after rekeys');
    expect(after.ikeSa?.spiI).not.toBe(st.ikeSa?.spiI);
    const sas = await swan.listSas();
    expect(sas).toHaveLength(1);
    // charon keeps rekeyed inbound SAs for delete_rekeyed_delay (5 s) in state DELETED.
    const live = sas[0]?.children.filter((c) => c.state === 'INSTALLED') ?? [];
    expect(live, JSON.stringify(sas[0]?.children)).toHaveLength(1);
    expect(live[0]?.spiIn).toBe(after.childSas[0]?.spiOut);
    const t = await tcpTransfer(topo.ns.hostB, topo.ns.hostA, '10.1.0.2', 4 * 1024 * 1024, { method: 'node', timeoutMs: 30_000 });
    expect(t.ok, t.detail).toBe(true);
  }, 60_000);

  it('a wrong PSK is refused with AUTHENTICATION_FAILED and logged on our side', async () => {
    vgwd = await startVgwd(topo, topo.ns.gwA, vgwdSpec({ connectionMode: 'ResponderOnly', sharedKey: 'not-the-same' }));
    swan = await startStrongSwan(topo, topo.ns.gwB, swanOpts());
    const init = await swan.initiate();
    expect(init.ok).toBe(false);
    expect(swan.log()).toMatch(/received AUTHENTICATION_FAILED notify error/);
    const st = await vgwd.connection(CONN);
    expect(st.lastError).toMatch(/shared keys differ/);
  }, 40_000);
});
