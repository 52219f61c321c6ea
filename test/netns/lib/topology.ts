/**
 * Network-namespace topologies for end-to-end tests. Everything lives in namespaces
 * named `${prefix}-*`, linked only to each other by veth pairs created directly
 * between namespaces: nothing is added to the root namespace and no namespace has a
 * default route, so test traffic can never leave the machine.
 *
 * Site to site (createSiteToSite):
 *
 *   hostA                 gwA                          gwB                  hostB
 *   eth0 10.1.0.2 ── lan0 10.1.0.1            10.2.0.1 lan0 ── eth0 10.2.0.2
 *                         wan0 192.0.2.1 ══ 192.0.2.2 wan0
 *                                  ("internet", one veth pair)
 *
 * Multi site (createMultiSite): gwA, gwB, gwC each plug wan0 into a bridge br0
 * inside the dedicated namespace `${prefix}-inet` (192.0.2.1/.2/.3), sites
 * 10.1.0.0/24, 10.2.0.0/24, 10.3.0.0/24 behind them.
 *
 * Gateways have ip_forward=1 and rp_filter=0 but NO route to the remote sites:
 * whatever runs on the gateway (vgwd, strongSwan) must add it (into its TUN).
 */
import { readdirSync } from 'node:fs';
import {
  CommandFailedError,
  type ExecOptions,
  type ExecResult,
  execIn,
  killPid,
  mustRun,
  type ProcessHandle,
  run,
  spawnIn,
  type SpawnOptions,
} from './proc.js';
import { waitFor } from './wait.js';

export { ping, tcpTransfer, type PingResult, type PingOptions, type TransferResult, type TransferOptions } from './traffic.js';
export { waitFor, WaitTimeoutError } from './wait.js';
export type { ExecResult, ExecOptions, ProcessHandle, SpawnOptions, ExitStatus } from './proc.js';

export interface Topology {
  readonly prefix: string;
  /** Every namespace of this topology, in creation order. */
  readonly namespaces: readonly string[];
  /** Run a command to completion inside `ns` (argument array, no shell). Never throws on exit code. */
  exec(ns: string, cmd: string, args: readonly string[], opts?: ExecOptions): Promise<ExecResult>;
  /** Like exec but throws CommandFailedError on a non-zero exit. */
  mustExec(ns: string, cmd: string, args: readonly string[], opts?: ExecOptions): Promise<ExecResult>;
  /** Start a long-running process inside `ns`; destroy() stops it by PID. */
  spawn(ns: string, cmd: string, args: readonly string[], opts?: SpawnOptions): ProcessHandle;
  /** Processes started through spawn() (including exited ones). */
  processes(): readonly ProcessHandle[];
  /**
   * Stop every spawned process by PID (SIGTERM, SIGKILL after 3 s), then anything
   * else still inside our namespaces (by PID), then delete the namespaces.
   * Idempotent; safe to call after a failed creation.
   */
  destroy(): Promise<void>;
}

export interface SiteToSiteTopology extends Topology {
  readonly ns: { readonly hostA: string; readonly gwA: string; readonly gwB: string; readonly hostB: string };
  readonly addr: {
    readonly hostA: '10.1.0.2';
    readonly gwALan: '10.1.0.1';
    readonly gwAWan: '192.0.2.1';
    readonly gwBWan: '192.0.2.2';
    readonly gwBLan: '10.2.0.1';
    readonly hostB: '10.2.0.2';
  };
  readonly nets: { readonly siteA: '10.1.0.0/24'; readonly siteB: '10.2.0.0/24'; readonly internet: '192.0.2.0/24' };
}

