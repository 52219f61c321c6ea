/**
 * BGP finite state machine (RFC 4271 §8), one instance per TCP connection
 * attempt to a peer. Each state is a handler returning `{ next, reason }`
 * (GoBGP style); every transition is logged with its reason.
 *
 *          manualStart/automaticStart
 *   Idle ──────────────────────────────► Connect (active)  / Active (passive)
 *    ▲                                       │ tcpConnected: send OPEN
 *    │ errors, NOTIFICATION,                 ▼
 *    │ hold timer, manualStop            OpenSent ── OPEN ok: send KEEPALIVE ──► OpenConfirm
 *    │                                                                              │ KEEPALIVE
 *    └──────────────────────────────────────────────────────────────  Established ◄┘
 *
 * The FSM owns no socket: the host (session layer or a test) performs
 * connect/send/disconnect and feeds events in. Timers use an injected Clock.
 */
import {
  CeaseSubcode,
  CapabilityCode,
  DEFAULT_CONNECT_RETRY_TIME,
  DEFAULT_HOLD_TIME,
  DEFAULT_IDLE_HOLD_TIME,
  ErrorCode,
  FsmErrorSubcode,
  MessageType,
  OPEN_HOLD_TIME,
} from './constants.js';
import type { Clock, TimerHandle } from './clock.js';
import { BgpNotificationError } from './errors.js';
import { KEEPALIVE } from './keepalive.js';
import type { BgpMessage } from './message.js';
import { encodeNotification, formatNotification, shutdownCommunicationData, type NotificationMessage } from './notification.js';
import { buildLocalOpen, encodeOpen, hasCapability, peerAsnOf, validateOpen, type OpenMessage } from './open.js';
import type { RouteRefreshMessage } from './route-refresh.js';
import type { UpdateMessage } from './update.js';
import { ipv4ToNumber } from './wire.js';

export enum BgpState {
  Idle = 'Idle',
  Connect = 'Connect',
  Active = 'Active',
  OpenSent = 'OpenSent',
  OpenConfirm = 'OpenConfirm',
  Established = 'Established',
}

export type TransitionReason =
  | 'manualStart'
  | 'automaticStart'
  | 'manualStop'
  | 'tcpConnected'
  | 'tcpConnectionFailed'
  | 'connectRetryExpired'
  | 'openReceived'
  | 'openRejected'
  | 'keepaliveReceived'
  | 'holdTimerExpired'
  | 'notificationReceived'
  | 'notificationSent'
  | 'decodeError'
  | 'unexpectedMessage'
  | 'collisionLost'
  | 'connectionClosed'
  | 'unchanged';

export interface Transition {
  next: BgpState;
  reason: TransitionReason;
}

export type FsmEvent =
  | { type: 'manualStart' }
  | { type: 'automaticStart' }
  | { type: 'manualStop'; shutdownCommunication?: string }
  | { type: 'connectRetryTimerExpires' }
  | { type: 'holdTimerExpires' }
  | { type: 'keepaliveTimerExpires' }
  /** TCP connection is up (outgoing connect completed or incoming accepted). */
  | { type: 'tcpConnected'; outgoing: boolean }
  /** Connect failed, or the established TCP connection closed. */
  | { type: 'tcpFailed' }
  | { type: 'message'; message: BgpMessage }
  /** The framer or a decoder threw: send its NOTIFICATION and reset. */
  | { type: 'decodeError'; error: BgpNotificationError }
  /** A local decision to reset the session with this NOTIFICATION (e.g. max-prefix). */
  | { type: 'localError'; error: BgpNotificationError; reason?: TransitionReason };

export interface NegotiatedSession {
  peerOpen: OpenMessage;
  peerAsn: number;
  holdTime: number;
  keepaliveTime: number;
  fourOctetAs: boolean;
  routeRefresh: boolean;
  enhancedRouteRefresh: boolean;
}

