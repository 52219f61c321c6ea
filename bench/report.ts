/**
 * Renders a bench/dataplane.sh run directory into a markdown table and a
 * machine-readable JSON:
 *
 *   node dist/bench/report.js RAW_DIR OUT.json [OUT.md]
 *
 * RAW_DIR/<tunnel>/r<N>/ holds iperf3 -J output (tcp1, tcp4, udp1300,
 * udp64), their .cpu.json (daemon CPU ticks, wall seconds, load average),
 * ping-idle.txt / ping-load.txt and status.json. Figures are medians over
 * the rounds, with [min–max].
 */
import { existsSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';

export interface RoundFigures {
  round: number;
  status: string;
  mtu?: number;
  setupS?: number;
  tcp1Gbps?: number;
  tcp4Gbps?: number;
  tcp1Retransmits?: number;
  udp1300Kpps?: number;
  udp1300Mbps?: number;
  udp1300LossPct?: number;
  udp64Kpps?: number;
  udp64LossPct?: number;
  pingIdleMs?: number;
  pingIdleMaxMs?: number;
  pingLoadMs?: number;
  /** Idle ping again after the load tests (daemon warmed up). */
  pingIdleAfterMs?: number;
  /** Daemon CPU seconds (both gateways) per GB delivered, per test. */
  cpuSPerGbTcp1?: number;
  mbPerCpuSTcp1?: number;
  mbPerCpuSTcp4?: number;
  mbPerCpuSUdp1300?: number;
  daemonCpuPctTcp1?: number;
  load?: string;
}

type Num = keyof { [K in keyof RoundFigures as RoundFigures[K] extends number | undefined ? K : never]: true };

interface Stat {
  median: number;
  min: number;
  max: number;
  n: number;
}

function readJson(path: string): unknown {
  if (!existsSync(path)) return undefined;
  try {
    return JSON.parse(readFileSync(path, 'utf8')) as unknown;
  } catch {
    return undefined;
  }
}

function get(obj: unknown, ...keys: string[]): unknown {
  let cur = obj;
  for (const k of keys) {
    if (cur === null || typeof cur !== 'object') return undefined;
    cur = (cur as Record<string, unknown>)[k];
  }
  return cur;
}

function num(v: unknown): number | undefined {
  return typeof v === 'number' && Number.isFinite(v) ? v : undefined;
}

interface CpuSample {
  ticks: number;
  wall: number;
  load: string;
}

function readCpu(dir: string, name: string): CpuSample | undefined {
  const j = readJson(join(dir, `${name}.cpu.json`));
  const ticks = num(get(j, 'ticks'));
  const wall = num(get(j, 'wall'));
  if (ticks === undefined || wall === undefined) return undefined;
  return { ticks, wall, load: String(get(j, 'load') ?? '') };
}

/** `rtt min/avg/max/mdev = 0.041/0.063/0.112/0.010 ms` → avg, max. */
export function parsePing(text: string): { avg: number; max: number; lossPct: number } | undefined {
  const m = /= ([\d.]+)\/([\d.]+)\/([\d.]+)\/([\d.]+) ms/.exec(text);
  const loss = /([\d.]+)% packet loss/.exec(text);
  if (!m) return undefined;
  return { avg: Number(m[2]), max: Number(m[3]), lossPct: loss ? Number(loss[1]) : 0 };
}

/** Delivered bytes and rates of an iperf3 -u -J run (loss counted at the receiver). */
export function parseUdp(j: unknown, payload: number): { kpps: number; mbps: number; lossPct: number; bytes: number } | undefined {
  const packets = num(get(j, 'end', 'sum', 'packets'));
  const lost = num(get(j, 'end', 'sum', 'lost_packets'));
  const seconds = num(get(j, 'end', 'sum', 'seconds'));
  if (packets === undefined || lost === undefined || !seconds) return undefined;
  const delivered = Math.max(0, packets - lost);
  return {
    kpps: delivered / seconds / 1000,
    mbps: (delivered * payload * 8) / seconds / 1e6,
    lossPct: packets > 0 ? (100 * lost) / packets : 0,
    bytes: delivered * payload,
  };
}

export function parseTcp(j: unknown): { gbps: number; bytes: number; retransmits: number } | undefined {
  const bps = num(get(j, 'end', 'sum_received', 'bits_per_second'));
  const bytes = num(get(j, 'end', 'sum_received', 'bytes'));
  if (bps === undefined || bytes === undefined) return undefined;
  return { gbps: bps / 1e9, bytes, retransmits: num(get(j, 'end', 'sum_sent', 'retransmits')) ?? 0 };
}

function mbPerCpuS(bytes: number | undefined, cpu: CpuSample | undefined, clkTck: number): number | undefined {
  if (bytes === undefined || !cpu || cpu.ticks <= 0) return undefined;
  return bytes / 1e6 / (cpu.ticks / clkTck);
}

export function readRound(dir: string, round: number, clkTck: number): RoundFigures {
  const status = readJson(join(dir, 'status.json'));
  const f: RoundFigures = { round, status: String(get(status, 'status') ?? 'missing') };
  if (f.status !== 'ok') return f;
  f.mtu = num(get(status, 'mtu'));
  f.setupS = num(get(status, 'setup'));
  const tcp1 = parseTcp(readJson(join(dir, 'tcp1.json')));
  const tcp4 = parseTcp(readJson(join(dir, 'tcp4.json')));
  const u1300 = parseUdp(readJson(join(dir, 'udp1300.json')), 1300);
  const u64 = parseUdp(readJson(join(dir, 'udp64.json')), 64);
  const c1 = readCpu(dir, 'tcp1');
  const c4 = readCpu(dir, 'tcp4');
  const cu = readCpu(dir, 'udp1300');
  f.tcp1Gbps = tcp1?.gbps;
  f.tcp1Retransmits = tcp1?.retransmits;
  f.tcp4Gbps = tcp4?.gbps;
  f.udp1300Kpps = u1300?.kpps;
  f.udp1300Mbps = u1300?.mbps;
  f.udp1300LossPct = u1300?.lossPct;
  f.udp64Kpps = u64?.kpps;
  f.udp64LossPct = u64?.lossPct;
  const idle = existsSync(join(dir, 'ping-idle.txt')) ? parsePing(readFileSync(join(dir, 'ping-idle.txt'), 'utf8')) : undefined;
  const load = existsSync(join(dir, 'ping-load.txt')) ? parsePing(readFileSync(join(dir, 'ping-load.txt'), 'utf8')) : undefined;
  f.pingIdleMs = idle?.avg;
  f.pingIdleMaxMs = idle?.max;
  f.pingLoadMs = load?.avg;
  const after = existsSync(join(dir, 'ping-idle-after.txt')) ? parsePing(readFileSync(join(dir, 'ping-idle-after.txt'), 'utf8')) : undefined;
  f.pingIdleAfterMs = after?.avg;
  f.mbPerCpuSTcp1 = mbPerCpuS(tcp1?.bytes, c1, clkTck);
  f.mbPerCpuSTcp4 = mbPerCpuS(tcp4?.bytes, c4, clkTck);
  f.mbPerCpuSUdp1300 = mbPerCpuS(u1300?.bytes, cu, clkTck);
  if (f.mbPerCpuSTcp1 !== undefined) f.cpuSPerGbTcp1 = 1000 / f.mbPerCpuSTcp1;
  if (c1 && c1.wall > 0 && c1.ticks > 0) f.daemonCpuPctTcp1 = (100 * c1.ticks) / clkTck / c1.wall;
  f.load = c1?.load;
  return f;
}

export function stat(values: Array<number | undefined>): Stat | undefined {
  const v = values.filter((x): x is number => x !== undefined).sort((a, b) => a - b);
  if (v.length === 0) return undefined;
  const mid = Math.floor(v.length / 2);
  const median = v.length % 2 ? v[mid]! : (v[mid - 1]! + v[mid]!) / 2;
  return { median, min: v[0]!, max: v[v.length - 1]!, n: v.length };
}

function fmt(s: Stat | undefined, digits: number): string {
  if (!s) return 'n/a';
  const f = (x: number): string => x.toFixed(digits);
  return s.n > 1 ? `${f(s.median)} [${f(s.min)}–${f(s.max)}]` : f(s.median);
}

const COLUMNS: Array<{ key: Num; title: string; digits: number; higherIsBetter: boolean }> = [
  { key: 'tcp1Gbps', title: 'TCP 1 stream Gbit/s', digits: 3, higherIsBetter: true },
  { key: 'tcp4Gbps', title: 'TCP 4 streams Gbit/s', digits: 3, higherIsBetter: true },
  { key: 'udp1300Kpps', title: 'UDP 1300 B delivered kpps', digits: 1, higherIsBetter: true },
  { key: 'udp1300LossPct', title: 'UDP 1300 B loss %', digits: 1, higherIsBetter: false },
  { key: 'udp64Kpps', title: 'UDP 64 B delivered kpps', digits: 1, higherIsBetter: true },
  { key: 'pingIdleMs', title: 'ping idle ms', digits: 3, higherIsBetter: false },
  { key: 'pingLoadMs', title: 'ping under load ms', digits: 3, higherIsBetter: false },
  { key: 'pingIdleAfterMs', title: 'ping idle after load ms', digits: 3, higherIsBetter: false },
  { key: 'mbPerCpuSTcp1', title: 'MB per daemon CPU-s (TCP 1)', digits: 0, higherIsBetter: true },
  { key: 'cpuSPerGbTcp1', title: 'daemon CPU-s per GB (TCP 1)', digits: 1, higherIsBetter: false },
  { key: 'daemonCpuPctTcp1', title: 'daemon CPU % (TCP 1)', digits: 0, higherIsBetter: false },
  { key: 'tcp1Retransmits', title: 'TCP 1 retransmits', digits: 0, higherIsBetter: false },
  { key: 'mtu', title: 'tunnel MTU', digits: 0, higherIsBetter: true },
];

const RATIO_KEYS: Array<{ key: Num; title: string }> = [
  { key: 'tcp1Gbps', title: 'TCP 1' },
  { key: 'tcp4Gbps', title: 'TCP 4' },
  { key: 'udp1300Kpps', title: 'UDP 1300 kpps' },
  { key: 'udp64Kpps', title: 'UDP 64 kpps' },
  { key: 'mbPerCpuSTcp1', title: 'MB/CPU-s' },
];

export interface Report {
  meta: unknown;
  tunnels: Record<string, { rounds: RoundFigures[]; median: Partial<Record<Num, Stat>> }>;
  ratios: Record<string, Partial<Record<Num, number>>>;
  addedLatencyIdleMs?: number;
  addedLatencyIdleAfterMs?: number;
}

export function buildReport(rawDir: string): Report {
  const meta = readJson(join(rawDir, 'meta.json'));
  const clkTck = num(get(meta, 'clkTck')) ?? 100;
  const order = String(get(meta, 'tunnels') ?? '').split(' ').filter(Boolean);
  const dirs = readdirSync(rawDir, { withFileTypes: true }).filter((d) => d.isDirectory()).map((d) => d.name);
  const names = [...order.filter((t) => dirs.includes(t)), ...dirs.filter((d) => !order.includes(d))];
  const tunnels: Report['tunnels'] = {};
  for (const t of names) {
    const rounds = readdirSync(join(rawDir, t))
      .filter((r) => /^r\d+$/.test(r))
      .map((r) => readRound(join(rawDir, t, r), Number(r.slice(1)), clkTck))
      .sort((a, b) => a.round - b.round);
    const median: Partial<Record<Num, Stat>> = {};
    for (const c of COLUMNS) {
      const s = stat(rounds.map((r) => r[c.key]));
      if (s) median[c.key] = s;
    }
    tunnels[t] = { rounds, median };
  }
  const ratios: Report['ratios'] = {};
  const ours = tunnels['vgwd'];
  if (ours) {
    for (const [peer, v] of Object.entries(tunnels)) {
      if (peer === 'vgwd') continue;
      const r: Partial<Record<Num, number>> = {};
      for (const { key } of RATIO_KEYS) {
        const a = ours.median[key]?.median;
        const b = v.median[key]?.median;
        if (a !== undefined && b) r[key] = a / b;
      }
      ratios[peer] = r;
    }
  }
  const report: Report = { meta, tunnels, ratios };
  const ourPing = ours?.median.pingIdleMs?.median;
  const basePing = tunnels['baseline']?.median.pingIdleMs?.median;
  if (ourPing !== undefined && basePing !== undefined) report.addedLatencyIdleMs = ourPing - basePing;
  const ourAfter = ours?.median.pingIdleAfterMs?.median;
  const baseAfter = tunnels['baseline']?.median.pingIdleAfterMs?.median;
  if (ourAfter !== undefined && baseAfter !== undefined) report.addedLatencyIdleAfterMs = ourAfter - baseAfter;
  return report;
}

export function renderMarkdown(rep: Report): string {
  const lines: string[] = [];
  const m = rep.meta;
  lines.push(`# Dataplane benchmark ${String(get(m, 'stamp') ?? '')}`, '');
  lines.push(
    `${String(get(m, 'nproc'))} CPUs (${String(get(m, 'cpu'))}), kernel ${String(get(m, 'kernel'))}; ` +
      `rounds ${String(get(m, 'rounds'))}, ${String(get(m, 'duration'))} s per iperf3 run; ` +
      `load average at start ${String(get(m, 'loadStart'))}, at end ${String(get(m, 'loadEnd') ?? '?')}.`,
    '',
    'Median over rounds [min–max]. Daemon CPU = utime+stime of the tunnel processes on both gateways. ' +
      'The whole topology (both gateways, both hosts, iperf3) shares the same CPUs.',
    '',
  );
  lines.push(`| tunnel | ${COLUMNS.map((c) => c.title).join(' | ')} |`);
  lines.push(`|---|${COLUMNS.map(() => '---').join('|')}|`);
  for (const [t, v] of Object.entries(rep.tunnels)) {
    lines.push(`| ${t} | ${COLUMNS.map((c) => fmt(v.median[c.key], c.digits)).join(' | ')} |`);
  }
  if (Object.keys(rep.ratios).length) {
    lines.push('', '## vgwd ÷ peer (medians of the same run; > 1 = vgwd better)', '');
    lines.push(`| peer | ${RATIO_KEYS.map((k) => k.title).join(' | ')} |`);
    lines.push(`|---|${RATIO_KEYS.map(() => '---').join('|')}|`);
    for (const [peer, r] of Object.entries(rep.ratios)) {
      lines.push(`| ${peer} | ${RATIO_KEYS.map((k) => (r[k.key] === undefined ? 'n/a' : `${r[k.key]!.toFixed(2)}×`)).join(' | ')} |`);
    }
  }
  if (rep.addedLatencyIdleMs !== undefined) {
    lines.push('', `vgwd added idle latency vs baseline: ${rep.addedLatencyIdleMs.toFixed(3)} ms (RTT, both directions).`);
  }
  if (rep.addedLatencyIdleAfterMs !== undefined) {
    lines.push(`vgwd added idle latency vs baseline after the load tests: ${rep.addedLatencyIdleAfterMs.toFixed(3)} ms.`);
  }
  lines.push('', '## Per round', '', '| tunnel | round | status | TCP 1 Gbit/s | TCP 4 Gbit/s | UDP 1300 kpps | UDP 64 kpps | ping idle ms | MB/CPU-s | load avg (TCP 1) |');
  lines.push('|---|---|---|---|---|---|---|---|---|---|');
  const f = (x: number | undefined, d: number): string => (x === undefined ? 'n/a' : x.toFixed(d));
  for (const [t, v] of Object.entries(rep.tunnels)) {
    for (const r of v.rounds) {
      lines.push(
        `| ${t} | ${r.round} | ${r.status} | ${f(r.tcp1Gbps, 3)} | ${f(r.tcp4Gbps, 3)} | ${f(r.udp1300Kpps, 1)} | ${f(r.udp64Kpps, 1)} | ` +
          `${f(r.pingIdleMs, 3)} | ${f(r.mbPerCpuSTcp1, 0)} | ${r.load ?? ''} |`,
      );
    }
  }
  return lines.join('\n') + '\n';
}

function main(argv: string[]): void {
  const [rawDir, jsonOut, mdOut] = argv;
  if (!rawDir || !jsonOut) {
    process.stderr.write('usage: node dist/bench/report.js RAW_DIR OUT.json [OUT.md]\n');
    process.exit(2);
  }
  const rep = buildReport(rawDir);
  writeFileSync(jsonOut, JSON.stringify(rep, null, 2) + '\n');
  const md = renderMarkdown(rep);
  if (mdOut) writeFileSync(mdOut, md);
  else process.stdout.write(md);
}

if (process.argv[1] && import.meta.url === new URL(`file://${process.argv[1]}`).href) main(process.argv.slice(2));
