/**
 * DOC: the IKE engine.
 *
 * IkeManager owns every IKE SA of the gateway. It takes datagrams from the
 * UDP transport (already stripped of the non-ESP marker), finds the SA by our
 * SPI, answers IKE_SA_INIT for configured peers (with COOKIEs when half-open
 * SAs pile up), and runs the timers: retransmissions, rekeys by lifetime,
 * liveness checks (DPD) and re-initiation per connection mode. Each IKE SA
 * (ike-sa.ts) moves bytes and message IDs; the exchanges in exchanges/* hold
 * the protocol logic; Child SA keys go to the dataplane through IpsecBackend.
 *
 * Supported standards:
 *   RFC 7296  IKEv2 (IKE_SA_INIT, IKE_AUTH with PSK, CREATE_CHILD_SA, INFORMATIONAL, cookies)
 *   RFC 3948  UDP encapsulation of ESP (port 4500, non-ESP marker)
 *   RFC 5282  AES-GCM in the IKE SK payload
 *   RFC 5903  ECP groups 19 and 20; RFC 8031 Curve25519 (group 31); RFC 3526 MODP 2048 (group 14)
 */
import { createHash, randomBytes } from 'node:crypto';
import type { Logger } from 'pino';
import { ExchangeType, HeaderFlag, IKE_VERSION, NotifyType, PayloadType } from './constants.js';
import type { IkeMessage, Payload, RawIkeMessage } from './codec/types.js';
import { decodeMessage, encodeMessage } from './codec/message.js';
import { decodeHeader } from './codec/header.js';
import { checkPayloadRules } from './codec/rules.js';
import { IkeError } from './errors.js';
import { randomSpi8 } from '../crypto/random.js';
import type { IpsecBackend, UdpEndpoint } from '../dataplane/backend.js';
import type { ConnectionSpec } from './connection.js';
import { IkeSa, IkeSaState, type SaHost, errText, notify, findNotify } from './ike-sa.js';
import { ChildState } from './child-sa.js';
import { respondIkeSaInit, startIkeSaInit } from './exchanges/ike-init.js';
import { respondIkeAuth } from './exchanges/ike-auth.js';
import { rekeyChild, rekeyIke, respondCreateChild } from './exchanges/create-child.js';
import { deleteIke, respondInformational, sendDpd } from './exchanges/informational.js';
import { ipToInt } from './traffic-selectors.js';

export interface IkeManagerOptions {
  connections: readonly ConnectionSpec[];
  backend: IpsecBackend;
  send: (msg: Buffer, remote: UdpEndpoint, localPort: number) => void;
  localAddress: string;
  ikePort?: number;
  log: Logger;
  now?: () => number;
  /** Half-open responder SAs before COOKIEs are required (RFC 7296 §2.6). */
  cookieThreshold?: number;
  /** HA replication hook: called after any change of an IKE SA (state, message IDs, Child SAs, rekey). */
  onSaChange?: (sa: IkeSa) => void;
}

interface ConnRuntime {
  spec: ConnectionSpec;
  /** When the next initiation attempt is due (initiating modes only). */
  nextAttemptMs: number;
  backoffMs: number;
  /** Set by `terminate`: stay down until `initiate`. */
  adminDown: boolean;
  lastError: string | null;
}

const HALF_OPEN_TIMEOUT_MS = 30_000;
const MAX_HALF_OPEN = 5_000;
const DPD_MIN_IDLE_MS = 2_000;

export class IkeManager {
  private readonly sas = new Map<string, IkeSa>();
  private readonly halfOpen = new Map<string, { sa: IkeSa; reply: Buffer; createdMs: number }>();
  private readonly conns = new Map<string, ConnRuntime>();
  private readonly cookieSecret = randomBytes(32);
  private readonly host: SaHost;
  private readonly log: Logger;
  private readonly now: () => number;
  private readonly ikePort: number;
  /** Counters for status and tests. */
  readonly stats = { received: 0, malformed: 0, unknownSpi: 0, cookiesSent: 0 };

