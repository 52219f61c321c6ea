/**
 * The HA link: one TCP connection between the two instances' haAddresses.
 * The instance with index 0 dials, index 1 listens (both listen, so a
 * restarted index 0 is accepted too). Frames are sealed (ha/messages.ts).
 *
 * Liveness, two ways:
 *   - the connection closes (FIN/RST from the partner's kernel): the partner
 *     process is gone → `down('closed')` at once;
 *   - nothing received for `deadAfterMs` (heartbeats every `heartbeatMs`):
 *     the partner or the path is silent → `down('silent')`.
 */
import net from 'node:net';
import type { Logger } from 'pino';
import { decodeFrameBody, encodeFrame, FrameReader, HA_PORT, type HaMessage } from './messages.js';

/** A poll this many periods late means this process was stalled. */
const STALL_POLLS = 3;

export type LinkDownReason = 'closed' | 'silent';

export interface HaLinkOptions {
  selfIndex: number;
  localAddress: string;
  peerAddress: string;
  key: Buffer;
  port?: number;
  log: Logger;
  deadAfterMs: number;
  onMessage(msg: HaMessage): void;
  onUp(): void;
  onDown(reason: LinkDownReason): void;
  now?: () => number;
}

const DIAL_EVERY_MS = 100;
const DIAL_TIMEOUT_MS = 300;

export class HaLink {
  private server: net.Server | undefined;
  private sock: net.Socket | undefined;
  private dialing: net.Socket | undefined;
  private timer: NodeJS.Timeout | undefined;
  private lastRxMs = 0;
  private lastPollMs = 0;
  private resumedAtMs = 0;
  private closed = false;
  readonly stats = { framesIn: 0, framesOut: 0, badFrames: 0, ups: 0, downs: 0, stalls: 0 };
  private readonly now: () => number;

  constructor(private readonly o: HaLinkOptions) {
    this.now = o.now ?? Date.now;
  }

  get up(): boolean { return this.sock !== undefined; }

  private get pollEveryMs(): number {
    return Math.min(DIAL_EVERY_MS, Math.max(10, Math.floor(this.o.deadAfterMs / 4)));
  }

  /** Timer callback, exposed for tests with a fake clock. */
  pollNow(): void { this.poll(); }

  async start(): Promise<void> {
    const server = net.createServer((s) => this.accept(s));
    this.server = server;
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen({ host: this.o.localAddress, port: this.o.port ?? HA_PORT, exclusive: true }, () => {
        server.off('error', reject);
        server.on('error', (err) => this.o.log.warn({ err }, 'HA listener error'));
        resolve();
      });
    });
    this.timer = setInterval(() => this.poll(), this.pollEveryMs);
    this.poll();
  }

  send(msg: HaMessage): boolean {
    const s = this.sock;
    if (!s) return false;
    s.write(encodeFrame(msg, this.o.key));
    this.stats.framesOut++;
    return true;
  }

  /** Bytes queued in the socket but not yet handed to the kernel. */
  get backlog(): number { return this.sock?.writableLength ?? 0; }

  async close(): Promise<void> {
    this.closed = true;
    if (this.timer) clearInterval(this.timer);
    this.dialing?.destroy();
    const s = this.sock;
    this.sock = undefined;
    if (s) await new Promise<void>((r) => s.end(() => { s.destroy(); r(); }));
    await new Promise<void>((r) => (this.server ? this.server.close(() => r()) : r()));
  }

  private poll(): void {
    if (this.closed) return;
    const now = this.now();
    // Our own stall (CPU starvation, GC) is not the partner's silence: timers
    // run before pending socket reads, so count silence from when we resumed.
    if (this.lastPollMs !== 0 && now - this.lastPollMs > this.pollEveryMs * STALL_POLLS) {
      this.resumedAtMs = now;
      this.stats.stalls++;
    }
    this.lastPollMs = now;
    if (this.sock) {
      if (now - Math.max(this.lastRxMs, this.resumedAtMs) > this.o.deadAfterMs) this.drop(this.sock, 'silent');
      return;
    }
    if (this.o.selfIndex === 0 && !this.dialing) this.dial();
  }

  private dial(): void {
    const s = net.connect({ host: this.o.peerAddress, port: this.o.port ?? HA_PORT, localAddress: this.o.localAddress });
    this.dialing = s;
    const t = setTimeout(() => s.destroy(), DIAL_TIMEOUT_MS);
    s.once('connect', () => {
      clearTimeout(t);
      this.dialing = undefined;
      this.attach(s);
    });
    s.once('error', () => undefined);
    s.once('close', () => {
      clearTimeout(t);
      if (this.dialing === s) this.dialing = undefined;
    });
  }

  private accept(s: net.Socket): void {
    if (this.closed || s.remoteAddress?.replace(/^::ffff:/, '') !== this.o.peerAddress) {
      this.o.log.warn({ from: s.remoteAddress }, 'HA connection from an address that is not the partner, refused');
      s.destroy();
      return;
    }
    // A new connection from the partner replaces the old one (it restarted).
    if (this.sock) this.drop(this.sock, 'closed');
    this.attach(s);
  }

  private attach(s: net.Socket): void {
    if (this.closed) { s.destroy(); return; }
    s.setNoDelay(true);
    this.sock = s;
    this.lastRxMs = this.now();
    this.stats.ups++;
    const reader = new FrameReader();
    s.on('data', (chunk: Buffer) => {
      if (this.sock !== s) return;
      this.lastRxMs = this.now();
      let bodies: Buffer[];
      try {
        bodies = reader.push(chunk);
      } catch (err) {
        this.stats.badFrames++;
        this.o.log.warn({ err: (err as Error).message }, 'HA link: bad framing, dropping the connection');
        this.drop(s, 'closed');
        return;
      }
      for (const b of bodies) {
        let msg: HaMessage;
        try {
          msg = decodeFrameBody(b, this.o.key);
        } catch (err) {
          this.stats.badFrames++;
          this.o.log.warn({ err: (err as Error).message }, 'HA frame dropped');
          continue;
        }
        this.stats.framesIn++;
        try {
          this.o.onMessage(msg);
        } catch (err) {
          this.o.log.error({ err }, 'HA message handler failed');
        }
        if (this.sock !== s) return;
      }
    });
    s.on('error', () => undefined);
    s.on('close', () => { if (this.sock === s) this.drop(s, 'closed'); });
    this.o.log.info({ peer: this.o.peerAddress }, 'HA link up');
    this.o.onUp();
  }

  private drop(s: net.Socket, reason: LinkDownReason): void {
    if (this.sock !== s) { s.destroy(); return; }
    this.sock = undefined;
    s.destroy();
    this.stats.downs++;
    this.o.log.warn({ reason }, 'HA link down');
    if (!this.closed) this.o.onDown(reason);
  }
}
