/**
 * vgwd runs BGP through its IPsec tunnel with FRR bgpd on the on-premises side
 * (the same topology as bgp-gw-bird.test.ts; bgpd standalone, -Z: no zebra).
 *
 *   hostA ── gwA: vgwd AS65515, peering 10.1.255.30 ═══ gwB: vgwd (no BGP) + FRR bgpd AS65070 on 10.2.255.1 ── hostB
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { existsSync, mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { canRunNetns, requireOrSkip, skipLabel, type Prerequisite } from '../helpers/env.js';
import { createSiteToSite, ping, waitFor, type SiteToSiteTopology } from './lib/topology.js';
import { gwBuilt, gwConfig, kernelBgpRoutes, learned, peers, startGw, type Gw } from './bgp-gw-helpers.js';

const BGPD = '/usr/lib/frr/bgpd';
const VTYSH = '/usr/bin/vtysh';
const built: Prerequisite = { name: 'build', ...gwBuilt() };
const frr: Prerequisite = { name: 'frr', ok: existsSync(BGPD) && existsSync(VTYSH), reason: existsSync(BGPD) ? '' : `FRR not installed (${BGPD})` };
const skip = requireOrSkip(canRunNetns, built, frr);

const GW_PEER = '10.1.255.30';
const FRR_PEER = '10.2.255.1';

describe.skipIf(skip)(`vgwd BGP through the tunnel with FRR${skipLabel(canRunNetns, built, frr)}`, () => {
  let topo: SiteToSiteTopology;
  let a: Gw;
  let dir = '';
  const vtysh = async (...cmds: string[]): Promise<string> =>
    (await topo.exec(topo.ns.gwB, VTYSH, ['--vty_socket', dir, '-d', 'bgpd', ...cmds.flatMap((c) => ['-c', c])], { timeoutMs: 15_000 })).stdout;

  beforeAll(async () => {
    topo = await createSiteToSite('bgpgwf');
    dir = mkdtempSync(join(tmpdir(), 'bgpgw-frr-'));
    await topo.mustExec(topo.ns.gwB, 'ip', ['addr', 'add', `${FRR_PEER}/32`, 'dev', 'lo']);
    await startGw(topo, topo.ns.gwB, (s) => gwConfig('onprem', '192.0.2.2', ['10.2.0.0/16'], undefined,
      [{ name: 'azure', gatewayIpAddress: '192.0.2.1', addressPrefixes: ['10.1.0.0/16'] }], s));
    a = await startGw(topo, topo.ns.gwA, (s) => gwConfig('azure', '192.0.2.1', ['10.1.0.0/16'], { asn: 65515, peeringAddress: GW_PEER },
      [{ name: 'onprem', gatewayIpAddress: '192.0.2.2', addressPrefixes: [], bgp: { asn: 65070, peeringAddress: FRR_PEER } }], s));
    writeFileSync(join(dir, 'bgpd.conf'), [
      'frr defaults traditional',
      'hostname bgpgw-frr',
      `log file ${dir}/bgpd.log`,
      'router bgp 65070',
      ` bgp router-id ${FRR_PEER}`,
      ' no bgp ebgp-requires-policy',
      ' no bgp network import-check',
      ` neighbor ${GW_PEER} remote-as 65515`,
      ` neighbor ${GW_PEER} ebgp-multihop 5`,
      ` neighbor ${GW_PEER} update-source ${FRR_PEER}`,
      ` neighbor ${GW_PEER} timers 10 30`,
      ` neighbor ${GW_PEER} timers connect 2`,
      ' address-family ipv4 unicast',
      '  network 10.2.0.0/24',
      '  network 10.77.1.0/24',
      ' exit-address-family',
      '',
    ].join('\n'));
    topo.spawn(topo.ns.gwB, BGPD, ['-f', join(dir, 'bgpd.conf'), '-i', join(dir, 'bgpd.pid'), '-z', join(dir, 'zserv.api'), '-Z', '-S', '--vty_socket', dir, '-P', '0', '-p', '179'],
      { logFile: join(dir, 'bgpd.out') });
    await waitFor(() => existsSync(join(dir, 'bgpd.vty')), 10_000, 100, 'bgpd vty socket');
  }, 60_000);

  afterAll(async () => { await topo?.destroy(); }, 30_000);

  it('establishes with bgpd through the tunnel, learns and installs its networks', async () => {
    try {
      await waitFor(async () => (await peers(a))[0]?.state === 'Established', 40_000, 250, 'Established with FRR');
    } catch (e) {
      throw new Error(`${String(e)} ${JSON.stringify(await peers(a))}\n${await vtysh('show bgp summary')}`);
    }
    await waitFor(async () => (await kernelBgpRoutes(topo, topo.ns.gwA)).includes('10.77.1.0/24'), 20_000, 250, 'FRR routes in the kernel');
    const r = (await learned(a, { network: '10.2.0.0/24' })).routes[0];
    expect(r).toMatchObject({ sourcePeer: FRR_PEER, asPath: '65070', installed: true });
    const p = await ping(topo.ns.hostA, topo.addr.hostB, { count: 3, intervalS: 0.2, timeoutS: 3 });
    expect(p.received, p.output).toBe(3);
  }, 60_000);

  it('bgpd has our address space with AS path 65515 via our peering address', async () => {
    await waitFor(async () => (await vtysh('show bgp ipv4 unicast 10.1.0.0/16 json')).includes('65515'), 15_000, 250, 'route at FRR');
    const j = JSON.parse(await vtysh('show bgp ipv4 unicast 10.1.0.0/16 json')) as { paths?: Array<{ aspath?: { string?: string }; nexthops?: Array<{ ip?: string }> }> };
    expect(j.paths?.[0]?.aspath?.string).toBe('65515');
    expect(j.paths?.[0]?.nexthops?.[0]?.ip).toBe(GW_PEER);
  }, 30_000);
});