  constructor(private readonly opts: IkeManagerOptions) {
    this.log = opts.log;
    this.now = opts.now ?? Date.now;
    this.ikePort = opts.ikePort ?? 500;
    for (const c of opts.connections) {
      this.conns.set(c.name, { spec: c, nextAttemptMs: 0, backoffMs: 2_000, adminDown: false, lastError: null });
    }
    const self = this;
    this.host = {
      backend: opts.backend,
      now: () => self.now(),
      send: (packets, remote, localPort) => { for (const p of packets) opts.send(p, remote, localPort); },
      stateChanged: (sa) => { self.onStateChanged(sa); opts.onSaChange?.(sa); },
      adoptRekeyed: (old, fresh) => { self.sas.set(fresh.localSpi.toString('hex'), fresh); opts.onSaChange?.(old); opts.onSaChange?.(fresh); },
      changed: (sa) => opts.onSaChange?.(sa),
      initialContact: (sa) => self.onInitialContact(sa),
      // §2.4: INITIAL_CONTACT says "I hold no other SA with you"; any SA of ours, even half-open, rules it out.
      initialContactWanted: (sa) => sa.conn.p2s !== undefined || !self.sasOf(sa.conn.name).some((o) => o !== sa),
      respond: (sa, msg) => self.respond(sa, msg),
    };
  }

  /** Starts initiating connections that are allowed to (Default, InitiatorOnly). */
  start(): void {
    const now = this.now();
    for (const c of this.conns.values()) {
      if (c.spec.mode === 'ResponderOnly') continue;
      // Default mode on both ends: the lower address goes first, so the two
      // gateways rarely build duplicate IKE SAs (the other waits 3 s).
      const delay = c.spec.mode === 'Default' && ipToInt(c.spec.localAddress) > ipToInt(c.spec.remoteAddress) ? 3_000 : 0;
      c.nextAttemptMs = now + delay;
    }
    this.tick();
  }

  sasOf(conn: string): IkeSa[] {
    return [...this.sas.values()].filter((s) => s.conn.name === conn && s.state !== IkeSaState.Closed);
  }

  allSas(): IkeSa[] {
    return [...this.sas.values()].filter((s) => s.state !== IkeSaState.Closed);
  }

  connection(name: string): { spec: ConnectionSpec; lastError: string | null; adminDown: boolean } | undefined {
    return this.conns.get(name);
  }

  /** Entry for every IKE datagram. Never throws. */
  handleDatagram(buf: Buffer, remote: UdpEndpoint, localPort: number): void {
    this.stats.received += 1;
    let raw: RawIkeMessage;
    try {
      raw = decodeMessage(buf);
    } catch (e) {
      this.stats.malformed += 1;
      this.log.warn({ from: `${remote.address}[${remote.port}]`, err: errText(e) }, 'malformed IKE message dropped');
      this.answerBadInit(buf, e, remote, localPort);
      return;
    }
    try {
      const h = raw.header;
      const isResponse = (h.flags & HeaderFlag.Response) !== 0;
      if (h.exchange === ExchangeType.IKE_SA_INIT && !isResponse && h.spiR.every((b) => b === 0)) {
        this.handleInitRequest(raw, remote, localPort);
        return;
      }
      // The I flag says who sent it; our SPI is the other one.
      const ours = h.flags & HeaderFlag.Initiator ? h.spiR : h.spiI;
      const sa = this.sas.get(ours.toString('hex'));
      if (!sa || sa.state === IkeSaState.Closed) {
        this.stats.unknownSpi += 1;
        this.log.debug({ spi: ours.toString('hex'), from: remote.address }, 'message for unknown IKE SA dropped');
        return;
      }
      sa.handle(raw, remote, localPort);
    } catch (e) {
      this.log.warn({ err: errText(e) }, 'IKE message dropped');
    }
  }