export interface MultiSiteTopology extends Topology {
  readonly ns: {
    readonly hostA: string;
    readonly gwA: string;
    readonly gwB: string;
    readonly hostB: string;
    readonly gwC: string;
    readonly hostC: string;
    /** Holds the bridge br0 that plays "the internet". */
    readonly inet: string;
  };
  readonly addr: SiteToSiteTopology['addr'] & {
    readonly gwCWan: '192.0.2.3';
    readonly gwCLan: '10.3.0.1';
    readonly hostC: '10.3.0.2';
  };
  readonly nets: SiteToSiteTopology['nets'] & { readonly siteC: '10.3.0.0/24' };
}

/** Thrown for a prefix that could make names collide or exceed kernel limits. */
export class InvalidPrefixError extends Error {
  constructor(prefix: string) {
    super(`invalid topology prefix '${prefix}': use 1-8 characters [a-z0-9], starting with a letter`);
    this.name = 'InvalidPrefixError';
  }
}

// ---------------------------------------------------------------------------------
// Declarative description, built by one generic routine.

type Role = 'gateway' | 'host' | 'internet';

interface NsSpec {
  readonly suffix: string;
  readonly role: Role;
}
/** veth pair created directly between two namespaces (names are per-namespace). */
interface VethSpec {
  readonly a: string;
  readonly aIf: string;
  readonly b: string;
  readonly bIf: string;
}
interface AddrSpec {
  readonly ns: string;
  readonly ifName: string;
  readonly cidr: string;
}
interface RouteSpec {
  readonly ns: string;
  readonly dst: string;
  readonly via: string;
}
interface BridgeSpec {
  readonly ns: string;
  readonly name: string;
  readonly ports: readonly string[];
}
interface TopologySpec {
  readonly namespaces: readonly NsSpec[];
  readonly veths: readonly VethSpec[];
  readonly bridges: readonly BridgeSpec[];
  readonly addresses: readonly AddrSpec[];
  readonly routes: readonly RouteSpec[];
}

/** Every suffix any of our topologies uses: leftovers of these are cleaned at creation. */
const KNOWN_SUFFIXES = ['hostA', 'gwA', 'gwB', 'hostB', 'gwC', 'hostC', 'inet'] as const;

const SITE_TO_SITE_ADDR = {
  hostA: '10.1.0.2',
  gwALan: '10.1.0.1',
  gwAWan: '192.0.2.1',
  gwBWan: '192.0.2.2',
  gwBLan: '10.2.0.1',
  hostB: '10.2.0.2',
} as const;
const MULTI_SITE_ADDR = { ...SITE_TO_SITE_ADDR, gwCWan: '192.0.2.3', gwCLan: '10.3.0.1', hostC: '10.3.0.2' } as const;
const SITE_TO_SITE_NETS = { siteA: '10.1.0.0/24', siteB: '10.2.0.0/24', internet: '192.0.2.0/24' } as const;
const MULTI_SITE_NETS = { ...SITE_TO_SITE_NETS, siteC: '10.3.0.0/24' } as const;

function validatePrefix(prefix: string): void {
  if (!/^[a-z][a-z0-9]{0,7}$/.test(prefix)) throw new InvalidPrefixError(prefix);
}

