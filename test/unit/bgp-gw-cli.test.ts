/** `vgw routes --learned/--advertised` and `vgw bgp peers` against a control socket backed by bgp-control.ts. */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pino } from 'pino';
import { ControlServer } from '../../daemon/control.js';
import { bgpControlHandlers, type BgpControlTarget } from '../../daemon/bgp-control.js';
import { runCli } from '../../daemon/cli/index.js';
import type { LearnedRouteView } from '../../daemon/bgp-views.js';

const route = (network: string, best: boolean, sourcePeer: string, connection: string): LearnedRouteView => ({
  network, nextHop: sourcePeer, sourcePeer, origin: 'EBgp', bgpOrigin: 'IGP', asPath: '65050', weight: 0, localPref: 100, med: null,
  communities: [], best, reason: best ? 'routerId' : null, connection, installed: true, notInstalledReason: null,
});

const target: BgpControlTarget = {
  peers: () => [{ neighbor: '10.2.255.1', asn: 65050, connection: 'to-site1', localAddress: '10.1.255.30', state: 'Established', enabled: true,
    uptimeSeconds: 3723, routesReceived: 2, routesAccepted: 2, routesAdvertised: 1, routerId: '10.2.255.1', holdTime: 180, lastError: null }],
  summary: () => ({ asn: 65515, peeringAddress: '10.1.255.30', peers: 1, established: 1, routesLearned: 2, routesInstalled: 1, kernelRoutes: 1, kernelErrors: 0 }),
  learnedRoutes: () => [route('10.9.0.0/16', true, '10.2.255.1', 'to-site1'), route('10.9.0.0/16', false, '10.2.255.2', 'to-site2'), route('10.8.0.0/24', true, '10.2.255.1', 'to-site1')],
  advertisedRoutes: () => [{ network: '10.1.0.0/16', nextHop: '10.1.255.30', peer: '10.2.255.1', connection: 'to-site1', asPath: '65515', bgpOrigin: 'IGP', weight: 0, localPref: null }],
};

let server: ControlServer;
let socket = '';

async function cli(...args: string[]): Promise<{ code: number; out: string; err: string }> {
  let out = '';
  let err = '';
  const code = await runCli(['node', 'vgw', '--socket', socket, ...args], { out: (t) => { out += t; }, err: (t) => { err += t; } });
  return { code, out, err };
}

beforeAll(async () => {
  socket = join(mkdtempSync(join(tmpdir(), 'bgpgw-cli-')), 'vgw.sock');
  server = new ControlServer(socket, bgpControlHandlers(() => target), pino({ level: 'silent' }));
  await server.start();
});
afterAll(async () => { await server.close(); });

describe('vgw routes / vgw bgp', () => {
  it('routes --learned prints an Azure-style table with best-path markers', async () => {
    const r = await cli('routes', '--learned');
    expect(r.code, r.err).toBe(0);
    expect(r.out.split('\n')[0]).toMatch(/Network\s+NextHop\s+SourcePeer\s+Origin\s+AsPath\s+Weight\s+LocalPref/);
    expect(r.out).toMatch(/\*>\s+10\.9\.0\.0\/16\s+10\.2\.255\.1\s+10\.2\.255\.1\s+EBgp\s+65050/);
  });
  it('routes --learned --json --network filters by containing address', async () => {
    const r = await cli('routes', '--learned', '--json', '--network', '10.9.3.4');
    const rows = JSON.parse(r.out) as LearnedRouteView[];
    expect(rows.map((x) => x.sourcePeer)).toEqual(['10.2.255.1', '10.2.255.2']);
  });
  it('routes --advertised --json', async () => {
    const r = await cli('routes', '--advertised', '--json');
    expect(JSON.parse(r.out)).toEqual([expect.objectContaining({ network: '10.1.0.0/16', asPath: '65515', peer: '10.2.255.1' })]);
  });
  it('needs exactly one of --learned / --advertised', async () => {
    const r = await cli('routes');
    expect(r.code).toBe(2);
    expect(r.err).toMatch(/exactly one of --learned or --advertised/);
  });
  it('bgp peers shows state, uptime and prefix counts', async () => {
    const r = await cli('bgp', 'peers');
    expect(r.out).toMatch(/10\.2\.255\.1\s+65050\s+to-site1\s+Established\s+01:02:03\s+2\s+2\s+1/);
    const j = await cli('bgp', 'peers', '--json');
    expect(JSON.parse(j.out)[0]).toMatchObject({ neighbor: '10.2.255.1', state: 'Established', routesReceived: 2 });
  });
  it('bad params are typed errors', async () => {
    const r = await cli('routes', '--learned', '--network', '10.9.0.1/8');
    expect(r.code).toBe(1);
    expect(r.err).toMatch(/host bits/);
  });
});
