/**
 * Prerequisite checks for tests that need root, network namespaces or third-party
 * daemons (strongSwan, BIRD, FRR, iperf3).
 *
 * All checks are synchronous and side-effect free (file/capability probes only), so
 * they can be evaluated while vitest collects tests:
 *
 *   describe.skipIf(requireOrSkip(canRunNetns))(
 *     'tunnel (skipped: ' + canRunNetns.reason + ')', () => { ... });
 *
 * Outside CI a missing prerequisite skips; with CI=true it throws, so a broken CI
 * image fails loudly instead of silently reporting green.
 */
import { accessSync, constants, readFileSync, statSync } from 'node:fs';
import { delimiter, join } from 'node:path';

export interface Prerequisite {
  /** Short name used in messages, e.g. "netns". */
  readonly name: string;
  readonly ok: boolean;
  /** Why it is missing (empty when ok), suitable for a skip label. */
  readonly reason: string;
}

export const CHARON_PATH = '/usr/lib/ipsec/charon';
export const LIBIPSEC_PLUGIN = '/usr/lib/ipsec/plugins/libstrongswan-kernel-libipsec.so';
export const FRR_BGPD_PATH = '/usr/lib/frr/bgpd';

const SYSTEM_DIRS = ['/usr/local/sbin', '/usr/local/bin', '/usr/sbin', '/usr/bin', '/sbin', '/bin'];

/** Absolute path of an executable found on PATH or in the usual system dirs, or undefined. */
export function findExecutable(name: string): string | undefined {
  const dirs = [...(process.env.PATH ?? '').split(delimiter).filter((d) => d !== ''), ...SYSTEM_DIRS];
  for (const dir of dirs) {
    const candidate = join(dir, name);
    if (isExecutableFile(candidate)) return candidate;
  }
  return undefined;
}

function isExecutableFile(path: string): boolean {
  try {
    if (!statSync(path).isFile()) return false;
    accessSync(path, constants.X_OK);
    return true;
  } catch {
    return false;
  }
}

function isReadableFile(path: string): boolean {
  try {
    return statSync(path).isFile();
  } catch {
    return false;
  }
}

// Linux capability bit numbers (linux/capability.h).
const CAP_NET_ADMIN = 12;
const CAP_SYS_ADMIN = 21;

/** Effective capability mask of this process, or undefined when /proc is unavailable. */
function effectiveCapabilities(): bigint | undefined {
  try {
    const status = readFileSync('/proc/self/status', 'utf8');
    const match = /^CapEff:\s*([0-9a-f]+)$/m.exec(status);
    return match?.[1] !== undefined ? BigInt('0x' + match[1]) : undefined;
  } catch {
    return undefined;
  }
}

function hasCapability(mask: bigint, bit: number): boolean {
  return (mask & (1n << BigInt(bit))) !== 0n;
}

function prerequisite(name: string, problems: string[]): Prerequisite {
  return { name, ok: problems.length === 0, reason: problems.join('; ') };
}

function checkNetns(): Prerequisite {
  const problems: string[] = [];
  if (process.platform !== 'linux') problems.push(`platform is ${process.platform}, not linux`);
  if (typeof process.getuid !== 'function' || process.getuid() !== 0) problems.push('not running as root');
  const caps = effectiveCapabilities();
  if (caps === undefined) problems.push('cannot read capabilities from /proc/self/status');
  else {
    // `ip netns add` needs CAP_SYS_ADMIN (mount/unshare), links/addresses need CAP_NET_ADMIN.
    if (!hasCapability(caps, CAP_NET_ADMIN)) problems.push('missing CAP_NET_ADMIN');
    if (!hasCapability(caps, CAP_SYS_ADMIN)) problems.push('missing CAP_SYS_ADMIN');
  }
  if (findExecutable('ip') === undefined) problems.push("'ip' (iproute2) not found");
  if (findExecutable('ping') === undefined) problems.push("'ping' (iputils-ping) not found");
  if (findExecutable('sysctl') === undefined) problems.push("'sysctl' (procps) not found");
  try {
    if (!statSync('/dev/net/tun').isCharacterDevice()) problems.push('/dev/net/tun is not a character device');
  } catch {
    problems.push('/dev/net/tun missing');
  }
  return prerequisite('netns', problems);
}

