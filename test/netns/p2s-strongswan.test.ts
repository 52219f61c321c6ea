/**
 * strongSwan as a point-to-site road-warrior client of vgwd:
 *
 *   hostA 10.1.0.2 ── gwA (vgwd, 192.0.2.1, pool 172.16.201.0/24) ═══ gwB (charon, vips = 0.0.0.0)
 *
 * charon authenticates with an ECDSA client certificate (AUTH method 14),
 * gets an address from our pool by CP, and pings a VNet host.
 */
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { canRunNetns, hasStrongSwan, requireOrSkip, skipLabel, type Prerequisite } from '../helpers/env.js';
import { createSiteToSite, ping, waitFor, type SiteToSiteTopology } from './lib/topology.js';
import { builtOk } from './lib/vgwd.js';
import { startStrongSwanRw, type StrongSwanRwHandle } from './lib/strongswan-rw.js';
import { GW_ID, makePki, p2sClients, startP2sGateway, type P2sGatewayHandle, type P2sPki } from './p2s-fixtures.js';

const built: Prerequisite = { name: 'build', ...builtOk() };
const skip = requireOrSkip(canRunNetns, hasStrongSwan, built);

describe.skipIf(skip)(`strongSwan road warrior against vgwd P2S${skipLabel(canRunNetns, hasStrongSwan, built)}`, () => {
  let topo: SiteToSiteTopology;
  let pki: P2sPki;
  let gw: P2sGatewayHandle | undefined;
  let swan: StrongSwanRwHandle | undefined;

  beforeAll(async () => {
    pki = makePki();
    topo = await createSiteToSite('p2ssw');
    // The VNet host answers the client pool through its gateway.
    await topo.mustExec(topo.ns.hostA, 'ip', ['route', 'add', '172.16.201.0/24', 'via', topo.addr.gwALan]);
  }, 60_000);
  afterEach(async () => {
    await swan?.stop(); swan = undefined;
    await gw?.stop(); gw = undefined;
  }, 20_000);
  afterAll(async () => { await topo?.destroy(); }, 30_000);

  const startSwan = async (user: string, keyType: 'rsa' | 'ecdsa', fragmentation: 'yes' | 'force' = 'yes') => {
    const c = pki.client(user, { keyType });
    return startStrongSwanRw(topo, topo.ns.gwB, {
      localAddress: topo.addr.gwBWan, gatewayAddress: topo.addr.gwAWan, localId: user, gatewayId: GW_ID,
      remoteTs: ['10.1.0.0/24'], clientCertPem: c.certPem, clientKeyPem: c.keyPem, caCertPem: pki.ca.certPem, fragmentation,
    });
  };

  it('gets an address from the pool and pings a VNet host (ECDSA client cert)', async () => {
    gw = await startP2sGateway(topo, topo.ns.gwA, pki, { dnsServers: ['10.1.0.53'] });
    swan = await startSwan('carol.p2s.test', 'ecdsa');
    const init = await swan.initiate();
    expect(init.ok, `${init.stdout}${init.stderr}\n--- vgwd ---\n${gw.log().slice(-3000)}`).toBe(true);
    expect(swan.log()).toMatch(/installing new virtual IP 172\.16\.201\.\d+/);
    const sas = await swan.listSas();
    expect(sas[0]?.children[0]?.localTs[0]).toMatch(/^172\.16\.201\.\d+\/32$/);
    const st = await p2sClients(gw);
    expect(st.clients).toHaveLength(1);
    expect(st.clients[0]?.identity).toBe('carol.p2s.test');
    const r = await ping(topo.ns.gwB, topo.addr.hostA, { count: 3, intervalS: 0.2, timeoutS: 3 });
    expect(r.received, r.output).toBe(3);
  }, 60_000);

  it('RSA client cert with forced IKE fragmentation (RFC 7383) also works', async () => {
    gw = await startP2sGateway(topo, topo.ns.gwA, pki);
    swan = await startSwan('dave.p2s.test', 'rsa', 'force');
    const init = await swan.initiate();
    expect(init.ok, `${init.stdout}${init.stderr}\n--- vgwd ---\n${gw.log().slice(-3000)}`).toBe(true);
    expect(swan.log() + init.stdout).toMatch(/split into \d+ fragments|fragment/i);
    const r = await ping(topo.ns.gwB, topo.addr.hostA, { count: 2, intervalS: 0.2, timeoutS: 3 });
    expect(r.received, r.output).toBe(2);
  }, 60_000);

  it('a revoked certificate is refused and named by thumbprint in the log; revoking live tears the SA down', async () => {
    const c = pki.client('erin.p2s.test', { keyType: 'ecdsa' });
    gw = await startP2sGateway(topo, topo.ns.gwA, pki);
    swan = await startStrongSwanRw(topo, topo.ns.gwB, {
      localAddress: topo.addr.gwBWan, gatewayAddress: topo.addr.gwAWan, localId: 'erin.p2s.test', gatewayId: GW_ID,
      remoteTs: ['10.1.0.0/24'], clientCertPem: c.certPem, clientKeyPem: c.keyPem, caCertPem: pki.ca.certPem,
    });
    expect((await swan.initiate()).ok).toBe(true);
    gw.rewriteConfig({ revoked: [{ name: 'erin-laptop', thumbprint: c.thumbprint.toLowerCase() }] });
    const res = (await gw.request('reload')) as { pointToSite: { disconnected: Array<{ thumbprint: string }> } };
    expect(res.pointToSite.disconnected.map((d) => d.thumbprint)).toEqual([c.thumbprint]);
    await waitFor(async () => (await swan!.listSas()).length === 0, 10_000, 200, 'charon to lose its IKE SA');
    await waitFor(async () => (await p2sClients(gw!)).leased === 0, 5_000, 200, 'address released');
    const again = await swan.initiate(10);
    expect(again.ok).toBe(false);
    expect(swan.log()).toMatch(/AUTHENTICATION_FAILED/);
    expect(gw.log()).toContain(c.thumbprint);
  }, 60_000);
});
