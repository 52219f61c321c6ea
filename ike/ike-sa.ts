/**
 * One IKE SA: its keys, message IDs, the request in flight with its
 * retransmissions, the responder's reply cache, and its Child SAs.
 *
 * Exchanges live in ike/exchanges/*; each either starts a request through
 * `startRequest()` (initiator side) or answers one via the responder table
 * in ike/exchanges/respond.ts. The IKE SA itself only moves bytes and state:
 *
 *     Connecting ──IKE_SA_INIT ok──▶ Authenticating ──IKE_AUTH ok──▶ Established
 *         │                              │                               │
 *         └───────── error / timeout ────┴──────▶ Closed ◀── delete / DPD dead / rekeyed
 *
 * Window size is 1 (RFC 7296 §2.3): one request of ours in flight at a time,
 * queued work waits in `queue`.
 */
import type { Logger } from 'pino';
import { ExchangeType, HeaderFlag, IKE_VERSION, NotifyType, PayloadType } from './constants.js';
import type { IkeHeader, IkeMessage, Payload, RawIkeMessage } from './codec/types.js';
import { encodeFragments, encodeMessage, FragmentReassembler, openMessage } from './codec/message.js';
import { describeMessage } from './codec/describe.js';
import { checkPayloadRules } from './codec/rules.js';
import { IkeError } from './errors.js';
import { IntegrityError } from '../crypto/errors.js';
import type { SkTransform } from '../crypto/types.js';
import type { IkeKeyMaterial } from '../crypto/ike-keys.js';
import type { KeyExchange } from '../crypto/dh.js';
import type { IpsecBackend, UdpEndpoint } from '../dataplane/backend.js';
import type { ConnectionSpec } from './connection.js';
import type { IkeSuite } from './proposal.js';
import { type ChildSa, ChildState, removeFromBackend } from './child-sa.js';

export enum IkeSaState {
  Connecting = 'connecting',
  Authenticating = 'authenticating',
  Established = 'established',
  Deleting = 'deleting',
  Closed = 'closed',
}

/** Services the owner (IkeManager) gives each IKE SA. */
export interface SaHost {
  readonly backend: IpsecBackend;
  now(): number;
  send(packets: Buffer[], remote: UdpEndpoint, localPort: number): void;
  /** Called on every state change, including Closed. */
  stateChanged(sa: IkeSa): void;
  /** A CREATE_CHILD_SA rekey produced a new IKE SA that must be indexed. */
  adoptRekeyed(oldSa: IkeSa, newSa: IkeSa): void;
  /** The peer sent INITIAL_CONTACT: other IKE SAs with it are stale. */
  initialContact(sa: IkeSa): void;
  /** Whether IKE_AUTH should carry INITIAL_CONTACT (no other SA with this peer). */
  initialContactWanted?(sa: IkeSa): boolean;
  /** Responder dispatch for requests on this SA. */
  respond(sa: IkeSa, msg: IkeMessage): Payload[];
  /** Message IDs, the request in flight or Child SAs changed (HA replication; called before the packet leaves). */
  changed?(sa: IkeSa): void;
}

export interface PendingRequest {
  kind: string;
  exchange: ExchangeType;
  mid: number;
  packets: Buffer[];
  tries: number;
  nextSendMs: number;
  deadlineMs: number;
  onResponse: (msg: IkeMessage) => void;
  onTimeout: () => void;
}

export interface QueuedTask {
  kind: string;
  start: () => void;
}

/** Retransmission schedule (pure, tested): 1 s, 1.8 s, 3.2 s, ... capped at 10 s. */
export function retransmitTimeoutMs(tries: number): number {
  return Math.min(10_000, Math.round(1000 * 1.8 ** tries));
}

export const SA_INIT_DEADLINE_MS = 20_000;