  /**
   * An IKE_SA_INIT request we cannot parse still gets the notify the RFC asks
   * for (e.g. UNSUPPORTED_CRITICAL_PAYLOAD, §2.5), unprotected; anything else
   * that fails to parse is dropped silently.
   */
  private answerBadInit(buf: Buffer, e: unknown, remote: UdpEndpoint, localPort: number): void {
    if (!(e instanceof IkeError) || e.notify === undefined || buf.length < 28) return;
    let header;
    try { header = decodeHeader(buf); } catch { return; }
    const isRequest = (header.flags & HeaderFlag.Response) === 0;
    if (header.exchange !== ExchangeType.IKE_SA_INIT || !isRequest || !header.spiR.every((b) => b === 0)) return;
    if (!this.opts.connections.some((c) => c.remoteAddress === remote.address && c.mode !== 'InitiatorOnly')) return;
    this.replyUnprotected({ header, payloads: [], bytes: buf }, [notify(e.notify, e.notifyData)], remote, localPort);
  }

  private cookieFor(ni: Buffer, remote: UdpEndpoint, spiI: Buffer): Buffer {
    // §2.6: Cookie = <VersionIDofSecret> | Hash(Ni | IPi | SPIi | <secret>)
    const h = createHash('sha256').update(ni).update(remote.address).update(spiI).update(this.cookieSecret).digest();
    return Buffer.concat([Buffer.from([1]), h]);
  }

  private replyUnprotected(req: RawIkeMessage, payloads: Payload[], remote: UdpEndpoint, localPort: number): void {
    const header = { ...req.header, spiR: Buffer.alloc(8), flags: HeaderFlag.Response, nextPayload: 0, length: 0, version: IKE_VERSION };
    this.opts.send(encodeMessage(header, payloads), remote, localPort);
  }

  private handleInitRequest(raw: RawIkeMessage, remote: UdpEndpoint, localPort: number): void {
    const key = `${raw.header.spiI.toString('hex')}/${remote.address}:${remote.port}`;
    const known = this.halfOpen.get(key);
    if (known) {
      this.log.debug('retransmitted IKE_SA_INIT, resending our response');
      this.opts.send(known.reply, remote, localPort);
      return;
    }
    // Site-to-site peers are matched by address first; point-to-site clients come from anywhere.
    const conn = [...this.conns.values()].find((c) => c.spec.remoteAddress === remote.address)
      ?? [...this.conns.values()].find((c) => c.spec.p2s !== undefined);
    if (!conn) {
      this.log.warn({ from: remote.address }, 'IKE_SA_INIT from an address with no connection configured, ignored');
      return;
    }
    if (conn.spec.mode === 'InitiatorOnly') {
      this.log.info({ conn: conn.spec.name, from: remote.address }, 'IKE_SA_INIT ignored: connection is InitiatorOnly');
      return;
    }
    const msg: IkeMessage = { header: raw.header, payloads: raw.payloads };
    try {
      checkPayloadRules(ExchangeType.IKE_SA_INIT, false, raw.payloads);
    } catch (e) {
      this.log.warn({ from: remote.address, err: errText(e) }, 'invalid IKE_SA_INIT');
      this.replyUnprotected(raw, [notify(NotifyType.INVALID_SYNTAX)], remote, localPort);
      return;
    }
    const ni = raw.payloads.find((p) => p.type === PayloadType.NONCE);
    if (this.halfOpen.size >= (this.opts.cookieThreshold ?? 50) && ni && 'data' in ni) {
      const want = this.cookieFor(ni.data, remote, raw.header.spiI);
      const got = findNotify(msg, NotifyType.COOKIE);
      if (!got || !got.data.equals(want)) {
        this.stats.cookiesSent += 1;
        this.log.info({ from: remote.address, halfOpen: this.halfOpen.size }, 'too many half-open SAs, asking for a COOKIE');
        this.replyUnprotected(raw, [notify(NotifyType.COOKIE, want)], remote, localPort);
        return;
      }
    }
    if (this.halfOpen.size >= MAX_HALF_OPEN) {
      this.log.warn('half-open IKE SA limit reached, dropping IKE_SA_INIT');
      return;
    }
    const log = this.log.child({ conn: conn.spec.name });
    // A P2S SA narrows its selectors to its client, so it gets its own copy of the spec.
    const sa = new IkeSa(this.host, conn.spec.p2s ? { ...conn.spec } : conn.spec, {
      initiator: false, spiI: Buffer.from(raw.header.spiI), spiR: randomSpi8(), remote: { ...remote }, localPort, log,
    });
    let payloads: Payload[];
    try {
      payloads = respondIkeSaInit(sa, msg, raw.bytes, { address: this.opts.localAddress, port: localPort });
      if (conn.spec.initExtras) payloads.push(...conn.spec.initExtras());
    } catch (e) {
      if (e instanceof IkeError && e.notify !== undefined) {
        log.warn({ from: remote.address, notify: NotifyType[e.notify] ?? e.notify }, `IKE_SA_INIT refused: ${e.message}`);
        conn.lastError = `IKE_SA_INIT from peer refused: ${e.message}`;
        this.replyUnprotected(raw, [notify(e.notify, e.notifyData)], remote, localPort);
      } else {
        log.warn({ err: errText(e) }, 'IKE_SA_INIT dropped');
      }
      return;
    }
    const reply = sa.encode(ExchangeType.IKE_SA_INIT, 0, true, payloads);
    sa.initResponse = reply;
    sa.nextMidIn = 1;
    sa.state = IkeSaState.Authenticating;
    this.sas.set(sa.localSpi.toString('hex'), sa);
    this.halfOpen.set(key, { sa, reply, createdMs: this.now() });
    log.info({ from: `${remote.address}[${remote.port}]` }, 'IKE_SA_INIT received, responding');
    this.opts.send(reply, remote, localPort);
  }

