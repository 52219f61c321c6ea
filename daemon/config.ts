/**
 * Gateway configuration: YAML in Azure's vocabulary → validated, defaulted,
 * deep-frozen GatewayConfig. Every problem is collected and reported at once,
 * each with its field path, so one `vgw config check` run shows them all.
 */
import { readFileSync, statSync } from 'node:fs';
import YAML from 'yaml';
import type { z } from 'zod';
import { crossCheck, type ConfigProblem } from './config-checks.js';
import { configErrorMap, configSchema, type ParsedConfig } from './config-schema.js';
import type { GatewayConfig } from './config-types.js';

export type * from './config-types.js';
export type { ConfigProblem } from './config-checks.js';
export {
  ikeProposalsFor, espProposalsFor, saLifetimesFor, DEFAULT_IKE_PROPOSALS, DEFAULT_ESP_PROPOSALS,
  IKE_SA_LIFETIME_SECONDS, DEFAULT_SA_LIFETIME_SECONDS, DEFAULT_SA_DATA_SIZE_KILOBYTES,
  type IkeProposalSpec, type EspProposalSpec, type SaLifetimes,
} from './config-policy.js';
export { ipv4Prefix, parseIpv4, parseIpv4Cidr, formatIpv4, type Ipv4Prefix } from './config-ipv4.js';

/** Config files are small; anything bigger is a mistake (or an attack on the YAML parser). */
const MAX_CONFIG_BYTES = 1024 * 1024;
export const DEFAULT_CONTROL_SOCKET_DIR = '/run/vgw';

export class ConfigError extends Error {
  override readonly name = 'ConfigError';
  constructor(readonly source: string, readonly problems: readonly ConfigProblem[]) {
    super(formatProblems(source, problems));
  }
}

function formatProblems(source: string, problems: readonly ConfigProblem[]): string {
  const count = problems.length === 1 ? '1 problem' : `${problems.length} problems`;
  const lines = problems.map((p) => `  ${p.path ? `${p.path}: ` : ''}${p.message}`);
  return `${source}: ${count}\n${lines.join('\n')}`;
}

function formatPath(path: readonly PropertyKey[]): string {
  let out = '';
  for (const seg of path) {
    if (typeof seg === 'number') out += `[${seg}]`;
    else out += out ? `.${String(seg)}` : String(seg);
  }
  return out;
}

function issuesToProblems(issues: readonly z.core.$ZodIssue[]): ConfigProblem[] {
  const problems: ConfigProblem[] = [];
  for (const iss of issues) {
    if (iss.code === 'unrecognized_keys') {
      for (const key of iss.keys) problems.push({ path: formatPath([...iss.path, key]), message: iss.message });
    } else {
      problems.push({ path: formatPath(iss.path), message: iss.message });
    }
  }
  return problems;
}

function deepFreeze<T>(value: T): T {
  if (typeof value === 'object' && value !== null && !Object.isFrozen(value)) {
    Object.freeze(value);
    for (const v of Object.values(value)) deepFreeze(v);
  }
  return value;
}

function toGatewayConfig(parsed: ParsedConfig, source: string): GatewayConfig {
  const { gateway, localNetworkGateways, connections, runtime } = parsed;
  return {
    source,
    gateway,
    localNetworkGateways,
    connections,
    runtime: {
      tunName: runtime.tunName,
      controlSocket: runtime.controlSocket ?? `${DEFAULT_CONTROL_SOCKET_DIR}/${gateway.name}.sock`,
      logLevel: runtime.logLevel,
      mtu: runtime.mtu,
    },
  };
}

/** Parses and validates YAML text. Throws ConfigError listing every problem. */
export function parseConfig(text: string, source = '<config>'): GatewayConfig {
  const doc = YAML.parseDocument(text, { uniqueKeys: true, prettyErrors: true });
  if (doc.errors.length > 0) {
    throw new ConfigError(source, doc.errors.map((e) => {
      const at = e.linePos?.[0];
      // prettyErrors appends " at line L, column C:" and a source excerpt; keep the sentence only.
      const sentence = (e.message.split('\n')[0] ?? e.message).replace(/ at line \d+, column \d+:?$/, '');
      return { path: at ? `line ${at.line}, column ${at.col}` : '', message: `YAML: ${sentence}` };
    }));
  }
  let raw: unknown;
  try {
    raw = doc.toJS({ maxAliasCount: 100 });
  } catch (err) {
    throw new ConfigError(source, [{ path: '', message: `YAML: ${(err as Error).message}` }]);
  }
  if (raw === null || raw === undefined) {
    throw new ConfigError(source, [{ path: '', message: 'the file is empty; expected gateway, localNetworkGateways, connections and runtime' }]);
  }

  const result = configSchema.safeParse(raw, { error: configErrorMap });
  const problems = result.success ? [] : issuesToProblems(result.error.issues);
  problems.push(...crossCheck(raw));
  if (problems.length > 0 || !result.success) throw new ConfigError(source, problems);
  return deepFreeze(toGatewayConfig(result.data, source));
}

/** Reads and validates a config file. File-system errors are ConfigErrors too. */
export function loadConfig(path: string): GatewayConfig {
  let text: string;
  try {
    const size = statSync(path).size;
    if (size > MAX_CONFIG_BYTES) {
      throw new ConfigError(path, [{ path: '', message: `file is ${size} bytes; a config larger than ${MAX_CONFIG_BYTES} bytes is refused` }]);
    }
    text = readFileSync(path, 'utf8');
  } catch (err) {
    if (err instanceof ConfigError) throw err;
    const e = err as NodeJS.ErrnoException;
    const why = e.code === 'ENOENT' ? 'no such file' : e.code === 'EACCES' ? 'permission denied' : e.message;
    throw new ConfigError(path, [{ path: '', message: `cannot read config: ${why}` }]);
  }
  return parseConfig(text, path);
}

/** The LocalNetworkGateway a connection refers to (always present in a validated config). */
export function localNetworkGatewayOf(config: GatewayConfig, connectionName: string) {
  const conn = config.connections.find((c) => c.name === connectionName);
  if (!conn) throw new RangeError(`no connection named "${connectionName}"`);
  const lng = config.localNetworkGateways.find((l) => l.name === conn.localNetworkGateway);
  if (!lng) throw new RangeError(`connection "${connectionName}" refers to unknown local network gateway "${conn.localNetworkGateway}"`);
  return lng;
}
