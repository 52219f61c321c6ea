/**
 * Point-to-site connection setup benchmark: how many certificate clients per
 * second the gateway's IKE engine admits (IKE_SA_INIT + IKE_AUTH with RFC 7427
 * signatures, chain validation, CP address assignment, Child SA install) and
 * the gateway's heap per connected client, up to N simulated clients.
 *
 * In process, over an in-memory wire: one gateway IkeManager with a P2S
 * policy, N client IkeManagers (certClient specs), a no-op IPsec backend on
 * both sides. The measured CPU covers both ends (clients sign and verify
 * too), so the gateway-only rate is higher than reported; the heap figure
 * is taken after the client managers are dropped and a GC, so it counts the
 * gateway's SAs, registry entries and leases.
 *
 *   node --expose-gc dist/bench/p2s-setup.js [--clients 1000] [--batch 50] [--key ecdsa|rsa] [--max-seconds 120]
 */
import { createPrivateKey, generateKeyPairSync, type KeyObject } from 'node:crypto';
import { parseArgs } from 'node:util';
import pino from 'pino';
import { IkeManager } from '../ike/manager.js';
import { IkeSaState } from '../ike/ike-sa.js';
import type { ChildSaCounters, ChildSaInstall, IpsecBackend, UdpEndpoint } from '../dataplane/backend.js';
import { cidrToRange } from '../ike/traffic-selectors.js';
import { AddressPool } from '../ike/p2s/address-pool.js';
import { ClientRegistry } from '../ike/p2s/client-registry.js';
import { certClientSpec, p2sResponderSpec } from '../ike/p2s/spec.js';
import type { P2sPolicy } from '../ike/p2s/types.js';
import { certificateDer, createRootCa, issueGatewayCert } from '../crypto/pki.js';
import {
  authorityKeyIdExt, basicConstraintsExt, buildCertificate, encodeName, extKeyUsageExt, keyIdentifier, keyUsageExt, OID,
  readCertFields, subjectAltNameExt,
} from '../crypto/pki-x509.js';
import { DEFAULT_ESP_PROPOSALS, DEFAULT_IKE_PROPOSALS } from '../daemon/config-policy.js';

class NullBackend implements IpsecBackend {
  private readonly ids = new Set<string>();
  installChildSa(sa: ChildSaInstall): void { this.ids.add(sa.id); }
  removeChildSa(id: string): void { this.ids.delete(id); }
  counters(id: string): ChildSaCounters | undefined {
    return this.ids.has(id) ? { inBytes: 0, inPackets: 0, outBytes: 0, outPackets: 0, drops: {}, lastInboundMs: Date.now(), outboundSeq: 1n } : undefined;
  }
}

interface Packet { to: string; from: string; data: Buffer; localPort: number; remotePort: number }

function ipOf(i: number): string { return `100.${64 + (i >> 16)}.${(i >> 8) & 255}.${i & 255}`; }

