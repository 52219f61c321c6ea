/**
 * Running commands inside a network namespace (`ip netns exec NS cmd ...`) with
 * argument arrays only (no shell interpolation), and stopping processes strictly by
 * PID. `ip netns exec` execs the command after setns(), so the PID of the spawned
 * child IS the PID of the command.
 */
import { execFile, spawn as spawnChild } from 'node:child_process';
import { createWriteStream, readFileSync, readlinkSync, type WriteStream } from 'node:fs';

export interface ExecResult {
  /** Exit code; null when the process was killed by a signal (e.g. on timeout). */
  readonly code: number | null;
  readonly stdout: string;
  readonly stderr: string;
  readonly timedOut: boolean;
}

export interface ExecOptions {
  /** Hard limit; the process gets SIGKILL after it. Default 15 s. */
  readonly timeoutMs?: number;
  /** Extra environment variables (merged over process.env). */
  readonly env?: Readonly<Record<string, string>>;
  readonly cwd?: string;
}

const DEFAULT_EXEC_TIMEOUT_MS = 15_000;
const MAX_EXEC_BUFFER = 32 * 1024 * 1024;

/** Run a command to completion (in the root namespace). Never throws for a non-zero exit. */
export function run(cmd: string, args: readonly string[], opts: ExecOptions = {}): Promise<ExecResult> {
  const timeout = opts.timeoutMs ?? DEFAULT_EXEC_TIMEOUT_MS;
  return new Promise((resolve) => {
    execFile(
      cmd,
      [...args],
      {
        timeout,
        killSignal: 'SIGKILL',
        maxBuffer: MAX_EXEC_BUFFER,
        encoding: 'utf8',
        env: opts.env ? { ...process.env, ...opts.env } : process.env,
        cwd: opts.cwd,
      },
      (error, stdout, stderr) => {
        if (error === null) {
          resolve({ code: 0, stdout, stderr, timedOut: false });
          return;
        }
        const err = error as NodeJS.ErrnoException & { killed?: boolean; signal?: NodeJS.Signals | null };
        // For spawn failures (ENOENT) `code` is a string; report it as a failed command.
        const code = typeof err.code === 'number' ? err.code : err.signal ? null : 127;
        const spawnError = typeof err.code === 'string' ? `${cmd}: ${err.message}\n` : '';
        resolve({ code, stdout, stderr: stderr + spawnError, timedOut: err.killed === true && err.signal === 'SIGKILL' });
      },
    );
  });
}

/** Run a command inside namespace `ns`. Never throws for a non-zero exit. */
export function execIn(ns: string, cmd: string, args: readonly string[], opts: ExecOptions = {}): Promise<ExecResult> {
  return run('ip', ['netns', 'exec', ns, cmd, ...args], opts);
}

/** Error for a command that had to succeed. */
export class CommandFailedError extends Error {
  constructor(
    readonly command: readonly string[],
    readonly result: ExecResult,
  ) {
    super(
      `command failed (code ${String(result.code)}${result.timedOut ? ', timed out' : ''}): ${command.join(' ')}\n` +
        result.stderr.trim(),
    );
    this.name = 'CommandFailedError';
  }
}

/** Run a command and throw CommandFailedError on a non-zero exit. */
export async function mustRun(cmd: string, args: readonly string[], opts: ExecOptions = {}): Promise<ExecResult> {
  const result = await run(cmd, args, opts);
  if (result.code !== 0) throw new CommandFailedError([cmd, ...args], result);
  return result;
}

export interface SpawnOptions {
  /** Extra environment variables (merged over process.env unless clearEnv). */
  readonly env?: Readonly<Record<string, string>>;
  /** Start from an empty environment (plus PATH) instead of process.env. */
  readonly clearEnv?: boolean;
  readonly cwd?: string;
  /** Append stdout and stderr of the process to this file. */
  readonly logFile?: string;
}

export interface ExitStatus {
  readonly code: number | null;
  readonly signal: NodeJS.Signals | null;
}

export interface ProcessHandle {
  readonly pid: number;
  readonly ns: string;
  readonly command: readonly string[];
  /** Send a signal if the process has not exited yet; returns whether it was sent. */
  kill(signal?: NodeJS.Signals): boolean;
  /** Resolves when the process has exited (never rejects). */
  readonly exited: Promise<ExitStatus>;
  /** True once `exited` has resolved. */
  hasExited(): boolean;
  /** Combined stdout+stderr captured so far (the last 1 MiB). */
  output(): string;
  /** SIGTERM, then SIGKILL after graceMs if still alive; resolves when gone. */
  stop(graceMs?: number): Promise<ExitStatus>;
}

const MAX_CAPTURED_OUTPUT = 1024 * 1024;
const SYSTEM_PATH = '/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin';

