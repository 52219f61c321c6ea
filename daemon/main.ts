/**
 * vgwd: the gateway daemon.
 *
 *   vgwd --config FILE [--instance NAME] [--log-level LEVEL] [--socket PATH]
 *
 * Exit status: 0 after a clean stop (SIGTERM/SIGINT), 1 if the gateway fails
 * to start, 2 for usage or configuration errors, 70 on an internal fault.
 */
import { realpathSync } from 'node:fs';
import { pathToFileURL } from 'node:url';
import { parseArgs } from 'node:util';
import { ConfigError, loadConfig, type LogLevel } from './config.js';
import { ControlServer } from './control.js';
import { controlHandlers } from './control-handlers.js';
import { Gateway } from './gateway.js';
import { HaConfigError } from './config-ha.js';
import { createLogger, type Logger } from './log.js';

const LOG_LEVELS: readonly LogLevel[] = ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'];
/** stop() sends DELETEs and waits for answers; don't let a dead peer hold up shutdown forever. */
const STOP_TIMEOUT_MS = 10_000;

const USAGE = `usage: vgwd --config FILE [--instance NAME] [--log-level LEVEL] [--socket PATH]

  -c, --config FILE      gateway configuration (YAML, Azure vocabulary)
      --instance NAME    instance name of an active-active/HA pair (shown in logs and status)
      --log-level LEVEL  ${LOG_LEVELS.join(' | ')} (overrides runtime.logLevel)
      --socket PATH      control socket (overrides runtime.controlSocket)
  -h, --help             show this help
`;

export class UsageError extends Error {
  override readonly name = 'UsageError';
}

export interface DaemonOptions {
  configPath: string;
  instance?: string;
  logLevel?: LogLevel;
  socket?: string;
  help: boolean;
}

export function parseDaemonArgs(args: readonly string[]): DaemonOptions {
  let values;
  try {
    ({ values } = parseArgs({
      args: [...args],
      strict: true,
      allowPositionals: false,
      options: {
        config: { type: 'string', short: 'c' },
        instance: { type: 'string' },
        'log-level': { type: 'string' },
        socket: { type: 'string' },
        help: { type: 'boolean', short: 'h' },
      },
    }));
  } catch (err) {
    throw new UsageError((err as Error).message);
  }
  if (values.help) return { configPath: '', help: true };
  if (!values.config) throw new UsageError('--config FILE is required');
  const level = values['log-level'];
  if (level !== undefined && !(LOG_LEVELS as readonly string[]).includes(level)) {
    throw new UsageError(`--log-level "${level}" is not one of ${LOG_LEVELS.join(', ')}`);
  }
  if (values.instance !== undefined && !/^[A-Za-z0-9_.-]{1,64}$/.test(values.instance)) {
    throw new UsageError('--instance must be 1..64 letters, digits, "_", "." or "-"');
  }
  return {
    configPath: values.config,
    instance: values.instance,
    logLevel: level as LogLevel | undefined,
    socket: values.socket,
    help: false,
  };
}

function withTimeout<T>(p: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`${what} did not finish within ${ms} ms`)), ms);
  });
  return Promise.race([p, timeout]).finally(() => clearTimeout(timer));
}

/** Runs the daemon until a signal stops it. Never returns normally: it exits the process. */
export async function runDaemon(argv: readonly string[] = process.argv): Promise<void> {
  let opts: DaemonOptions;
  try {
    opts = parseDaemonArgs(argv.slice(2));
  } catch (err) {
    process.stderr.write(`vgwd: ${(err as Error).message}\n${USAGE}`);
    process.exit(2);
  }
  if (opts.help) {
    process.stdout.write(USAGE);
    process.exit(0);
  }

  let config;
  try {
    config = loadConfig(opts.configPath);
  } catch (err) {
    if (err instanceof ConfigError) {
      process.stderr.write(`${err.message}\n`);
      process.exit(2);
    }
    throw err;
  }

  const root = createLogger({
    level: opts.logLevel ?? config.runtime.logLevel,
    name: config.gateway.name,
    secrets: config.connections.map((c) => c.sharedKey),
  });
  const log: Logger = opts.instance !== undefined ? root.child({ instance: opts.instance }) : root;

  process.on('unhandledRejection', (reason) => {
    log.error({ err: reason }, 'unhandled promise rejection');
  });
  process.on('uncaughtException', (err) => {
    log.fatal({ err }, 'uncaught exception; exiting');
    process.stderr.write(`vgwd: uncaught exception: ${err.stack ?? String(err)}\n`);
    process.exit(70);
  });

  let gw: Gateway;
  try {
    gw = new Gateway(config, log, opts.instance);
  } catch (err) {
    if (err instanceof HaConfigError) {
      process.stderr.write(`vgwd: ${err.message}\n`);
      process.exit(2);
    }
    throw err;
  }
  const socketPath = opts.socket ?? config.runtime.controlSocket;
  const control = new ControlServer(socketPath, controlHandlers(gw, config, opts.instance), log.child({ subsys: 'control' }));

  let stopping = false;
  const shutdown = async (reason: string, code: number): Promise<never> => {
    stopping = true;
    log.info({ reason }, 'stopping gateway');
    try {
      await withTimeout(gw.stop(), STOP_TIMEOUT_MS, 'gateway stop');
    } catch (err) {
      log.error({ err }, 'gateway stop failed');
      code = code || 1;
    }
    await control.close().catch((err: unknown) => log.error({ err }, 'closing control socket failed'));
    log.info({ code }, 'vgwd exiting');
    process.exit(code);
  };
  const onSignal = (signal: NodeJS.Signals) => {
    if (stopping) {
      log.warn({ signal }, 'second signal: exiting immediately');
      process.exit(1);
    }
    void shutdown(signal, 0);
  };
  process.on('SIGTERM', onSignal);
  process.on('SIGINT', onSignal);
  process.on('SIGHUP', () => {
    try {
      log.info({ result: gw.reload() }, 'SIGHUP: configuration reloaded');
    } catch (err) {
      log.error({ err }, 'SIGHUP: reload failed, configuration unchanged');
    }
  });

  log.info({ config: config.source }, 'vgwd starting');
  // Control socket first: if another vgwd owns it we must not touch the TUN device or ports.
  try {
    await control.start();
  } catch (err) {
    log.fatal({ err, socket: socketPath }, 'cannot open control socket');
    process.exit(1);
  }
  try {
    await gw.start();
  } catch (err) {
    log.fatal({ err }, 'gateway failed to start');
    await shutdown('start failed', 1);
  }
}

function isMainModule(): boolean {
  const script = process.argv[1];
  if (!script) return false;
  try {
    return import.meta.url === pathToFileURL(realpathSync(script)).href;
  } catch {
    return false;
  }
}

if (isMainModule()) await runDaemon(process.argv);
