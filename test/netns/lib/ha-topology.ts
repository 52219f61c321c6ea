/**
 * Namespace topology for HA gateway pairs (test/netns/ha-*.test.ts, bench/failover.ts):
 *
 *   hostA 10.1.0.2 ─┐                          ┌─ gwA0  lan0 10.1.0.10   wan0 192.0.2.10 ─┐
 *                   ├─ br0 in `${p}-lan` ──────┤                                         ├─ br0 in `${p}-wan` ── gwB wan0 192.0.2.2
 *                   │                          └─ gwA1  lan0 10.1.0.11   wan0 192.0.2.11 ─┘                       lan0 10.2.0.1 ── hostB 10.2.0.2
 *
 *   Active-standby floating addresses: public 192.0.2.1, private 10.1.0.1 (hostA's next hop).
 *   Active-active: gwA0 owns 192.0.2.1 / 10.1.0.1, gwA1 owns 192.0.2.3 / 10.1.0.3; hostA uses
 *   an ECMP route over both private addresses (L4 hash).
 *   HA link: the instances' LAN addresses (10.1.0.10 ↔ 10.1.0.11).
 *
 * Like topology.ts: veths only between our namespaces, no default routes, nothing in
 * the root namespace, so traffic never leaves the machine.
 */
import { mkdtempSync, writeFileSync, readFileSync, existsSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { basename, dirname, join, resolve } from 'node:path';
import { stringify } from 'yaml';
import { execIn, killPid, mustRun, run, spawnIn, type ExecResult, type ProcessHandle } from './proc.js';
import { waitFor } from './wait.js';
import { listNamespaces, pidsInNamespace } from './topology.js';
import { controlRequest } from '../../../daemon/control.js';
import type { GatewayStatus, ConnectionStatus } from '../../../daemon/status.js';

// Also runs compiled from dist/ (bench/failover.ts): find the repository either way.
const HERE = resolve(import.meta.dirname, '../../..');
const REPO_ROOT = basename(HERE) === 'dist' ? dirname(HERE) : HERE;
const VGWD = join(REPO_ROOT, 'bin/vgwd.js');

export const HA_ADDR = {
  hostA: '10.1.0.2', gwA0Lan: '10.1.0.10', gwA1Lan: '10.1.0.11', gwA0Wan: '192.0.2.10', gwA1Wan: '192.0.2.11',
  floatPublic: '192.0.2.1', floatPrivate: '10.1.0.1',
  aaPublic0: '192.0.2.1', aaPrivate0: '10.1.0.1', aaPublic1: '192.0.2.3', aaPrivate1: '10.1.0.3',
  gwBWan: '192.0.2.2', gwBLan: '10.2.0.1', hostB: '10.2.0.2',
  /** Optional point-to-site client namespace on the WAN bridge (createHaTopology({ p2sClient: true })). */
  client: '192.0.2.50',
  /** Dual redundancy (createHaTopology({ dual: true })): site B is an active-active pair gwB/gwB1 too. */
  gwB0WanDual: '192.0.2.20', gwB1Wan: '192.0.2.21', gwB0Lan: '10.2.0.10', gwB1Lan: '10.2.0.11',
  bbPublic0: '192.0.2.2', bbPrivate0: '10.2.0.1', bbPublic1: '192.0.2.4', bbPrivate1: '10.2.0.3',
} as const;

export interface HaTopology {
  prefix: string;
  ns: { lan: string; wan: string; hostA: string; gwA0: string; gwA1: string; gwB: string; hostB: string; client: string; lanB: string; gwB1: string };
  namespaces: string[];
  spawn(ns: string, cmd: string, args: readonly string[], logFile?: string): ProcessHandle;
  exec(ns: string, cmd: string, args: readonly string[]): Promise<ExecResult>;
  /** Cuts (or restores) every link of a gateway namespace: a dead host, as the network sees it. */
  setLinks(ns: string, up: boolean): Promise<void>;
  destroy(): Promise<void>;
}

const SUFFIXES = ['lan', 'wan', 'hostA', 'gwA0', 'gwA1', 'gwB', 'hostB'] as const;

/**
 * `dual`: dual redundancy, both sites active-active pairs (4 tunnels):
 *
 *   hostA ─ LAN ─┬─ gwA0 ─┐         ┌─ gwB  (wan 192.0.2.20, own 192.0.2.2 / 10.2.0.1) ─┬─ LAN-B ─ hostB 10.2.0.2
 *                └─ gwA1 ─┴── WAN ──┴─ gwB1 (wan 192.0.2.21, own 192.0.2.4 / 10.2.0.3) ─┘   (ECMP via 10.2.0.1, 10.2.0.3)
 */
export async function createHaTopology(prefix: string, opts: { activeActive?: boolean; p2sClient?: boolean; dual?: boolean } = {}): Promise<HaTopology> {
  if (!/^[a-z][a-z0-9]{0,7}$/.test(prefix)) throw new Error(`bad prefix ${prefix}`);
  // Per-process tag: two runs of one test at once (a developer and CI) must not share, or
  // clean up, each other's namespaces.
  const tag = (process.pid % 1296).toString(36).padStart(2, '0');
  const n = (s: string): string => `${prefix}${tag}-${s}`;
  const ns = {
    lan: n('lan'), wan: n('wan'), hostA: n('hostA'), gwA0: n('gwA0'), gwA1: n('gwA1'), gwB: n('gwB'), hostB: n('hostB'), client: n('cli'),
    lanB: n('lanB'), gwB1: n('gwB1'),
  };
  const names = [...SUFFIXES.map(n), ...(opts.p2sClient ? [ns.client] : []), ...(opts.dual ? [ns.lanB, ns.gwB1] : [])];
  await deleteNamespaces(names.filter((x) => listNamespaces().includes(x)));
  const spawned: ProcessHandle[] = [];
  let destroyed: Promise<void> | undefined;
  const topo: HaTopology = {
    prefix, ns, namespaces: names,
    spawn(where, cmd, args, logFile) {
      if (!names.includes(where)) throw new Error(`${where} is not ours`);
      const h = spawnIn(where, cmd, args, logFile ? { logFile } : {});
      spawned.push(h);
      return h;
    },
    exec: (where, cmd, args) => execIn(where, cmd, args),
    async setLinks(where, up) {
      for (const ifn of ['lan0', 'wan0']) await mustRun('ip', ['-n', where, 'link', 'set', ifn, up ? 'up' : 'down']);
    },
    destroy() {
      destroyed ??= (async () => {
        await Promise.all(spawned.map((h) => h.stop(3000)));
        await deleteNamespaces(names);
      })();
      return destroyed;
    },
  };
  try {
    for (const name of names) {
      await mustRun('ip', ['netns', 'add', name]);
      await mustRun('ip', ['-n', name, 'link', 'set', 'lo', 'up']);
      const gw = name === ns.gwA0 || name === ns.gwA1 || name === ns.gwB || name === ns.gwB1;
      const sysctls = ['net.ipv6.conf.all.disable_ipv6=1', 'net.ipv6.conf.default.disable_ipv6=1'];
      if (gw) sysctls.push('net.ipv4.ip_forward=1', 'net.ipv4.conf.all.rp_filter=0', 'net.ipv4.conf.default.rp_filter=0');
      if (name === ns.hostA || name === ns.hostB) sysctls.push('net.ipv4.fib_multipath_hash_policy=1');
      await mustRun('ip', ['netns', 'exec', name, 'sysctl', '-q', '-w', ...sysctls]);
    }
    const veth = async (a: string, aIf: string, b: string, bIf: string): Promise<void> => {
      await mustRun('ip', ['-n', a, 'link', 'add', aIf, 'type', 'veth', 'peer', 'name', bIf, 'netns', b]);
    };
    await veth(ns.hostA, 'eth0', ns.lan, 'phostA');
    await veth(ns.gwA0, 'lan0', ns.lan, 'pgwA0');
    await veth(ns.gwA1, 'lan0', ns.lan, 'pgwA1');
    await veth(ns.gwA0, 'wan0', ns.wan, 'pgwA0');
    await veth(ns.gwA1, 'wan0', ns.wan, 'pgwA1');
    await veth(ns.gwB, 'wan0', ns.wan, 'pgwB');
    if (opts.dual) {
      await veth(ns.gwB, 'lan0', ns.lanB, 'pgwB');
      await veth(ns.gwB1, 'lan0', ns.lanB, 'pgwB1');
      await veth(ns.hostB, 'eth0', ns.lanB, 'phostB');
      await veth(ns.gwB1, 'wan0', ns.wan, 'pgwB1');
    } else {
      await veth(ns.gwB, 'lan0', ns.hostB, 'eth0');
    }
    if (opts.p2sClient) await veth(ns.client, 'wan0', ns.wan, 'pcli');
    const wanPorts = ['pgwA0', 'pgwA1', 'pgwB', ...(opts.p2sClient ? ['pcli'] : []), ...(opts.dual ? ['pgwB1'] : [])];
    const bridges: Array<readonly [string, readonly string[]]> = [[ns.lan, ['phostA', 'pgwA0', 'pgwA1']], [ns.wan, wanPorts]];
    if (opts.dual) bridges.push([ns.lanB, ['pgwB', 'pgwB1', 'phostB']]);
    for (const [where, ports] of bridges) {
      await mustRun('ip', ['-n', where, 'link', 'add', 'br0', 'type', 'bridge']);
      // Learn at once, forward at once: no STP delay on a test bridge.
      await mustRun('ip', ['-n', where, 'link', 'set', 'br0', 'type', 'bridge', 'forward_delay', '0', 'stp_state', '0']);
      for (const p of ports) {
        await mustRun('ip', ['-n', where, 'link', 'set', p, 'master', 'br0']);
        await mustRun('ip', ['-n', where, 'link', 'set', p, 'up']);
      }
      await mustRun('ip', ['-n', where, 'link', 'set', 'br0', 'up']);
    }
    const A = HA_ADDR;
    const addrs: Array<[string, string, string]> = [
      [ns.hostA, 'eth0', `${A.hostA}/24`], [ns.gwA0, 'lan0', `${A.gwA0Lan}/24`], [ns.gwA1, 'lan0', `${A.gwA1Lan}/24`],
      [ns.gwA0, 'wan0', `${A.gwA0Wan}/24`], [ns.gwA1, 'wan0', `${A.gwA1Wan}/24`],
      ...(opts.dual
        ? [[ns.gwB, 'wan0', `${A.gwB0WanDual}/24`], [ns.gwB1, 'wan0', `${A.gwB1Wan}/24`], [ns.gwB, 'lan0', `${A.gwB0Lan}/24`], [ns.gwB1, 'lan0', `${A.gwB1Lan}/24`]] as Array<[string, string, string]>
        : [[ns.gwB, 'wan0', `${A.gwBWan}/24`], [ns.gwB, 'lan0', `${A.gwBLan}/24`]] as Array<[string, string, string]>),
      [ns.hostB, 'eth0', `${A.hostB}/24`],
      ...(opts.p2sClient ? [[ns.client, 'wan0', `${A.client}/24`] as [string, string, string]] : []),
    ];
    for (const [where, ifn, cidr] of addrs) {
      await mustRun('ip', ['-n', where, 'addr', 'add', cidr, 'dev', ifn]);
      await mustRun('ip', ['-n', where, 'link', 'set', ifn, 'up']);
      if (where === ns.gwA0 || where === ns.gwA1 || where === ns.gwB || where === ns.gwB1) {
        await mustRun('ip', ['netns', 'exec', where, 'sysctl', '-q', '-w', `net.ipv4.conf.${ifn}.rp_filter=0`]);
      }
    }
    if (opts.activeActive) {
      await mustRun('ip', ['-n', ns.hostA, 'route', 'add', '10.2.0.0/16', 'nexthop', 'via', A.aaPrivate0, 'nexthop', 'via', A.aaPrivate1]);
    } else {
      await mustRun('ip', ['-n', ns.hostA, 'route', 'add', '10.2.0.0/16', 'via', A.floatPrivate]);
    }
    if (opts.dual) {
      await mustRun('ip', ['-n', ns.hostB, 'route', 'add', '10.1.0.0/16', 'nexthop', 'via', A.bbPrivate0, 'nexthop', 'via', A.bbPrivate1]);
    } else {
      await mustRun('ip', ['-n', ns.hostB, 'route', 'add', '10.1.0.0/16', 'via', A.gwBLan]);
    }
    await waitFor(async () => {
      const r = await execIn(ns.hostA, 'ping', ['-c', '1', '-W', '1', A.gwA1Lan]);
      const r2 = await execIn(opts.dual ? ns.gwB1 : ns.gwB, 'ping', ['-c', '1', '-W', '1', A.gwA0Wan]);
      return r.code === 0 && r2.code === 0;
    }, 10_000, 100, 'HA topology links to carry traffic');
  } catch (err) {
    await topo.destroy();
    throw err;
  }
  return topo;
}

async function deleteNamespaces(names: readonly string[]): Promise<void> {
  const existing = new Set(listNamespaces());
  for (const name of names) {
    if (!existing.has(name)) continue;
    const pids = await pidsInNamespace(name);
    await Promise.all(pids.map((pid) => killPid(pid, 3000)));
    await run('ip', ['netns', 'del', name], { timeoutMs: 10_000 });
  }
}

// ---------------------------------------------------------------------------------
// vgwd instances of an HA pair, and the peer gateway.

export interface HaPairSpec {
  activeActive?: boolean;
  /** Remote site as the pair sees it. */
  peerAddress?: string;
  dpdTimeoutSeconds?: number;
  connectionMode?: 'Default' | 'InitiatorOnly' | 'ResponderOnly';
}

export function haPairConfig(s: HaPairSpec = {}): Record<string, unknown> {
  const A = HA_ADDR;
  const instances = s.activeActive
    ? [{ name: 'gwA-0', haAddress: A.gwA0Lan, publicIpAddress: A.aaPublic0, privateIpAddress: A.aaPrivate0 },
      { name: 'gwA-1', haAddress: A.gwA1Lan, publicIpAddress: A.aaPublic1, privateIpAddress: A.aaPrivate1 }]
    : [{ name: 'gwA-0', haAddress: A.gwA0Lan }, { name: 'gwA-1', haAddress: A.gwA1Lan }];
  return {
    gateway: {
      name: 'gwA', addressSpace: ['10.1.0.0/24'], publicIpAddress: A.floatPublic,
      ...(s.activeActive ? { activeActive: true } : { activeActive: false, privateIpAddress: A.floatPrivate }),
      instances,
    },
    localNetworkGateways: [{ name: 'siteB', gatewayIpAddress: s.peerAddress ?? A.gwBWan, addressPrefixes: ['10.2.0.0/24'] }],
    connections: [{ name: 'gwA-to-siteB', localNetworkGateway: 'siteB', sharedKey: 'vgw-ha-psk', connectionMode: s.connectionMode ?? 'Default', dpdTimeoutSeconds: s.dpdTimeoutSeconds ?? 45 }],
    runtime: { tunName: 'vgw0', logLevel: 'debug' },
  };
}

/** The peer gateway gwB: one connection per address of the pair (one in active-standby, two in active-active). */
export function peerConfig(pairAddresses: readonly string[], dpdTimeoutSeconds = 9, connectionMode: 'Default' | 'ResponderOnly' = 'Default'): Record<string, unknown> {
  return {
    gateway: { name: 'gwB', addressSpace: ['10.2.0.0/24'], publicIpAddress: HA_ADDR.gwBWan },
    localNetworkGateways: pairAddresses.map((ip, i) => ({ name: `siteA${i}`, gatewayIpAddress: ip, addressPrefixes: ['10.1.0.0/24'] })),
    connections: pairAddresses.map((_ip, i) => ({ name: `gwB-to-siteA${i}`, localNetworkGateway: `siteA${i}`, sharedKey: 'vgw-ha-psk', dpdTimeoutSeconds, connectionMode })),
    runtime: { tunName: 'vgw0', logLevel: 'debug' },
  };
}

/**
 * Dual redundancy: the config of side A (gwA-0/gwA-1) or B (gwB-0/gwB-1), both
 * active-active, each instance with a connection to each instance of the
 * other side (4 tunnels).
 */
export function dualPairConfig(side: 'A' | 'B'): Record<string, unknown> {
  const A = HA_ADDR;
  const mine = side === 'A'
    ? { name: 'gwA', space: '10.1.0.0/24', remote: '10.2.0.0/24', inst: [['gwA-0', A.gwA0Lan, A.aaPublic0, A.aaPrivate0], ['gwA-1', A.gwA1Lan, A.aaPublic1, A.aaPrivate1]], peers: [A.bbPublic0, A.bbPublic1], peerSite: 'siteB' }
    : { name: 'gwB', space: '10.2.0.0/24', remote: '10.1.0.0/24', inst: [['gwB-0', A.gwB0Lan, A.bbPublic0, A.bbPrivate0], ['gwB-1', A.gwB1Lan, A.bbPublic1, A.bbPrivate1]], peers: [A.aaPublic0, A.aaPublic1], peerSite: 'siteA' };
  return {
    gateway: {
      name: mine.name, addressSpace: [mine.space], publicIpAddress: mine.inst[0]![2], activeActive: true,
      instances: mine.inst.map(([name, ha, pub, priv]) => ({ name, haAddress: ha, publicIpAddress: pub, privateIpAddress: priv })),
    },
    localNetworkGateways: mine.peers.map((ip, i) => ({ name: `${mine.peerSite}${i}`, gatewayIpAddress: ip, addressPrefixes: [mine.remote] })),
    connections: mine.peers.map((_ip, i) => ({ name: `${mine.name}-to-${mine.peerSite}${i}`, localNetworkGateway: `${mine.peerSite}${i}`, sharedKey: 'vgw-ha-psk', dpdTimeoutSeconds: 9 })),
    runtime: { tunName: 'vgw0', logLevel: 'debug' },
  };
}

export interface DaemonHandle {
  ns: string;
  socket: string;
  logFile: string;
  process: ProcessHandle;
  status(): Promise<GatewayStatus>;
  connection(name: string): Promise<ConnectionStatus>;
  request(method: string, params?: unknown, timeoutMs?: number): Promise<unknown>;
  log(): string;
}

/** Starts vgwd in `ns` with `config` (and `--instance`), waits for its control socket. */
export async function startDaemon(topo: HaTopology, ns: string, config: Record<string, unknown>, instance?: string, label = ns): Promise<DaemonHandle> {
  const dir = mkdtempSync(join(tmpdir(), `vgwd-${label}-`));
  const socket = join(dir, 'vgwd.sock');
  const cfgPath = join(dir, 'vgwd.yaml');
  writeFileSync(cfgPath, stringify(config));
  const logFile = join(dir, 'vgwd.log');
  const args = [VGWD, '--config', cfgPath, '--socket', socket, ...(instance ? ['--instance', instance] : [])];
  const proc = topo.spawn(ns, process.execPath, args, logFile);
  const h: DaemonHandle = {
    ns, socket, logFile, process: proc,
    status: async () => (await controlRequest(socket, 'status')) as GatewayStatus,
    connection: async (name) => {
      const st = (await controlRequest(socket, 'status')) as GatewayStatus;
      const c = st.connections.find((x) => x.name === name);
      if (!c) throw new Error(`no connection ${name}`);
      return c;
    },
    request: (method, params, timeoutMs) => controlRequest(socket, method, params, timeoutMs),
    log: () => (existsSync(logFile) ? readFileSync(logFile, 'utf8') : ''),
  };
  await waitFor(async () => {
    if (proc.hasExited()) throw new Error(`vgwd in ${ns} exited early:\n${proc.output().slice(-3000)}`);
    try { await controlRequest(socket, 'status', undefined, 1000); return true; } catch { return false; }
  }, 15_000, 100, `vgwd in ${ns} to open its control socket`);
  return h;
}

/** Starts the second process for the same config dir (restart of an instance). */
export function configPathOf(h: DaemonHandle): string {
  return join(h.socket, '..', 'vgwd.yaml');
}

/** Waits until the instance reports `role`. */
export async function waitRole(h: DaemonHandle, role: 'active' | 'standby', timeoutMs = 10_000): Promise<GatewayStatus> {
  return waitFor(async () => {
    const st = await h.status().catch(() => undefined);
    return st?.ha?.role === role ? st : undefined;
  }, timeoutMs, 50, `${h.ns} to become ${role}`);
}

/** Counts IKE_SA_INIT exchanges a vgwd logged (responder or initiator). */
export function ikeSaInitCount(log: string): number {
  return (log.match(/IKE_SA_INIT received, responding|initiating IKE_SA /g) ?? []).length;
}

// ---------------------------------------------------------------------------------
// A paced TCP transfer hostA → hostB across a failover (tests and bench/failover.ts).

const PACED_SERVER = (host: string, port: number): string => `
const net=require('net');let n=0;
net.createServer(s=>{s.on('data',d=>{n+=d.length});s.on('end',()=>{console.log('RECV '+n);process.exit(0)});s.on('error',e=>{console.log('ERR '+e.message);process.exit(1)})}).listen(${port},'${host}',()=>console.log('LISTEN'));`;
const PACED_CLIENT = (host: string, port: number, ms: number): string => `
const net=require('net');const chunk=Buffer.alloc(32768,7);let sent=0;const end=Date.now()+${ms};
const s=net.connect(${port},'${host}',()=>{const t=setInterval(()=>{if(Date.now()>end){clearInterval(t);s.end(()=>{console.log('SENT '+sent)});return}if(s.writableLength<1<<20){s.write(chunk);sent+=chunk.length}},10)});
s.on('error',e=>{console.log('ERR '+e.message);process.exit(1)});s.on('close',()=>process.exit(0));`;

export interface PacedTransferResult { ok: boolean; sent: number | null; received: number | null; detail: string }

/**
 * Starts a TCP stream hostA → hostB paced at ~3 MB/s for `ms`; resolves when it
 * ended: ok when every byte the client wrote reached the server.
 */
export async function pacedTcpTransfer(topo: HaTopology, ms: number, port = 5301): Promise<() => Promise<PacedTransferResult>> {
  const server = topo.spawn(topo.ns.hostB, process.execPath, ['-e', PACED_SERVER(HA_ADDR.hostB, port)]);
  await waitFor(async () => server.output().includes('LISTEN'), 5_000, 20, 'TCP server');
  const client = topo.spawn(topo.ns.hostA, process.execPath, ['-e', PACED_CLIENT(HA_ADDR.hostB, port, ms)]);
  return async () => {
    const cl = await Promise.race([client.exited.then(() => client.output()), new Promise<string>((r) => setTimeout(() => r(client.output()), ms + 20_000))]);
    await Promise.race([server.exited.catch(() => undefined), new Promise((r) => setTimeout(r, 5_000))]);
    const srv = server.output();
    const sent = /SENT (\d+)/.exec(cl)?.[1];
    const recv = /RECV (\d+)/.exec(srv)?.[1];
    return {
      ok: sent !== undefined && sent === recv, sent: sent === undefined ? null : Number(sent), received: recv === undefined ? null : Number(recv),
      detail: `client: ${cl.trim().slice(-200)} server: ${srv.trim().slice(-200)}`,
    };
  };
}