/** Build `hostA — gwA ═ gwB — hostB` (see the module comment). */
export async function createSiteToSite(prefix: string): Promise<SiteToSiteTopology> {
  validatePrefix(prefix);
  const n = (s: string): string => `${prefix}-${s}`;
  const ns = { hostA: n('hostA'), gwA: n('gwA'), gwB: n('gwB'), hostB: n('hostB') };
  const a = SITE_TO_SITE_ADDR;
  const spec: TopologySpec = {
    namespaces: [
      { suffix: 'hostA', role: 'host' },
      { suffix: 'gwA', role: 'gateway' },
      { suffix: 'gwB', role: 'gateway' },
      { suffix: 'hostB', role: 'host' },
    ],
    veths: [
      { a: ns.hostA, aIf: 'eth0', b: ns.gwA, bIf: 'lan0' },
      { a: ns.gwA, aIf: 'wan0', b: ns.gwB, bIf: 'wan0' },
      { a: ns.hostB, aIf: 'eth0', b: ns.gwB, bIf: 'lan0' },
    ],
    bridges: [],
    addresses: [
      { ns: ns.hostA, ifName: 'eth0', cidr: `${a.hostA}/24` },
      { ns: ns.gwA, ifName: 'lan0', cidr: `${a.gwALan}/24` },
      { ns: ns.gwA, ifName: 'wan0', cidr: `${a.gwAWan}/24` },
      { ns: ns.gwB, ifName: 'wan0', cidr: `${a.gwBWan}/24` },
      { ns: ns.gwB, ifName: 'lan0', cidr: `${a.gwBLan}/24` },
      { ns: ns.hostB, ifName: 'eth0', cidr: `${a.hostB}/24` },
    ],
    routes: [
      { ns: ns.hostA, dst: '10.2.0.0/16', via: a.gwALan },
      { ns: ns.hostB, dst: '10.1.0.0/16', via: a.gwBLan },
    ],
  };
  const base = await buildTopology(prefix, spec);
  return { ...base, ns, addr: a, nets: SITE_TO_SITE_NETS };
}

/** Build gwA (site 10.1/24) with two remote sites gwB and gwC on a bridged "internet". */
export async function createMultiSite(prefix: string): Promise<MultiSiteTopology> {
  validatePrefix(prefix);
  const n = (s: string): string => `${prefix}-${s}`;
  const ns = {
    hostA: n('hostA'),
    gwA: n('gwA'),
    gwB: n('gwB'),
    hostB: n('hostB'),
    gwC: n('gwC'),
    hostC: n('hostC'),
    inet: n('inet'),
  };
  const a = MULTI_SITE_ADDR;
  const sites = [
    { host: ns.hostA, gw: ns.gwA, port: 'pgwA', hostAddr: a.hostA, lan: a.gwALan, wan: a.gwAWan, net: '10.1.0.0/16' },
    { host: ns.hostB, gw: ns.gwB, port: 'pgwB', hostAddr: a.hostB, lan: a.gwBLan, wan: a.gwBWan, net: '10.2.0.0/16' },
    { host: ns.hostC, gw: ns.gwC, port: 'pgwC', hostAddr: a.hostC, lan: a.gwCLan, wan: a.gwCWan, net: '10.3.0.0/16' },
  ] as const;
  const spec: TopologySpec = {
    namespaces: [
      { suffix: 'inet', role: 'internet' },
      { suffix: 'hostA', role: 'host' },
      { suffix: 'gwA', role: 'gateway' },
      { suffix: 'gwB', role: 'gateway' },
      { suffix: 'hostB', role: 'host' },
      { suffix: 'gwC', role: 'gateway' },
      { suffix: 'hostC', role: 'host' },
    ],
    veths: sites.flatMap((s) => [
      { a: s.host, aIf: 'eth0', b: s.gw, bIf: 'lan0' },
      { a: s.gw, aIf: 'wan0', b: ns.inet, bIf: s.port },
    ]),
    bridges: [{ ns: ns.inet, name: 'br0', ports: sites.map((s) => s.port) }],
    addresses: sites.flatMap((s) => [
      { ns: s.host, ifName: 'eth0', cidr: `${s.hostAddr}/24` },
      { ns: s.gw, ifName: 'lan0', cidr: `${s.lan}/24` },
      { ns: s.gw, ifName: 'wan0', cidr: `${s.wan}/24` },
    ]),
    // Every host reaches every other site via its own gateway.
    routes: sites.flatMap((s) =>
      sites.filter((o) => o !== s).map((o) => ({ ns: s.host, dst: o.net, via: s.lan })),
    ),
  };
  const base = await buildTopology(prefix, spec);
  return { ...base, ns, addr: a, nets: MULTI_SITE_NETS };
}

// ---------------------------------------------------------------------------------

