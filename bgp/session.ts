/**
 * One TCP connection to a peer: node:net socket ⇄ BgpFramer ⇄ decodeMessage ⇄ BgpFsm.
 * The FSM decides; this class only moves bytes and turns socket events into
 * FSM events. A peer normally has one Connection; during a collision
 * (RFC 4271 §6.8) it briefly has two.
 */
import net from 'node:net';
import { BgpFramer } from './framer.js';
import { BgpFsm, type FsmConfig, type FsmHost, type FsmLogger } from './fsm.js';
import type { Clock } from './clock.js';
import { BgpNotificationError } from './errors.js';
import { decodeMessage } from './message.js';

export interface ConnectTarget {
  address: string;
  port: number;
  localAddress?: string;
}

export function stripV4Mapped(address: string | undefined): string {
  return (address ?? '').replace(/^::ffff:/, '');
}

export class Connection {
  readonly fsm: BgpFsm;
  socket: net.Socket | undefined;
  readonly #framer = new BgpFramer();
  readonly #target: ConnectTarget;
  readonly #log: FsmLogger;

  /** `host` gets every FSM callback except connect/send/disconnect, which are ours. */
  constructor(config: FsmConfig, target: ConnectTarget, host: Omit<FsmHost, 'connect' | 'send' | 'disconnect'>, clock: Clock, log: FsmLogger) {
    this.#target = target;
    this.#log = log;
    this.fsm = new BgpFsm(
      config,
      {
        ...host,
        connect: () => this.#connect(),
        send: (frame) => this.#send(frame),
        disconnect: () => this.#disconnect(),
      },
      clock,
      log,
    );
  }

  get localAddress(): string | undefined {
    return this.socket ? stripV4Mapped(this.socket.localAddress) : undefined;
  }

  /** Hand an accepted socket to this connection. */
  attachIncoming(socket: net.Socket): void {
    this.#disconnect();
    this.#wire(socket);
    this.fsm.handle({ type: 'tcpConnected', outgoing: false });
  }

  #connect(): void {
    this.#disconnect();
    const socket = net.connect({
      host: this.#target.address,
      port: this.#target.port,
      ...(this.#target.localAddress ? { localAddress: this.#target.localAddress } : {}),
    });
    this.#wire(socket);
    socket.once('connect', () => {
      if (this.socket === socket) this.fsm.handle({ type: 'tcpConnected', outgoing: true });
    });
  }

  #wire(socket: net.Socket): void {
    this.socket = socket;
    this.#framer.reset();
    socket.setNoDelay(true);
    socket.on('data', (chunk: Buffer) => this.#onData(socket, chunk));
    socket.on('error', (err) => {
      this.#log.debug({ peer: this.#target.address, err: err.message }, `BGP ${this.#target.address}: socket error ${err.message}`);
    });
    socket.on('close', () => {
      if (this.socket !== socket) return;
      this.socket = undefined;
      this.fsm.handle({ type: 'tcpFailed' });
    });
  }

  #onData(socket: net.Socket, chunk: Buffer): void {
    if (this.socket !== socket) return;
    let frames: Buffer[];
    try {
      frames = this.#framer.push(chunk);
    } catch (e) {
      if (e instanceof BgpNotificationError) this.fsm.handle({ type: 'decodeError', error: e });
      else throw e;
      return;
    }
    for (const frame of frames) {
      if (this.socket !== socket) return; // the FSM dropped the connection mid-batch
      try {
        const message = decodeMessage(frame, { fourOctetAs: this.fsm.negotiated?.fourOctetAs ?? false });
        this.fsm.handle({ type: 'message', message });
      } catch (e) {
        if (!(e instanceof BgpNotificationError)) throw e;
        this.fsm.handle({ type: 'decodeError', error: e });
        return;
      }
    }
  }

  #send(frame: Uint8Array): void {
    this.socket?.write(frame);
  }

  #disconnect(): void {
    const s = this.socket;
    if (!s) return;
    this.socket = undefined;
    // end() flushes a pending NOTIFICATION; destroy shortly after in case the peer never closes.
    s.end();
    setTimeout(() => s.destroy(), 2000).unref();
  }
}
