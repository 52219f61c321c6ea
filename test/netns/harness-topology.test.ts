/**
 * Self-test of the namespace harness without any VPN daemon: the topologies are
 * wired as documented, the "internet" works, and the sites are NOT connected until
 * something on the gateways builds a tunnel.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { canRunNetns, MissingPrerequisiteError, type Prerequisite, requireOrSkip, skipLabel } from '../helpers/env.js';
import { isAlive } from './lib/proc.js';
import {
  createMultiSite,
  createSiteToSite,
  listNamespaces,
  type MultiSiteTopology,
  ping,
  type SiteToSiteTopology,
  tcpTransfer,
  waitFor,
} from './lib/topology.js';
import { parsePingOutput } from './lib/traffic.js';

describe('requireOrSkip', () => {
  const missing: Prerequisite = { name: 'unicorn', ok: false, reason: '/usr/bin/unicorn missing' };
  const present: Prerequisite = { name: 'ip', ok: true, reason: '' };
  const withCi = <T>(value: string | undefined, fn: () => T): T => {
    const saved = process.env.CI;
    if (value === undefined) delete process.env.CI;
    else process.env.CI = value;
    try {
      return fn();
    } finally {
      if (saved === undefined) delete process.env.CI;
      else process.env.CI = saved;
    }
  };

  it('skips outside CI and throws in CI when a prerequisite is missing', () => {
    expect(withCi(undefined, () => requireOrSkip(present, missing))).toBe(true);
    expect(() => withCi('true', () => requireOrSkip(present, missing))).toThrow(MissingPrerequisiteError);
    expect(() => withCi('true', () => requireOrSkip(missing))).toThrow(/unicorn missing/);
  });

  it('runs when everything is present, in CI or not', () => {
    expect(withCi('true', () => requireOrSkip(present))).toBe(false);
    expect(withCi(undefined, () => requireOrSkip(present))).toBe(false);
    expect(skipLabel(present, missing)).toBe(' (skipped: unicorn: /usr/bin/unicorn missing)');
  });
});

describe('ping output parser', () => {
  it.each([
    {
      name: 'all replies',
      out: '3 packets transmitted, 3 received, 0% packet loss, time 402ms\nrtt min/avg/max/mdev = 0.041/0.058/0.079/0.015 ms\n',
      want: { sent: 3, received: 3, lossPct: 0, rttAvgMs: 0.058 },
    },
    {
      name: 'unreachable with errors',
      out: '3 packets transmitted, 0 received, +3 errors, 100% packet loss, time 2041ms\n',
      want: { sent: 3, received: 0, lossPct: 100, rttAvgMs: undefined },
    },
    {
      name: 'partial loss',
      out: '4 packets transmitted, 3 received, 25% packet loss, time 3004ms\nrtt min/avg/max/mdev = 1.000/2.500/4.000/1.000 ms',
      want: { sent: 4, received: 3, lossPct: 25, rttAvgMs: 2.5 },
    },
  ])('$name', ({ out, want }) => {
    expect(parsePingOutput(out)).toMatchObject(want);
  });

  it('rejects output without a summary', () => {
    expect(() => parsePingOutput('ping: connect: Network is unreachable')).toThrow(/cannot parse ping output/);
  });
});

describe.skipIf(requireOrSkip(canRunNetns))(`site-to-site topology${skipLabel(canRunNetns)}`, () => {
  let topo: SiteToSiteTopology;

  beforeAll(async () => {
    topo = await createSiteToSite('vgwt');
  });
  afterAll(async () => {
    await topo?.destroy();
  });

  it('hostA reaches gwA and gwA reaches gwB over the internet link', async () => {
    const lan = await ping(topo.ns.hostA, topo.addr.gwALan, { count: 2, intervalS: 0.1 });
    expect(lan.received, lan.output).toBe(2);
    const wan = await ping(topo.ns.gwA, topo.addr.gwBWan, { count: 2, intervalS: 0.1 });
    expect(wan.received, wan.output).toBe(2);
    const lanB = await ping(topo.ns.hostB, topo.addr.gwBLan, { count: 2, intervalS: 0.1 });
    expect(lanB.received, lanB.output).toBe(2);
  });

  it('hostA cannot reach hostB without a tunnel (gwA has no route to site B)', async () => {
    const route = await topo.exec(topo.ns.gwA, 'ip', ['route', 'get', topo.addr.hostB]);
    expect(route.code, route.stdout).not.toBe(0);
    expect(route.stderr).toMatch(/unreachable/i);
    const p = await ping(topo.ns.hostA, topo.addr.hostB, { count: 2, intervalS: 0.1, timeoutS: 1 });
    expect(p.received).toBe(0);
  });

  it('gateways forward and do no reverse-path filtering; nothing has a default route', async () => {
    for (const gw of [topo.ns.gwA, topo.ns.gwB]) {
      const r = await topo.mustExec(gw, 'sysctl', ['-n', 'net.ipv4.ip_forward', 'net.ipv4.conf.all.rp_filter', 'net.ipv4.conf.wan0.rp_filter']);
      expect(r.stdout.trim().split('\n')).toEqual(['1', '0', '0']);
    }
    for (const ns of topo.namespaces) {
      const r = await topo.mustExec(ns, 'ip', ['-4', 'route', 'show', 'default']);
      expect(r.stdout.trim(), ns).toBe('');
    }
  });

  it('runs a bounded TCP transfer inside one site (node method, SHA-256 checked)', async () => {
    const result = await tcpTransfer(topo.ns.hostA, topo.ns.gwA, topo.addr.gwALan, 300_000, { method: 'node' });
    expect(result, result.detail).toMatchObject({ ok: true, bytes: 300_000, method: 'node' });
  });

  it('spawned processes are tracked and stopped by destroy()', async () => {
    const sleeper = topo.spawn(topo.ns.hostB, 'sleep', ['300']);
    await waitFor(() => isAlive(sleeper.pid), 2000, 50, 'sleep to start');
    expect(topo.processes()).toContain(sleeper);
    const exec = await topo.exec(topo.ns.hostB, 'sh', ['-c', 'exit 3']);
    expect(exec.code).toBe(3);
  });

  it('waitFor reports what it waited for', async () => {
    await expect(waitFor(() => false, 100, 20, 'the impossible')).rejects.toThrow(/the impossible/);
  });
});

describe.skipIf(requireOrSkip(canRunNetns))(`multi-site topology${skipLabel(canRunNetns)}`, () => {
  let topo: MultiSiteTopology;

  beforeAll(async () => {
    topo = await createMultiSite('vgwm');
  });
  afterAll(async () => {
    await topo?.destroy();
    expect(listNamespaces().filter((n) => n.startsWith('vgwm-'))).toEqual([]);
  });

  it('all gateways reach each other over the bridge in the inet namespace', async () => {
    const pairs: Array<[string, string]> = [
      [topo.ns.gwA, topo.addr.gwBWan],
      [topo.ns.gwA, topo.addr.gwCWan],
      [topo.ns.gwB, topo.addr.gwCWan],
    ];
    for (const [from, to] of pairs) {
      const p = await ping(from, to, { count: 2, intervalS: 0.1 });
      expect(p.received, `${from} -> ${to}\n${p.output}`).toBe(2);
    }
    const bridge = await topo.mustExec(topo.ns.inet, 'ip', ['-o', 'link', 'show', 'master', 'br0']);
    expect(bridge.stdout.trim().split('\n')).toHaveLength(3);
  });

  it('hostC reaches its gateway but not the other sites', async () => {
    const lan = await ping(topo.ns.hostC, topo.addr.gwCLan, { count: 1 });
    expect(lan.received, lan.output).toBe(1);
    const far = await ping(topo.ns.hostC, topo.addr.hostA, { count: 1, timeoutS: 1 });
    expect(far.received).toBe(0);
  });
});

describe.skipIf(requireOrSkip(canRunNetns))(`topology teardown${skipLabel(canRunNetns)}`, () => {
  it('destroy() kills spawned processes by PID, removes namespaces, and is idempotent', async () => {
    const topo = await createSiteToSite('vgwd');
    const sleeper = topo.spawn(topo.ns.gwA, 'sleep', ['300']);
    // A process that ignores SIGTERM must still be gone (SIGKILL after 3 s).
    const stubborn = topo.spawn(topo.ns.gwB, 'sh', ['-c', 'trap "" TERM; echo ready; while :; do sleep 0.2; done']);
    await waitFor(() => isAlive(sleeper.pid) && stubborn.output().includes('ready'), 3000, 50, 'processes to start');
    await topo.destroy();
    await topo.destroy();
    expect(isAlive(sleeper.pid)).toBe(false);
    expect(isAlive(stubborn.pid)).toBe(false);
    expect(await sleeper.exited).toEqual({ code: null, signal: 'SIGTERM' });
    expect(await stubborn.exited).toEqual({ code: null, signal: 'SIGKILL' });
    expect(listNamespaces().filter((n) => n.startsWith('vgwd-'))).toEqual([]);
  });

  it('creation removes leftovers of a crashed run with the same prefix', async () => {
    const first = await createSiteToSite('vgwl');
    // Simulate a crash: no destroy(); a new topology with the same prefix must still build.
    const second = await createSiteToSite('vgwl');
    try {
      const p = await ping(second.ns.hostA, second.addr.gwALan, { count: 1 });
      expect(p.received).toBe(1);
    } finally {
      await second.destroy();
      await first.destroy();
    }
    expect(listNamespaces().filter((n) => n.startsWith('vgwl-'))).toEqual([]);
  });
});
