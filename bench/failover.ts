/**
 * Failover benchmark for HA gateway pairs (issue 3), in network namespaces:
 *
 *   node dist/bench/failover.js [--only planned,kill,links,aa]      (root; after `npm run build`)
 *
 * For each scenario: an active-standby pair gwA0/gwA1 (vgwd) with a vgwd peer
 * gwB, a 10 ms ping stream hostA → hostB and a paced TCP transfer (~3 MB/s)
 * running across the event. Prints the longest gap between ping replies and
 * whether the TCP transfer survived intact, next to Azure's published figures
 * (planned maintenance 10-15 s, unplanned 60-90 s). Every scenario is bounded
 * (~25 s), the whole run stays under 2 minutes. The active-active scenario
 * (`aa`) runs both instances with a tunnel each to gwB and kills one; see
 * runActiveActive. BENCH_DEBUG=1 prints each ping stream's gap.
 */
import { HA_ADDR, createHaTopology, haPairConfig, pacedTcpTransfer, peerConfig, startDaemon, waitRole, type DaemonHandle, type HaTopology } from '../test/netns/lib/ha-topology.js';
import { execIn, mustRun, spawnIn } from '../test/netns/lib/proc.js';
import { waitFor } from '../test/netns/lib/wait.js';

type Scenario = 'planned' | 'kill' | 'links' | 'aa';
const TITLES: Record<Scenario, { title: string; azure: string }> = {
  planned: { title: 'planned switchover (vgw failover)', azure: '10-15 s' },
  kill: { title: 'kill -9 of the active instance', azure: '60-90 s' },
  links: { title: "active instance's links cut", azure: '60-90 s' },
  aa: { title: 'active-active instance killed', azure: 'not published (BGP/DPD: tens of s)' },
};
const PING_INTERVAL_S = 0.01;
const PING_COUNT = 700; // 7 s
const EVENT_AFTER_MS = 2_000;

const SERVER = `
const net=require('net');let n=0;
net.createServer(s=>{s.on('data',d=>{n+=d.length});s.on('end',()=>{console.log('RECV '+n);process.exit(0)});s.on('error',e=>{console.log('ERR '+e.message);process.exit(1)})}).listen(5301,'${HA_ADDR.hostB}',()=>console.log('LISTEN'));`;
const CLIENT = `
const net=require('net');const chunk=Buffer.alloc(32768,7);let sent=0;const end=Date.now()+7000;
const s=net.connect(5301,'${HA_ADDR.hostB}',()=>{const t=setInterval(()=>{if(Date.now()>end){clearInterval(t);s.end(()=>{console.log('SENT '+sent)});return}if(s.writableLength<1<<20){s.write(chunk);sent+=chunk.length}},10)});
s.on('error',e=>{console.log('ERR '+e.message);process.exit(1)});s.on('close',()=>process.exit(0));`;

/** Longest gap between consecutive ping replies (ms), from `ping -D` timestamps. */
export function longestGapMs(output: string, intervalS: number): { gapMs: number; received: number } {
  const times = [...output.matchAll(/^\[(\d+\.\d+)\] .*icmp_seq=\d+/gm)].map((m) => Number(m[1]) * 1000);
  let gap = 0;
  for (let i = 1; i < times.length; i++) gap = Math.max(gap, (times[i] ?? 0) - (times[i - 1] ?? 0));
  return { gapMs: times.length > 1 ? Math.max(0, gap - intervalS * 1000) : Infinity, received: times.length };
}

/**
 * Active-active: both instances carry flows. Four 10 ms ping streams from four
 * source addresses (distinct hashes: ECMP at hostA, the 5-tuple pick at gwB)
 * and the paced TCP transfer; gwA-0 is killed. The gap is the worst stream's
 * (a stream that never crossed gwA-0 shows ~0).
 */
