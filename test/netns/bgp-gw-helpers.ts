/**
 * Helpers for the gateway BGP netns tests: a vgwd with an arbitrary (BGP) config,
 * and BIRD 2 inside a topology namespace. vgwd runs from dist/ (npm run build) or,
 * when VGW_DIST is set, from that compiled tree. Everything started here is
 * started through the topology (killed by PID at destroy()).
 */
import { existsSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { stringify } from 'yaml';
import { controlRequest } from '../../daemon/control.js';
import type { GatewayStatus } from '../../daemon/status.js';
import type { Topology, ProcessHandle } from './lib/topology.js';
import { waitFor } from './lib/wait.js';
import { REPO } from './lib/vgwd.js';

export const DIST = process.env.VGW_DIST ?? join(REPO, 'dist');
export const BIRD = '/usr/sbin/bird';
export const BIRDC = '/usr/sbin/birdc';

export function gwBuilt(): { ok: boolean; reason: string } {
  const ok = existsSync(join(DIST, 'daemon/main.js')) && existsSync(join(DIST, 'daemon/bgp-service.js')) && existsSync(join(REPO, 'build/Release/vgw_tun.node'));
  return { ok, reason: ok ? '' : `${DIST} has no BGP-capable vgwd or the TUN addon is not built: run \`npm run build\`` };
}

export interface Gw {
  ns: string;
  socket: string;
  proc: ProcessHandle;
  request(method: string, params?: unknown): Promise<unknown>;
  status(): Promise<GatewayStatus>;
  log(): string;
}

export interface SiteCfg {
  name: string;
  gatewayIpAddress: string;
  addressPrefixes: string[];
  bgp?: { asn: number; peeringAddress: string };
  sharedKey?: string;
}

export function gwConfig(name: string, publicIp: string, space: string[], bgp: { asn: number; peeringAddress: string } | undefined, sites: SiteCfg[], socket: string): Record<string, unknown> {
  return {
    gateway: { name, addressSpace: space, publicIpAddress: publicIp, vpnType: 'RouteBased', ...(bgp ? { bgp: { ...bgp, holdTime: 30 } } : {}) },
    localNetworkGateways: sites.map((s) => ({ name: s.name, gatewayIpAddress: s.gatewayIpAddress, addressPrefixes: s.addressPrefixes, ...(s.bgp ? { bgp: s.bgp } : {}) })),
    connections: sites.map((s) => ({ name: `${name}-to-${s.name}`, localNetworkGateway: s.name, sharedKey: s.sharedKey ?? 'bgp-gw-psk', enableBgp: s.bgp !== undefined && bgp !== undefined, dpdTimeoutSeconds: 10 })),
    runtime: { tunName: 'vgw0', controlSocket: socket, logLevel: 'debug' },
  };
}

export async function startGw(topo: Topology, ns: string, cfg: (socket: string) => Record<string, unknown>): Promise<Gw> {
  const dir = mkdtempSync(join(tmpdir(), `bgpgw-${ns}-`));
  const socket = join(dir, 'vgwd.sock');
  const cfgPath = join(dir, 'vgwd.yaml');
  writeFileSync(cfgPath, stringify(cfg(socket)));
  const logFile = join(dir, 'vgwd.log');
  const proc = topo.spawn(ns, process.execPath, [join(DIST, 'daemon/main.js'), '--config', cfgPath], { logFile });
  const gw: Gw = {
    ns, socket, proc,
    request: (m, p) => controlRequest(socket, m, p, 30_000),
    status: async () => (await controlRequest(socket, 'status')) as GatewayStatus,
    log: () => (existsSync(logFile) ? readFileSync(logFile, 'utf8') : ''),
  };
  await waitFor(async () => {
    if (proc.hasExited()) throw new Error(`vgwd in ${ns} exited early:\n${proc.output().slice(-3000)}`);
    try { await controlRequest(socket, 'status', undefined, 1000); return true; } catch { return false; }
  }, 15_000, 200, `vgwd in ${ns} to open its control socket`);
  return gw;
}

export interface BirdHandle {
  dir: string;
  proc: ProcessHandle;
  birdc(...args: string[]): Promise<string>;
}

/** Start BIRD 2 in `ns` with `conf` (the log/socket lines are added here). */
export async function startBird(topo: Topology, ns: string, conf: string): Promise<BirdHandle> {
  const dir = mkdtempSync(join(tmpdir(), `bgpgw-bird-${ns}-`));
  writeFileSync(join(dir, 'bird.conf'), `log "${dir}/bird.log" all;\n${conf}\n`);
  const ctl = join(dir, 'bird.ctl');
  const proc = topo.spawn(ns, BIRD, ['-f', '-c', join(dir, 'bird.conf'), '-s', ctl, '-P', join(dir, 'bird.pid')], { logFile: join(dir, 'bird.out') });
  await waitFor(async () => {
    if (proc.hasExited()) throw new Error(`bird exited: ${proc.output()} ${existsSync(join(dir, 'bird.log')) ? readFileSync(join(dir, 'bird.log'), 'utf8').slice(-2000) : ''}`);
    return existsSync(ctl);
  }, 10_000, 100, 'BIRD control socket');
  return {
    dir, proc,
    birdc: async (...args) => (await topo.exec(ns, BIRDC, ['-s', ctl, ...args], { timeoutMs: 20_000 })).stdout,
  };
}

/** `count` /24s from 10.100.0.0 upward, as BIRD static routes. */
export function birdStaticRoutes(count: number, base = 100): string[] {
  const out: string[] = [];
  for (let i = 0; i < count; i++) out.push(`10.${base + Math.floor(i / 256)}.${i % 256}.0/24`);
  return out;
}

export interface PeerView { neighbor: string; state: string; routesReceived: number; routesAccepted: number; routesAdvertised: number; enabled: boolean; uptimeSeconds: number; lastError: string | null }
export interface LearnedView { network: string; nextHop: string | null; sourcePeer: string; origin: string; asPath: string; best: boolean; installed: boolean; connection: string | null; weight: number; localPref: number }

export async function peers(gw: Gw): Promise<PeerView[]> {
  return (await gw.request('bgp-peers')) as PeerView[];
}
export async function learned(gw: Gw, params: Record<string, unknown> = {}): Promise<{ total: number; routes: LearnedView[] }> {
  return (await gw.request('routes-learned', { limit: 1_000_000, ...params })) as { total: number; routes: LearnedView[] };
}

/** Kernel routes with `proto bgp` on vgw0 in `ns`. */
export async function kernelBgpRoutes(topo: Topology, ns: string): Promise<string[]> {
  const r = await topo.exec(ns, 'ip', ['-j', 'route', 'show', 'proto', 'bgp'], { timeoutMs: 20_000 });
  const rows = JSON.parse(r.stdout || '[]') as Array<{ dst: string; dev?: string }>;
  return rows.filter((x) => x.dev === 'vgw0').map((x) => (x.dst.includes('/') ? x.dst : `${x.dst}/32`));
}
