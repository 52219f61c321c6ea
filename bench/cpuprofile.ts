/**
 * Summarises a V8 .cpuprofile (from `node --cpu-prof`): self time per
 * function and total (inclusive) time of the dataplane entry points.
 *
 *   node dist/bench/cpuprofile.js FILE.cpuprofile [top=25]
 */
import { readFileSync } from 'node:fs';

interface ProfileNode {
  id: number;
  callFrame: { functionName: string; url: string; lineNumber: number };
  children?: number[];
}

interface Profile {
  nodes: ProfileNode[];
  samples: number[];
  timeDeltas: number[];
  startTime: number;
  endTime: number;
}

export interface FunctionTime {
  name: string;
  selfMs: number;
  totalMs: number;
}

function label(n: ProfileNode): string {
  const f = n.callFrame;
  const file = f.url ? f.url.replace(/^.*\/(dist|node_modules)\//, '$1/').replace(/^node:/, '') : '';
  return `${f.functionName || '(anonymous)'}${file ? ` ${file}:${f.lineNumber + 1}` : ''}`;
}

export function summarise(p: Profile): { wallMs: number; functions: FunctionTime[] } {
  const byId = new Map(p.nodes.map((n) => [n.id, n]));
  const parent = new Map<number, number>();
  for (const n of p.nodes) for (const c of n.children ?? []) parent.set(c, n.id);
  const self = new Map<number, number>();
  for (let i = 0; i < p.samples.length; i++) {
    const id = p.samples[i]!;
    self.set(id, (self.get(id) ?? 0) + (p.timeDeltas[i] ?? 0) / 1000);
  }
  const selfByName = new Map<string, number>();
  const totalByName = new Map<string, number>();
  for (const [id, ms] of self) {
    const n = byId.get(id);
    if (!n) continue;
    const name = label(n);
    selfByName.set(name, (selfByName.get(name) ?? 0) + ms);
    // inclusive: credit every distinct ancestor name once
    const seen = new Set<string>();
    for (let cur: number | undefined = id; cur !== undefined; cur = parent.get(cur)) {
      const an = byId.get(cur);
      if (!an) break;
      const nm = label(an);
      if (seen.has(nm)) continue;
      seen.add(nm);
      totalByName.set(nm, (totalByName.get(nm) ?? 0) + ms);
    }
  }
  const functions = [...totalByName.keys()].map((name) => ({ name, selfMs: selfByName.get(name) ?? 0, totalMs: totalByName.get(name) ?? 0 }));
  return { wallMs: (p.endTime - p.startTime) / 1000, functions };
}

function main(argv: string[]): void {
  const [file, topArg] = argv;
  if (!file) {
    process.stderr.write('usage: node dist/bench/cpuprofile.js FILE.cpuprofile [top]\n');
    process.exit(2);
  }
  const top = Number(topArg ?? 25);
  const { wallMs, functions } = summarise(JSON.parse(readFileSync(file, 'utf8')) as Profile);
  const busy = functions.filter((f) => !/^\((idle|root)\)/.test(f.name)).reduce((s, f) => s + f.selfMs, 0);
  process.stdout.write(`wall ${wallMs.toFixed(0)} ms, sampled non-idle ${busy.toFixed(0)} ms\n\nself ms | self % of busy | total ms | function\n`);
  for (const f of [...functions].sort((a, b) => b.selfMs - a.selfMs).slice(0, top)) {
    if (/^\((idle|root)\)/.test(f.name)) continue;
    process.stdout.write(`${f.selfMs.toFixed(0).padStart(7)} | ${((100 * f.selfMs) / busy).toFixed(1).padStart(5)} % | ${f.totalMs.toFixed(0).padStart(7)} | ${f.name}\n`);
  }
}

if (process.argv[1] && import.meta.url === new URL(`file://${process.argv[1]}`).href) main(process.argv.slice(2));