export class IkeSa {
  state = IkeSaState.Connecting;
  /** True when we were the original initiator of THIS IKE SA (sets the I flag). */
  readonly initiator: boolean;
  spiI: Buffer;
  spiR: Buffer;
  remote: UdpEndpoint;
  localPort: number;
  suite: IkeSuite | undefined;
  keys: IkeKeyMaterial | undefined;
  skOut: SkTransform | undefined;
  skIn: SkTransform | undefined;
  ni: Buffer = Buffer.alloc(0);
  nr: Buffer = Buffer.alloc(0);
  dh: KeyExchange | undefined;
  cookie: Buffer | undefined;
  /** IKE_SA_INIT request and response bytes, needed for AUTH. */
  initRequest: Buffer = Buffer.alloc(0);
  initResponse: Buffer = Buffer.alloc(0);
  /** Bytes of the response being processed (IKE_SA_INIT's are signed by AUTH). */
  lastResponseBytes: Buffer = Buffer.alloc(0);
  natDetected = false;
  /** Next message ID for our requests / expected for the peer's requests. */
  nextMidOut = 0;
  nextMidIn = 0;
  pending: PendingRequest | undefined;
  queue: QueuedTask[] = [];
  private lastRequest: { mid: number; bytes: Buffer; reply: Buffer[] } | undefined;
  readonly children = new Map<string, ChildSa>();
  establishedMs = 0;
  rekeyAtMs = 0;
  expireAtMs = 0;
  /** Last authenticated IKE message from the peer. */
  lastInboundMs = 0;
  lastError: string | null = null;
  closeReason = '';
  /** Set when this SA has been replaced by a rekeyed one. */
  rekeyedTo: IkeSa | undefined;
  /** Nonces of the exchange that created this SA (for rekey collisions). */
  createdNonces: Buffer[] = [];
  sentInitialContact = false;
  /** Set on a duplicate the peer should delete; we delete it ourselves after this time. */
  duplicateDeadlineMs = 0;
  /** RFC 7383: largest IKE message we send once both sides support fragmentation; 0 = never fragment. */
  fragmentMax = 0;
  private reassembler: FragmentReassembler | undefined;
  readonly log: Logger;

  constructor(
    readonly host: SaHost,
    readonly conn: ConnectionSpec,
    opts: { initiator: boolean; spiI: Buffer; spiR: Buffer; remote: UdpEndpoint; localPort: number; log: Logger },
  ) {
    this.initiator = opts.initiator;
    this.spiI = opts.spiI;
    this.spiR = opts.spiR;
    this.remote = opts.remote;
    this.localPort = opts.localPort;
    this.log = opts.log;
    this.lastInboundMs = host.now();
  }

  /** Our SPI: the key the manager indexes this SA by. */
  get localSpi(): Buffer { return this.initiator ? this.spiI : this.spiR; }
  get name(): string { return `${this.conn.name}[${this.spiI.toString('hex')}_i ${this.spiR.toString('hex')}_r]`; }

  setState(s: IkeSaState): void {
    if (this.state === s) return;
    this.log.debug({ from: this.state, to: s }, 'IKE SA state');
    this.state = s;
    this.host.stateChanged(this);
  }

  private header(exchange: ExchangeType, mid: number, response: boolean): IkeHeader {
    let flags = this.initiator ? HeaderFlag.Initiator : 0;
    if (response) flags |= HeaderFlag.Response;
    return { spiI: this.spiI, spiR: this.spiR, nextPayload: 0, version: IKE_VERSION, exchange, flags, messageId: mid, length: 0 };
  }

  encode(exchange: ExchangeType, mid: number, response: boolean, payloads: Payload[]): Buffer {
    const sk = exchange === ExchangeType.IKE_SA_INIT ? undefined : this.skOut;
    return encodeMessage(this.header(exchange, mid, response), payloads, sk);
  }

  /** Like encode, split into SKF fragments (RFC 7383) when fragmentMax is set and the message is larger. */
  encodeOut(exchange: ExchangeType, mid: number, response: boolean, payloads: Payload[]): Buffer[] {
    if (this.fragmentMax === 0 || exchange === ExchangeType.IKE_SA_INIT || !this.skOut) return [this.encode(exchange, mid, response, payloads)];
    return encodeFragments(this.header(exchange, mid, response), payloads, this.skOut, this.fragmentMax);
  }

  /** Queues work that needs a request of ours; it starts when the window is free. */
  enqueue(kind: string, start: () => void, front = false): void {
    if (this.state === IkeSaState.Closed) return;
    if (front) this.queue.unshift({ kind, start }); else this.queue.push({ kind, start });
    this.pump();
  }

  hasQueued(kind: string): boolean {
    return this.pending?.kind === kind || this.queue.some((t) => t.kind === kind);
  }

  pump(): void {
    while (!this.pending && this.queue.length > 0 && this.state !== IkeSaState.Closed) {
      const t = this.queue.shift();
      t?.start();
    }
  }

