/**
 * Point-to-site IKE in process: a gateway IkeManager with a P2S policy and
 * certificate clients (IkeManager + certClient spec) over an in-memory wire.
 */
import { createPrivateKey } from 'node:crypto';
import { beforeAll, describe, expect, it } from 'vitest';
import pino from 'pino';
import { IkeManager } from '../../ike/manager.js';
import { IkeSaState } from '../../ike/ike-sa.js';
import type { ChildSaCounters, ChildSaInstall, IpsecBackend, UdpEndpoint } from '../../dataplane/backend.js';
import { DhGroup, EncrId, IntegId, PayloadType, PrfId } from '../../ike/constants.js';
import { decodeMessage } from '../../ike/codec/message.js';
import { cidrToRange, rangeToString } from '../../ike/traffic-selectors.js';
import { AddressPool } from '../../ike/p2s/address-pool.js';
import { ClientRegistry } from '../../ike/p2s/client-registry.js';
import { certClientSpec, p2sResponderSpec } from '../../ike/p2s/spec.js';
import { clientConfigs } from '../../ike/exchanges/ike-auth-cert.js';
import type { P2sPolicy } from '../../ike/p2s/types.js';
import { certificateDer, createRootCa, issueClientCert, issueGatewayCert, type CertAndKey } from '../../crypto/pki.js';

class MockBackend implements IpsecBackend {
  readonly installed = new Map<string, ChildSaInstall>();
  installChildSa(sa: ChildSaInstall): void { this.installed.set(sa.id, sa); }
  removeChildSa(id: string): void { this.installed.delete(id); }
  counters(id: string): ChildSaCounters | undefined {
    return this.installed.has(id) ? { inBytes: 0, inPackets: 0, outBytes: 0, outPackets: 0, drops: {}, lastInboundMs: 0, outboundSeq: 1n } : undefined;
  }
}

interface Packet { from: string; to: string; data: Buffer; localPort: number; remotePort: number }
const silent = pino({ level: process.env.P2S_DEBUG ? 'debug' : 'silent' });
let now = 5_000_000;
const IKE = [{ encr: EncrId.AES_GCM_16, encrKeyBits: 256, integ: IntegId.NONE, prf: PrfId.HMAC_SHA2_256, dh: [DhGroup.CURVE25519, DhGroup.ECP_256] }];
const ESP = [{ encr: EncrId.AES_GCM_16, encrKeyBits: 256, integ: IntegId.NONE, pfs: DhGroup.NONE }];
const GW = '192.0.2.1';

let ca: CertAndKey;
let otherCa: CertAndKey;
let gwCert: CertAndKey;
const clients = new Map<string, CertAndKey & { thumbprint: string }>();

beforeAll(() => {
  ca = createRootCa({ name: 'P2SRoot', keyType: 'ecdsa' });
  otherCa = createRootCa({ name: 'EvilRoot', keyType: 'ecdsa' });
  gwCert = issueGatewayCert({ ca, name: 'gw.example.test', keyType: 'rsa', rsaBits: 2048 });
  clients.set('alice', issueClientCert({ ca, name: 'alice', keyType: 'rsa', rsaBits: 4096 }));
  clients.set('bob', issueClientCert({ ca, name: 'bob@example.test', keyType: 'ecdsa' }));
  clients.set('mallory', issueClientCert({ ca: otherCa, name: 'mallory', keyType: 'ecdsa' }));
}, 60_000);

function world(revoked: string[] = []) {
  const queue: Packet[] = [];
  const log: Packet[] = [];
  const nodes = new Map<string, IkeManager>();
  const policy: P2sPolicy = {
    roots: [certificateDer(ca.certPem)], revoked: new Set(revoked),
    server: { chainDer: [certificateDer(gwCert.certPem)], key: createPrivateKey(gwCert.keyPem) },
    pool: new AddressPool(['172.16.201.0/24']), dns: ['10.1.0.53'],
    routes: [cidrToRange('10.1.0.0/24'), cidrToRange('10.50.0.0/16')], registry: new ClientRegistry(),
  };
  const send = (from: string) => (data: Buffer, to: UdpEndpoint, localPort: number) =>
    queue.push({ from, to: to.address, data, localPort, remotePort: to.port });
  const gwBackend = new MockBackend();
  const gateway = new IkeManager({
    connections: [p2sResponderSpec({ localAddress: GW, policy, ikeProposals: IKE, espProposals: ESP })],
    backend: gwBackend, localAddress: GW, log: silent, now: () => now, send: send(GW),
  });
  nodes.set(GW, gateway);
  const addClient = (user: string, address: string, opts: { ca?: CertAndKey; remoteId?: string } = {}) => {
    const c = clients.get(user)!;
    const backend = new MockBackend();
    const mgr = new IkeManager({
      connections: [certClientSpec({
        name: 'vpn', localAddress: address, gatewayAddress: GW, ikeProposals: IKE, espProposals: ESP,
        auth: {
          me: { chainDer: [certificateDer(c.certPem)], key: createPrivateKey(c.keyPem) },
          caDer: [certificateDer((opts.ca ?? ca).certPem)], ...(opts.remoteId ? { remoteId: opts.remoteId } : {}),
        },
      })],
      backend, localAddress: address, log: silent, now: () => now, send: send(address),
    });
    nodes.set(address, mgr);
    return { mgr, backend };
  };
  const run = (ms = 3000) => {
    for (let t = 0; t < ms; t += 100) {
      now += 100;
      for (const n of nodes.values()) n.tick();
      for (let i = 0; i < 500 && queue.length > 0; i++) {
        const p = queue.shift()!;
        log.push(p);
        nodes.get(p.to)?.handleDatagram(p.data, { address: p.from, port: p.localPort }, p.remotePort);
      }
    }
  };
  return { policy, gateway, gwBackend, addClient, run, log };
}

