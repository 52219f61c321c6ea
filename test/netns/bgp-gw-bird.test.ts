/**
 * vgwd runs BGP THROUGH its IPsec tunnel with BIRD 2 on the on-premises side.
 *
 *   hostA 10.1.0.2 ── gwA: vgwd "azure"  AS65515, peering 10.1.255.30 (on vgw0)
 *                         ║ IKEv2/ESP-in-UDP 192.0.2.1 ⇄ 192.0.2.2, any-to-any
 *                    gwB: vgwd "on-prem VPN device", BGP disabled, routes 10.1.0.0/16 into its tunnel
 *                         + BIRD 2 AS65050 on 10.2.255.1 (lo), eBGP multihop to 10.1.255.30
 *                         exporting 10.2.0.0/24 + 1000 /24s (10.100.0.0 ...), 10.100.5.1 is on gwB's lo
 *   hostB 10.2.0.2 ── gwB
 *
 * gwA's only static route toward gwB is the peer's /32: everything else comes from BGP,
 * is installed as `proto bgp` routes into vgw0 and mapped to the tunnel in the dataplane.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { existsSync } from 'node:fs';
import { canRunNetns, requireOrSkip, skipLabel, type Prerequisite } from '../helpers/env.js';
import { createSiteToSite, ping, waitFor, type SiteToSiteTopology } from './lib/topology.js';
import { BIRD, birdStaticRoutes, gwBuilt, gwConfig, kernelBgpRoutes, learned, peers, startBird, startGw, type BirdHandle, type Gw } from './bgp-gw-helpers.js';

const built: Prerequisite = { name: 'build', ...gwBuilt() };
const bird: Prerequisite = { name: 'bird', ok: existsSync(BIRD), reason: existsSync(BIRD) ? '' : `BIRD 2 not installed (${BIRD})` };
const skip = requireOrSkip(canRunNetns, built, bird);

const GW_PEER = '10.1.255.30';
const BIRD_PEER = '10.2.255.1';
const FEED = birdStaticRoutes(1000);

function birdConf(): string {
  return [
    `router id ${BIRD_PEER};`,
    'protocol device { scan time 2; }',
    // Learn the kernel's routes into vgw0 so BIRD can resolve our multihop next hop; never write to the kernel.
    'protocol kernel { learn; scan time 2; ipv4 { import all; export none; }; }',
    'protocol static feed {',
    '  ipv4;',
    '  route 10.2.0.0/24 blackhole;',
    ...FEED.map((p) => `  route ${p} blackhole;`),
    '}',
    'protocol bgp azure {',
    `  local ${BIRD_PEER} as 65050;`,
    `  neighbor ${GW_PEER} as 65515;`,
    '  multihop;',
    '  hold time 30;',
    '  connect delay time 1;',
    '  connect retry time 2;',
    '  error wait time 1, 4;',
    '  ipv4 { import all; export where proto = "feed"; };',
    '}',
  ].join('\n');
}

describe.skipIf(skip)(`vgwd BGP through the tunnel with BIRD 2${skipLabel(canRunNetns, built, bird)}`, () => {
  let topo: SiteToSiteTopology;
  let a: Gw;
  let b: Gw;
  let birdB: BirdHandle;

  beforeAll(async () => {
    topo = await createSiteToSite('bgpgwb');
    await topo.mustExec(topo.ns.gwB, 'ip', ['addr', 'add', `${BIRD_PEER}/32`, 'dev', 'lo']);
    await topo.mustExec(topo.ns.gwB, 'ip', ['addr', 'add', '10.100.5.1/32', 'dev', 'lo']);
    // hostA's LAN route toward the learned space (the topology only routes 10.2.0.0/16 to gwA).
    await topo.mustExec(topo.ns.hostA, 'ip', ['route', 'add', '10.100.0.0/14', 'via', topo.addr.gwALan]);
    b = await startGw(topo, topo.ns.gwB, (sock) => gwConfig('onprem', '192.0.2.2', ['10.2.0.0/16', '10.100.0.0/14'], undefined,
      [{ name: 'azure', gatewayIpAddress: '192.0.2.1', addressPrefixes: ['10.1.0.0/16'] }], sock));
    a = await startGw(topo, topo.ns.gwA, (sock) => gwConfig('azure', '192.0.2.1', ['10.1.0.0/16'], { asn: 65515, peeringAddress: GW_PEER },
      [{ name: 'onprem', gatewayIpAddress: '192.0.2.2', addressPrefixes: [`${BIRD_PEER}/32`], bgp: { asn: 65050, peeringAddress: BIRD_PEER } }], sock));
    birdB = await startBird(topo, topo.ns.gwB, birdConf());
  }, 60_000);

  afterAll(async () => { await topo?.destroy(); }, 30_000);

  it('establishes eBGP multihop with BIRD through the IPsec tunnel', async () => {
    try {
      await waitFor(async () => (await peers(a))[0]?.state === 'Established', 40_000, 250, 'BGP Established');
    } catch (e) {
      throw new Error(`${String(e)}\n${JSON.stringify(await peers(a))}\n${await birdB.birdc('show', 'protocols', 'all', 'azure')}\n${a.log().slice(-3000)}`);
    }
    const st = await a.status();
    expect(st.connections[0]?.state).toBe('Connected');
    expect(await birdB.birdc('show', 'protocols', 'azure')).toMatch(/Established/);
  }, 60_000);

  it('learns 1001 prefixes and installs them into the kernel (vgw0) and the dataplane', async () => {
    const t0 = Date.now();
    await waitFor(async () => (await kernelBgpRoutes(topo, topo.ns.gwA)).length >= 1001, 30_000, 250, '1001 kernel routes');
    const elapsed = Date.now() - t0;
    const kernel = new Set(await kernelBgpRoutes(topo, topo.ns.gwA));
    for (const p of ['10.2.0.0/24', ...FEED]) expect(kernel.has(p), p).toBe(true);
    const l = await learned(a, { peer: BIRD_PEER });
    expect(l.total).toBe(1001);
    const r = l.routes.find((x) => x.network === '10.100.5.0/24');
    expect(r).toMatchObject({ sourcePeer: BIRD_PEER, nextHop: BIRD_PEER, asPath: '65050', origin: 'EBgp', best: true, installed: true, connection: 'azure-to-onprem' });
    const p = (await peers(a))[0];
    expect(p?.routesAccepted).toBe(1001);
    console.log(`[bgp-gw-bird] 1001 prefixes in the kernel within ${elapsed} ms of Established`);
  }, 60_000);

  it('pings cross the tunnel to addresses inside learned prefixes', async () => {
    const r1 = await ping(topo.ns.hostA, '10.100.5.1', { count: 3, intervalS: 0.2, timeoutS: 3 });
    expect(r1.received, r1.output).toBe(3);
    const r2 = await ping(topo.ns.hostA, '10.2.0.2', { count: 3, intervalS: 0.2, timeoutS: 3 });
    expect(r2.received, r2.output).toBe(3);
  }, 30_000);

  it('BIRD has our address space with AS path 65515 and next hop our peering address', async () => {
    const out = await birdB.birdc('show', 'route', 'for', '10.1.0.0/16', 'all');
    expect(out).toMatch(/10\.1\.0\.0\/16/);
    expect(out).toMatch(/BGP\.as_path: 65515/);
    expect(out).toMatch(new RegExp(`BGP\\.next_hop: ${GW_PEER.replace(/\./g, '\\.')}`));
    const adv = (await a.request('routes-advertised', { peer: BIRD_PEER })) as { routes: Array<{ network: string; asPath: string }> };
    expect(adv.routes.map((x) => x.network)).toEqual(['10.1.0.0/16']);
  }, 20_000);

  it('a withdraw in BIRD propagates into the kernel', async () => {
    await birdB.birdc('disable', 'feed');
    await waitFor(async () => (await kernelBgpRoutes(topo, topo.ns.gwA)).length === 0, 20_000, 250, 'routes withdrawn');
    expect((await learned(a, { peer: BIRD_PEER })).total).toBe(0);
    await birdB.birdc('enable', 'feed');
    await waitFor(async () => (await kernelBgpRoutes(topo, topo.ns.gwA)).length >= 1001, 30_000, 250, 'routes back');
  }, 60_000);

  it('a session reset by NOTIFICATION (BIRD Cease) withdraws, then the session comes back', async () => {
    await birdB.birdc('disable', 'azure', '"maintenance by bgp-gw test"');
    await waitFor(async () => (await peers(a))[0]?.state !== 'Established', 10_000, 100, 'session down');
    const p = (await peers(a))[0];
    expect(p?.lastError ?? '').toMatch(/Cease|6\/2|maintenance/i);
    await waitFor(async () => (await kernelBgpRoutes(topo, topo.ns.gwA)).length === 0, 10_000, 250, 'routes withdrawn on reset');
    await birdB.birdc('enable', 'azure');
    await waitFor(async () => (await peers(a))[0]?.state === 'Established', 30_000, 250, 'session back');
    await waitFor(async () => (await kernelBgpRoutes(topo, topo.ns.gwA)).length >= 1001, 30_000, 250, 'routes back');
  }, 90_000);

  it('tunnel down → session down and every learned route withdrawn at once; back up → relearned', async () => {
    await a.request('terminate', { connection: 'azure-to-onprem' });
    const t0 = Date.now();
    await waitFor(async () => (await kernelBgpRoutes(topo, topo.ns.gwA)).length === 0, 5_000, 100, 'withdrawn after terminate');
    const ms = Date.now() - t0;
    const p = (await peers(a))[0];
    expect(p?.enabled).toBe(false);
    expect(p?.state).not.toBe('Established');
    console.log(`[bgp-gw-bird] routes withdrawn ${ms} ms after the tunnel went down`);
    await a.request('initiate', { connection: 'azure-to-onprem' });
    await waitFor(async () => (await kernelBgpRoutes(topo, topo.ns.gwA)).length >= 1001, 40_000, 250, 'relearned');
  }, 90_000);
});