  /** Sends a request and tracks it until its response or the deadline. */
  startRequest(
    kind: string, exchange: ExchangeType, payloads: Payload[],
    onResponse: (msg: IkeMessage) => void, onTimeout: () => void, deadlineMs?: number,
  ): void {
    const now = this.host.now();
    const mid = this.nextMidOut;
    if (exchange === ExchangeType.IKE_SA_INIT && this.conn.initExtras) payloads = [...payloads, ...this.conn.initExtras()];
    const packets = this.encodeOut(exchange, mid, false, payloads);
    this.pending = {
      kind, exchange, mid, packets, tries: 0, nextSendMs: now + retransmitTimeoutMs(0),
      deadlineMs: now + (deadlineMs ?? this.conn.dpdTimeoutSec * 1000), onResponse, onTimeout,
    };
    this.log.debug(`sending ${describeOut(exchange, mid, false, payloads)}`);
    this.host.changed?.(this);
    this.host.send(packets, this.remote, this.localPort);
  }

  /** Entry for every message that belongs to this SA. Never throws. */
  handle(raw: RawIkeMessage, remote: UdpEndpoint, localPort: number): void {
    try {
      if (raw.header.flags & HeaderFlag.Response) this.handleResponse(raw, remote, localPort);
      else this.handleRequest(raw, remote, localPort);
    } catch (e) {
      this.log.warn({ err: errText(e) }, 'error while processing IKE message');
    }
  }

  private open(raw: RawIkeMessage): IkeMessage | undefined {
    if (raw.header.exchange === ExchangeType.IKE_SA_INIT) return { header: raw.header, payloads: raw.payloads };
    if (!raw.encrypted && !raw.fragment) {
      this.log.warn({ exchange: raw.header.exchange }, 'dropping unprotected message after IKE_SA_INIT');
      return undefined;
    }
    if (!this.skIn) return undefined;
    try {
      if (raw.fragment) return (this.reassembler ??= new FragmentReassembler()).add(raw, this.skIn);
      return openMessage(raw, this.skIn);
    } catch (e) {
      if (e instanceof IntegrityError) {
        this.log.warn({ mid: raw.header.messageId }, 'integrity check of IKE message failed, dropped');
        return undefined;
      }
      throw e;
    }
  }

  private handleResponse(raw: RawIkeMessage, remote: UdpEndpoint, localPort: number): void {
    const p = this.pending;
    if (!p || raw.header.messageId !== p.mid || raw.header.exchange !== p.exchange) {
      this.log.debug({ mid: raw.header.messageId }, 'unexpected response, dropped');
      return;
    }
    let msg: IkeMessage | undefined;
    try {
      msg = this.open(raw);
    } catch (e) {
      // A response we cannot parse: treat like no response (RFC 7296 §2.21.1 drops it).
      this.log.warn({ err: errText(e) }, 'malformed response dropped');
      return;
    }
    if (!msg) return;
    this.noteInbound(remote, localPort);
    this.log.debug(`received ${describeMessage(msg)}`);
    this.pending = undefined;
    this.nextMidOut = p.mid + 1;
    this.lastResponseBytes = raw.bytes;
    try {
      p.onResponse(msg);
    } catch (e) {
      this.fail(`processing ${ExchangeType[p.exchange]} response: ${errText(e)}`);
    }
    this.host.changed?.(this);
    this.pump();
  }

  private handleRequest(raw: RawIkeMessage, remote: UdpEndpoint, localPort: number): void {
    const mid = raw.header.messageId;
    const last = this.lastRequest;
    if (last && mid === last.mid) {
      // Retransmitted request: answer from the cache (§2.1), only if byte-identical.
      if (raw.bytes.equals(last.bytes)) {
        this.log.debug({ mid }, 'retransmitted request, resending cached response');
        this.host.send(last.reply, this.remote, this.localPort);
      }
      return;
    }
    if (mid !== this.nextMidIn) {
      this.log.debug({ mid, expected: this.nextMidIn }, 'request with unexpected message ID dropped');
      return;
    }
    let msg: IkeMessage | undefined;
    let payloads: Payload[];
    try {
      msg = this.open(raw);
      if (!msg) return;
      this.noteInbound(remote, localPort);
      this.log.debug(`received ${describeMessage(msg)}`);
      checkPayloadRules(msg.header.exchange, false, msg.payloads);
      payloads = this.host.respond(this, msg);
    } catch (e) {
      if (!(e instanceof IkeError) || e.notify === undefined) {
        this.log.warn({ err: errText(e) }, 'request dropped');
        return;
      }
      this.log.warn({ notify: NotifyType[e.notify] ?? e.notify, err: e.message }, 'request refused');
      payloads = [notify(e.notify, e.notifyData)];
    }
    const reply = this.encodeOut(raw.header.exchange as ExchangeType, mid, true, payloads);
    this.lastRequest = { mid, bytes: raw.bytes, reply };
    this.nextMidIn = mid + 1;
    this.log.debug(`sending ${describeOut(raw.header.exchange, mid, true, payloads)}`);
    this.host.changed?.(this);
    this.host.send(reply, this.remote, this.localPort);
    this.afterRespond?.();
    this.afterRespond = undefined;
    this.pump();
  }