/** What the FSM asks its owner to do. */
export interface FsmHost {
  connect(): void;
  send(frame: Uint8Array): void;
  disconnect(): void;
  established?(session: NegotiatedSession): void;
  update?(msg: UpdateMessage): void;
  routeRefresh?(msg: RouteRefreshMessage): void;
  /** Left Established (routes from this peer must be withdrawn). */
  down?(reason: TransitionReason, notification?: { sent: boolean; code: number; subcode: number; text: string }): void;
  transition?(from: BgpState, to: BgpState, reason: TransitionReason): void;
  /**
   * RFC 4271 §6.8 hook, asked when an OPEN arrives: return 'closeThis' when a
   * parallel connection to the same peer wins the collision.
   */
  collision?(peerOpen: OpenMessage, outgoing: boolean): 'continue' | 'closeThis';
}

export interface FsmLogger {
  info(obj: object, msg: string): void;
  warn(obj: object, msg: string): void;
  debug(obj: object, msg: string): void;
}

export interface FsmConfig {
  localAsn: number;
  routerId: string;
  /** Expected peer ASN (mismatch → OPEN error 2/2). */
  peerAsn: number;
  peerAddress: string;
  holdTime?: number;
  connectRetryTime?: number;
  /** Seconds in Idle before an automatic restart; 0 disables automatic restart. */
  idleHoldTime?: number;
  passive?: boolean;
  /**
   * RFC 4271 §10: multiply ConnectRetry and IdleHold by a random 0.75..1.0, so
   * two speakers that failed together do not retry in lockstep forever
   * (each one's incoming connection replacing its own outgoing one).
   */
  jitter?: boolean;
}

type Handler = (fsm: BgpFsm, ev: FsmEvent) => Transition;

const stay = (fsm: BgpFsm): Transition => ({ next: fsm.state, reason: 'unchanged' });

/**
 * RFC 4271 §6.8: "the BGP Identifier of the local system is compared to the
 * BGP Identifier of the remote system ... the connection initiated by the
 * system with the higher BGP Identifier" is kept.
 */
export function collisionKeeps(localId: string, remoteId: string): 'locallyInitiated' | 'remotelyInitiated' {
  return ipv4ToNumber(localId) > ipv4ToNumber(remoteId) ? 'locallyInitiated' : 'remotelyInitiated';
}

export class BgpFsm {
  state: BgpState = BgpState.Idle;
  readonly config: Required<FsmConfig>;
  negotiated: NegotiatedSession | undefined;
  /** Clock time when Established was entered. */
  establishedAt: number | undefined;
  outgoing = false;
  lastError: string | undefined;
  readonly #clock: Clock;
  readonly #host: FsmHost;
  readonly #log: FsmLogger;
  #timers: Partial<Record<'connectRetry' | 'hold' | 'keepalive' | 'idleHold', TimerHandle>> = {};
  #stopped = true;

  constructor(config: FsmConfig, host: FsmHost, clock: Clock, log: FsmLogger) {
    this.config = {
      holdTime: DEFAULT_HOLD_TIME,
      connectRetryTime: DEFAULT_CONNECT_RETRY_TIME,
      idleHoldTime: DEFAULT_IDLE_HOLD_TIME,
      passive: false,
      ...config,
      jitter: config.jitter ?? false,
    };
    this.#host = host;
    this.#clock = clock;
    this.#log = log;
  }

  /** Feed one event; returns the transition taken. */
  handle(ev: FsmEvent): Transition {
    if (ev.type === 'manualStart') this.#stopped = false;
    if (ev.type === 'manualStop') this.#stopped = true;
    const from = this.state;
    const t = HANDLERS[from](this, ev);
    // A host callback may have fed a nested event (e.g. max-prefix → localError) that already moved us.
    if (this.state !== from) return { next: this.state, reason: t.reason };
    if (t.next !== from) this.#enter(from, t);
    return t;
  }

  // ------------------------------------------------------------ actions used by handlers