async function runActiveActive(): Promise<string> {
  const kind: Scenario = 'aa';
  let topo: HaTopology | undefined;
  try {
    topo = await createHaTopology('foaa', { activeActive: true });
    const t = topo;
    const sources = ['10.1.0.100', '10.1.0.101', '10.1.0.102', '10.1.0.103'];
    for (const s of sources) await mustRun('ip', ['-n', t.ns.hostA, 'addr', 'add', `${s}/32`, 'dev', 'eth0']);
    const cfg = haPairConfig({ activeActive: true });
    const b = await startDaemon(t, t.ns.gwB, peerConfig([HA_ADDR.aaPublic0, HA_ADDR.aaPublic1], 9), undefined, 'bench-gwB-aa');
    const a0 = await startDaemon(t, t.ns.gwA0, cfg, 'gwA-0', 'bench-gwA0-aa');
    const a1 = await startDaemon(t, t.ns.gwA1, cfg, 'gwA-1', 'bench-gwA1-aa');
    await waitRole(a0, 'active');
    await waitRole(a1, 'active');
    await waitFor(async () => (await b.connection('gwB-to-siteA0')).state === 'Connected' && (await b.connection('gwB-to-siteA1')).state === 'Connected', 25_000, 100, 'both tunnels up');
    await waitFor(async () => (await a0.connection('gwA-to-siteB')).state === 'Connected' && (await a1.connection('gwA-to-siteB')).state === 'Connected', 10_000, 100, 'instance tunnels up');
    const finish = await pacedTcpTransfer(t, 7_000);
    const pings = sources.map((src) => execIn(t.ns.hostA, 'ping', ['-D', '-n', '-i', String(PING_INTERVAL_S), '-W', '1', '-c', String(PING_COUNT), '-I', src, HA_ADDR.hostB], { timeoutMs: 20_000 }));
    await new Promise((r) => setTimeout(r, EVENT_AFTER_MS));
    a0.process.kill('SIGKILL');
    const outs = await Promise.all(pings);
    const tcp = await finish();
    const gaps = outs.map((o) => longestGapMs(o.stdout, PING_INTERVAL_S));
    const worst = gaps.reduce((a, g) => (g.gapMs > a.gapMs ? g : a));
    const moved = gaps.filter((g) => g.gapMs > 50).length;
    if (process.env.BENCH_DEBUG) process.stderr.write(`${gaps.map((g, i) => `${sources[i]}: gap ${Math.round(g.gapMs)} ms, ${g.received} replies`).join('\n')}\n${outs.map((o) => o.stdout.split('\n').slice(-4).join(' | ')).join('\n')}\n`);
    const dead = /"silentMs":(\d+)[^\n]*"event":"tunnel-dead"|"event":"tunnel-dead"[^\n]*"silentMs":(\d+)/.exec(b.log());
    const lf = (await a1.status().catch(() => undefined))?.ha?.lastFailover;
    const daemon = `gwB tunnel declared dead after ${dead ? (dead[1] ?? dead[2]) : '?'} ms of silence; survivor took the next hop in ${lf?.takeoverMs ?? '?'} ms (detection ${lf?.detectionMs ?? '-'} ms)`;
    return `${TITLES[kind].title.padEnd(36)} longest gap ${Number.isFinite(worst.gapMs) ? `${Math.round(worst.gapMs)} ms` : 'no replies'} ` +
      `(worst of ${gaps.length} streams, ${moved} crossed the dead instance), TCP ${tcp.ok ? 'survived' : `BROKEN (sent ${tcp.sent ?? '?'}, received ${tcp.received ?? '?'})`}; ` +
      `Azure: ${TITLES[kind].azure}; ${daemon}`;
  } catch (err) {
    return `${TITLES[kind].title.padEnd(36)} FAILED: ${(err as Error).message.split('\n')[0]}`;
  } finally {
    await topo?.destroy();
  }
}