async function main(): Promise<void> {
  const { values } = parseArgs({ options: {
    clients: { type: 'string', default: '1000' }, batch: { type: 'string', default: '50' },
    key: { type: 'string', default: 'ecdsa' }, 'max-seconds': { type: 'string', default: '120' },
  } });
  const n = Math.max(1, Math.min(10_000, Number(values.clients)));
  const batch = Math.max(1, Number(values.batch));
  const maxMs = Number(values['max-seconds']) * 1000;
  const rsa = values.key === 'rsa';
  const gc = (globalThis as { gc?: () => void }).gc;
  const log = pino({ level: 'silent' });

  const ca = createRootCa({ name: 'BenchRoot', keyType: 'ecdsa' });
  const caKey = createPrivateKey(ca.keyPem);
  const caDer = certificateDer(ca.certPem);
  const caName = readCertFields(caDer).subjectNameDer;
  const caKeyId = keyIdentifier(caKey);
  const gwCert = issueGatewayCert({ ca, name: 'gw.bench.test', keyType: 'ecdsa' });
  const policy: P2sPolicy = {
    roots: [caDer], revoked: new Set(),
    server: { chainDer: [certificateDer(gwCert.certPem)], key: createPrivateKey(gwCert.keyPem) },
    pool: new AddressPool(['172.16.0.0/18']), dns: [], routes: [cidrToRange('10.1.0.0/16')], registry: new ClientRegistry(),
  };
  const ike = DEFAULT_IKE_PROPOSALS.map((p) => ({ ...p, dh: [...p.dh] }));
  const esp = DEFAULT_ESP_PROPOSALS.map((p) => ({ ...p }));
  const queue: Packet[] = [];
  const nodes = new Map<string, IkeManager>();
  const send = (from: string) => (data: Buffer, to: UdpEndpoint, localPort: number): void => {
    queue.push({ from, to: to.address, data, localPort, remotePort: to.port });
  };
  const GW = '192.0.2.1';
  const gateway = new IkeManager({
    connections: [p2sResponderSpec({ localAddress: GW, policy, ikeProposals: ike, espProposals: esp })],
    backend: new NullBackend(), localAddress: GW, log, send: send(GW), cookieThreshold: 1_000_000,
  });
  nodes.set(GW, gateway);

  // Client certificates (not timed): one key and cert per simulated user.
  const t0 = Date.now();
  const creds: Array<{ der: Buffer; key: KeyObject }> = [];
  for (let i = 0; i < n; i++) {
    const kp = rsa ? generateKeyPairSync('rsa', { modulusLength: 2048 }) : generateKeyPairSync('ec', { namedCurve: 'P-256' });
    const name = `user${i}.bench.test`;
    const der = buildCertificate({
      subjectNameDer: encodeName([[OID.commonName, name]]), issuerNameDer: caName, subjectPublicKey: kp.privateKey, signingKey: caKey,
      notBefore: new Date(Date.now() - 60_000), notAfter: new Date(Date.now() + 86_400_000),
      extensions: [basicConstraintsExt(false), keyUsageExt(['digitalSignature']), extKeyUsageExt([OID.clientAuth]),
        subjectAltNameExt([{ dns: name }]), authorityKeyIdExt(caKeyId)],
    });
    creds.push({ der, key: kp.privateKey });
  }
  process.stderr.write(`prepared ${n} client certificates in ${Date.now() - t0} ms\n`);

  const pump = (): void => {
    for (let guard = 0; queue.length > 0 && guard < 1_000_000; guard++) {
      const p = queue.shift()!;
      nodes.get(p.to)?.handleDatagram(p.data, { address: p.from, port: p.localPort }, p.remotePort);
    }
  };
  gc?.();
  const heapBefore = process.memoryUsage().heapUsed;
  const start = process.hrtime.bigint();
  const cpu0 = process.cpuUsage();
  let admitted = 0;
  let i = 0;
  for (; i < n; i += batch) {
    for (let j = i; j < Math.min(n, i + batch); j++) {
      const addr = ipOf(j + 1);
      const mgr = new IkeManager({
        connections: [certClientSpec({ name: 'vpn', localAddress: addr, gatewayAddress: GW, ikeProposals: ike, espProposals: esp,
          auth: { me: { chainDer: [creds[j]!.der], key: creds[j]!.key }, caDer: [caDer] } })],
        backend: new NullBackend(), localAddress: addr, log, send: send(addr),
      });
      nodes.set(addr, mgr);
      mgr.initiate('vpn');
    }
    pump();
    if (Number(process.hrtime.bigint() - start) / 1e6 > maxMs) { i += batch; break; }
  }
  const elapsedMs = Number(process.hrtime.bigint() - start) / 1e6;
  const cpu = process.cpuUsage(cpu0);
  admitted = policy.registry.size;
  const gwSas = gateway.allSas().filter((s) => s.state === IkeSaState.Established).length;
  // Drop the simulated clients; what remains is the gateway's state.
  for (const k of [...nodes.keys()]) if (k !== GW) nodes.delete(k);
  creds.length = 0;
  gc?.();
  const heapAfter = process.memoryUsage().heapUsed;
  const result = {
    clientsAttempted: Math.min(i, n), clientsAdmitted: admitted, gatewayEstablishedSas: gwSas,
    keyType: rsa ? 'rsa-2048' : 'ecdsa-p256',
    elapsedMs: Math.round(elapsedMs), admittedPerSecond: Math.round((admitted / elapsedMs) * 1000 * 10) / 10,
    cpuMsBothEnds: Math.round((cpu.user + cpu.system) / 1000),
    gatewayHeapPerClientBytes: gc ? Math.round((heapAfter - heapBefore) / Math.max(1, admitted)) : null,
    note: gc ? 'heap measured after GC, client managers dropped' : 'run with node --expose-gc for the memory figure',
  };
  process.stdout.write(`${JSON.stringify(result, null, 2)}\n`);
  if (admitted === 0) process.exitCode = 1;
}

await main();