/** Processes still alive in this Node process, SIGKILLed if Node exits without destroy(). */
const liveProcesses = new Set<ProcessHandle>();
let exitHookInstalled = false;
function installExitHook(): void {
  if (exitHookInstalled) return;
  exitHookInstalled = true;
  process.on('exit', () => {
    for (const handle of liveProcesses) handle.kill('SIGKILL');
  });
}

async function buildTopology(prefix: string, spec: TopologySpec): Promise<Topology> {
  const names = spec.namespaces.map((s) => `${prefix}-${s.suffix}`);
  await removeLeftovers(prefix);

  const spawned: ProcessHandle[] = [];
  let destroyed: Promise<void> | undefined;
  const topo: Topology = {
    prefix,
    namespaces: names,
    exec: (ns, cmd, args, opts) => execIn(ns, cmd, args, opts),
    async mustExec(ns, cmd, args, opts) {
      const result = await execIn(ns, cmd, args, opts);
      if (result.code !== 0) throw new CommandFailedError(['ip', 'netns', 'exec', ns, cmd, ...args], result);
      return result;
    },
    spawn(ns, cmd, args, opts) {
      if (!names.includes(ns)) throw new Error(`namespace ${ns} is not part of topology ${prefix}`);
      if (destroyed !== undefined) throw new Error(`topology ${prefix} is destroyed`);
      const handle = spawnIn(ns, cmd, args, opts);
      spawned.push(handle);
      installExitHook();
      liveProcesses.add(handle);
      void handle.exited.then(() => liveProcesses.delete(handle));
      return handle;
    },
    processes: () => spawned,
    destroy() {
      destroyed ??= (async () => {
        await Promise.all(spawned.map((h) => h.stop(3000)));
        await deleteNamespaces(names);
      })();
      return destroyed;
    },
  };

  try {
    await setUp(spec, names);
  } catch (err) {
    await topo.destroy();
    throw err;
  }
  return topo;
}

async function setUp(spec: TopologySpec, names: readonly string[]): Promise<void> {
  for (const [i, nsSpec] of spec.namespaces.entries()) {
    const ns = names[i] as string;
    await mustRun('ip', ['netns', 'add', ns]);
    await mustRun('ip', ['-n', ns, 'link', 'set', 'lo', 'up']);
    // Before any link exists, so new interfaces inherit the defaults.
    await sysctl(ns, baseSysctls(nsSpec.role));
  }
  for (const v of spec.veths) {
    await mustRun('ip', ['-n', v.a, 'link', 'add', v.aIf, 'type', 'veth', 'peer', 'name', v.bIf, 'netns', v.b]);
  }
  for (const br of spec.bridges) {
    await mustRun('ip', ['-n', br.ns, 'link', 'add', br.name, 'type', 'bridge']);
    for (const port of br.ports) await mustRun('ip', ['-n', br.ns, 'link', 'set', port, 'master', br.name]);
  }
  for (const addr of spec.addresses) {
    await mustRun('ip', ['-n', addr.ns, 'addr', 'add', addr.cidr, 'dev', addr.ifName]);
  }
  const links = [
    ...spec.veths.flatMap((v) => [
      { ns: v.a, ifName: v.aIf },
      { ns: v.b, ifName: v.bIf },
    ]),
    ...spec.bridges.map((b) => ({ ns: b.ns, ifName: b.name })),
  ];
  for (const l of links) await mustRun('ip', ['-n', l.ns, 'link', 'set', l.ifName, 'up']);
  // rp_filter is max(all, per-interface): clear it per interface on the gateways too.
  for (const [i, nsSpec] of spec.namespaces.entries()) {
    if (nsSpec.role !== 'gateway') continue;
    const ns = names[i] as string;
    const ifNames = links.filter((l) => l.ns === ns).map((l) => l.ifName);
    await sysctl(ns, ifNames.map((ifName) => `net.ipv4.conf.${ifName}.rp_filter=0`));
  }
  for (const r of spec.routes) await mustRun('ip', ['-n', r.ns, 'route', 'add', r.dst, 'via', r.via]);
  // The kernel reports carrier asynchronously (linkwatch, up to ~1 s): until then a
  // veth is NO-CARRIER and a bridge port "disabled", and the first packets are lost.
  const nsWithLinks = [...new Set(links.map((l) => l.ns))];
  await waitFor(
    async () => {
      for (const ns of nsWithLinks) {
        const want = links.filter((l) => l.ns === ns).map((l) => l.ifName);
        const up = await operUpLinks(ns);
        if (!want.every((ifName) => up.has(ifName))) return false;
      }
      return true;
    },
    10_000,
    50,
    'all topology links to report carrier (operstate UP)',
  );
}

