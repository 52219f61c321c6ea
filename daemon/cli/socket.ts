/**
 * Which control socket `vgw` talks to: --socket, else --config's
 * runtime.controlSocket, else $VGW_SOCKET, else the only *.sock in /run/vgw,
 * else /run/vgw/vgw.sock.
 */
import { readdirSync } from 'node:fs';
import { join } from 'node:path';
import { loadConfig } from '../config.js';

export const DEFAULT_RUN_DIR = '/run/vgw';

export class SocketChoiceError extends Error {
  override readonly name = 'SocketChoiceError';
}

export interface SocketOptions {
  socket?: string;
  config?: string;
}

export function resolveSocketPath(opts: SocketOptions, env: NodeJS.ProcessEnv = process.env, runDir = DEFAULT_RUN_DIR): string {
  if (opts.socket) return opts.socket;
  if (opts.config) return loadConfig(opts.config).runtime.controlSocket;
  const fromEnv = env.VGW_SOCKET;
  if (fromEnv) return fromEnv;
  let sockets: string[] = [];
  try {
    sockets = readdirSync(runDir, { withFileTypes: true })
      .filter((e) => e.isSocket() && e.name.endsWith('.sock'))
      .map((e) => e.name)
      .sort();
  } catch {
    // No run directory: fall through to the default, whose connect error explains.
  }
  if (sockets.length === 1) return join(runDir, sockets[0]!);
  if (sockets.length > 1) {
    throw new SocketChoiceError(`several gateways are running (${sockets.map((s) => join(runDir, s)).join(', ')}); choose one with --socket`);
  }
  return join(runDir, 'vgw.sock');
}