async function runScenario(kind: Scenario): Promise<string> {
  if (kind === 'aa') return runActiveActive();
  let topo: HaTopology | undefined;
  try {
    topo = await createHaTopology(`fo${kind.slice(0, 4)}`);
    const cfg = haPairConfig();
    const b = await startDaemon(topo, topo.ns.gwB, peerConfig([HA_ADDR.floatPublic], 9, 'ResponderOnly'), undefined, `bench-gwB-${kind}`);
    const a0 = await startDaemon(topo, topo.ns.gwA0, cfg, 'gwA-0', `bench-gwA0-${kind}`);
    await waitRole(a0, 'active');
    const a1 = await startDaemon(topo, topo.ns.gwA1, cfg, 'gwA-1', `bench-gwA1-${kind}`);
    await waitRole(a1, 'standby');
    await waitFor(async () => (await a0.connection('gwA-to-siteB')).state === 'Connected', 20_000, 100, 'tunnel up');
    await waitFor(async () => (await a1.status()).ha?.replication.shadowChildSas === 1, 5_000, 50, 'standby shadow');
    void b;
    const server = spawnIn(topo.ns.hostB, process.execPath, ['-e', SERVER]);
    await waitFor(async () => server.output().includes('LISTEN'), 5_000, 20, 'TCP server');
    const pingP = execIn(topo.ns.hostA, 'ping', ['-D', '-n', '-i', String(PING_INTERVAL_S), '-W', '1', '-c', String(PING_COUNT), HA_ADDR.hostB], { timeoutMs: 20_000 });
    const client = spawnIn(topo.ns.hostA, process.execPath, ['-e', CLIENT]);
    await new Promise((r) => setTimeout(r, EVENT_AFTER_MS));
    let survivor: DaemonHandle = a1;
    if (kind === 'planned') {
      await a0.request('failover', {}, 10_000);
    } else if (kind === 'kill') {
      a0.process.kill('SIGKILL');
    } else {
      await topo.setLinks(topo.ns.gwA0, false);
    }
    await waitRole(survivor, 'active', 5_000).catch(() => undefined);
    const ping = await pingP;
    const cl = await client.exited.then(() => client.output());
    await server.exited.catch(() => undefined);
    const srv = server.output();
    const sent = /SENT (\d+)/.exec(cl)?.[1];
    const recv = /RECV (\d+)/.exec(srv)?.[1];
    const tcpOk = sent !== undefined && sent === recv;
    const { gapMs, received } = longestGapMs(ping.stdout, PING_INTERVAL_S);
    const st = await survivor.status().catch(() => undefined);
    const lf = st?.ha?.lastFailover;
    survivor = a1;
    const daemon = lf ? `daemon: detection ${lf.detectionMs ?? '-'} ms, takeover ${lf.takeoverMs} ms, outage ${lf.outageMs ?? '-'} ms` : 'daemon: no report';
    return `${TITLES[kind].title.padEnd(36)} longest gap ${Number.isFinite(gapMs) ? `${Math.round(gapMs)} ms` : 'no replies'} ` +
      `(${received}/${PING_COUNT} replies), TCP ${tcpOk ? 'survived' : `BROKEN (sent ${sent ?? '?'}, received ${recv ?? '?'})`}; ` +
      `Azure: ${TITLES[kind].azure}; ${daemon}`;
  } catch (err) {
    return `${TITLES[kind].title.padEnd(36)} FAILED: ${(err as Error).message.split('\n')[0]}`;
  } finally {
    await topo?.destroy();
  }
}

async function main(): Promise<void> {
  const only = process.argv.indexOf('--only');
  const list = (only >= 0 ? (process.argv[only + 1] ?? '').split(',') : ['planned', 'kill', 'links', 'aa']) as Scenario[];
  process.stdout.write('HA failover benchmark (10 ms ping stream hostA→hostB, paced TCP transfer across the event)\n');
  for (const k of list) {
    if (!(k in TITLES)) { process.stdout.write(`unknown scenario ${k}\n`); continue; }
    process.stdout.write(`${await runScenario(k)}\n`);
  }
  process.stdout.write('Goals: unplanned < 1 s, planned < 100 ms, TCP survives.\n');
  process.exit(0);
}

await main();
