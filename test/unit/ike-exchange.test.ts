/**
 * In-process IKEv2 exchanges between two IkeManagers with a mock IPsec
 * backend, a fake clock and a packet "wire" the test controls.
 */
import { describe, it, expect, beforeEach } from 'vitest';
import pino from 'pino';
import { IkeManager } from '../../ike/manager.js';
import { IkeSaState, retransmitTimeoutMs } from '../../ike/ike-sa.js';
import type { ConnectionSpec } from '../../ike/connection.js';
import type { ChildSaInstall, ChildSaCounters, IpsecBackend, UdpEndpoint } from '../../dataplane/backend.js';
import { ANY_V4, cidrToRange } from '../../ike/traffic-selectors.js';
import { DhGroup, EncrId, IntegId, PrfId, ExchangeType, NotifyType } from '../../ike/constants.js';
import { decodeMessage, encodeMessage } from '../../ike/codec/message.js';

class MockBackend implements IpsecBackend {
  readonly installed = new Map<string, ChildSaInstall>();
  readonly removed: string[] = [];
  installChildSa(sa: ChildSaInstall): void { this.installed.set(sa.id, sa); }
  removeChildSa(id: string): void { if (this.installed.delete(id)) this.removed.push(id); }
  counters(id: string): ChildSaCounters | undefined {
    return this.installed.has(id) ? { inBytes: 0, inPackets: 0, outBytes: 0, outPackets: 0, drops: {}, lastInboundMs: 0, outboundSeq: 1n } : undefined;
  }
}

interface Packet { from: string; to: string; data: Buffer; localPort: number; remotePort: number }

class Wire {
  queue: Packet[] = [];
  /** Return false to drop a packet. */
  filter: (p: Packet) => boolean = () => true;
  log: Packet[] = [];
  nodes = new Map<string, IkeManager>();
  deliverAll(max = 200): void {
    for (let i = 0; i < max && this.queue.length > 0; i++) {
      const p = this.queue.shift() as Packet;
      this.log.push(p);
      if (!this.filter(p)) continue;
      this.nodes.get(p.to)?.handleDatagram(p.data, { address: p.from, port: p.localPort }, p.remotePort);
    }
  }
}

const silent = pino({ level: 'silent' });

function spec(local: string, remote: string, over: Partial<ConnectionSpec> = {}): ConnectionSpec {
  return {
    name: `to-${remote}`, remoteName: `site-${remote}`, localAddress: local, remoteAddress: remote,
    psk: Buffer.from('s3cret-psk'), mode: 'Default',
    ikeProposals: [{ encr: EncrId.AES_GCM_16, encrKeyBits: 256, integ: IntegId.NONE, prf: PrfId.HMAC_SHA2_256, dh: [DhGroup.CURVE25519, DhGroup.ECP_256] }],
    espProposals: [{ encr: EncrId.AES_GCM_16, encrKeyBits: 256, integ: IntegId.NONE, pfs: DhGroup.NONE }],
    localTs: [ANY_V4], remoteTs: [ANY_V4],
    remotePrefixes: [cidrToRange(local === '192.0.2.1' ? '10.2.0.0/16' : '10.1.0.0/16')],
    routeBased: true, ikeLifetimeSec: 28800, childLifetimeSec: 27000, childLifetimeBytes: 0, dpdTimeoutSec: 45,
    ...over,
  };
}

let now = 1_000_000;
const clock = (): number => now;

function pair(a: Partial<ConnectionSpec> = {}, b: Partial<ConnectionSpec> = {}) {
  const wire = new Wire();
  const mk = (local: string, remote: string, over: Partial<ConnectionSpec>) => {
    const backend = new MockBackend();
    const mgr = new IkeManager({
      connections: [spec(local, remote, over)], backend, localAddress: local, log: silent, now: clock,
      send: (data: Buffer, to: UdpEndpoint, localPort: number) => wire.queue.push({ from: local, to: to.address, data, localPort, remotePort: to.port }),
    });
    wire.nodes.set(local, mgr);
    return { mgr, backend, name: `to-${remote}` };
  };
  const A = mk('192.0.2.1', '192.0.2.2', { mode: 'InitiatorOnly', ...a });
  const B = mk('192.0.2.2', '192.0.2.1', { mode: 'ResponderOnly', ...b });
  return { wire, A, B };
}

function advance(ms: number, wire: Wire, ...mgrs: IkeManager[]): void {
  const step = 100;
  for (let t = 0; t < ms; t += step) {
    now += step;
    for (const m of mgrs) m.tick();
    wire.deliverAll();
  }
}