  /** Work to run once the current response has gone out (e.g. closing after a DELETE). */
  afterRespond: (() => void) | undefined;

  /** Records liveness and follows the peer's port (NAT mapping changes, float to 4500). */
  private noteInbound(remote: UdpEndpoint, localPort: number): void {
    this.lastInboundMs = this.host.now();
    if (this.state === IkeSaState.Established || this.state === IkeSaState.Authenticating) {
      if (remote.address === this.remote.address && (remote.port !== this.remote.port || localPort !== this.localPort)) {
        this.remote = { ...remote };
        this.localPort = localPort;
      }
    }
  }

  /** Timer tick: retransmissions and deadlines. */
  tick(now: number): void {
    const p = this.pending;
    if (!p) return;
    if (now >= p.deadlineMs) {
      this.pending = undefined;
      this.log.warn({ kind: p.kind, tries: p.tries }, 'no response from peer, giving up');
      p.onTimeout();
      this.pump();
      return;
    }
    if (now >= p.nextSendMs) {
      p.tries += 1;
      p.nextSendMs = now + retransmitTimeoutMs(p.tries);
      this.log.debug({ kind: p.kind, try: p.tries }, 'retransmitting request');
      this.host.send(p.packets, this.remote, this.localPort);
    }
  }

  /** Fatal error: close without telling the peer (it never authenticated, or is gone). */
  fail(reason: string): void {
    this.lastError = reason;
    this.log.warn({ reason }, 'IKE SA failed');
    this.close(reason);
  }

  /** Tears down the SA and every Child SA still attached to it. */
  close(reason: string): void {
    if (this.state === IkeSaState.Closed) return;
    this.closeReason = reason;
    for (const c of this.children.values()) {
      if (c.state !== ChildState.Deleted) removeFromBackend(this.host.backend, c);
    }
    this.children.clear();
    this.pending = undefined;
    this.queue = [];
    this.dh = undefined;
    this.setState(IkeSaState.Closed);
  }

  activeChildren(): ChildSa[] {
    return [...this.children.values()].filter((c) => c.state !== ChildState.Deleted);
  }
}

export function notify(type: NotifyType, data?: Buffer, protocolId = 0, spi: Buffer = Buffer.alloc(0)): Payload {
  return { type: PayloadType.NOTIFY, protocolId, spi, notifyType: type, data: data ?? Buffer.alloc(0) };
}

export function findNotify(msg: IkeMessage, type: NotifyType): KnownPayload<PayloadType.NOTIFY> | undefined {
  for (const p of msg.payloads) if (p.type === PayloadType.NOTIFY && 'notifyType' in p && p.notifyType === type) return p;
  return undefined;
}

/** The first error notify (type < 16384) in a message, if any. */
export function errorNotify(msg: IkeMessage): number | undefined {
  for (const p of msg.payloads) if (p.type === PayloadType.NOTIFY && 'notifyType' in p && p.notifyType < 16384) return p.notifyType;
  return undefined;
}

/** A known payload variant (numeric enums make the unknown variant match every type). */
export type KnownPayload<T extends PayloadType> = KnownOf<Exclude<Payload, { unknown: true }>, T>;
type KnownOf<P, T> = P extends { type: infer U } ? (T extends U ? P : never) : never;

export function payloadOf<T extends PayloadType>(msg: IkeMessage, type: T): KnownPayload<T> | undefined {
  return msg.payloads.find((p) => p.type === type && !('unknown' in p)) as KnownPayload<T> | undefined;
}

export function errText(e: unknown): string {
  return e instanceof Error ? e.message : String(e);
}

function describeOut(exchange: number, mid: number, response: boolean, payloads: Payload[]): string {
  const header: IkeHeader = {
    spiI: Buffer.alloc(8), spiR: Buffer.alloc(8), nextPayload: 0, version: IKE_VERSION, exchange,
    flags: response ? HeaderFlag.Response : 0, messageId: mid, length: 0,
  };
  return describeMessage({ header, payloads });
}
