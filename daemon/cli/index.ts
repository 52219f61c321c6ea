/**
 * `vgw`: the operator's command line. Talks to vgwd over its control socket
 * (status, initiate, terminate, reset, rekey) and validates config files
 * offline (config check / config show).
 */
import { realpathSync } from 'node:fs';
import { pathToFileURL } from 'node:url';
import { Command, CommanderError } from 'commander';
import YAML from 'yaml';
import { ConfigError, loadConfig } from '../config.js';
import { controlRequest, ControlRequestError } from '../control.js';
import { parseGatewayStatus, StatusFormatError } from '../status.js';
import { registerPkiCommands } from './pki.js';
import { registerRoutesCommand } from './routes.js';
import { registerBgpCommands } from './bgp.js';
import { registerClientCommands } from './client.js';
import { renderStatus } from './render.js';
import { DEFAULT_RUN_DIR, resolveSocketPath, SocketChoiceError } from './socket.js';

export { renderStatus, formatBytes, formatDuration } from './render.js';
export { resolveSocketPath } from './socket.js';

export interface CliIo {
  out: (text: string) => void;
  err: (text: string) => void;
  env: NodeJS.ProcessEnv;
  /** Where running daemons put their sockets (tests point this elsewhere). */
  runDir: string;
}

/** A failure already explained to the user; carries the exit status. */
export class CliError extends Error {
  override readonly name = 'CliError';
  constructor(message: string, readonly exitCode = 1) {
    super(message);
  }
}

interface GlobalOptions { socket?: string; config?: string }

function socketOf(cmd: Command, io: CliIo): string {
  const opts = cmd.optsWithGlobals<GlobalOptions>();
  return resolveSocketPath({ socket: opts.socket, config: opts.config }, io.env, io.runDir);
}

function connectionAction(io: CliIo, method: string, describe: (name: string) => string) {
  return async (name: string, _opts: unknown, cmd: Command) => {
    await controlRequest(socketOf(cmd, io), method, { connection: name });
    io.out(`${describe(name)}\n`);
  };
}

export function buildProgram(partialIo: Partial<CliIo> = {}): Command {
  const io: CliIo = {
    out: (t) => process.stdout.write(t),
    err: (t) => process.stderr.write(t),
    env: process.env,
    runDir: DEFAULT_RUN_DIR,
    ...partialIo,
  };
  const program = new Command('vgw')
    .description('control a vnet-gateway daemon (vgwd) and check its configuration')
    .option('-s, --socket <path>', `control socket (default: $VGW_SOCKET, the only *.sock in ${io.runDir}, or ${io.runDir}/vgw.sock)`)
    .option('-c, --config <file>', "use the control socket named in this gateway config")
    .showHelpAfterError()
    .configureOutput({ writeOut: io.out, writeErr: io.err })
    .exitOverride();

  program.command('status')
    .description('show IKE and child SAs of every connection (or one)')
    .argument('[connection]', 'only this connection')
    .option('--json', 'print the status document (GatewayStatus JSON)')
    .action(async (name: string | undefined, opts: { json?: boolean }, cmd: Command) => {
      const status = parseGatewayStatus(await controlRequest(socketOf(cmd, io), 'status'));
      if (name !== undefined) {
        const known = status.connections.map((c) => c.name);
        if (!known.includes(name)) throw new CliError(`no connection named "${name}" (known: ${known.join(', ') || 'none'})`);
        status.connections = status.connections.filter((c) => c.name === name);
      }
      io.out(opts.json ? `${JSON.stringify(status, null, 2)}\n` : renderStatus(status));
    });

  program.command('initiate')
    .description('bring a connection up now (IKE_SA_INIT + IKE_AUTH)')
    .argument('<connection>')
    .action(connectionAction(io, 'initiate', (n) => `${n}: initiating`));

  program.command('terminate')
    .description('delete the IKE SA and child SAs of a connection')
    .argument('<connection>')
    .action(connectionAction(io, 'terminate', (n) => `${n}: terminated`));

  program.command('reset')
    .description('terminate a connection and bring it up again (Azure "reset connection")')
    .argument('<connection>')
    .action(connectionAction(io, 'reset', (n) => `${n}: reset`));

  program.command('rekey')
    .description('rekey the child SA (or with --ike the IKE SA) of a connection')
    .argument('<connection>')
    .option('--ike', 'rekey the IKE SA instead of the child SA')
    .action(async (name: string, opts: { ike?: boolean }, cmd: Command) => {
      const what = opts.ike ? 'ike' : 'child';
      await controlRequest(socketOf(cmd, io), 'rekey', { connection: name, what });
      io.out(`${name}: ${what === 'ike' ? 'IKE SA' : 'child SA'} rekey started\n`);
    });

  program.command('failover')
    .description('planned switchover of an HA pair: run on the active instance; the standby takes over')
    .action(async (_opts: unknown, cmd: Command) => {
      const r = (await controlRequest(socketOf(cmd, io), 'failover', {}, 10_000)) as { takeoverMs?: number; incomplete?: string[] } | null;
      const ms = typeof r?.takeoverMs === 'number' ? ` in ${r.takeoverMs} ms` : '';
      io.out(`handed over to the partner instance${ms}${r?.incomplete?.length ? ` (${r.incomplete.join('; ')})` : ''}\n`);
    });

  const config = program.command('config').description('work with gateway config files (offline)');
  config.command('check')
    .description('parse and validate a config; exit status 1 if it has problems')
    .argument('<file>')
    .action((file: string) => {
      const cfg = loadConfig(file);
      const n = (count: number, word: string) => `${count} ${word}${count === 1 ? '' : 's'}`;
      io.out(`OK: ${file} (gateway ${cfg.gateway.name}, ${n(cfg.localNetworkGateways.length, 'local network gateway')}, ` +
        `${n(cfg.connections.length, 'connection')})\n`);
    });
  config.command('show')
    .description('print the config with defaults applied (shared keys hidden)')
    .argument('<file>')
    .action((file: string) => {
      const cfg = loadConfig(file);
      const shown = {
        gateway: cfg.gateway,
        localNetworkGateways: cfg.localNetworkGateways,
        connections: cfg.connections.map((c) => ({ ...c, sharedKey: '(hidden)' })),
        runtime: cfg.runtime,
      };
      io.out(YAML.stringify(shown));
    });

  registerPkiCommands(program);
  registerRoutesCommand(program, io.out, (cmd) => socketOf(cmd, io));
  registerBgpCommands(program, io.out, (cmd) => socketOf(cmd, io));
  registerClientCommands(program);
  return program;
}

/** Runs the CLI; returns the exit status instead of exiting so it can be tested. */
export async function runCli(argv: readonly string[] = process.argv, partialIo: Partial<CliIo> = {}): Promise<number> {
  const err = partialIo.err ?? ((t: string) => process.stderr.write(t));
  const program = buildProgram({ ...partialIo, err });
  try {
    await program.parseAsync([...argv]);
    return 0;
  } catch (e) {
    if (e instanceof CommanderError) return e.exitCode; // commander already printed help or the usage error
    if (e instanceof ConfigError) {
      err(`${e.message}\n`);
      return 1;
    }
    if (e instanceof CliError || e instanceof ControlRequestError || e instanceof StatusFormatError || e instanceof SocketChoiceError) {
      err(`vgw: ${e.message}\n`);
      return e instanceof CliError ? e.exitCode : 1;
    }
    err(`vgw: unexpected error: ${e instanceof Error ? (e.stack ?? e.message) : String(e)}\n`);
    return 70; // EX_SOFTWARE
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

if (isMainModule()) {
  process.exitCode = await runCli(process.argv);
}
