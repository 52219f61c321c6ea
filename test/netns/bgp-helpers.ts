/**
 * Shared helpers for the BGP netns interop tests: namespaces, the compiled
 * speaker harness (dist/bgp/cli-test-speaker.js) and bounded waits.
 * Every process started here is killed by PID; every wait has a deadline.
 */
import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { existsSync, statSync, readdirSync } from 'node:fs';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import path from 'node:path';

export const ROOT = path.resolve(fileURLToPath(new URL('../..', import.meta.url)));
export const HARNESS = path.join(ROOT, 'dist/bgp/cli-test-speaker.js');

export function run(cmd: string, args: string[], timeoutMs = 20_000): string {
  return execFileSync(cmd, args, { encoding: 'utf8', timeout: timeoutMs, stdio: ['ignore', 'pipe', 'pipe'] });
}

export function tryRun(cmd: string, args: string[], timeoutMs = 20_000): string {
  try {
    return run(cmd, args, timeoutMs);
  } catch (e) {
    const err = e as { stdout?: string; stderr?: string };
    return `${err.stdout ?? ''}${err.stderr ?? ''}`;
  }
}

export function isRoot(): boolean {
  return typeof process.getuid === 'function' && process.getuid() === 0;
}

/** Two namespaces joined by one veth pair, no other interfaces, no default routes. */
export function createPair(nsA: string, addrA: string, nsB: string, addrB: string, prefixLen = 24): void {
  deletePair(nsA, nsB);
  run('ip', ['netns', 'add', nsA]);
  run('ip', ['netns', 'add', nsB]);
  run('ip', ['link', 'add', 'name', 'vbgp0', 'netns', nsA, 'type', 'veth', 'peer', 'name', 'vbgp0', 'netns', nsB]);
  for (const [ns, addr] of [[nsA, addrA], [nsB, addrB]] as const) {
    run('ip', ['-n', ns, 'link', 'set', 'lo', 'up']);
    run('ip', ['-n', ns, 'addr', 'add', `${addr}/${prefixLen}`, 'dev', 'vbgp0']);
    run('ip', ['-n', ns, 'link', 'set', 'vbgp0', 'up']);
  }
}

export function deletePair(...names: string[]): void {
  for (const ns of names) {
    // kill anything left in the namespace (only our own namespaces, by PID)
    const pids = tryRun('ip', ['netns', 'pids', ns]).split(/\s+/).filter((p) => /^\d+$/.test(p));
    for (const pid of pids) {
      try {
        process.kill(Number(pid), 'SIGKILL');
      } catch {
        /* already gone */
      }
    }
    tryRun('ip', ['netns', 'del', ns]);
  }
}

function newestMtime(dir: string): number {
  let t = 0;
  for (const f of readdirSync(dir)) if (f.endsWith('.ts')) t = Math.max(t, statSync(path.join(dir, f)).mtimeMs);
  return t;
}

/** Compile the bgp/ sources into dist/ (same layout as `npm run build`) when stale. */
export function buildHarness(): void {
  const index = path.join(ROOT, 'dist/bgp/index.js');
  const newest = newestMtime(path.join(ROOT, 'bgp'));
  if (existsSync(HARNESS) && existsSync(index) && statSync(HARNESS).mtimeMs >= newest && statSync(index).mtimeMs >= newest) return;
  const tsc = path.join(ROOT, 'node_modules/.bin/tsc');
  run(
    tsc,
    ['--outDir', 'dist', '--rootDir', '.', '--module', 'NodeNext', '--moduleResolution', 'NodeNext', '--target', 'ES2022', '--strict',
      '--noUncheckedIndexedAccess', '--skipLibCheck', '--types', 'node', '--sourceMap', 'bgp/cli-test-speaker.ts', 'bgp/index.ts'],
    120_000,
  );
}

export interface SpeakerProcess {
  child: ChildProcess;
  request(cmd: string, timeoutMs?: number): Promise<Record<string, unknown>>;
  stderr(): string;
  kill(): void;
}

/** Start the harness in a namespace and wait for its {"ready":true}. */
export async function startSpeaker(ns: string, config: object): Promise<SpeakerProcess> {
  const child = spawn('ip', ['netns', 'exec', ns, process.execPath, HARNESS, JSON.stringify(config)], { stdio: ['pipe', 'pipe', 'pipe'] });
  let err = '';
  child.stderr?.on('data', (d: Buffer) => {
    err += d.toString();
    if (err.length > 200_000) err = err.slice(-100_000);
  });
  const waiting: ((v: Record<string, unknown>) => void)[] = [];
  const rl = createInterface({ input: child.stdout as NodeJS.ReadableStream });
  rl.on('line', (line) => waiting.shift()?.(JSON.parse(line) as Record<string, unknown>));
  const next = (timeoutMs: number): Promise<Record<string, unknown>> =>
    new Promise((resolve, reject) => {
      const t = setTimeout(() => reject(new Error(`speaker did not answer within ${timeoutMs} ms; stderr:\n${err.slice(-3000)}`)), timeoutMs);
      waiting.push((v) => {
        clearTimeout(t);
        resolve(v);
      });
    });
  const ready = next(15_000);
  const proc: SpeakerProcess = {
    child,
    request(cmd, timeoutMs = 5_000) {
      const p = next(timeoutMs);
      child.stdin?.write(`${cmd}\n`);
      return p;
    },
    stderr: () => err,
    kill() {
      if (child.pid !== undefined && child.exitCode === null) {
        try {
          process.kill(child.pid, 'SIGKILL');
        } catch {
          /* gone */
        }
      }
    },
  };
  await ready;
  return proc;
}

/** Poll `probe` until it returns a truthy value or the deadline passes. */
export async function waitFor<T>(what: string, timeoutMs: number, probe: () => Promise<T | undefined | false> | T | undefined | false): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  let last: unknown;
  for (;;) {
    try {
      const v = await probe();
      if (v) return v;
      last = v;
    } catch (e) {
      last = e;
    }
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what} (last: ${String(last)})`);
    await new Promise((r) => setTimeout(r, 250));
  }
}

export interface PeerJson {
  address: string;
  state: string;
  received: number;
  accepted: number;
  advertised: number;
  lastError?: string;
}

export function firstPeer(status: Record<string, unknown>): PeerJson | undefined {
  return (status['peers'] as PeerJson[] | undefined)?.[0];
}
