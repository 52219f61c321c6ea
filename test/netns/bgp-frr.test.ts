/**
 * Live interop with FRR bgpd (standalone: -Z no zebra, own vty socket/pid/log
 * under a temp dir) over a veth pair between two namespaces this test creates:
 *
 *   vgwtest-bgp-frr  198.51.100.1/24 AS65003  ── vbgp0 ═ vbgp0 ──  vgwtest-bgp-us2  198.51.100.2/24 AS65001
 *   bgpd: network 10.77.1.0/24, 10.77.2.0/24                          our speaker (dist/bgp/cli-test-speaker.js)
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { buildHarness, createPair, deletePair, firstPeer, isRoot, startSpeaker, tryRun, waitFor, type SpeakerProcess } from './bgp-helpers.js';

const BGPD = '/usr/lib/frr/bgpd';
const VTYSH = '/usr/bin/vtysh';
const NS_FRR = 'vgwtest-bgp-frr';
const NS_US = 'vgwtest-bgp-us2';
const FRR_IP = '198.51.100.1';
const US_IP = '198.51.100.2';

const skipReason = !isRoot() ? 'needs root for network namespaces' : !existsSync(BGPD) || !existsSync(VTYSH) ? `FRR not installed (${BGPD})` : undefined;
if (skipReason) console.warn(`bgp-frr.test.ts skipped: ${skipReason}`);

describe.skipIf(skipReason !== undefined)('BGP interop with FRR bgpd in network namespaces', () => {
  let dir = '';
  let bgpd: ChildProcess | undefined;
  let us: SpeakerProcess | undefined;
  const vtysh = (...cmds: string[]): string => tryRun(VTYSH, ['--vty_socket', dir, '-d', 'bgpd', ...cmds.flatMap((c) => ['-c', c])], 10_000);

  beforeAll(async () => {
    buildHarness();
    dir = mkdtempSync(path.join(tmpdir(), 'vgwtest-bgp-frr-'));
    createPair(NS_FRR, FRR_IP, NS_US, US_IP);
    writeFileSync(
      path.join(dir, 'bgpd.conf'),
      [
        'frr defaults traditional',
        'hostname vgwtest-frr',
        `log file ${dir}/bgpd.log`,
        'router bgp 65003',
        ` bgp router-id ${FRR_IP}`,
        ' no bgp ebgp-requires-policy',
        ' no bgp network import-check',
        ` neighbor ${US_IP} remote-as 65001`,
        ` neighbor ${US_IP} timers 3 9`,
        ` neighbor ${US_IP} timers connect 3`,
        ' address-family ipv4 unicast',
        '  network 10.77.1.0/24',
        '  network 10.77.2.0/24',
        ' exit-address-family',
        '',
      ].join('\n'),
    );
    // foreground; ip netns exec execs bgpd, so the child PID is bgpd's
    bgpd = spawn(
      'ip',
      ['netns', 'exec', NS_FRR, BGPD, '-f', path.join(dir, 'bgpd.conf'), '-i', path.join(dir, 'bgpd.pid'), '-z', path.join(dir, 'zserv.api'), '-Z', '-S', '--vty_socket', dir, '-P', '0', '-p', '179'],
      { stdio: 'ignore' },
    );
    await waitFor('bgpd vty socket', 10_000, () => existsSync(path.join(dir, 'bgpd.vty')));
    us = await startSpeaker(NS_US, {
      localAsn: 65001,
      routerId: US_IP,
      listen: { address: '0.0.0.0', port: 179 },
      connectRetryTime: 3,
      idleHoldTime: 1,
      peers: [{ address: FRR_IP, asn: 65003 }],
      originate: ['10.200.1.0/24', '10.200.2.0/24'],
    });
  }, 180_000);

  afterAll(async () => {
    if (us) {
      await us.request('quit', 3_000).catch(() => undefined);
      us.kill();
    }
    if (bgpd?.pid !== undefined && bgpd.exitCode === null) process.kill(bgpd.pid, 'SIGTERM');
    await new Promise((r) => setTimeout(r, 300));
    if (bgpd?.pid !== undefined && bgpd.exitCode === null) process.kill(bgpd.pid, 'SIGKILL');
    deletePair(NS_FRR, NS_US);
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  const status = async (): Promise<Record<string, unknown>> => (us ? us.request('status') : {});

  it('establishes with bgpd and learns its two networks', async () => {
    const s = await waitFor('Established with 2 learned', 40_000, async () => {
      const st = await status();
      return firstPeer(st)?.state === 'Established' && st['learned'] === 2 ? st : undefined;
    });
    const routes = s['routes'] as Record<string, string>;
    expect(routes['10.77.1.0/24']).toBe(`65003 via ${FRR_IP} (onlyPath)`);
    expect(firstPeer(s)).toMatchObject({ advertised: 2, holdTime: 9 });
    const summary = JSON.parse(vtysh('show bgp ipv4 unicast summary json')) as { peers: Record<string, { state: string; pfxRcd: number }> };
    expect(summary.peers[US_IP]).toMatchObject({ state: 'Established', pfxRcd: 2 });
  }, 60_000);

  it('bgpd has our prefix with AS_PATH 65001 and next hop us; a withdraw removes it', async () => {
    const show = (): { paths?: { aspath?: { string?: string }; nexthops?: { ip?: string }[] }[] } =>
      JSON.parse(vtysh('show bgp ipv4 unicast 10.200.1.0/24 json') || '{}') as { paths?: { aspath?: { string?: string }; nexthops?: { ip?: string }[] }[] };
    const r = await waitFor('FRR has 10.200.1.0/24', 15_000, () => (show().paths?.length ? show() : undefined));
    expect(r.paths?.[0]?.aspath?.string).toBe('65001');
    expect(r.paths?.[0]?.nexthops?.[0]?.ip).toBe(US_IP);
    await us?.request('withdraw 10.200.1.0/24');
    await waitFor('FRR drops 10.200.1.0/24', 15_000, () => !show().paths?.length);
  }, 40_000);

  it('FRR neighbor shutdown with a message is seen as Cease 6/2 and the session comes back', async () => {
    vtysh('configure terminal', 'router bgp 65003', `neighbor ${US_IP} shutdown message vgwtest-frr-maintenance`);
    const down = await waitFor('session down', 20_000, async () => {
      const p = firstPeer(await status());
      return p && p.state !== 'Established' && p.lastError ? p : undefined;
    });
    expect(down.lastError).toMatch(/Cease 6\/2 "vgwtest-frr-maintenance"/);
    vtysh('configure terminal', 'router bgp 65003', `no neighbor ${US_IP} shutdown`);
    await waitFor('re-established', 40_000, async () => {
      const st = await status();
      return firstPeer(st)?.state === 'Established' && st['learned'] === 2;
    });
  }, 70_000);
});