  private respond(sa: IkeSa, msg: IkeMessage): Payload[] {
    switch (msg.header.exchange) {
      case ExchangeType.IKE_AUTH: return respondIkeAuth(sa, msg);
      case ExchangeType.CREATE_CHILD_SA: return respondCreateChild(sa, msg);
      case ExchangeType.INFORMATIONAL: return respondInformational(sa, msg);
      default:
        throw new IkeError(undefined, `unexpected ${ExchangeType[msg.header.exchange] ?? msg.header.exchange} request`);
    }
  }

  private onStateChanged(sa: IkeSa): void {
    const c = this.conns.get(sa.conn.name);
    if (sa.state === IkeSaState.Established) {
      this.dropHalfOpen(sa);
      if (c) { c.backoffMs = 2_000; c.lastError = null; }
      this.resolveDuplicates(sa);
    }
    if (sa.state === IkeSaState.Closed) {
      this.dropHalfOpen(sa);
      this.sas.delete(sa.localSpi.toString('hex'));
      if (c && sa.lastError) c.lastError = sa.lastError;
      if (c && !c.adminDown && c.spec.mode !== 'ResponderOnly' && !sa.rekeyedTo && this.sasOf(c.spec.name).length === 0) {
        // Lost the tunnel: try again soon, backing off on repeated failure.
        c.nextAttemptMs = this.now() + (sa.establishedMs > 0 ? 1_000 : c.backoffMs);
        if (sa.establishedMs === 0) c.backoffMs = Math.min(c.backoffMs * 2, 30_000);
      }
      this.log.info({ conn: sa.conn.name, reason: sa.closeReason }, `IKE_SA ${sa.name} closed`);
    }
  }

  private dropHalfOpen(sa: IkeSa): void {
    for (const [k, v] of this.halfOpen) if (v.sa === sa) this.halfOpen.delete(k);
  }

  private onInitialContact(sa: IkeSa): void {
    if (sa.conn.p2s) return; // P2S clients are told apart by identity, not by connection
    for (const other of this.sasOf(sa.conn.name)) {
      if (other === sa) continue;
      // An established SA may still be alive at the peer if the INITIAL_CONTACT
      // crossed with a simultaneous initiation: say DELETE rather than vanish.
      if (other.state === IkeSaState.Established && !other.rekeyedTo) {
        sa.log.info(`INITIAL_CONTACT: deleting stale IKE_SA ${other.name}`);
        other.enqueue('ike-delete', () => deleteIke(other, 'replaced after INITIAL_CONTACT'), true);
      } else {
        sa.log.info(`INITIAL_CONTACT: closing stale IKE_SA ${other.name}`);
        other.close('replaced after INITIAL_CONTACT');
      }
    }
  }

