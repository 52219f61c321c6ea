import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { mkdtempSync, rmSync, statSync, writeFileSync, existsSync } from 'node:fs';
import { createConnection } from 'node:net';
import { spawn } from 'node:child_process';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import {
  ControlError, ControlRequestError, ControlServer, controlRequest, MAX_LINE_BYTES,
} from '../../daemon/control.js';
import { createLogger } from '../../daemon/log.js';

const log = createLogger({ level: 'silent', name: 'test', destination: new Writable({ write(_c, _e, cb) { cb(); } }) });

let dir: string;
let server: ControlServer | null;

beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), 'vgw-ctl-'));
  server = null;
});
afterEach(async () => {
  await server?.close();
  rmSync(dir, { recursive: true, force: true });
});

async function startServer(path = join(dir, 'run', 'vgw', 'g.sock')) {
  server = new ControlServer(path, {
    status: async () => ({ gateway: 'g', uptimeSeconds: 1, connections: [] }),
    echo: async (params) => params,
    nothing: async () => undefined,
    fail: async () => { throw new ControlError('not_found', 'no connection named "x"'); },
    crash: async () => { throw new Error('boom'); },
    slow: () => new Promise((r) => setTimeout(() => r('late'), 2000)),
  }, log);
  await server.start();
  return path;
}

/** Sends raw bytes and collects response lines until `count` arrived or the socket closed. */
function raw(path: string, payload: string | Buffer, count: number): Promise<unknown[]> {
  return new Promise((resolve, reject) => {
    const sock = createConnection(path);
    let buf = '';
    const out: unknown[] = [];
    const done = () => { sock.destroy(); resolve(out); };
    sock.on('connect', () => sock.write(payload));
    sock.on('data', (d) => {
      buf += d.toString();
      let nl: number;
      while ((nl = buf.indexOf('\n')) >= 0) {
        out.push(JSON.parse(buf.slice(0, nl)));
        buf = buf.slice(nl + 1);
      }
      if (out.length >= count) done();
    });
    sock.on('close', done);
    sock.on('error', reject);
    setTimeout(done, 3000);
  });
}

describe('ControlServer + controlRequest', () => {
  it('round-trips a request, creating the directory and a 0600 socket', async () => {
    const path = await startServer();
    expect(statSync(path).isSocket()).toBe(true);
    expect(statSync(path).mode & 0o777).toBe(0o600);
    expect(await controlRequest(path, 'status')).toEqual({ gateway: 'g', uptimeSeconds: 1, connections: [] });
    expect(await controlRequest(path, 'echo', { connection: 'c1', n: [1, 2] })).toEqual({ connection: 'c1', n: [1, 2] });
    expect(await controlRequest(path, 'nothing')).toBeNull();
  });

  it('reports unknown methods and handler errors with codes', async () => {
    const path = await startServer();
    await expect(controlRequest(path, 'frobnicate')).rejects.toMatchObject({ code: 'method_not_found', message: expect.stringContaining('unknown method "frobnicate"') });
    await expect(controlRequest(path, 'fail')).rejects.toMatchObject({ code: 'not_found', message: 'no connection named "x"' });
    await expect(controlRequest(path, 'crash')).rejects.toMatchObject({ code: 'internal_error', message: 'boom' });
    // Inherited object properties are not methods.
    await expect(controlRequest(path, 'toString')).rejects.toMatchObject({ code: 'method_not_found' });
  });

  it('answers malformed lines with errors and keeps serving the connection', async () => {
    const path = await startServer();
    const replies = await raw(path, 'not json\n[1,2]\n{"id":7}\n{"id":8,"method":"echo","params":"ok"}\n', 4);
    expect(replies).toEqual([
      { id: null, error: { code: 'parse_error', message: 'request is not valid JSON' } },
      { id: null, error: { code: 'invalid_request', message: expect.any(String) } },
      { id: 7, error: { code: 'invalid_request', message: expect.any(String) } },
      { id: 8, result: 'ok' },
    ]);
  });

  it('handles requests split across writes and several per write', async () => {
    const path = await startServer();
    const replies = await raw(path, Buffer.from('{"id":"a","method":"echo","params":1}\n{"id":"b","method":"echo","params":2}\n'), 2);
    expect(replies).toEqual([{ id: 'a', result: 1 }, { id: 'b', result: 2 }]);
  });

  it('refuses an over-long line and hangs up, without crashing', async () => {
    const path = await startServer();
    const big = '{"id":1,"method":"echo","params":"' + 'x'.repeat(MAX_LINE_BYTES + 10) + '"}\n';
    const replies = await raw(path, big, 1);
    expect(replies[0]).toMatchObject({ id: null, error: { code: 'line_too_long' } });
    // The server still works for others.
    expect(await controlRequest(path, 'echo', 'still here')).toBe('still here');
  });

  it('accepts a line just under the cap', async () => {
    const path = await startServer();
    const payload = 'y'.repeat(MAX_LINE_BYTES - 100);
    expect(await controlRequest(path, 'echo', payload)).toBe(payload);
  });

  it('gives a clear error when nothing listens', async () => {
    const path = join(dir, 'absent.sock');
    await expect(controlRequest(path, 'status')).rejects.toThrow(`cannot connect to ${path}: is vgwd running?`);
    await expect(controlRequest(path, 'status')).rejects.toBeInstanceOf(ControlRequestError);
  });

  it('times out', async () => {
    const path = await startServer();
    await expect(controlRequest(path, 'slow', undefined, 200)).rejects.toMatchObject({ code: 'timeout', message: expect.stringContaining('within 200 ms') });
  });

  it('replaces a stale socket file but not a live one or a regular file', async () => {
    const path = join(dir, 'stale.sock');
    // A daemon that dies by SIGKILL leaves its socket file behind.
    const child = spawn(process.execPath, ['-e', `require('net').createServer().listen(${JSON.stringify(path)}, () => console.log('up'))`],
      { stdio: ['ignore', 'pipe', 'inherit'] });
    await new Promise<void>((resolve, reject) => {
      child.stdout!.once('data', () => resolve());
      child.once('exit', () => reject(new Error('listener exited early')));
    });
    try {
      await expect(new ControlServer(path, {}, log).start()).rejects.toThrow(/another vgwd is already listening/);
    } finally {
      child.kill('SIGKILL');
      await new Promise((r) => child.once('exit', r));
    }
    expect(statSync(path).isSocket()).toBe(true);
    await startServer(path);
    expect(await controlRequest(path, 'echo', 1)).toBe(1);

    const regular = join(dir, 'regular');
    writeFileSync(regular, 'data');
    await expect(new ControlServer(regular, {}, log).start()).rejects.toThrow(/not a socket/);
    expect(existsSync(regular)).toBe(true);
  });

  it('close() removes the socket file', async () => {
    const path = await startServer();
    await server!.close();
    server = null;
    expect(existsSync(path)).toBe(false);
    await expect(controlRequest(path, 'status')).rejects.toThrow(/is vgwd running/);
  });
});