const established = (m: IkeManager) => m.allSas().find((s) => s.state === IkeSaState.Established);

describe('point-to-site IKE (in process)', () => {
  it('a client authenticates by certificate, gets a pool address, DNS and routes; TS are narrowed', () => {
    const w = world();
    const a = w.addClient('alice', '198.51.100.10');
    a.mgr.initiate('vpn');
    w.run();
    const sa = established(a.mgr);
    expect(sa, a.mgr.connection('vpn')?.lastError ?? '').toBeDefined();
    const cfg = clientConfigs.get(sa!);
    expect(cfg?.address).toBe('172.16.201.1');
    expect(cfg?.dns).toEqual(['10.1.0.53']);
    expect(cfg?.subnets.map(rangeToString)).toEqual(['10.1.0.0/24', '10.50.0.0/16']);
    const child = [...a.backend.installed.values()][0]!;
    expect(child.tsLocal.map(rangeToString)).toEqual(['172.16.201.1/32']);
    expect(child.tsRemote.map(rangeToString)).toEqual(['10.1.0.0/24', '10.50.0.0/16']);
    const gwChild = [...w.gwBackend.installed.values()][0]!;
    expect(gwChild.tsRemote.map(rangeToString)).toEqual(['172.16.201.1/32']);
    expect(w.policy.registry.get('alice')?.address).toBe('172.16.201.1');
    // An RSA-4096 client certificate makes IKE_AUTH larger than 1248 bytes: it is fragmented (RFC 7383).
    const skf = w.log.filter((p) => decodeMessage(p.data).fragment !== undefined);
    expect(skf.length).toBeGreaterThanOrEqual(2);
    expect(w.log.every((p) => p.data.length <= 1248)).toBe(true);
  });

  it('two clients get distinct addresses; a reconnect keeps the address', () => {
    const w = world();
    const a = w.addClient('alice', '198.51.100.10');
    const b = w.addClient('bob', '198.51.100.11');
    a.mgr.initiate('vpn');
    b.mgr.initiate('vpn');
    w.run();
    const ia = clientConfigs.get(established(a.mgr)!)?.address;
    const ib = clientConfigs.get(established(b.mgr)!)?.address;
    expect(ia).toBeDefined();
    expect(ib).toBeDefined();
    expect(ia).not.toBe(ib);
    expect(w.policy.registry.get('bob@example.test')?.address).toBe(ib);
    a.mgr.terminate('vpn');
    w.run();
    expect(w.policy.registry.sweep().map((e) => e.identity)).toEqual(['alice']);
    w.policy.pool.release('alice');
    a.mgr.initiate('vpn');
    w.run();
    expect(clientConfigs.get(established(a.mgr)!)?.address).toBe(ia);
  });

  it('a revoked certificate is refused with AUTHENTICATION_FAILED', () => {
    const w = world([clients.get('alice')!.thumbprint.toLowerCase().replace(/(..)(?!$)/g, '$1:')]);
    const a = w.addClient('alice', '198.51.100.10');
    a.mgr.initiate('vpn');
    w.run();
    expect(established(a.mgr)).toBeUndefined();
    expect(a.mgr.connection('vpn')?.lastError).toMatch(/AUTHENTICATION_FAILED/);
    expect(w.gateway.allSas()).toHaveLength(0);
    expect(w.policy.pool.leased).toBe(0);
  });

  it('a certificate from another CA is refused', () => {
    const w = world();
    const m = w.addClient('mallory', '198.51.100.12');
    m.mgr.initiate('vpn');
    w.run();
    expect(established(m.mgr)).toBeUndefined();
    expect(m.mgr.connection('vpn')?.lastError).toMatch(/AUTHENTICATION_FAILED/);
  });

  it('the client refuses a gateway whose certificate does not name the expected identity', () => {
    const w = world();
    const a = w.addClient('alice', '198.51.100.10', { remoteId: 'other.example.test' });
    a.mgr.initiate('vpn');
    w.run();
    expect(established(a.mgr)).toBeUndefined();
  });

  it('the client refuses a gateway certificate from a CA it does not trust', () => {
    const w = world();
    const a = w.addClient('alice', '198.51.100.10', { ca: otherCa });
    a.mgr.initiate('vpn');
    w.run();
    expect(established(a.mgr)).toBeUndefined();
    expect(a.mgr.connection('vpn')?.lastError).toMatch(/not trusted/);
  });

  it('the gateway sends CERTREQ with the SHA-1 of the root SubjectPublicKeyInfo', () => {
    const w = world();
    const a = w.addClient('bob', '198.51.100.11');
    a.mgr.initiate('vpn');
    w.run(300);
    const resp = w.log.map((p) => decodeMessage(p.data)).find((m) => m.header.exchange === 34 && (m.header.flags & 0x20));
    const cr = resp?.payloads.find((p) => p.type === PayloadType.CERTREQ);
    expect(cr && 'data' in cr ? cr.data.length : 0).toBe(20);
  });
});