  /**
   * Both ends initiated at once and now hold two IKE SAs for one connection.
   * Both apply the same rule — keep the SA initiated by the end with the lower
   * address — and the initiator of the other one deletes it (with DELETE), so
   * neither keeps a Child SA the other has dropped. A fallback deletes it from
   * this side if the peer has not done so within 5 s.
   */
  private resolveDuplicates(sa: IkeSa): void {
    if (sa.conn.p2s) return;
    const est = this.sasOf(sa.conn.name).filter((o) => o.state === IkeSaState.Established && !o.rekeyedTo);
    if (est.length < 2) return;
    const lowerIsLocal = ipToInt(sa.conn.localAddress) < ipToInt(sa.conn.remoteAddress);
    const preferred = (o: IkeSa): boolean => o.initiator === lowerIsLocal;
    const keep = est.find(preferred) ?? est.reduce((a, b) => (b.establishedMs > a.establishedMs ? b : a));
    for (const o of est) {
      if (o === keep) continue;
      if (o.initiator) {
        o.log.info(`duplicate IKE_SA ${o.name} (both ends initiated): deleting it, keeping ${keep.name}`);
        o.enqueue('ike-delete', () => deleteIke(o, 'duplicate of another IKE SA'), true);
      } else {
        o.log.info(`duplicate IKE_SA ${o.name}: the peer should delete it, keeping ${keep.name}`);
        o.duplicateDeadlineMs = this.now() + 5_000;
      }
    }
  }

  /**
   * HA takeover: registers an IKE SA rebuilt from replicated state (ha/replicator.ts).
   * `build` gets the host so the SA is wired to this manager like any other.
   */
  restoreSa(build: (host: SaHost) => IkeSa): IkeSa {
    const sa = build(this.host);
    this.sas.set(sa.localSpi.toString('hex'), sa);
    return sa;
  }

  /** Creates an initiator IKE SA for a connection and sends IKE_SA_INIT. */
  initiate(name: string): void {
    const c = this.conns.get(name);
    if (!c) throw new Error(`no connection named ${name}`);
    c.adminDown = false;
    if (this.sasOf(name).length > 0) return;
    const log = this.log.child({ conn: name });
    const sa = new IkeSa(this.host, c.spec, {
      initiator: true, spiI: randomSpi8(), spiR: Buffer.alloc(8),
      remote: { address: c.spec.remoteAddress, port: this.ikePort }, localPort: this.ikePort, log,
    });
    this.sas.set(sa.localSpi.toString('hex'), sa);
    log.info(`initiating IKE_SA ${name} to ${c.spec.remoteAddress}`);
    startIkeSaInit(sa, { address: this.opts.localAddress, port: this.ikePort });
  }

  /** Deletes the connection's SAs and keeps it down until `initiate`. */
  terminate(name: string): void {
    const c = this.conns.get(name);
    if (!c) throw new Error(`no connection named ${name}`);
    c.adminDown = true;
    for (const sa of this.sasOf(name)) {
      if (sa.state === IkeSaState.Established) sa.enqueue('ike-delete', () => deleteIke(sa, 'terminated by admin'), true);
      else sa.close('terminated by admin');
    }
  }

  /** Forces a rekey now (for operators and tests). */
  rekey(name: string, what: 'child' | 'ike'): void {
    if (!this.conns.has(name)) throw new Error(`no connection named ${name}`);
    const sa = this.sasOf(name).find((s) => s.state === IkeSaState.Established && !s.rekeyedTo);
    if (!sa) throw new Error(`connection ${name} has no established IKE SA`);
    if (what === 'ike') sa.enqueue('ike-rekey', () => rekeyIke(sa));
    else for (const ch of sa.activeChildren()) if (ch.state === ChildState.Installed) sa.enqueue('child-rekey', () => rekeyChild(sa, ch));
  }

