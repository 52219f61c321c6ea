/**
 * Live interop with BIRD 2 over a veth pair between two namespaces this test creates:
 *
 *   vgwtest-bgp-bird  198.51.100.1/24 AS65002  ── vbgp0 ═ vbgp0 ──  vgwtest-bgp-us  198.51.100.2/24 AS65001
 *   BIRD: 2 + 1000 static /24s exported                              our speaker (dist/bgp/cli-test-speaker.js)
 *
 * Expectations:
 *   us::status::Established, 1002 learned           BIRD::show route::10.200.1.0/24 ... AS65001
 *   BIRD disable static_out → us learns 0           BIRD disable bgp_peer "msg" → us sees Cease 6/2 "msg", re-established after enable
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { buildHarness, createPair, deletePair, firstPeer, isRoot, run, startSpeaker, tryRun, waitFor, type SpeakerProcess } from './bgp-helpers.js';

const BIRD = '/usr/sbin/bird';
const BIRDC = '/usr/sbin/birdc';
const NS_BIRD = 'vgwtest-bgp-bird';
const NS_US = 'vgwtest-bgp-us';
const BIRD_IP = '198.51.100.1';
const US_IP = '198.51.100.2';

const skipReason = !isRoot() ? 'needs root for network namespaces' : !existsSync(BIRD) || !existsSync(BIRDC) ? `BIRD not installed (${BIRD})` : undefined;
if (skipReason) console.warn(`bgp-bird.test.ts skipped: ${skipReason}`);

describe.skipIf(skipReason !== undefined)('BGP interop with BIRD 2 in network namespaces', () => {
  let dir = '';
  let bird: ChildProcess | undefined;
  let us: SpeakerProcess | undefined;
  const birdc = (...args: string[]): string => tryRun(BIRDC, ['-s', path.join(dir, 'bird.ctl'), ...args], 10_000);

  beforeAll(async () => {
    buildHarness();
    dir = mkdtempSync(path.join(tmpdir(), 'vgwtest-bgp-bird-'));
    createPair(NS_BIRD, BIRD_IP, NS_US, US_IP);
    const generated: string[] = [];
    // like interop/bird/peer.sh GEN_PREFIXES: 10.100.0.0/24 ... 10.103.231.0/24
    for (let i = 0; i < 1000; i++) generated.push(`    route 10.${100 + Math.floor(i / 256)}.${i % 256}.0/24 blackhole;`);
    writeFileSync(
      path.join(dir, 'bird.conf'),
      [
        `log "${dir}/bird.log" all;`,
        `router id ${BIRD_IP};`,
        'protocol device { scan time 10; }',
        'protocol static static_out {',
        '    ipv4;',
        '    route 10.66.1.0/24 blackhole;',
        '    route 10.66.2.0/24 blackhole;',
        ...generated,
        '}',
        'protocol bgp bgp_peer {',
        `    local ${BIRD_IP} as 65002;`,
        `    neighbor ${US_IP} as 65001;`,
        '    hold time 9;',
        '    connect delay time 1;',
        '    connect retry time 3;',
        '    error wait time 1, 3;',
        '    ipv4 { import all; export where proto = "static_out"; };',
        '}',
        '',
      ].join('\n'),
    );
    run(BIRD, ['-p', '-c', path.join(dir, 'bird.conf')]);
    // -f: foreground, so the child PID is BIRD's own PID (ip netns exec execs it)
    bird = spawn('ip', ['netns', 'exec', NS_BIRD, BIRD, '-f', '-c', path.join(dir, 'bird.conf'), '-s', path.join(dir, 'bird.ctl'), '-P', path.join(dir, 'bird.pid')], {
      stdio: 'ignore',
    });
    await waitFor('BIRD control socket', 10_000, () => existsSync(path.join(dir, 'bird.ctl')));
    us = await startSpeaker(NS_US, {
      localAsn: 65001,
      routerId: US_IP,
      listen: { address: '0.0.0.0', port: 179 },
      connectRetryTime: 3,
      idleHoldTime: 1,
      peers: [{ address: BIRD_IP, asn: 65002, holdTime: 90 }],
      originate: ['10.200.1.0/24', '10.200.2.0/24'],
    });
  }, 180_000);

  afterAll(async () => {
    if (us) {
      await us.request('quit', 3_000).catch(() => undefined);
      us.kill();
    }
    if (bird?.pid !== undefined && bird.exitCode === null) process.kill(bird.pid, 'SIGTERM');
    await new Promise((r) => setTimeout(r, 300));
    if (bird?.pid !== undefined && bird.exitCode === null) process.kill(bird.pid, 'SIGKILL');
    deletePair(NS_BIRD, NS_US);
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  const status = async (): Promise<Record<string, unknown>> => (us ? us.request('status') : {});

  it('establishes the session and learns all 1002 prefixes from BIRD', async () => {
    const s = await waitFor('Established with 1002 learned', 40_000, async () => {
      const st = await status();
      return firstPeer(st)?.state === 'Established' && st['learned'] === 1002 ? st : undefined;
    });
    const peer = firstPeer(s);
    expect(peer).toMatchObject({ address: BIRD_IP, state: 'Established', received: 1002, accepted: 1002, advertised: 2 });
    const routes = s['routes'] as Record<string, string>;
    expect(routes['10.66.1.0/24']).toBe(`65002 via ${BIRD_IP} (onlyPath)`);
    expect(routes['10.100.0.0/24']).toBeDefined();
    expect(birdc('show', 'protocols', 'bgp_peer')).toMatch(/Established/);
  }, 60_000);

  it('our originated prefixes are in BIRD\'s table with AS_PATH 65001 and our next hop', async () => {
    const out = await waitFor('BIRD learned 10.200.1.0/24', 20_000, () => {
      const o = birdc('show', 'route', '10.200.1.0/24', 'all');
      return /AS65001|65001/.test(o) ? o : undefined;
    });
    expect(out).toMatch(/BGP.as_path: 65001/);
    expect(out).toMatch(new RegExp(`BGP.next_hop: ${US_IP.replace(/\./g, '\\.')}`));
    expect(out).toMatch(/BGP.origin: IGP/);
    expect(birdc('show', 'route', '10.200.2.0/24')).toMatch(/10\.200\.2\.0\/24/);
  }, 30_000);

  it('a withdraw from our side disappears from BIRD', async () => {
    await us?.request('withdraw 10.200.2.0/24');
    await waitFor('BIRD drops 10.200.2.0/24', 15_000, () => !/10\.200\.2\.0\/24/.test(birdc('show', 'route', '10.200.2.0/24')));
    await us?.request('originate 10.200.2.0/24');
    await waitFor('BIRD re-learns 10.200.2.0/24', 15_000, () => /10\.200\.2\.0\/24/.test(birdc('show', 'route', '10.200.2.0/24')));
  }, 40_000);

  it('a withdraw in BIRD (disable static_out) propagates, enable brings the routes back', async () => {
    birdc('disable', 'static_out');
    await waitFor('0 learned after BIRD withdraw', 20_000, async () => (await status())['learned'] === 0);
    birdc('enable', 'static_out');
    await waitFor('1002 learned again', 20_000, async () => (await status())['learned'] === 1002);
  }, 50_000);

  it('answers BIRD\'s ROUTE-REFRESH (birdc reload in) with BoRR, the table and EoRR', async () => {
    const before = birdc('show', 'protocols', 'all', 'bgp_peer');
    expect(before).toMatch(/Established/);
    birdc('reload', 'in', 'bgp_peer');
    await waitFor('ROUTE-REFRESH handled', 10_000, () => /ROUTE-REFRESH received, re-sending 2 routes/.test(us?.stderr() ?? ''));
    expect(firstPeer(await status())?.state).toBe('Established');
    expect(birdc('show', 'route', '10.200.1.0/24')).toMatch(/10\.200\.1\.0\/24/);
  }, 20_000);

  it('session reset by NOTIFICATION (birdc disable) is handled and re-established after enable', async () => {
    birdc('disable', 'bgp_peer', '"vgwtest maintenance"');
    const down = await waitFor('session down with Cease', 20_000, async () => {
      const p = firstPeer(await status());
      return p && p.state !== 'Established' && p.lastError ? p : undefined;
    });
    expect(down.lastError).toMatch(/Cease 6\/2 "vgwtest maintenance"/);
    expect((await status())['learned']).toBe(0);
    birdc('enable', 'bgp_peer');
    await waitFor('re-established with 1002 learned', 40_000, async () => {
      const st = await status();
      return firstPeer(st)?.state === 'Established' && st['learned'] === 1002;
    });
    await waitFor('BIRD re-learns our routes', 15_000, () => /10\.200\.1\.0\/24/.test(birdc('show', 'route', '10.200.1.0/24')));
  }, 70_000);

  it('max-prefix: a speaker limited to 500 prefixes sends Cease 6/1 and logs it clearly', async () => {
    await us?.request('quit', 3_000).catch(() => undefined);
    us?.kill();
    await waitFor('BIRD sees the old session go', 15_000, () => !/Established/.test(birdc('show', 'protocols', 'bgp_peer')));
    us = await startSpeaker(NS_US, {
      localAsn: 65001,
      routerId: US_IP,
      listen: { address: '0.0.0.0', port: 179 },
      connectRetryTime: 3,
      idleHoldTime: 30,
      peers: [{ address: BIRD_IP, asn: 65002, maxPrefixes: 500 }],
    });
    await waitFor('max-prefix log line', 30_000, () => /maximum prefix limit 500 exceeded \(\d+ prefixes\), sending Cease\/Maximum Number of Prefixes Reached/.test(us?.stderr() ?? ''));
    const p = firstPeer(await us.request('status'));
    expect(p?.state).not.toBe('Established');
    expect(p?.lastError).toMatch(/sent Cease 6\/1/);
    expect((await us.request('status'))['learned']).toBe(0);
    expect(birdc('show', 'protocols', 'all', 'bgp_peer')).toMatch(/Maximum number of prefixes reached/i);
  }, 60_000);

  it('BIRD log shows no protocol errors about our messages', () => {
    const log = existsSync(path.join(dir, 'bird.log')) ? readFileSync(path.join(dir, 'bird.log'), 'utf8') : '';
    if (process.env['VGW_TEST_DUMP']) console.log(log, us?.stderr());
    expect(log).not.toMatch(/Error: |Malformed|Invalid/);
  });
});