  startTimer(name: 'connectRetry' | 'hold' | 'keepalive' | 'idleHold', seconds: number): void {
    this.stopTimer(name);
    if (seconds <= 0) return;
    const ev: FsmEvent['type'] =
      name === 'connectRetry' ? 'connectRetryTimerExpires' : name === 'hold' ? 'holdTimerExpires' : name === 'keepalive' ? 'keepaliveTimerExpires' : 'automaticStart';
    const factor = this.config.jitter && (name === 'connectRetry' || name === 'idleHold') ? 0.75 + Math.random() * 0.25 : 1;
    this.#timers[name] = this.#clock.setTimer(seconds * 1000 * factor, () => {
      delete this.#timers[name];
      this.handle({ type: ev } as FsmEvent);
    });
  }

  stopTimer(name: 'connectRetry' | 'hold' | 'keepalive' | 'idleHold'): void {
    const h = this.#timers[name];
    if (h) this.#clock.clearTimer(h);
    delete this.#timers[name];
  }

  timerArmed(name: 'connectRetry' | 'hold' | 'keepalive' | 'idleHold'): boolean {
    return this.#timers[name] !== undefined;
  }

  connect(): void {
    this.#host.connect();
  }

  send(frame: Uint8Array): void {
    this.#host.send(frame);
  }

  sendOpen(): void {
    this.send(encodeOpen(buildLocalOpen(this.config.localAsn, this.config.holdTime, this.config.routerId)));
  }

  /** Send NOTIFICATION for an error and record it for the log/down event. */
  sendNotification(code: number, subcode: number, data: Uint8Array, text: string): void {
    this.lastError = `sent ${formatNotification({ code, subcode })}: ${text}`;
    this.#pendingDown = { sent: true, code, subcode, text };
    this.send(encodeNotification(code, subcode, data));
  }

  noteReceivedNotification(n: NotificationMessage): void {
    const text = formatNotification(n);
    this.lastError = `received ${text}`;
    this.#pendingDown = { sent: false, code: n.code, subcode: n.subcode, text };
  }

  #pendingDown: { sent: boolean; code: number; subcode: number; text: string } | undefined;

  get host(): FsmHost {
    return this.#host;
  }

  get stopped(): boolean {
    return this.#stopped;
  }

  /** OPEN processing in OpenSent (RFC 4271 §6.2, §8.2.2). */
  acceptOpen(open: OpenMessage): Transition {
    try {
      validateOpen(open, { localAsn: this.config.localAsn, localRouterId: this.config.routerId, peerAsn: this.config.peerAsn });
    } catch (e) {
      if (!(e instanceof BgpNotificationError)) throw e;
      this.sendNotification(e.code, e.subcode, e.data, e.message);
      return { next: BgpState.Idle, reason: 'openRejected' };
    }
    if (this.#host.collision?.(open, this.outgoing) === 'closeThis') {
      this.sendNotification(ErrorCode.Cease, CeaseSubcode.ConnectionCollisionResolution, new Uint8Array(0), 'connection collision');
      return { next: BgpState.Idle, reason: 'collisionLost' };
    }
    // "the calculated value ... is the smaller of its configured Hold Time and the Hold Time received in the OPEN"
    const holdTime = Math.min(this.config.holdTime, open.holdTime);
    const keepaliveTime = Math.floor(holdTime / 3);
    this.negotiated = {
      peerOpen: open,
      peerAsn: peerAsnOf(open),
      holdTime,
      keepaliveTime,
      fourOctetAs: hasCapability(open, CapabilityCode.FourOctetAs),
      routeRefresh: hasCapability(open, CapabilityCode.RouteRefresh),
      enhancedRouteRefresh: hasCapability(open, CapabilityCode.EnhancedRouteRefresh),
    };
    this.stopTimer('connectRetry');
    this.send(KEEPALIVE);
    this.startTimer('keepalive', keepaliveTime);
    this.startTimer('hold', holdTime); // 0 → no timer
    return { next: BgpState.OpenConfirm, reason: 'openReceived' };
  }

  /** Common handling of events every "up" state (OpenSent..Established) reacts to the same way. */
  commonUp(ev: FsmEvent, fsmSubcode: FsmErrorSubcode): Transition | undefined {
    switch (ev.type) {
      case 'manualStop': {
        const data = ev.shutdownCommunication !== undefined ? shutdownCommunicationData(ev.shutdownCommunication) : new Uint8Array(0);
        this.sendNotification(ErrorCode.Cease, CeaseSubcode.AdministrativeShutdown, data, ev.shutdownCommunication ?? 'administrative shutdown');
        return { next: BgpState.Idle, reason: 'manualStop' };
      }
      case 'holdTimerExpires':
        // RFC 4271 §6.5: "a NOTIFICATION message with the Error Code Hold Timer Expired is sent"
        this.sendNotification(ErrorCode.HoldTimerExpired, 0, new Uint8Array(0), 'hold timer expired');
        return { next: BgpState.Idle, reason: 'holdTimerExpired' };
      case 'tcpFailed':
        this.lastError = 'TCP connection closed';
        return { next: BgpState.Idle, reason: 'connectionClosed' };
      case 'decodeError':
        this.sendNotification(ev.error.code, ev.error.subcode, ev.error.data, ev.error.message);
        return { next: BgpState.Idle, reason: 'decodeError' };
      case 'localError':
        this.sendNotification(ev.error.code, ev.error.subcode, ev.error.data, ev.error.message);
        return { next: BgpState.Idle, reason: ev.reason ?? 'notificationSent' };
      case 'message':
        if (ev.message.type === MessageType.Notification) {
          this.noteReceivedNotification(ev.message);
          return { next: BgpState.Idle, reason: 'notificationReceived' };
        }
        return undefined;
      case 'tcpConnected':
        return undefined;
      default:
        void fsmSubcode;
        return undefined;
    }
  }

  unexpected(subcode: FsmErrorSubcode, what: string): Transition {
    this.sendNotification(ErrorCode.FiniteStateMachine, subcode, new Uint8Array(0), `unexpected ${what} in ${this.state}`);
    return { next: BgpState.Idle, reason: 'unexpectedMessage' };
  }

  #enter(from: BgpState, t: Transition): void {
    this.state = t.next;
    const level = t.next === BgpState.Idle && t.reason !== 'manualStop' ? 'warn' : 'info';
    this.#log[level](
      { peer: this.config.peerAddress, from, to: t.next, reason: t.reason, ...(this.lastError && t.next === BgpState.Idle ? { error: this.lastError } : {}) },
      `BGP ${this.config.peerAddress}: ${from} -> ${t.next} (${t.reason})`,
    );
    if (t.next === BgpState.Established) {
      this.establishedAt = this.#clock.now();
      if (this.negotiated) this.#host.established?.(this.negotiated);
    }
    if (t.next === BgpState.Idle) {
      for (const name of ['connectRetry', 'hold', 'keepalive'] as const) this.stopTimer(name);
      this.#host.disconnect();
      if (from === BgpState.Established) this.#host.down?.(t.reason, this.#pendingDown);
      this.establishedAt = undefined;
      this.negotiated = undefined;
      // Automatic restart unless stopped by the operator or told not to (RFC 4271 §8.1.1 option).
      if (!this.#stopped && t.reason !== 'collisionLost' && this.config.idleHoldTime > 0) this.startTimer('idleHold', this.config.idleHoldTime);
    }
    this.#pendingDown = undefined;
    this.#host.transition?.(from, t.next, t.reason);
  }
}

