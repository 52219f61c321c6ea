/**
 * Thin helpers around iproute2's `ip`, run with execFile and argument arrays
 * (never a shell), for putting the TUN device up and steering prefixes into it.
 */
import { execFile } from 'node:child_process';

export class IpCommandError extends Error {
  constructor(
    readonly args: readonly string[],
    readonly exitCode: number | null,
    readonly stderr: string,
  ) {
    super(`ip ${args.join(' ')} failed (exit ${exitCode ?? 'signal'}): ${stderr.trim() || 'no output'}`);
    this.name = 'IpCommandError';
  }
}

export interface IpOptions {
  /** Run inside this network namespace (`ip -n NS ...`). */
  netns?: string;
  /** Path of the ip binary. Default "ip". */
  ipPath?: string;
  timeoutMs?: number;
}

/** Runs `ip [-n netns] ...args`; resolves with stdout. */
export function runIp(args: readonly string[], opts: IpOptions = {}): Promise<string> {
  const fullArgs = opts.netns ? ['-n', opts.netns, ...args] : [...args];
  return new Promise((resolve, reject) => {
    execFile(opts.ipPath ?? 'ip', fullArgs, { timeout: opts.timeoutMs ?? 10_000 }, (err, stdout, stderr) => {
      if (err) {
        const code = typeof err.code === 'number' ? err.code : null;
        reject(new IpCommandError(fullArgs, code, `${stderr}${code === null ? ` ${err.message}` : ''}`));
        return;
      }
      resolve(stdout);
    });
  });
}

const IFNAME = /^[A-Za-z0-9_.-]{1,15}$/;
const IPV4_CIDR = /^(\d{1,3})(\.\d{1,3}){3}(\/\d{1,2})?$/;

function checkName(name: string): void {
  if (!IFNAME.test(name)) throw new RangeError(`bad interface name: ${JSON.stringify(name)}`);
}
function checkPrefix(prefix: string): void {
  if (prefix !== 'default' && !IPV4_CIDR.test(prefix)) throw new RangeError(`bad IPv4 prefix: ${JSON.stringify(prefix)}`);
}

/** `ip link set NAME mtu MTU up` */
export async function linkUp(name: string, mtu: number, opts?: IpOptions): Promise<void> {
  checkName(name);
  if (!Number.isInteger(mtu) || mtu < 68 || mtu > 65535) throw new RangeError(`bad MTU ${mtu}`);
  await runIp(['link', 'set', 'dev', name, 'mtu', String(mtu), 'up'], opts);
}

/** `ip addr replace ADDR/LEN dev NAME` (idempotent). */
export async function addAddress(name: string, cidr: string, opts?: IpOptions): Promise<void> {
  checkName(name);
  checkPrefix(cidr);
  await runIp(['addr', 'replace', cidr, 'dev', name], opts);
}

export interface RouteOptions extends IpOptions {
  table?: number | string;
  src?: string;
  metric?: number;
  /** Route MTU (`mtu lock N`), e.g. the tunnel's inner MTU. */
  mtu?: number;
}

function routeTail(dev: string, opts: RouteOptions): string[] {
  const args = ['dev', dev];
  if (opts.table !== undefined) args.push('table', String(opts.table));
  if (opts.src !== undefined) args.push('src', opts.src);
  if (opts.metric !== undefined) args.push('metric', String(opts.metric));
  if (opts.mtu !== undefined) args.push('mtu', 'lock', String(opts.mtu));
  return args;
}

/** `ip route replace PREFIX dev DEV [table T] [src S] [metric M] [mtu lock N]` */
export async function routeReplace(prefix: string, dev: string, opts: RouteOptions = {}): Promise<void> {
  checkPrefix(prefix);
  checkName(dev);
  await runIp(['route', 'replace', prefix, ...routeTail(dev, opts)], opts);
}

/** `ip route del PREFIX dev DEV [table T]`; a missing route is not an error. */
export async function routeDel(prefix: string, dev: string, opts: RouteOptions = {}): Promise<void> {
  checkPrefix(prefix);
  checkName(dev);
  try {
    await runIp(['route', 'del', prefix, 'dev', dev, ...(opts.table !== undefined ? ['table', String(opts.table)] : [])], opts);
  } catch (err) {
    if (err instanceof IpCommandError && /No such process|Cannot find device/.test(err.stderr)) return;
    throw err;
  }
}

/**
 * `ip [-n NS] -force -batch -`: many commands (one per line, without the
 * leading "ip") in one process, e.g. thousands of BGP routes. -force keeps
 * going past a failing line; resolves with the stderr text of the failures
 * (empty when all succeeded).
 */
export function runIpBatch(lines: readonly string[], opts: IpOptions = {}): Promise<string> {
  for (const l of lines) if (/[\n\r]/.test(l)) throw new RangeError('ip batch line contains a newline');
  const fullArgs = [...(opts.netns ? ['-n', opts.netns] : []), '-force', '-batch', '-'];
  return new Promise((resolve, reject) => {
    const child = execFile(opts.ipPath ?? 'ip', fullArgs, { timeout: opts.timeoutMs ?? 60_000, maxBuffer: 16 * 1024 * 1024 }, (err, _stdout, stderr) => {
      if (err && typeof err.code !== 'number') {
        reject(new IpCommandError(fullArgs, null, `${stderr} ${err.message}`));
        return;
      }
      resolve(stderr);
    });
    child.stdin?.on('error', () => undefined); // ip exited early: reported through the callback
    child.stdin?.end(lines.length ? `${lines.join('\n')}\n` : '');
  });
}