function checkStrongSwan(): Prerequisite {
  const problems: string[] = [];
  if (!isExecutableFile(CHARON_PATH)) problems.push(`${CHARON_PATH} missing (apt: strongswan-charon)`);
  if (!isReadableFile(LIBIPSEC_PLUGIN)) problems.push(`${LIBIPSEC_PLUGIN} missing (apt: libcharon-extra-plugins)`);
  if (findExecutable('swanctl') === undefined) problems.push("'swanctl' missing (apt: strongswan-swanctl)");
  return prerequisite('strongswan', problems);
}

function checkBinary(name: string, binary: string, aptPackage: string): Prerequisite {
  return prerequisite(name, findExecutable(binary) === undefined ? [`'${binary}' missing (apt: ${aptPackage})`] : []);
}

function checkFrr(): Prerequisite {
  const problems: string[] = [];
  if (!isExecutableFile(FRR_BGPD_PATH)) problems.push(`${FRR_BGPD_PATH} missing (apt: frr)`);
  if (findExecutable('vtysh') === undefined) problems.push("'vtysh' missing (apt: frr)");
  return prerequisite('frr', problems);
}

/** Root + CAP_NET_ADMIN/CAP_SYS_ADMIN, iproute2, ping, sysctl and /dev/net/tun. */
export const canRunNetns: Prerequisite = checkNetns();
/** charon + kernel-libipsec plugin + swanctl. */
export const hasStrongSwan: Prerequisite = checkStrongSwan();
/** BIRD 2 (bird + birdc). */
export const hasBird: Prerequisite = prerequisite('bird', [
  ...(findExecutable('bird') === undefined ? ["'bird' missing (apt: bird2)"] : []),
  ...(findExecutable('birdc') === undefined ? ["'birdc' missing (apt: bird2)"] : []),
]);
/** FRR bgpd + vtysh. */
export const hasFrr: Prerequisite = checkFrr();
/** iperf3 client/server. */
export const hasIperf3: Prerequisite = checkBinary('iperf3', 'iperf3', 'iperf3');

/** All of the given prerequisites as one (reasons joined). */
export function allOf(...checks: Prerequisite[]): Prerequisite {
  const missing = checks.filter((c) => !c.ok);
  return {
    name: checks.map((c) => c.name).join('+'),
    ok: missing.length === 0,
    reason: missing.map((c) => `${c.name}: ${c.reason}`).join('; '),
  };
}

/** Error thrown in CI when a test prerequisite is missing. */
export class MissingPrerequisiteError extends Error {
  constructor(readonly check: Prerequisite) {
    super(`CI=true but test prerequisite '${check.name}' is missing: ${check.reason}`);
    this.name = 'MissingPrerequisiteError';
  }
}

/**
 * Returns true when the tests guarded by `checks` should be skipped (use with
 * describe.skipIf / it.skipIf). In CI (CI=true) a missing prerequisite throws
 * MissingPrerequisiteError instead, which fails the test file.
 */
export function requireOrSkip(...checks: Prerequisite[]): boolean {
  const combined = allOf(...checks);
  if (combined.ok) return false;
  if (process.env.CI === 'true') throw new MissingPrerequisiteError(combined);
  return true;
}

/** " (skipped: reason)" when the checks fail, "" otherwise: append to a describe() title. */
export function skipLabel(...checks: Prerequisite[]): string {
  const combined = allOf(...checks);
  return combined.ok ? '' : ` (skipped: ${combined.reason})`;
}