function exchanges(wire: Wire): string[] {
  return wire.log.map((p) => {
    const m = decodeMessage(p.data);
    return `${ExchangeType[m.header.exchange]}${m.header.flags & 0x20 ? ' resp' : ''}`;
  });
}

describe('IKEv2 exchanges between two managers', () => {
  beforeEach(() => { now = 1_000_000; });

  it('retransmission schedule backs off and caps', () => {
    expect([0, 1, 2, 3, 10].map(retransmitTimeoutMs)).toEqual([1000, 1800, 3240, 5832, 10000]);
  });

  it('establishes IKE and Child SAs with matching keys (IKE_SA_INIT, IKE_AUTH)', () => {
    const { wire, A, B } = pair();
    A.mgr.start();
    B.mgr.start();
    wire.deliverAll();
    expect(exchanges(wire)).toEqual(['IKE_SA_INIT', 'IKE_SA_INIT resp', 'IKE_AUTH', 'IKE_AUTH resp']);
    const [sa] = A.mgr.sasOf('to-192.0.2.2');
    expect(sa?.state).toBe(IkeSaState.Established);
    expect(B.mgr.sasOf('to-192.0.2.1')[0]?.state).toBe(IkeSaState.Established);
    const a = [...A.backend.installed.values()][0];
    const b = [...B.backend.installed.values()][0];
    expect(a && b).toBeTruthy();
    if (!a || !b) return;
    // A's outbound is B's inbound, keys and SPIs included.
    expect(a.outbound.spi).toBe(b.inbound.spi);
    expect(a.outbound.encKey.equals(b.inbound.encKey)).toBe(true);
    expect(b.outbound.encKey.equals(a.inbound.encKey)).toBe(true);
    expect(a.inbound.encKey.equals(a.outbound.encKey)).toBe(false);
    expect(a.outbound.encKey.length).toBe(36); // AES-256 key + 4-byte salt
    // Float to 4500 after IKE_SA_INIT (we always force UDP encapsulation).
    expect(wire.log.slice(2).every((p) => p.localPort === 4500 && p.remotePort === 4500)).toBe(true);
    expect(sa?.natDetected).toBe(true);
    // Route-based: the dataplane gets the remote site's prefixes for lookup.
    expect(a.tsRemote).toEqual([cidrToRange('10.2.0.0/16')]);
  });

  it('fails clearly on both sides with a wrong PSK', () => {
    const { wire, A, B } = pair({}, { psk: Buffer.from('other-key') });
    A.mgr.start();
    wire.deliverAll();
    expect(exchanges(wire)).toEqual(['IKE_SA_INIT', 'IKE_SA_INIT resp', 'IKE_AUTH', 'IKE_AUTH resp']);
    expect(A.mgr.sasOf('to-192.0.2.2')).toHaveLength(0);
    expect(B.mgr.sasOf('to-192.0.2.1')).toHaveLength(0);
    expect(A.mgr.connection('to-192.0.2.2')?.lastError).toMatch(/AUTHENTICATION_FAILED/);
    expect(B.mgr.connection('to-192.0.2.1')?.lastError).toMatch(/authentication of '192.0.2.1' failed: the shared keys differ/);
    expect(A.backend.installed.size + B.backend.installed.size).toBe(0);
  });

  it('retries with the group asked for in INVALID_KE_PAYLOAD', () => {
    const { wire, A, B } = pair({}, {
      ikeProposals: [{ encr: EncrId.AES_GCM_16, encrKeyBits: 256, integ: IntegId.NONE, prf: PrfId.HMAC_SHA2_256, dh: [DhGroup.ECP_256] }],
    });
    A.mgr.start();
    wire.deliverAll();
    expect(exchanges(wire)).toEqual(['IKE_SA_INIT', 'IKE_SA_INIT resp', 'IKE_SA_INIT', 'IKE_SA_INIT resp', 'IKE_AUTH', 'IKE_AUTH resp']);
    expect(A.mgr.sasOf('to-192.0.2.2')[0]?.suite?.dh).toBe(DhGroup.ECP_256);
    expect(B.mgr.allSas()).toHaveLength(1);
  });

  it('NO_PROPOSAL_CHOSEN when nothing matches', () => {
    const { wire, A } = pair({}, {
      ikeProposals: [{ encr: EncrId.AES_CBC, encrKeyBits: 256, integ: IntegId.HMAC_SHA2_256_128, prf: PrfId.HMAC_SHA2_256, dh: [DhGroup.MODP_2048] }],
    });
    A.mgr.start();
    wire.deliverAll();
    expect(A.mgr.connection('to-192.0.2.2')?.lastError).toMatch(/NO_PROPOSAL_CHOSEN/);
  });

  it('policy-based TS mismatch: TS_UNACCEPTABLE, IKE SA kept', () => {
    const { wire, A, B } = pair(
      { localTs: [cidrToRange('10.1.0.0/16')], remoteTs: [cidrToRange('10.2.0.0/16')] },
      { localTs: [cidrToRange('10.9.0.0/16')], remoteTs: [cidrToRange('10.1.0.0/16')] },
    );
    A.mgr.start();
    wire.deliverAll();
    expect(A.mgr.sasOf('to-192.0.2.2')[0]?.state).toBe(IkeSaState.Established);
    expect(A.backend.installed.size).toBe(0);
    expect(A.mgr.sasOf('to-192.0.2.2')[0]?.lastError).toMatch(/TS_UNACCEPTABLE/);
    expect(B.backend.installed.size).toBe(0);
  });

  it('policy-based narrowing installs the intersection', () => {
    const { wire, A, B } = pair(
      { localTs: [cidrToRange('10.1.0.0/16')], remoteTs: [cidrToRange('10.2.0.0/16')] },
      { localTs: [cidrToRange('10.2.5.0/24')], remoteTs: [cidrToRange('10.1.0.0/16')] },
    );
    A.mgr.start();
    wire.deliverAll();
    const b = [...B.backend.installed.values()][0];
    const a = [...A.backend.installed.values()][0];
    expect(b?.tsLocal).toEqual([cidrToRange('10.2.5.0/24')]);
    expect(a?.tsRemote).toEqual([cidrToRange('10.2.5.0/24')]);
  });

  it('rekeys the Child SA: new SA installed before the old one is deleted', () => {
    const { wire, A, B } = pair();
    A.mgr.start();
    wire.deliverAll();
    const oldA = [...A.backend.installed.keys()];
    wire.log = [];
    A.mgr.rekey('to-192.0.2.2', 'child');
    wire.deliverAll();
    expect(exchanges(wire)).toEqual(['CREATE_CHILD_SA', 'CREATE_CHILD_SA resp', 'INFORMATIONAL', 'INFORMATIONAL resp']);
    expect(A.backend.removed).toEqual(oldA);
    expect(A.backend.installed.size).toBe(1);
    expect(B.backend.installed.size).toBe(1);
    const a = [...A.backend.installed.values()][0];
    const b = [...B.backend.installed.values()][0];
    expect(a?.outbound.spi).toBe(b?.inbound.spi);
    expect(a?.outbound.encKey.equals(b?.inbound.encKey ?? Buffer.alloc(0))).toBe(true);
  });

  it('rekeys the Child SA with PFS', () => {
    const esp = [{ encr: EncrId.AES_GCM_16, encrKeyBits: 128, integ: IntegId.NONE, pfs: DhGroup.ECP_256 }];
    const { wire, A, B } = pair({ espProposals: esp }, { espProposals: esp });
    A.mgr.start();
    wire.deliverAll();
    A.mgr.rekey('to-192.0.2.2', 'child');
    wire.deliverAll();
    const a = [...A.backend.installed.values()][0];
    const b = [...B.backend.installed.values()][0];
    expect(a?.outbound.encKey.equals(b?.inbound.encKey ?? Buffer.alloc(0))).toBe(true);
    expect(A.mgr.sasOf('to-192.0.2.2')[0]?.activeChildren()[0]?.suite.dh).toBe(DhGroup.ECP_256);
  });

  it('rekeys the IKE SA; Child SAs survive and the new IKE SA works', () => {
    const { wire, A, B } = pair();
    A.mgr.start();
    wire.deliverAll();
    const oldSpi = A.mgr.sasOf('to-192.0.2.2')[0]?.spiI.toString('hex');
    const children = [...A.backend.installed.keys()];
    wire.log = [];
    A.mgr.rekey('to-192.0.2.2', 'ike');
    wire.deliverAll();
    expect(exchanges(wire)).toEqual(['CREATE_CHILD_SA', 'CREATE_CHILD_SA resp', 'INFORMATIONAL', 'INFORMATIONAL resp']);
    const sasA = A.mgr.sasOf('to-192.0.2.2');
    expect(sasA).toHaveLength(1);
    expect(sasA[0]?.spiI.toString('hex')).not.toBe(oldSpi);
    expect(B.mgr.sasOf('to-192.0.2.1')).toHaveLength(1);
    expect([...A.backend.installed.keys()]).toEqual(children);
    // The new IKE SA carries a Child rekey from the responder side.
    wire.log = [];
    B.mgr.rekey('to-192.0.2.1', 'child');
    wire.deliverAll();
    expect(exchanges(wire)).toEqual(['CREATE_CHILD_SA', 'CREATE_CHILD_SA resp', 'INFORMATIONAL', 'INFORMATIONAL resp']);
    expect(A.backend.installed.size).toBe(1);
  });

  it('resolves a simultaneous Child SA rekey (collision) to one SA pair', () => {
    const { wire, A, B } = pair();
    A.mgr.start();
    wire.deliverAll();
    A.mgr.rekey('to-192.0.2.2', 'child');
    B.mgr.rekey('to-192.0.2.1', 'child');
    wire.deliverAll();
    advance(2000, wire, A.mgr, B.mgr);
    expect(A.backend.installed.size).toBe(1);
    expect(B.backend.installed.size).toBe(1);
    const a = [...A.backend.installed.values()][0];
    const b = [...B.backend.installed.values()][0];
    expect(a?.outbound.spi).toBe(b?.inbound.spi);
    expect(b?.outbound.spi).toBe(a?.inbound.spi);
  });

  it('answers a retransmitted request from its cache without reprocessing', () => {
    const { wire, A, B } = pair();
    A.mgr.start();
    // Drop B's first IKE_AUTH response; A retransmits; B must answer from cache.
    let dropped = false;
    wire.filter = (p) => {
      const m = decodeMessage(p.data);
      if (!dropped && m.header.exchange === ExchangeType.IKE_AUTH && m.header.flags & 0x20) { dropped = true; return false; }
      return true;
    };
    wire.deliverAll();
    expect(A.mgr.sasOf('to-192.0.2.2')[0]?.state).toBe(IkeSaState.Authenticating);
    advance(1500, wire, A.mgr, B.mgr);
    expect(A.mgr.sasOf('to-192.0.2.2')[0]?.state).toBe(IkeSaState.Established);
    expect(B.backend.installed.size).toBe(1); // not installed twice
  });

  it('DPD declares the peer dead after the timeout and re-initiates', () => {
    const { wire, A, B } = pair({ dpdTimeoutSec: 9, mode: 'Default' });
    A.mgr.start();
    wire.deliverAll();
    expect(A.mgr.sasOf('to-192.0.2.2')[0]?.state).toBe(IkeSaState.Established);
    wire.filter = () => false; // the peer vanishes
    advance(3_000 + 9_000 + 500, wire, A.mgr);
    expect(A.backend.installed.size).toBe(0);
    expect(A.mgr.connection('to-192.0.2.2')?.lastError).toMatch(/peer dead/);
    // It comes back: A re-initiates and connects again (with INITIAL_CONTACT, so B drops its stale SA).
    wire.filter = () => true;
    advance(3_000, wire, A.mgr, B.mgr);
    expect(A.mgr.sasOf('to-192.0.2.2')[0]?.state).toBe(IkeSaState.Established);
    // B sends DELETE on its stale SA (A no longer knows it) and drops it after 3 s.
    advance(4_000, wire, A.mgr, B.mgr);
    expect(B.mgr.sasOf('to-192.0.2.1')).toHaveLength(1);
    expect(B.backend.installed.size).toBe(1);
  });

  it('terminate sends DELETE and both sides remove their SAs', () => {
    const { wire, A, B } = pair();
    A.mgr.start();
    wire.deliverAll();
    A.mgr.terminate('to-192.0.2.2');
    wire.deliverAll();
    expect(A.mgr.allSas()).toHaveLength(0);
    expect(B.mgr.allSas()).toHaveLength(0);
    expect(A.backend.installed.size + B.backend.installed.size).toBe(0);
  });

  it('demands a COOKIE when half-open SAs pile up, and the initiator retries with it', () => {
    const wire = new Wire();
    const backend = new MockBackend();
    const B = new IkeManager({
      connections: [spec('192.0.2.2', '192.0.2.1', { mode: 'ResponderOnly' })], backend, localAddress: '192.0.2.2', log: silent, now: clock,
      cookieThreshold: 0,
      send: (data, to, localPort) => wire.queue.push({ from: '192.0.2.2', to: to.address, data, localPort, remotePort: to.port }),
    });
    const A = new IkeManager({
      connections: [spec('192.0.2.1', '192.0.2.2', { mode: 'InitiatorOnly' })], backend: new MockBackend(), localAddress: '192.0.2.1', log: silent, now: clock,
      send: (data, to, localPort) => wire.queue.push({ from: '192.0.2.1', to: to.address, data, localPort, remotePort: to.port }),
    });
    wire.nodes.set('192.0.2.1', A);
    wire.nodes.set('192.0.2.2', B);
    A.start();
    wire.deliverAll();
    expect(B.stats.cookiesSent).toBe(1);
    expect(exchanges(wire).slice(0, 4)).toEqual(['IKE_SA_INIT', 'IKE_SA_INIT resp', 'IKE_SA_INIT', 'IKE_SA_INIT resp']);
    expect(A.sasOf('to-192.0.2.2')[0]?.state).toBe(IkeSaState.Established);
  });

  it('drops garbage and tampered messages without throwing', () => {
    const { wire, A, B } = pair();
    A.mgr.start();
    wire.deliverAll();
    const ep = { address: '192.0.2.1', port: 4500 };
    B.mgr.handleDatagram(Buffer.from('not ike at all, really not'), ep, 4500);
    B.mgr.handleDatagram(Buffer.alloc(0), ep, 4500);
    // A valid DPD request with one flipped bit in the ICV.
    const sa = A.mgr.sasOf('to-192.0.2.2')[0];
    expect(sa).toBeTruthy();
    if (!sa) return;
    const req = sa.encode(ExchangeType.INFORMATIONAL, sa.nextMidOut, false, []);
    req[req.length - 1] ^= 1;
    B.mgr.handleDatagram(req, ep, 4500);
    expect(B.mgr.stats.malformed).toBeGreaterThanOrEqual(2);
    expect(B.mgr.sasOf('to-192.0.2.1')[0]?.state).toBe(IkeSaState.Established);
  });

  it('answers an IKE_SA_INIT with an unknown critical payload with UNSUPPORTED_CRITICAL_PAYLOAD', () => {
    const { wire, B } = pair();
    const header = { spiI: Buffer.alloc(8, 7), spiR: Buffer.alloc(8), nextPayload: 0, version: 0x20, exchange: ExchangeType.IKE_SA_INIT, flags: 0x08, messageId: 0, length: 0 };
    const req = encodeMessage(header, [{ type: 200, unknown: true, critical: true, body: Buffer.from('xx') }]);
    B.mgr.handleDatagram(req, { address: '192.0.2.1', port: 500 }, 500);
    const reply = wire.queue.shift();
    expect(reply).toBeTruthy();
    const m = decodeMessage(reply!.data);
    const n = m.payloads[0];
    expect(n && 'notifyType' in n ? n.notifyType : -1).toBe(NotifyType.UNSUPPORTED_CRITICAL_PAYLOAD);
    expect(n && 'data' in n ? [...n.data] : []).toEqual([200]);
    expect(B.mgr.allSas()).toHaveLength(0);
    // The same from an address we have no connection for: silence.
    B.mgr.handleDatagram(req, { address: '198.51.100.9', port: 500 }, 500);
    expect(wire.queue).toHaveLength(0);
  });

  it('resolves a simultaneous initiation to one IKE SA pair on both ends', () => {
    const { wire, A, B } = pair({ mode: 'Default' }, { mode: 'Default' });
    // Both initiate before either sees the other's IKE_SA_INIT.
    A.mgr.initiate('to-192.0.2.2');
    B.mgr.initiate('to-192.0.2.1');
    wire.deliverAll();
    advance(6_000, wire, A.mgr, B.mgr);
    const a = A.mgr.sasOf('to-192.0.2.2');
    const b = B.mgr.sasOf('to-192.0.2.1');
    expect(a).toHaveLength(1);
    expect(b).toHaveLength(1);
    expect(a[0]?.spiI.equals(b[0]!.spiI)).toBe(true);
    // The survivor is the one the lower address (A) initiated.
    expect(a[0]?.initiator).toBe(true);
    expect(A.backend.installed.size).toBe(1);
    expect(B.backend.installed.size).toBe(1);
    const ca = [...A.backend.installed.values()][0];
    const cb = [...B.backend.installed.values()][0];
    expect(ca?.outbound.spi).toBe(cb?.inbound.spi);
  });
});
