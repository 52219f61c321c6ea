/**
 * Traffic probes between namespaces: ping (parsed summary) and a bounded TCP transfer
 * (by default two small Node scripts that compare a SHA-256 of the byte stream end to
 * end; iperf3 on request, for throughput).
 */
import { findExecutable } from '../../helpers/env.js';
import { execIn, type ProcessHandle, spawnIn } from './proc.js';
import { waitFor } from './wait.js';

export interface PingOptions {
  /** Echo requests to send (default 3). */
  readonly count?: number;
  /** Seconds between requests (default 0.2; < 0.2 needs root, which we are). */
  readonly intervalS?: number;
  /** Seconds to wait for each reply (default 2). */
  readonly timeoutS?: number;
}

export interface PingResult {
  readonly sent: number;
  readonly received: number;
  readonly lossPct: number;
  /** Average round trip in ms, undefined when nothing came back. */
  readonly rttAvgMs: number | undefined;
  /** Raw ping output, for assertion messages. */
  readonly output: string;
}

/** Error for ping output we cannot understand (e.g. ping missing or bad arguments). */
export class PingOutputError extends Error {
  constructor(readonly output: string) {
    super(`cannot parse ping output:\n${output}`);
    this.name = 'PingOutputError';
  }
}

/** Parse the summary of iputils ping (`-q` or not). Exported for unit tests. */
export function parsePingOutput(output: string): PingResult {
  const summary = /(\d+) packets transmitted, (\d+) received(?:, .*?)?, ([\d.]+)% packet loss/.exec(output);
  if (summary === null) throw new PingOutputError(output);
  const rtt = /= [\d.]+\/([\d.]+)\/[\d.]+\/[\d.]+ ms/.exec(output);
  return {
    sent: Number(summary[1]),
    received: Number(summary[2]),
    lossPct: Number(summary[3]),
    rttAvgMs: rtt?.[1] !== undefined ? Number(rtt[1]) : undefined,
    output,
  };
}

/** Ping `dst` from namespace `ns`. Loss is a result, not an error. */
export async function ping(ns: string, dst: string, opts: PingOptions = {}): Promise<PingResult> {
  const count = opts.count ?? 3;
  const intervalS = opts.intervalS ?? 0.2;
  const timeoutS = opts.timeoutS ?? 2;
  // No -w: with a deadline ping keeps sending until `count` REPLIES arrive. Without
  // it the run ends after count*interval + timeout; the exec timeout is a backstop.
  const boundS = Math.ceil(count * intervalS + timeoutS);
  const result = await execIn(
    ns,
    'ping',
    ['-n', '-q', '-c', String(count), '-i', String(intervalS), '-W', String(timeoutS), dst],
    { timeoutMs: (boundS + 5) * 1000 },
  );
  return parsePingOutput(result.stdout + result.stderr);
}

export interface TransferOptions {
  /** TCP port on the server (default 5201). */
  readonly port?: number;
  /** Bound for the whole transfer (default 30 s). */
  readonly timeoutMs?: number;
  /**
   * 'node' (default): two small Node scripts; the server counts and SHA-256-hashes the
   * stream and ok means every byte arrived intact. 'iperf3': throughput-oriented; ok
   * only means the client sent all bytes without error (iperf3 3.12 stops counting at
   * the receiver when TEST_END arrives on the control connection, which races the
   * data still in flight: we saw 906240 of 1048576 bytes "received" on a plain veth).
   * 'auto': iperf3 if installed, else node.
   */
  readonly method?: 'auto' | 'iperf3' | 'node';
}

export interface TransferResult {
  /** node: bytes the server received. iperf3: bytes the client sent. */
  readonly bytes: number;
  /** node: every byte arrived and the SHA-256 matched. iperf3: all bytes sent, no error. */
  readonly ok: boolean;
  readonly seconds: number;
  readonly method: 'iperf3' | 'node';
  /** Diagnostics when !ok. */
  readonly detail: string;
}

/** Send `bytes` over TCP from nsClient to serverAddr (an address inside nsServer). */
export async function tcpTransfer(
  nsClient: string,
  nsServer: string,
  serverAddr: string,
  bytes: number,
  opts: TransferOptions = {},
): Promise<TransferResult> {
  if (!Number.isSafeInteger(bytes) || bytes <= 0) throw new RangeError(`bytes must be a positive integer, got ${bytes}`);
  const method = opts.method ?? 'node';
  const useIperf = method === 'iperf3' || (method === 'auto' && findExecutable('iperf3') !== undefined);
  const port = opts.port ?? 5201;
  const timeoutMs = opts.timeoutMs ?? 30_000;
  return useIperf
    ? iperfTransfer(nsClient, nsServer, serverAddr, bytes, port, timeoutMs)
    : nodeTransfer(nsClient, nsServer, serverAddr, bytes, port, timeoutMs);
}

async function waitListening(ns: string, port: number, server: ProcessHandle): Promise<void> {
  await waitFor(
    async () => {
      if (server.hasExited()) throw new Error(`server exited early: ${server.output()}`);
      const ss = await execIn(ns, 'ss', ['-H', '-l', '-t', '-n', `sport = :${port}`], { timeoutMs: 5000 });
      return ss.code === 0 && ss.stdout.trim() !== '';
    },
    10_000,
    100,
    `TCP listener on port ${port} in ${ns}`,
  );
}

interface IperfJson {
  end?: {
    sum_sent?: { bytes?: number; seconds?: number };
    sum_received?: { bytes?: number; seconds?: number };
  };
  error?: string;
}

