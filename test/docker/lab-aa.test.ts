/**
 * The active-active + BGP docker lab end to end: runs .ci/docker-lab-aa.sh
 * (docker/labs/active-active-bgp: 4 tunnels between two active-active
 * gateways, a BGP session over each, routes learned from both instances,
 * pings; kill vnet1-gw-1: sessions to it drop, its routes are withdrawn, the
 * survivor takes its private address, pings go on through the surviving
 * tunnels; it comes back; tear down).
 *
 * Same skip rules as lab.test.ts: outside CI it is skipped when docker cannot
 * run here (or with VGW_SKIP_DOCKER_LAB=1); with CI=true it always runs.
 */
import { spawnSync } from 'node:child_process';
import { describe, expect, it } from 'vitest';
import { findExecutable } from '../helpers/env.js';

const inCi = process.env.CI === 'true' || process.env.CI === '1';

function dockerUnavailableReason(): string {
  if (process.env.VGW_SKIP_DOCKER_LAB === '1') return 'VGW_SKIP_DOCKER_LAB=1';
  if (!findExecutable('docker')) return 'docker is not installed';
  const info = spawnSync('docker', ['info', '--format', '{{.ServerVersion}}'], { encoding: 'utf8', timeout: 15_000 });
  if (info.status === 0) return '';
  const root = process.getuid?.() === 0;
  if (root && findExecutable('dockerd')) return ''; // the script starts dockerd
  return `docker daemon not reachable (${(info.stderr || '').trim().split('\n')[0] ?? ''})`;
}

const reason = inCi ? '' : dockerUnavailableReason();
const label = reason ? ` (skipped: ${reason})` : '';

describe.skipIf(reason !== '')(`docker lab: active-active dual redundancy with BGP${label}`, () => {
  it('4 tunnels, BGP over each, kill an instance: its routes are withdrawn and flows move; it comes back', () => {
    const run = spawnSync('bash', ['.ci/docker-lab-aa.sh'], {
      encoding: 'utf8',
      timeout: 8 * 60_000,
      killSignal: 'SIGTERM', // the script's trap tears the lab down
      maxBuffer: 16 * 1024 * 1024,
    });
    const out = `${run.stdout ?? ''}${run.stderr ?? ''}`;
    const okLines = out.split('\n').filter((l) => l.startsWith('ok   - '));
    const count = (check: string) => okLines.filter((l) => l.includes(check)).length;
    expect(run.error, out).toBeUndefined();
    expect(out, out).not.toMatch(/^FAIL - /m);
    const want: Array<[string, number]> = [
      ['4 tunnels up', 1],
      ['BGP Established with', 8], // 4 instances, before the kill and after the restart
      ['-> 10.1.0.4', 3], ['-> 10.2.0.4', 3], // pings before, after the kill, after the restart
      ['killed vnet1-gw-1', 1],
      ['its routes withdrawn', 2],
      ['took vnet1-gw-1\'s private address', 1],
      ['flows moved to the surviving tunnels', 1],
      ['vnet1-gw-1 back', 1],
      ['gave 10.1.255.11 back', 1],
      ['nothing left behind', 1],
    ];
    for (const [check, n] of want) expect(count(check), `want ${n}× "ok - …${check}…" in:\n${out}`).toBe(n);
    expect(out).toMatch(/docker-lab-aa: PASS/);
    expect(run.status, out).toBe(0);
  }, 9 * 60_000);
});
