/**
 * Multi-site transit: three vgwd gateways, all with BGP over their tunnels.
 *
 *                            ┌═══ gwB vgwd AS65050 peering 10.2.255.1, space 10.2.0.0/16 ── hostB 10.2.0.2
 *   hostA ── gwA vgwd AS65515 ═┤     (no static route to 10.3/16: learned from gwA)
 *   10.1.0.2  peering 10.1.255.30  └═══ gwC vgwd AS65060 peering 10.3.255.1, space 10.3.0.0/16 ── hostC 10.3.0.2
 *
 * gwB and gwC only know gwA's peering /32 statically; gwA only knows theirs.
 * Site B reaches site C through gwA (learned AS path 65515 65060), and when
 * gwA's tunnel to C goes down gwB loses C's routes.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { canRunNetns, requireOrSkip, skipLabel, type Prerequisite } from '../helpers/env.js';
import { createMultiSite, ping, waitFor, type MultiSiteTopology } from './lib/topology.js';
import { gwBuilt, gwConfig, kernelBgpRoutes, learned, peers, startGw, type Gw } from './bgp-gw-helpers.js';

const built: Prerequisite = { name: 'build', ...gwBuilt() };
const skip = requireOrSkip(canRunNetns, built);

const HUB = { asn: 65515, peeringAddress: '10.1.255.30' };
const B = { asn: 65050, peeringAddress: '10.2.255.1' };
const C = { asn: 65060, peeringAddress: '10.3.255.1' };

describe.skipIf(skip)(`multi-site transit through a vgwd hub with BGP${skipLabel(canRunNetns, built)}`, () => {
  let topo: MultiSiteTopology;
  let a: Gw;
  let b: Gw;
  let c: Gw;

  beforeAll(async () => {
    topo = await createMultiSite('bgpgwt');
    const hub = { name: 'hub', gatewayIpAddress: '192.0.2.1', addressPrefixes: [], bgp: HUB };
    b = await startGw(topo, topo.ns.gwB, (s) => gwConfig('siteB', '192.0.2.2', ['10.2.0.0/16'], B, [{ ...hub, sharedKey: 'kb' }], s));
    c = await startGw(topo, topo.ns.gwC, (s) => gwConfig('siteC', '192.0.2.3', ['10.3.0.0/16'], C, [{ ...hub, sharedKey: 'kc' }], s));
    a = await startGw(topo, topo.ns.gwA, (s) => gwConfig('hub', '192.0.2.1', ['10.1.0.0/16'], HUB, [
      { name: 'siteB', gatewayIpAddress: '192.0.2.2', addressPrefixes: [], bgp: B, sharedKey: 'kb' },
      { name: 'siteC', gatewayIpAddress: '192.0.2.3', addressPrefixes: [], bgp: C, sharedKey: 'kc' },
    ], s));
  }, 60_000);

  afterAll(async () => { await topo?.destroy(); }, 30_000);

  it('the hub peers with both sites through their tunnels', async () => {
    try {
      await waitFor(async () => (await peers(a)).every((p) => p.state === 'Established'), 40_000, 250, 'both sessions');
    } catch (e) {
      throw new Error(`${String(e)} ${JSON.stringify(await peers(a))}\n${a.log().slice(-3000)}`);
    }
  }, 60_000);

  it("site A's and site C's prefixes reach site B through the hub (transit)", async () => {
    await waitFor(async () => (await kernelBgpRoutes(topo, topo.ns.gwB)).includes('10.3.0.0/16'), 20_000, 250, '10.3/16 at gwB');
    const atB = await learned(b, { network: '10.3.0.0/16' });
    expect(atB.routes[0]).toMatchObject({ sourcePeer: HUB.peeringAddress, asPath: '65515 65060', installed: true, connection: 'siteB-to-hub' });
    expect(await kernelBgpRoutes(topo, topo.ns.gwB)).toContain('10.1.0.0/16');
    const advToB = (await a.request('routes-advertised', { peer: B.peeringAddress })) as { routes: Array<{ network: string; asPath: string }> };
    expect(advToB.routes.map((r) => `${r.network} ${r.asPath}`).sort()).toEqual(['10.1.0.0/16 65515', '10.3.0.0/16 65515 65060']);
  }, 30_000);

  it('hostB pings hostC across two tunnels through the hub, and hostA', async () => {
    await waitFor(async () => (await kernelBgpRoutes(topo, topo.ns.gwC)).includes('10.2.0.0/16'), 20_000, 250, '10.2/16 at gwC');
    const bc = await ping(topo.ns.hostB, topo.addr.hostC, { count: 3, intervalS: 0.2, timeoutS: 3 });
    expect(bc.received, bc.output).toBe(3);
    const ab = await ping(topo.ns.hostA, topo.addr.hostB, { count: 3, intervalS: 0.2, timeoutS: 3 });
    expect(ab.received, ab.output).toBe(3);
  }, 40_000);

  it("the hub's tunnel to C going down withdraws C's prefixes at the hub and at B", async () => {
    await a.request('terminate', { connection: 'hub-to-siteC' });
    await waitFor(async () => !(await kernelBgpRoutes(topo, topo.ns.gwB)).includes('10.3.0.0/16'), 10_000, 100, '10.3/16 withdrawn at gwB');
    expect(await kernelBgpRoutes(topo, topo.ns.gwA)).not.toContain('10.3.0.0/16');
    expect(await kernelBgpRoutes(topo, topo.ns.gwB)).toContain('10.1.0.0/16');
    await a.request('initiate', { connection: 'hub-to-siteC' });
    await waitFor(async () => (await kernelBgpRoutes(topo, topo.ns.gwB)).includes('10.3.0.0/16'), 40_000, 250, '10.3/16 back at gwB');
  }, 60_000);
});