async function iperfTransfer(
  nsClient: string,
  nsServer: string,
  serverAddr: string,
  bytes: number,
  port: number,
  timeoutMs: number,
): Promise<TransferResult> {
  // -1: serve one client, then exit.
  const server = spawnIn(nsServer, 'iperf3', ['-s', '-1', '-B', serverAddr, '-p', String(port)]);
  try {
    await waitListening(nsServer, port, server);
    const client = await execIn(
      nsClient,
      'iperf3',
      ['-c', serverAddr, '-p', String(port), '-n', String(bytes), '-J', '--connect-timeout', '3000'],
      { timeoutMs },
    );
    let report: IperfJson;
    try {
      report = JSON.parse(client.stdout) as IperfJson;
    } catch {
      return failed('iperf3', `iperf3 client printed no JSON (code ${String(client.code)}): ${client.stderr}`);
    }
    const received = report.end?.sum_received?.bytes ?? 0;
    const sent = report.end?.sum_sent?.bytes ?? 0;
    const seconds = report.end?.sum_sent?.seconds ?? 0;
    // See TransferOptions.method: iperf3's receiver count is not reliable under -n.
    const ok = client.code === 0 && report.error === undefined && sent >= bytes && received > 0;
    return {
      bytes: sent,
      ok,
      seconds,
      method: 'iperf3',
      detail: ok ? '' : `code ${String(client.code)}, sent ${sent}, received ${received}, error ${report.error ?? '-'}`,
    };
  } finally {
    await server.stop(2000);
  }
}

function failed(method: 'iperf3' | 'node', detail: string): TransferResult {
  return { bytes: 0, ok: false, seconds: 0, method, detail };
}

// Server: count and hash everything until the client half-closes, then answer with
// {bytes, sha256} on the same connection and exit.
const SERVER_SCRIPT = `
const net = require('node:net'), crypto = require('node:crypto');
const [host, port] = process.argv.slice(1);
const srv = net.createServer((s) => {
  const h = crypto.createHash('sha256'); let n = 0;
  s.on('data', (d) => { n += d.length; h.update(d); });
  s.on('end', () => { s.end(JSON.stringify({ bytes: n, sha256: h.digest('hex') }) + '\\n'); srv.close(); });
  s.on('error', (e) => { console.error('server socket error: ' + e.message); process.exit(2); });
});
srv.on('error', (e) => { console.error('listen error: ' + e.message); process.exit(2); });
srv.listen(Number(port), host, () => console.log('listening'));
`;

// Client: stream random bytes (respecting backpressure), hash them, half-close, read
// the server's verdict and print {sent, sha256, server, seconds}.
const CLIENT_SCRIPT = `
const net = require('node:net'), crypto = require('node:crypto');
const [host, port, total] = process.argv.slice(1);
const want = Number(total), h = crypto.createHash('sha256'), t0 = process.hrtime.bigint();
let sent = 0, reply = '';
const s = net.connect({ host, port: Number(port) }, () => {
  const pump = () => {
    while (sent < want) {
      const chunk = crypto.randomBytes(Math.min(65536, want - sent));
      sent += chunk.length; h.update(chunk);
      if (!s.write(chunk)) { s.once('drain', pump); return; }
    }
    s.end();
  };
  pump();
});
s.setEncoding('utf8');
s.on('data', (d) => { reply += d; });
s.on('end', () => {
  const seconds = Number(process.hrtime.bigint() - t0) / 1e9;
  console.log(JSON.stringify({ sent, sha256: h.digest('hex'), server: reply.trim(), seconds }));
});
s.on('error', (e) => { console.error('client error: ' + e.message); process.exit(2); });
`;

interface NodeClientReport {
  sent: number;
  sha256: string;
  server: string;
  seconds: number;
}
interface NodeServerReport {
  bytes: number;
  sha256: string;
}

async function nodeTransfer(
  nsClient: string,
  nsServer: string,
  serverAddr: string,
  bytes: number,
  port: number,
  timeoutMs: number,
): Promise<TransferResult> {
  const node = process.execPath;
  const server = spawnIn(nsServer, node, ['-e', SERVER_SCRIPT, serverAddr, String(port)]);
  try {
    await waitFor(
      () => {
        if (server.hasExited()) throw new Error(`server exited early: ${server.output()}`);
        return server.output().includes('listening');
      },
      10_000,
      50,
      `node TCP server on ${serverAddr}:${port} in ${nsServer}`,
    );
    const client = await execIn(nsClient, node, ['-e', CLIENT_SCRIPT, serverAddr, String(port), String(bytes)], {
      timeoutMs,
    });
    let report: NodeClientReport;
    let serverReport: NodeServerReport;
    try {
      report = JSON.parse(client.stdout) as NodeClientReport;
      serverReport = JSON.parse(report.server) as NodeServerReport;
    } catch {
      return failed('node', `client code ${String(client.code)}${client.timedOut ? ' (timed out)' : ''}: ${client.stdout} ${client.stderr}`);
    }
    const ok = report.sent === bytes && serverReport.bytes === bytes && serverReport.sha256 === report.sha256;
    return {
      bytes: serverReport.bytes,
      ok,
      seconds: report.seconds,
      method: 'node',
      detail: ok
        ? ''
        : `sent ${report.sent} sha ${report.sha256}, server got ${serverReport.bytes} sha ${serverReport.sha256}`,
    };
  } finally {
    await server.stop(2000);
  }
}

/** True when a TCP port is reachable (connect succeeds) — handy readiness probe. */
export async function tcpReachable(ns: string, host: string, port: number, timeoutMs = 2000): Promise<boolean> {
  const script = `const s=require('node:net').connect({host:process.argv[1],port:Number(process.argv[2])},()=>{s.destroy();process.exit(0)});s.on('error',()=>process.exit(1));`;
  const result = await execIn(ns, process.execPath, ['-e', script, host, String(port)], { timeoutMs });
  return result.code === 0;
}

