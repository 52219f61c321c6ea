/**
 * Control socket: newline-delimited JSON requests/responses over a unix socket.
 *
 *   request:  {"id": 1, "method": "status", "params": {...}}\n
 *   response: {"id": 1, "result": ...}\n
 *         or  {"id": 1, "error": {"code": "method_not_found", "message": "..."}}\n
 *
 * Requests on one connection may be answered out of order; match them by id.
 * The socket is created mode 0600: only root (or the daemon's user) may steer it.
 */
import { chmodSync, lstatSync, mkdirSync, unlinkSync } from 'node:fs';
import { createConnection, createServer, type Server, type Socket } from 'node:net';
import { dirname } from 'node:path';
import type { Logger } from 'pino';

/** Longest request/response line accepted (bytes, without the newline). */
export const MAX_LINE_BYTES = 1024 * 1024;
/** Concurrent clients; the CLI uses one at a time, so this only bounds abuse. */
const MAX_CLIENTS = 32;

export type ControlErrorCode =
  | 'parse_error' | 'invalid_request' | 'method_not_found' | 'invalid_params'
  | 'not_found' | 'line_too_long' | 'internal_error' | (string & {});

export type RequestId = string | number | null;

export interface ControlRequest { id: RequestId; method: string; params?: unknown }
export type ControlResponse =
  | { id: RequestId; result: unknown }
  | { id: RequestId; error: { code: ControlErrorCode; message: string } };

export type ControlHandler = (params: unknown) => Promise<unknown>;

/** Throw from a handler to send a specific error code (otherwise 'internal_error'). */
export class ControlError extends Error {
  override readonly name = 'ControlError';
  constructor(readonly code: ControlErrorCode, message: string) {
    super(message);
  }
}

/** Splits a byte stream into lines, refusing any line longer than maxBytes. */
class LineSplitter {
  private chunks: Buffer[] = [];
  private buffered = 0;

  constructor(private readonly maxBytes: number) {}

  /** Returns complete lines; 'overflow' if the pending line exceeds the cap. */
  push(data: Buffer): string[] | 'overflow' {
    const lines: string[] = [];
    let start = 0;
    for (let nl = data.indexOf(0x0a, start); nl >= 0; nl = data.indexOf(0x0a, start)) {
      const piece = data.subarray(start, nl);
      if (this.buffered + piece.length > this.maxBytes) return 'overflow';
      this.chunks.push(piece);
      lines.push(Buffer.concat(this.chunks).toString('utf8'));
      this.chunks = [];
      this.buffered = 0;
      start = nl + 1;
    }
    const rest = data.subarray(start);
    if (this.buffered + rest.length > this.maxBytes) return 'overflow';
    if (rest.length > 0) {
      this.chunks.push(rest);
      this.buffered += rest.length;
    }
    return lines;
  }
}

