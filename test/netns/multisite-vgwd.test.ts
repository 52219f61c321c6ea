/**
 * Multi-site: one vgwd with two on-premises sites at once.
 *
 *                         ┌═══ gwB(vgwd 192.0.2.2) ── hostB 10.2.0.2
 *   hostA ── gwA(vgwd) ═══┤        (bridge "internet" in its own namespace)
 *   10.1.0.2  192.0.2.1   └═══ gwC(vgwd 192.0.2.3) ── hostC 10.3.0.2
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { canRunNetns, requireOrSkip, skipLabel, type Prerequisite } from '../helpers/env.js';
import { createMultiSite, ping, waitFor, type MultiSiteTopology } from './lib/topology.js';
import { builtOk, startVgwd, waitConnected, type VgwdHandle } from './lib/vgwd.js';

const built: Prerequisite = { name: 'build', ...builtOk() };
const skip = requireOrSkip(canRunNetns, built);

describe.skipIf(skip)(`multi-site: one gateway, two sites${skipLabel(canRunNetns, built)}`, () => {
  let topo: MultiSiteTopology;
  let a: VgwdHandle;

  beforeAll(async () => {
    topo = await createMultiSite('vmsi');
    const siteA = { name: 'siteA', gatewayIpAddress: '192.0.2.1', addressPrefixes: ['10.1.0.0/24'] };
    await startVgwd(topo, topo.ns.gwB, { name: 'gwB', publicIpAddress: '192.0.2.2', addressSpace: ['10.2.0.0/24'], sites: [siteA], sharedKey: 'key-b' });
    await startVgwd(topo, topo.ns.gwC, { name: 'gwC', publicIpAddress: '192.0.2.3', addressSpace: ['10.3.0.0/24'], sites: [siteA], sharedKey: 'key-c' });
    a = await startVgwd(topo, topo.ns.gwA, {
      name: 'gwA', publicIpAddress: '192.0.2.1', addressSpace: ['10.1.0.0/24'],
      sites: [
        { name: 'siteB', gatewayIpAddress: '192.0.2.2', addressPrefixes: ['10.2.0.0/24'] },
        { name: 'siteC', gatewayIpAddress: '192.0.2.3', addressPrefixes: ['10.3.0.0/24'] },
      ],
      sharedKey: { siteB: 'key-b', siteC: 'key-c' },
    });
    await waitConnected(a, 'gwA-to-siteB');
    await waitConnected(a, 'gwA-to-siteC');
  }, 60_000);

  afterAll(async () => { await topo?.destroy(); }, 30_000);

  it('reaches both sites at the same time, each through its own tunnel', async () => {
    const b0 = await a.connection('gwA-to-siteB');
    const c0 = await a.connection('gwA-to-siteC');
    const rb = await ping(topo.ns.hostA, '10.2.0.2', { count: 5, intervalS: 0.1, timeoutS: 3 });
    expect(rb.received, rb.output).toBe(5);
    const b1 = await a.connection('gwA-to-siteB');
    const c1 = await a.connection('gwA-to-siteC');
    expect(b1.egressPackets - b0.egressPackets).toBe(5);
    expect(c1.egressPackets - c0.egressPackets).toBe(0);
    const rc = await ping(topo.ns.hostA, '10.3.0.2', { count: 5, intervalS: 0.1, timeoutS: 3 });
    expect(rc.received, rc.output).toBe(5);
    const b2 = await a.connection('gwA-to-siteB');
    const c2 = await a.connection('gwA-to-siteC');
    expect(c2.egressPackets - c1.egressPackets).toBe(5);
    expect(b2.egressPackets - b1.egressPackets).toBe(0);
  });

  it('taking one tunnel down leaves the other site reachable', async () => {
    await a.request('terminate', { connection: 'gwA-to-siteC' });
    await waitFor(async () => (await a.connection('gwA-to-siteC')).state === 'NotConnected', 5_000, 100, 'siteC down');
    const rc = await ping(topo.ns.hostA, '10.3.0.2', { count: 2, intervalS: 0.2, timeoutS: 1 });
    expect(rc.received).toBe(0);
    const rb = await ping(topo.ns.hostA, '10.2.0.2', { count: 3, intervalS: 0.2, timeoutS: 3 });
    expect(rb.received).toBe(3);
    await a.request('initiate', { connection: 'gwA-to-siteC' });
    await waitConnected(a, 'gwA-to-siteC');
    const rc2 = await ping(topo.ns.hostA, '10.3.0.2', { count: 3, intervalS: 0.2, timeoutS: 3 });
    expect(rc2.received).toBe(3);
  }, 30_000);
});
