/**
 * BGP convergence benchmark: time to learn and install 1000, 10,000 and
 * 100,000 prefixes, and the memory used, for our speaker and for BIRD 2 on
 * the same feed.
 *
 *   ns bgpb-rx (us)  198.51.100.2 ── vbgp0 ═ vbgp0 ── 198.51.100.1  ns bgpb-feed: BIRD AS65002, N static /24s
 *   ns bgpb-bird     203.0.113.2  ── vbgp1 ═ vbgp1 ── 203.0.113.1         (exports them to both receivers)
 *
 * Both receivers start at the same moment once the feeder runs; "installed"
 * means in the receiver's kernel table (ours: `ip -batch` onto its veth,
 * `proto bgp`, exactly what the gateway does into vgw0, plus the dataplane's
 * learned-route table; BIRD: its kernel protocol, `proto bird`). Memory: our
 * process RSS and V8 heap growth, BIRD's `show memory` total. Needs root,
 * bird2 and a build (`npm run build`); every wait is bounded.
 *
 *   node dist/bench/bgp-convergence.js [--sizes 1000,10000,100000] [--json FILE]
 */
import { spawn, execFileSync, type ChildProcess } from 'node:child_process';
import { mkdtempSync, writeFileSync, existsSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { createInterface } from 'node:readline';
import { pino } from 'pino';
import { BgpSpeaker, BgpState } from '../bgp/index.js';
import { LearnedRoutes } from '../dataplane/learned-routes.js';
import { runIpBatch } from '../dataplane/iproute.js';
import { kernelBatchLines, LearnedRouteProgrammer } from '../daemon/bgp-routes.js';

const BIRD = '/usr/sbin/bird';
const BIRDC = '/usr/sbin/birdc';
const NS = { feed: 'bgpb-feed', rx: 'bgpb-rx', bird: 'bgpb-bird' } as const;
const TIMEOUT_MS = 180_000;
/** Our receiver installs into its veth (a dummy device needs a module that may be missing). */
const RX_DEV = 'vbgp0';

// ------------------------------------------------------------------ receiver (runs inside bgpb-rx)

async function receiver(expected: number): Promise<void> {
  const t0 = performance.now();
  const mem0 = process.memoryUsage();
  const out = (o: Record<string, unknown>) => process.stdout.write(`${JSON.stringify(o)}\n`);
  const speaker = new BgpSpeaker({ localAsn: 65001, routerId: '198.51.100.2', listen: { address: '198.51.100.2' }, logger: pino({ level: 'warn' }, pino.destination(2)), idleHoldTime: 1, connectRetryTime: 2 });
  speaker.addPeer({ address: '198.51.100.1', asn: 65002, maxPrefixes: 0, holdTime: 90 });
  const table = new LearnedRoutes();
  const programmer = new LearnedRouteProgrammer({
    rib: speaker.rib,
    connectionOf: () => 'feed',
    dataplane: { setLearnedRoute: (p, c) => table.set(p, c) },
    kernel: (replace, remove) => runIpBatch(kernelBatchLines(RX_DEV, replace, remove), { timeoutMs: 120_000 }),
    ownPrefixes: [],
    protectedAddresses: ['198.51.100.1'],
  });
  speaker.rib.subscribeCandidates((p) => programmer.refresh(p));
  let established = 0;
  speaker.on('peerState', (ev) => {
    if (ev.to === BgpState.Established) {
      established = performance.now();
      out({ event: 'established', ms: established - t0 });
    }
  });
  await speaker.start();
  const deadline = Date.now() + TIMEOUT_MS;
  while (speaker.rib.size < expected) {
    if (Date.now() > deadline) throw new Error(`receiver: only ${speaker.rib.size}/${expected} learned`);
    await new Promise((r) => setTimeout(r, 5));
  }
  const learned = performance.now();
  await programmer.settled();
  const installed = performance.now();
  const mem = process.memoryUsage();
  out({
    event: 'done', learnedMs: learned - t0, installedMs: installed - t0, establishedMs: established - t0,
    learnedAfterEstablishedMs: learned - established, installedAfterEstablishedMs: installed - established,
    kernel: programmer.kernelCount, dataplane: table.size,
    rssMB: mem.rss / 2 ** 20, rssGrowthMB: (mem.rss - mem0.rss) / 2 ** 20, heapGrowthMB: (mem.heapUsed - mem0.heapUsed) / 2 ** 20,
  });
  await speaker.stop();
  process.exit(0);
}

// ------------------------------------------------------------------ driver

function sh(cmd: string, args: string[]): string {
  return execFileSync(cmd, args, { encoding: 'utf8', timeout: 60_000, maxBuffer: 256 * 2 ** 20, stdio: ['ignore', 'pipe', 'pipe'] });
}
function trySh(cmd: string, args: string[]): string {
  try { return sh(cmd, args); } catch { return ''; }
}

function cleanup(): void {
  for (const ns of Object.values(NS)) {
    for (const pid of trySh('ip', ['netns', 'pids', ns]).split(/\s+/).filter((p) => /^\d+$/.test(p))) {
      try { process.kill(Number(pid), 'SIGKILL'); } catch { /* gone */ }
    }
    trySh('ip', ['netns', 'del', ns]);
  }
}

function topology(): void {
  cleanup();
  for (const ns of Object.values(NS)) {
    sh('ip', ['netns', 'add', ns]);
    sh('ip', ['-n', ns, 'link', 'set', 'lo', 'up']);
  }
  const link = (ifn: string, other: string, a: string, b: string) => {
    sh('ip', ['link', 'add', ifn, 'netns', NS.feed, 'type', 'veth', 'peer', 'name', ifn, 'netns', other]);
    sh('ip', ['-n', NS.feed, 'addr', 'add', `${a}/24`, 'dev', ifn]);
    sh('ip', ['-n', other, 'addr', 'add', `${b}/24`, 'dev', ifn]);
    sh('ip', ['-n', NS.feed, 'link', 'set', ifn, 'up']);
    sh('ip', ['-n', other, 'link', 'set', ifn, 'up']);
  };
  link('vbgp0', NS.rx, '198.51.100.1', '198.51.100.2');
  link('vbgp1', NS.bird, '203.0.113.1', '203.0.113.2');
}

function prefixes(n: number): string[] {
  const out: string[] = [];
  for (let i = 0; i < n; i++) out.push(`${10 + Math.floor(i / 65536)}.${Math.floor(i / 256) % 256}.${i % 256}.0/24`);
  return out;
}

function startBird(ns: string, dir: string, name: string, conf: string): { proc: ChildProcess; ctl: string } {
  const cfg = path.join(dir, `${name}.conf`);
  const ctl = path.join(dir, `${name}.ctl`);
  writeFileSync(cfg, conf);
  const proc = spawn('ip', ['netns', 'exec', ns, BIRD, '-f', '-c', cfg, '-s', ctl, '-P', path.join(dir, `${name}.pid`)], { stdio: 'ignore' });
  return { proc, ctl };
}

async function until<T>(what: string, f: () => T | undefined | false, intervalMs = 50, timeoutMs = TIMEOUT_MS): Promise<T> {
  const end = Date.now() + timeoutMs;
  for (;;) {
    const v = f();
    if (v) return v;
    if (Date.now() > end) throw new Error(`timed out: ${what}`);
    await new Promise((r) => setTimeout(r, intervalMs));
  }
}

function kernelCount(ns: string, proto: string): number {
  const o = trySh('ip', ['-n', ns, 'route', 'show', 'proto', proto]);
  return o ? o.split('\n').filter(Boolean).length : 0;
}

/** BIRD's "Total:" memory line in bytes. */
function birdMemoryMB(ctl: string): number {
  const o = trySh(BIRDC, ['-s', ctl, 'show', 'memory']);
  const m = /Total:\s+([\d.]+)\s*(B|kB|MB|GB)/.exec(o);
  if (!m) return NaN;
  const mult = { B: 1 / 2 ** 20, kB: 1 / 1024, MB: 1, GB: 1024 }[m[2] as 'B' | 'kB' | 'MB' | 'GB'];
  return Number(m[1]) * mult;
}

export interface SizeResult {
  prefixes: number;
  /** ms since the receiver started; *AfterEstablished: since its session reached Established. */
  ours: { establishedMs: number; learnedMs: number; installedMs: number; installedAfterEstablishedMs: number; rssGrowthMB: number; heapGrowthMB: number; rssMB: number };
  bird: { establishedMs: number; installedMs: number; installedAfterEstablishedMs: number; memoryMB: number };
}

async function runSize(n: number, dir: string): Promise<SizeResult> {
  topology();
  const routes = prefixes(n);
  const feeder = startBird(NS.feed, dir, `feed-${n}`, [
    'router id 198.51.100.1;',
    'protocol device {}',
    'protocol static feed { ipv4; ' + routes.map((p) => `route ${p} blackhole;`).join(' ') + ' }',
    'template bgp tout { local as 65002; hold time 90; connect delay time 1; connect retry time 2; ipv4 { import none; export where proto = "feed"; }; }',
    'protocol bgp rx_us from tout { neighbor 198.51.100.2 as 65001; }',
    'protocol bgp rx_bird from tout { neighbor 203.0.113.2 as 65003; }',
  ].join('\n'));
  await until('feeder ready', () => existsSync(feeder.ctl) && /feed\s+Static\s+master4\s+up/.test(trySh(BIRDC, ['-s', feeder.ctl, 'show', 'protocols'])), 100, 30_000);

  const t0 = performance.now();
  const birdRx = startBird(NS.bird, dir, `rx-${n}`, [
    'router id 203.0.113.2;',
    'protocol device {}',
    'protocol kernel { ipv4 { import none; export all; }; }',
    'protocol bgp feed { local as 65003; neighbor 203.0.113.1 as 65002; hold time 90; connect delay time 1; ipv4 { import all; export none; }; }',
  ].join('\n'));
  const self = fileURLToPath(import.meta.url);
  const rx = spawn('ip', ['netns', 'exec', NS.rx, process.execPath, self, '--receiver', String(n)], { stdio: ['ignore', 'pipe', 'inherit'] });
  const lines: Record<string, unknown>[] = [];
  createInterface({ input: rx.stdout as NodeJS.ReadableStream }).on('line', (l) => { try { lines.push(JSON.parse(l) as Record<string, unknown>); } catch { /* not ours */ } });

  let birdInstalled = 0;
  let birdEstablished = 0;
  const birdDone = until(`BIRD: ${n} kernel routes`, () => {
    if (!birdEstablished && /Established/.test(trySh(BIRDC, ['-s', birdRx.ctl, 'show', 'protocols', 'feed']))) birdEstablished = performance.now() - t0;
    if (kernelCount(NS.bird, 'bird') >= n) birdInstalled = performance.now() - t0;
    return birdInstalled > 0;
  }, n > 10_000 ? 250 : 20); // listing 100k kernel routes takes a while itself
  const oursDone = until(`ours: ${n} routes`, () => {
    if (rx.exitCode !== null && !lines.some((l) => l.event === 'done')) throw new Error(`receiver exited with ${rx.exitCode}`);
    return lines.find((l) => l.event === 'done');
  }, 50);
  const [ours] = await Promise.all([oursDone, birdDone]);
  const memoryMB = birdMemoryMB(birdRx.ctl);
  if (process.env.BGP_BENCH_DEBUG) process.stderr.write(trySh(BIRDC, ['-s', birdRx.ctl, 'show', 'memory']));
  for (const p of [rx, birdRx.proc, feeder.proc]) if (p.pid !== undefined && p.exitCode === null) { try { process.kill(p.pid, 'SIGKILL'); } catch { /* gone */ } }
  cleanup();
  return {
    prefixes: n,
    ours: {
      establishedMs: Number(ours.establishedMs), learnedMs: Number(ours.learnedMs), installedMs: Number(ours.installedMs),
      installedAfterEstablishedMs: Number(ours.installedAfterEstablishedMs),
      rssGrowthMB: Number(ours.rssGrowthMB), heapGrowthMB: Number(ours.heapGrowthMB), rssMB: Number(ours.rssMB),
    },
    bird: { establishedMs: birdEstablished, installedMs: birdInstalled, installedAfterEstablishedMs: birdInstalled - birdEstablished, memoryMB },
  };
}

async function main(): Promise<void> {
  const argv = process.argv.slice(2);
  if (argv[0] === '--receiver') return receiver(Number(argv[1]));
  const sizesArg = argv.indexOf('--sizes');
  const sizes = sizesArg >= 0 ? (argv[sizesArg + 1] ?? '').split(',').map(Number) : [1000, 10_000, 100_000];
  const jsonArg = argv.indexOf('--json');
  if (process.getuid?.() !== 0) throw new Error('needs root (network namespaces)');
  if (!existsSync(BIRD)) throw new Error(`BIRD 2 not installed (${BIRD})`);
  const dir = mkdtempSync(path.join(tmpdir(), 'bgp-bench-'));
  const results: SizeResult[] = [];
  try {
    for (const n of sizes) {
      const r = await runSize(n, dir);
      results.push(r);
      const f = (x: number) => x.toFixed(0).padStart(7);
      process.stdout.write(`${String(n).padStart(7)} prefixes | ours: Established→learned ${f(r.ours.learnedMs - r.ours.establishedMs)} ms, →installed ${f(r.ours.installedAfterEstablishedMs)} ms, ` +
        `RSS +${r.ours.rssGrowthMB.toFixed(1)} MB (heap +${r.ours.heapGrowthMB.toFixed(1)} MB) | BIRD: Established→installed ${f(r.bird.installedAfterEstablishedMs)} ms (±poll interval), memory ${r.bird.memoryMB.toFixed(1)} MB\n`);
    }
  } finally {
    cleanup();
  }
  if (jsonArg >= 0 && argv[jsonArg + 1]) writeFileSync(argv[jsonArg + 1] as string, JSON.stringify(results, null, 2));
}

main().catch((err: unknown) => {
  if (process.argv[2] !== '--receiver') cleanup();
  process.stderr.write(`bgp-convergence: ${err instanceof Error ? err.message : String(err)}\n`);
  process.exit(1);
});
