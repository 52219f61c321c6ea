/**
 * Shared set-up of the point-to-site namespace tests: a PKI made with our
 * own tooling, and vgwd with gateway.vpnClientConfiguration.
 */
import { mkdtempSync, writeFileSync, readFileSync, existsSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { stringify } from 'yaml';
import { createRootCa, issueClientCert, issueGatewayCert, publicCertData, type CertAndKey } from '../../crypto/pki.js';
import { controlRequest } from '../../daemon/control.js';
import type { Topology } from './lib/topology.js';
import { waitFor } from './lib/wait.js';
import { VGWD, type VgwdHandle } from './lib/vgwd.js';

export const GW_ID = 'gw.p2s.test';
export const POOL = '172.16.201.0/24';

export interface P2sPki {
  dir: string;
  ca: CertAndKey;
  gateway: CertAndKey;
  client(name: string, opts?: { keyType?: 'rsa' | 'ecdsa'; ca?: CertAndKey }): CertAndKey & { thumbprint: string };
  otherCa: CertAndKey;
}

export function makePki(): P2sPki {
  const dir = mkdtempSync(join(tmpdir(), 'p2s-pki-'));
  const ca = createRootCa({ name: 'P2SRoot', keyType: 'ecdsa' });
  const otherCa = createRootCa({ name: 'OtherRoot', keyType: 'ecdsa' });
  const gateway = issueGatewayCert({ ca, name: GW_ID, sans: ['192.0.2.1'], keyType: 'rsa', rsaBits: 2048 });
  writeFileSync(join(dir, 'gw.pem'), gateway.certPem);
  writeFileSync(join(dir, 'gw.key'), gateway.keyPem, { mode: 0o600 });
  writeFileSync(join(dir, 'ca.pem'), ca.certPem);
  return {
    dir, ca, gateway, otherCa,
    client: (name, o = {}) => issueClientCert({ ca: o.ca ?? ca, name, keyType: o.keyType ?? 'ecdsa' }),
  };
}

export interface P2sGatewayOptions {
  revoked?: Array<{ name: string; thumbprint: string }>;
  customRoutes?: string[];
  dnsServers?: string[];
}

export function p2sGatewayConfig(pki: P2sPki, socket: string, o: P2sGatewayOptions = {}): Record<string, unknown> {
  return {
    gateway: {
      name: 'gwA', addressSpace: ['10.1.0.0/24'], publicIpAddress: '192.0.2.1',
      vpnClientConfiguration: {
        vpnClientAddressPool: [POOL],
        vpnClientProtocols: ['IkeV2'],
        vpnClientRootCertificates: [{ name: 'P2SRoot', publicCertData: publicCertData(pki.ca.certPem) }],
        vpnClientRevokedCertificates: o.revoked ?? [],
        customRoutes: o.customRoutes ?? [],
        dnsServers: o.dnsServers ?? [],
        serverCertificate: { cert: join(pki.dir, 'gw.pem'), key: join(pki.dir, 'gw.key') },
      },
    },
    runtime: { tunName: 'vgw0', controlSocket: socket, logLevel: 'debug' },
  };
}

export interface P2sGatewayHandle extends VgwdHandle {
  readonly configPath: string;
  rewriteConfig(o: P2sGatewayOptions): void;
}

export async function startP2sGateway(topo: Topology, ns: string, pki: P2sPki, o: P2sGatewayOptions = {}): Promise<P2sGatewayHandle> {
  const dir = mkdtempSync(join(tmpdir(), `vgwd-p2s-${ns}-`));
  const socket = join(dir, 'vgwd.sock');
  const configPath = join(dir, 'vgwd.yaml');
  writeFileSync(configPath, stringify(p2sGatewayConfig(pki, socket, o)));
  const logFile = join(dir, 'vgwd.log');
  const proc = topo.spawn(ns, process.execPath, [VGWD, '--config', configPath], { logFile });
  const h: P2sGatewayHandle = {
    ns, socket, logFile, process: proc, configPath,
    status: async () => (await controlRequest(socket, 'status')) as never,
    connection: async () => { throw new Error('no site-to-site connections here'); },
    request: (method, params) => controlRequest(socket, method, params),
    log: () => (existsSync(logFile) ? readFileSync(logFile, 'utf8') : ''),
    stop: async () => { await proc.stop(5000); },
    rewriteConfig: (next) => writeFileSync(configPath, stringify(p2sGatewayConfig(pki, socket, next))),
  };
  await waitFor(async () => {
    if (proc.hasExited()) throw new Error(`vgwd in ${ns} exited early:\n${proc.output().slice(-3000)}`);
    try { await controlRequest(socket, 'status', undefined, 1000); return true; } catch { return false; }
  }, 15_000, 200, `vgwd in ${ns} to open its control socket`);
  return h;
}

export interface P2sClientsStatus {
  leased: number;
  clients: Array<{ identity: string; address: string; thumbprint: string; state: string }>;
}

export async function p2sClients(h: VgwdHandle): Promise<P2sClientsStatus> {
  return (await h.request('p2s-status')) as P2sClientsStatus;
}