function startHandler(fsm: BgpFsm, reason: TransitionReason): Transition {
  fsm.stopTimer('idleHold');
  fsm.startTimer('connectRetry', fsm.config.connectRetryTime);
  if (fsm.config.passive) return { next: BgpState.Active, reason };
  fsm.outgoing = true;
  fsm.connect();
  return { next: BgpState.Connect, reason };
}

function connectionUp(fsm: BgpFsm, outgoing: boolean): Transition {
  fsm.outgoing = outgoing;
  fsm.stopTimer('connectRetry');
  fsm.sendOpen();
  // RFC 4271 §8.2.2: "sets the HoldTimer to a large value" (4 minutes suggested).
  fsm.startTimer('hold', OPEN_HOLD_TIME);
  return { next: BgpState.OpenSent, reason: 'tcpConnected' };
}

const HANDLERS: Record<BgpState, Handler> = {
  [BgpState.Idle](fsm, ev) {
    switch (ev.type) {
      case 'manualStart':
        return startHandler(fsm, 'manualStart');
      case 'automaticStart':
        return fsm.stopped ? stay(fsm) : startHandler(fsm, 'automaticStart');
      case 'tcpConnected':
        // An incoming connection while Idle is refused (RFC 4271 §8.2.2 Idle: "refuses all incoming BGP connections").
        return stay(fsm);
      default:
        return stay(fsm);
    }
  },

  [BgpState.Connect](fsm, ev) {
    switch (ev.type) {
      case 'tcpConnected':
        return connectionUp(fsm, ev.outgoing);
      case 'connectRetryTimerExpires':
        fsm.host.disconnect();
        fsm.startTimer('connectRetry', fsm.config.connectRetryTime);
        fsm.connect();
        return { next: BgpState.Connect, reason: 'connectRetryExpired' };
      case 'tcpFailed':
        fsm.startTimer('connectRetry', fsm.config.connectRetryTime);
        return { next: BgpState.Active, reason: 'tcpConnectionFailed' };
      case 'manualStop':
        return { next: BgpState.Idle, reason: 'manualStop' };
      case 'message':
      case 'decodeError':
      case 'holdTimerExpires':
      case 'keepaliveTimerExpires':
        return { next: BgpState.Idle, reason: 'unexpectedMessage' };
      default:
        return stay(fsm);
    }
  },

  [BgpState.Active](fsm, ev) {
    switch (ev.type) {
      case 'tcpConnected':
        return connectionUp(fsm, ev.outgoing);
      case 'connectRetryTimerExpires':
        fsm.startTimer('connectRetry', fsm.config.connectRetryTime);
        if (fsm.config.passive) return stay(fsm);
        fsm.outgoing = true;
        fsm.connect();
        return { next: BgpState.Connect, reason: 'connectRetryExpired' };
      case 'tcpFailed':
        return stay(fsm);
      case 'manualStop':
        return { next: BgpState.Idle, reason: 'manualStop' };
      case 'message':
      case 'decodeError':
      case 'holdTimerExpires':
      case 'keepaliveTimerExpires':
        return { next: BgpState.Idle, reason: 'unexpectedMessage' };
      default:
        return stay(fsm);
    }
  },

  [BgpState.OpenSent](fsm, ev) {
    const common = fsm.commonUp(ev, FsmErrorSubcode.UnexpectedMessageInOpenSent);
    if (common) return common;
    if (ev.type === 'message') {
      if (ev.message.type === MessageType.Open) return fsm.acceptOpen(ev.message);
      return fsm.unexpected(FsmErrorSubcode.UnexpectedMessageInOpenSent, MessageType[ev.message.type]);
    }
    return stay(fsm);
  },

  [BgpState.OpenConfirm](fsm, ev) {
    const common = fsm.commonUp(ev, FsmErrorSubcode.UnexpectedMessageInOpenConfirm);
    if (common) return common;
    switch (ev.type) {
      case 'keepaliveTimerExpires':
        fsm.send(KEEPALIVE);
        fsm.startTimer('keepalive', fsm.negotiated?.keepaliveTime ?? 0);
        return stay(fsm);
      case 'message':
        if (ev.message.type === MessageType.Keepalive) {
          fsm.startTimer('hold', fsm.negotiated?.holdTime ?? 0);
          return { next: BgpState.Established, reason: 'keepaliveReceived' };
        }
        return fsm.unexpected(FsmErrorSubcode.UnexpectedMessageInOpenConfirm, MessageType[ev.message.type]);
      default:
        return stay(fsm);
    }
  },

  [BgpState.Established](fsm, ev) {
    const common = fsm.commonUp(ev, FsmErrorSubcode.UnexpectedMessageInEstablished);
    if (common) return common;
    switch (ev.type) {
      case 'keepaliveTimerExpires':
        fsm.send(KEEPALIVE);
        fsm.startTimer('keepalive', fsm.negotiated?.keepaliveTime ?? 0);
        return stay(fsm);
      case 'message': {
        const m = ev.message;
        if (m.type === MessageType.Open) return fsm.unexpected(FsmErrorSubcode.UnexpectedMessageInEstablished, 'OPEN');
        // "Each time the local system receives a KEEPALIVE or UPDATE message, it restarts its HoldTimer"
        fsm.startTimer('hold', fsm.negotiated?.holdTime ?? 0);
        if (m.type === MessageType.Update) fsm.host.update?.(m);
        else if (m.type === MessageType.RouteRefresh) fsm.host.routeRefresh?.(m);
        return stay(fsm);
      }
      default:
        return stay(fsm);
    }
  },
};

/** A BgpNotificationError helper for the speaker's local resets. */
export function ceaseError(subcode: CeaseSubcode, message: string, data?: Uint8Array): BgpNotificationError {
  return new BgpNotificationError(ErrorCode.Cease, subcode, message, data ? { data } : {});
}