function isRecord(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

function validId(v: unknown): v is string | number {
  return (typeof v === 'string' && v.length <= 256) || (typeof v === 'number' && Number.isFinite(v));
}

export class ControlServer {
  private server: Server | null = null;
  private readonly clients = new Set<Socket>();

  constructor(
    readonly path: string,
    private readonly handlers: Readonly<Record<string, ControlHandler>>,
    private readonly log: Logger,
  ) {}

  /** Binds the socket. Refuses to start if another live daemon owns the path. */
  async start(): Promise<void> {
    if (this.server) throw new Error('control server already started');
    mkdirSync(dirname(this.path), { recursive: true, mode: 0o755 });
    await this.removeStaleSocket();

    const server = createServer((sock) => this.onClient(sock));
    server.maxConnections = MAX_CLIENTS;
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      // Create the socket with 0600 from the start (no window where others could connect).
      // (umask is per process and unavailable in worker threads; chmod below covers that case.)
      let oldMask: number | null = null;
      try {
        oldMask = process.umask(0o177);
      } catch {
        oldMask = null;
      }
      try {
        server.listen(this.path, () => {
          server.off('error', reject);
          resolve();
        });
      } finally {
        if (oldMask !== null) process.umask(oldMask);
      }
    });
    chmodSync(this.path, 0o600);
    server.on('error', (err) => this.log.error({ err }, 'control socket error'));
    this.server = server;
    this.log.info({ socket: this.path }, 'control socket listening');
  }

  async close(): Promise<void> {
    const server = this.server;
    if (!server) return;
    this.server = null;
    for (const c of this.clients) c.destroy();
    this.clients.clear();
    await new Promise<void>((resolve) => server.close(() => resolve()));
    try {
      unlinkSync(this.path);
    } catch {
      // Already gone (node removes it on close on some platforms).
    }
  }

  private async removeStaleSocket(): Promise<void> {
    let isSocket: boolean;
    try {
      isSocket = lstatSync(this.path).isSocket();
    } catch {
      return; // nothing there
    }
    if (!isSocket) throw new Error(`${this.path} exists and is not a socket; refusing to replace it`);
    const alive = await new Promise<boolean>((resolve) => {
      const probe = createConnection(this.path);
      probe.once('connect', () => { probe.destroy(); resolve(true); });
      probe.once('error', () => resolve(false));
    });
    if (alive) throw new Error(`another vgwd is already listening on ${this.path}`);
    unlinkSync(this.path);
    this.log.info({ socket: this.path }, 'removed stale control socket');
  }

  private onClient(sock: Socket): void {
    this.clients.add(sock);
    const lines = new LineSplitter(MAX_LINE_BYTES);
    sock.on('data', (data: Buffer) => {
      const got = lines.push(data);
      if (got === 'overflow') {
        // The stream cannot be resynchronised reliably: answer once and hang up.
        this.send(sock, { id: null, error: { code: 'line_too_long', message: `request line exceeds ${MAX_LINE_BYTES} bytes` } });
        sock.end();
        sock.pause();
        return;
      }
      for (const line of got) {
        if (line.trim() === '') continue;
        void this.handleLine(sock, line);
      }
    });
    sock.on('error', (err) => this.log.debug({ err }, 'control client error'));
    sock.on('close', () => this.clients.delete(sock));
  }

  private async handleLine(sock: Socket, line: string): Promise<void> {
    let msg: unknown;
    try {
      msg = JSON.parse(line);
    } catch {
      this.send(sock, { id: null, error: { code: 'parse_error', message: 'request is not valid JSON' } });
      return;
    }
    const id: RequestId = isRecord(msg) && validId(msg.id) ? msg.id : null;
    if (!isRecord(msg) || typeof msg.method !== 'string') {
      this.send(sock, { id, error: { code: 'invalid_request', message: 'expected {"id", "method", "params"?}' } });
      return;
    }
    const method = msg.method;
    const handler = Object.hasOwn(this.handlers, method) ? this.handlers[method] : undefined;
    if (!handler) {
      const known = Object.keys(this.handlers).join(', ');
      this.send(sock, { id, error: { code: 'method_not_found', message: `unknown method "${method.slice(0, 64)}" (known: ${known})` } });
      return;
    }
    try {
      const result = await handler(msg.params);
      this.send(sock, { id, result: result === undefined ? null : result });
    } catch (err) {
      const code: ControlErrorCode = err instanceof ControlError ? err.code : 'internal_error';
      const message = err instanceof Error ? err.message : String(err);
      this.log.warn({ method, code, err }, 'control request failed');
      this.send(sock, { id, error: { code, message } });
    }
  }

  private send(sock: Socket, response: ControlResponse): void {
    if (sock.destroyed || sock.writableEnded) return;
    let text: string;
    try {
      text = JSON.stringify(response);
    } catch (err) {
      text = JSON.stringify({ id: response.id, error: { code: 'internal_error', message: `result not serialisable: ${(err as Error).message}` } });
    }
    sock.write(text + '\n');
  }
}

export class ControlRequestError extends Error {
  override readonly name = 'ControlRequestError';
  constructor(message: string, readonly code: ControlErrorCode | 'connect_failed' | 'timeout' | 'protocol_error') {
    super(message);
  }
}

/** Client side: one request over a fresh connection. Rejects with ControlRequestError. */
export async function controlRequest(socketPath: string, method: string, params?: unknown, timeoutMs = 5000): Promise<unknown> {
  return new Promise<unknown>((resolve, reject) => {
    const id = 1;
    const sock = createConnection(socketPath);
    const lines = new LineSplitter(64 * MAX_LINE_BYTES);
    let settled = false;
    const finish = (fn: () => void) => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      sock.destroy();
      fn();
    };
    const fail = (message: string, code: ControlRequestError['code']) => finish(() => reject(new ControlRequestError(message, code)));
    const timer = setTimeout(() => fail(`no answer from vgwd on ${socketPath} within ${timeoutMs} ms`, 'timeout'), timeoutMs);

    sock.once('connect', () => {
      const req: ControlRequest = params === undefined ? { id, method } : { id, method, params };
      sock.write(JSON.stringify(req) + '\n');
    });
    sock.on('error', (err: NodeJS.ErrnoException) => {
      if (err.code === 'ENOENT' || err.code === 'ECONNREFUSED') fail(`cannot connect to ${socketPath}: is vgwd running?`, 'connect_failed');
      else if (err.code === 'EACCES' || err.code === 'EPERM') fail(`cannot connect to ${socketPath}: permission denied (run as root?)`, 'connect_failed');
      else fail(`cannot connect to ${socketPath}: ${err.message}`, 'connect_failed');
    });
    sock.on('close', () => fail(`vgwd closed ${socketPath} without answering`, 'protocol_error'));
    sock.on('data', (data: Buffer) => {
      const got = lines.push(data);
      if (got === 'overflow') return fail('answer from vgwd is too large', 'protocol_error');
      for (const line of got) {
        let msg: unknown;
        try {
          msg = JSON.parse(line);
        } catch {
          return fail('vgwd sent a line that is not JSON', 'protocol_error');
        }
        if (!isRecord(msg)) return fail('vgwd sent a malformed answer', 'protocol_error');
        if (msg.id !== id && msg.id !== null) continue; // not ours
        if (isRecord(msg.error)) {
          const code = typeof msg.error.code === 'string' ? msg.error.code : 'internal_error';
          const message = typeof msg.error.message === 'string' ? msg.error.message : 'unknown error';
          return fail(message, code);
        }
        if ('result' in msg) return finish(() => resolve(msg.result));
        return fail('vgwd sent an answer without result or error', 'protocol_error');
      }
    });
  });
}