/** Names of links in `ns` whose operstate is UP. */
async function operUpLinks(ns: string): Promise<Set<string>> {
  const result = await run('ip', ['-n', ns, '-j', 'link', 'show'], { timeoutMs: 5000 });
  if (result.code !== 0) return new Set();
  const links = JSON.parse(result.stdout) as Array<{ ifname?: string; operstate?: string }>;
  return new Set(links.filter((l) => l.operstate === 'UP').map((l) => l.ifname ?? ''));
}

function baseSysctls(role: Role): string[] {
  // IPv6 off: no DAD/router-solicitation noise in captures.
  const common = ['net.ipv6.conf.all.disable_ipv6=1', 'net.ipv6.conf.default.disable_ipv6=1'];
  if (role !== 'gateway') return common;
  return [
    ...common,
    'net.ipv4.ip_forward=1',
    'net.ipv4.conf.all.rp_filter=0',
    'net.ipv4.conf.default.rp_filter=0',
  ];
}

async function sysctl(ns: string, settings: readonly string[]): Promise<void> {
  if (settings.length === 0) return;
  const result = await execIn(ns, 'sysctl', ['-q', '-w', ...settings]);
  if (result.code !== 0) throw new CommandFailedError(['sysctl', '-w', ...settings], result);
}

/** Names of all existing network namespaces (from /run/netns). */
export function listNamespaces(): string[] {
  try {
    return readdirSync('/run/netns');
  } catch {
    return [];
  }
}

/** Delete namespaces of a previous (crashed) run that used the same prefix. */
async function removeLeftovers(prefix: string): Promise<void> {
  const ours = new Set<string>(KNOWN_SUFFIXES.map((s) => `${prefix}-${s}`));
  const leftovers = listNamespaces().filter((name) => ours.has(name));
  if (leftovers.length > 0) await deleteNamespaces(leftovers);
}

/** PIDs of processes whose network namespace is `ns` (`ip netns pids`). */
export async function pidsInNamespace(ns: string): Promise<number[]> {
  const result = await run('ip', ['netns', 'pids', ns], { timeoutMs: 5000 });
  if (result.code !== 0) return [];
  return result.stdout
    .split('\n')
    .map((l) => Number.parseInt(l.trim(), 10))
    .filter((pid) => Number.isInteger(pid) && pid > 1 && pid !== process.pid);
}

/**
 * Kill by PID whatever still runs inside these namespaces (they are ours: named with
 * our prefix), then delete them. Missing namespaces are fine.
 */
async function deleteNamespaces(names: readonly string[]): Promise<void> {
  const existing = new Set(listNamespaces());
  for (const ns of names) {
    if (!existing.has(ns)) continue;
    const pids = await pidsInNamespace(ns);
    await Promise.all(pids.map((pid) => killPid(pid, 3000)));
    const result = await run('ip', ['netns', 'del', ns], { timeoutMs: 10_000 });
    if (result.code !== 0 && listNamespaces().includes(ns)) {
      throw new CommandFailedError(['ip', 'netns', 'del', ns], result);
    }
  }
}