/** Error raised when a process cannot be started at all. */
export class SpawnFailedError extends Error {
  constructor(
    readonly command: readonly string[],
    cause: unknown,
  ) {
    super(`cannot start ${command.join(' ')}: ${cause instanceof Error ? cause.message : String(cause)}`);
    this.name = 'SpawnFailedError';
  }
}

/** Start a long-running command inside namespace `ns`. */
export function spawnIn(ns: string, cmd: string, args: readonly string[], opts: SpawnOptions = {}): ProcessHandle {
  const baseEnv: NodeJS.ProcessEnv = opts.clearEnv ? { PATH: SYSTEM_PATH } : { ...process.env };
  const child = spawnChild('ip', ['netns', 'exec', ns, cmd, ...args], {
    env: { ...baseEnv, ...opts.env },
    cwd: opts.cwd,
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const command = [cmd, ...args];
  if (child.pid === undefined) {
    // Spawn of `ip` itself failed synchronously (e.g. ENOENT); the error event follows.
    child.on('error', () => undefined);
    throw new SpawnFailedError(command, 'no pid (is iproute2 installed?)');
  }
  const pid = child.pid;

  let captured = '';
  let log: WriteStream | undefined;
  if (opts.logFile !== undefined) {
    log = createWriteStream(opts.logFile, { flags: 'a' });
    log.on('error', () => undefined); // a broken log file must not crash the test run
  }
  const onData = (chunk: Buffer): void => {
    captured += chunk.toString('utf8');
    if (captured.length > MAX_CAPTURED_OUTPUT) captured = captured.slice(-MAX_CAPTURED_OUTPUT);
    log?.write(chunk);
  };
  child.stdout.on('data', onData);
  child.stderr.on('data', onData);

  let done = false;
  const exited = new Promise<ExitStatus>((resolve) => {
    child.on('error', (err) => {
      onData(Buffer.from(`spawn error: ${err.message}\n`));
    });
    child.on('close', (code, signal) => {
      done = true;
      log?.end();
      resolve({ code, signal });
    });
  });

  const handle: ProcessHandle = {
    pid,
    ns,
    command,
    exited,
    hasExited: () => done,
    output: () => captured,
    kill(signal: NodeJS.Signals = 'SIGTERM'): boolean {
      if (done) return false;
      try {
        process.kill(pid, signal);
        return true;
      } catch {
        return false;
      }
    },
    async stop(graceMs = 3000): Promise<ExitStatus> {
      if (done) return exited;
      handle.kill('SIGTERM');
      if (!(await settlesWithin(exited, graceMs))) {
        handle.kill('SIGKILL');
        await settlesWithin(exited, 2000);
      }
      return exited;
    },
  };
  return handle;
}

/** Resolves true if `p` settles within `ms`, false otherwise. */
export async function settlesWithin(p: Promise<unknown>, ms: number): Promise<boolean> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<false>((resolve) => {
    timer = setTimeout(() => resolve(false), ms);
  });
  try {
    return await Promise.race([p.then(() => true as const), timeout]);
  } finally {
    clearTimeout(timer);
  }
}

export function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    // EPERM means it exists but belongs to someone else.
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/** The executable behind a PID (readlink /proc/PID/exe), or undefined. */
export function exeOf(pid: number): string | undefined {
  try {
    return readlinkSync(`/proc/${pid}/exe`);
  } catch {
    return undefined;
  }
}

/**
 * Stop a PID that is not our direct child (so we cannot await its exit): SIGTERM,
 * poll, then SIGKILL after graceMs. Returns true when the PID is gone.
 */
export async function killPid(pid: number, graceMs = 3000): Promise<boolean> {
  if (!isAlive(pid)) return true;
  try {
    process.kill(pid, 'SIGTERM');
  } catch {
    return !isAlive(pid);
  }
  const deadline = Date.now() + graceMs;
  while (Date.now() < deadline) {
    if (!isAlive(pid) || isZombie(pid)) return true;
    await sleep(50);
  }
  try {
    process.kill(pid, 'SIGKILL');
  } catch {
    /* already gone */
  }
  const hardDeadline = Date.now() + 2000;
  while (Date.now() < hardDeadline) {
    if (!isAlive(pid) || isZombie(pid)) return true;
    await sleep(50);
  }
  return false;
}

/** A zombie has exited but not been reaped (e.g. our child before 'close' fires). */
function isZombie(pid: number): boolean {
  const stat = readFileSyncSafe(`/proc/${pid}/stat`);
  if (stat === undefined) return false;
  // Field 3 (state) follows the ")" that closes the command name.
  const close = stat.lastIndexOf(')');
  return stat.slice(close + 2, close + 3) === 'Z';
}

function readFileSyncSafe(path: string): string | undefined {
  try {
    return readFileSync(path, 'utf8');
  } catch {
    return undefined;
  }
}

export function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}
