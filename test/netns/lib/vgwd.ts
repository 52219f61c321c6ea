/**
 * Runs the real `vgwd` (compiled dist/, started through bin/vgwd.js) inside a
 * test namespace and talks to it over its control socket.
 */
import { mkdirSync, mkdtempSync, writeFileSync, readFileSync, existsSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { stringify } from 'yaml';
import type { Topology, ProcessHandle } from './topology.js';
import { waitFor } from './wait.js';
import { controlRequest } from '../../../daemon/control.js';
import type { GatewayStatus, ConnectionStatus } from '../../../daemon/status.js';

export const REPO = resolve(import.meta.dirname, '../../..');
export const VGWD = join(REPO, 'bin/vgwd.js');
export const VGW = join(REPO, 'bin/vgw.js');

export function builtOk(): { ok: boolean; reason: string } {
  const ok = existsSync(join(REPO, 'dist/daemon/main.js')) && existsSync(join(REPO, 'build/Release/vgw_tun.node'));
  return { ok, reason: ok ? '' : 'dist/ or the TUN addon is not built: run `npm run build` (npm test does)' };
}

export interface SiteSpec {
  name: string;
  gatewayIpAddress: string;
  addressPrefixes: string[];
}

export interface GatewaySpec {
  name: string;
  publicIpAddress: string;
  addressSpace: string[];
  vpnType?: 'RouteBased' | 'PolicyBased';
  sites: SiteSpec[];
  sharedKey?: string | Record<string, string>;
  connectionMode?: 'Default' | 'InitiatorOnly' | 'ResponderOnly';
  dpdTimeoutSeconds?: number;
  ipsecPolicies?: Record<string, string | number>[];
}

export function gatewayConfig(g: GatewaySpec, socket: string): Record<string, unknown> {
  return {
    gateway: { name: g.name, addressSpace: g.addressSpace, publicIpAddress: g.publicIpAddress, vpnType: g.vpnType ?? 'RouteBased' },
    localNetworkGateways: g.sites.map((s) => ({ name: s.name, gatewayIpAddress: s.gatewayIpAddress, addressPrefixes: s.addressPrefixes })),
    connections: g.sites.map((s) => ({
      name: `${g.name}-to-${s.name}`,
      localNetworkGateway: s.name,
      sharedKey: typeof g.sharedKey === 'object' ? g.sharedKey[s.name] : (g.sharedKey ?? 'vgw-test-psk'),
      connectionMode: g.connectionMode ?? 'Default',
      dpdTimeoutSeconds: g.dpdTimeoutSeconds ?? 45,
      ...(g.ipsecPolicies ? { ipsecPolicies: g.ipsecPolicies } : {}),
    })),
    runtime: { tunName: 'vgw0', controlSocket: socket, logLevel: 'debug' },
  };
}

export interface VgwdHandle {
  readonly ns: string;
  readonly socket: string;
  readonly logFile: string;
  readonly process: ProcessHandle;
  status(): Promise<GatewayStatus>;
  connection(name: string): Promise<ConnectionStatus>;
  request(method: string, params?: unknown): Promise<unknown>;
  log(): string;
  stop(): Promise<void>;
}

export async function startVgwd(topo: Topology, ns: string, g: GatewaySpec, extraEnv: Record<string, string> = {}): Promise<VgwdHandle> {
  const dir = mkdtempSync(join(tmpdir(), `vgwd-${ns}-`));
  mkdirSync(dir, { recursive: true });
  const socket = join(dir, 'vgwd.sock');
  const cfgPath = join(dir, 'vgwd.yaml');
  writeFileSync(cfgPath, stringify(gatewayConfig(g, socket)));
  const logFile = join(dir, 'vgwd.log');
  const proc = topo.spawn(ns, process.execPath, [VGWD, '--config', cfgPath], { logFile, env: extraEnv });
  const handle: VgwdHandle = {
    ns, socket, logFile, process: proc,
    status: async () => (await controlRequest(socket, 'status')) as GatewayStatus,
    connection: async (name) => {
      const st = (await controlRequest(socket, 'status')) as GatewayStatus;
      const c = st.connections.find((x) => x.name === name);
      if (!c) throw new Error(`no connection ${name} in status`);
      return c;
    },
    request: (method, params) => controlRequest(socket, method, params),
    log: () => (existsSync(logFile) ? readFileSync(logFile, 'utf8') : ''),
    stop: async () => { await proc.stop(5000); },
  };
  await waitFor(async () => {
    if (proc.hasExited()) throw new Error(`vgwd in ${ns} exited early:\n${proc.output().slice(-3000)}`);
    try { await controlRequest(socket, 'status', undefined, 1000); return true; } catch { return false; }
  }, 15_000, 200, `vgwd in ${ns} to open its control socket`);
  // The control socket opens before the IKE/ESP sockets are bound: wait for those too,
  // or a peer's first IKE_SA_INIT can meet a closed port and wait for its retransmit.
  await waitFor(() => {
    if (proc.hasExited()) throw new Error(`vgwd in ${ns} exited early:\n${proc.output().slice(-3000)}`);
    return /"msg":"gateway started/.test(handle.log());
  }, 15_000, 100, `vgwd in ${ns} to start its gateway`);
  return handle;
}

export async function waitConnected(h: VgwdHandle, conn: string, timeoutMs = 20_000): Promise<ConnectionStatus> {
  let last: ConnectionStatus | undefined;
  try {
    return await waitFor(async () => {
      last = await h.connection(conn);
      return last.state === 'Connected' ? last : undefined;
    }, timeoutMs, 200, `${conn} on ${h.ns} to be Connected`);
  } catch (e) {
    throw new Error(`${(e as Error).message}; last status: ${JSON.stringify(last)}\n--- log tail ---\n${h.log().slice(-4000)}`);
  }
}