  /** Timers: call every ~200 ms. */
  tick(): void {
    const now = this.now();
    for (const sa of [...this.sas.values()]) {
      sa.tick(now);
      if (sa.duplicateDeadlineMs > 0 && now >= sa.duplicateDeadlineMs && sa.state === IkeSaState.Established) {
        sa.duplicateDeadlineMs = 0;
        sa.enqueue('ike-delete', () => deleteIke(sa, 'duplicate of another IKE SA'), true);
      }
      if (sa.state === IkeSaState.Established) this.lifetimes(sa, now);
    }
    for (const [k, v] of this.halfOpen) {
      if (now - v.createdMs > HALF_OPEN_TIMEOUT_MS) {
        this.halfOpen.delete(k);
        if (v.sa.state !== IkeSaState.Established) v.sa.fail('half-open IKE SA timed out: no IKE_AUTH from peer');
      }
    }
    for (const c of this.conns.values()) {
      if (c.spec.mode === 'ResponderOnly' || c.adminDown || c.nextAttemptMs === 0 || now < c.nextAttemptMs) continue;
      c.nextAttemptMs = 0;
      if (this.sasOf(c.spec.name).length === 0) this.initiate(c.spec.name);
    }
  }

  private lifetimes(sa: IkeSa, now: number): void {
    if (sa.rekeyedTo) return;
    if (now >= sa.expireAtMs) {
      sa.log.warn('IKE SA hard lifetime reached, deleting');
      sa.enqueue('ike-delete', () => deleteIke(sa, 'lifetime expired'), true);
      return;
    }
    if (now >= sa.rekeyAtMs && !sa.hasQueued('ike-rekey')) {
      sa.rekeyAtMs = now + 30_000; // guard against re-queueing while it runs
      sa.log.info('IKE SA lifetime: rekeying');
      sa.enqueue('ike-rekey', () => rekeyIke(sa));
    }
    let lastEsp = 0;
    for (const ch of sa.activeChildren()) {
      const ctr = this.opts.backend.counters(ch.id);
      if (ctr) lastEsp = Math.max(lastEsp, ctr.lastInboundMs);
      if (ch.state !== ChildState.Installed) continue;
      const bytes = ctr ? ctr.inBytes + ctr.outBytes : 0;
      const byteLimit = sa.conn.childLifetimeBytes;
      const seqNearEnd = ctr ? ctr.outboundSeq > 0xffff0000n : false;
      if (now >= ch.rekeyAtMs || (byteLimit > 0 && bytes >= byteLimit * 0.9) || seqNearEnd) {
        ch.rekeyAtMs = now + 30_000;
        sa.log.info({ child: ch.id }, 'Child SA lifetime: rekeying');
        sa.enqueue('child-rekey', () => rekeyChild(sa, ch));
      }
    }
    // Liveness: probe when the peer has been silent (no IKE and no ESP) for a third of the DPD timeout.
    const idle = now - Math.max(sa.lastInboundMs, lastEsp);
    const probeAfter = Math.max(DPD_MIN_IDLE_MS, (sa.conn.dpdTimeoutSec * 1000) / 3);
    if (idle >= probeAfter && !sa.pending && sa.queue.length === 0) sendDpd(sa);
  }

  /** Sends DELETE for every IKE SA and waits (bounded) for the answers. */
  async shutdown(timeoutMs = 2_000): Promise<void> {
    for (const c of this.conns.values()) c.adminDown = true;
    for (const sa of this.allSas()) {
      if (sa.state === IkeSaState.Established) sa.enqueue('ike-delete', () => deleteIke(sa, 'shutting down'), true);
      else sa.close('shutting down');
    }
    const deadline = Date.now() + timeoutMs;
    while (this.allSas().length > 0 && Date.now() < deadline) {
      await new Promise((r) => setTimeout(r, 50));
      this.tick();
    }
    for (const sa of this.allSas()) sa.close('shutting down');
  }
}
