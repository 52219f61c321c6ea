/**
 * Stock strongSwan 5.9 (charon + kernel-libipsec, userspace ESP-in-UDP over a TUN
 * device) as a test peer inside one namespace of a Topology.
 *
 * Each instance is fully private:
 *  - own self-contained strongswan.conf (explicit plugin list: kernel-libipsec BEFORE
 *    kernel-netlink so it becomes the IPsec backend; Debian's /etc/strongswan.d sets
 *    kernel-libipsec `load = no`, so nothing from /etc is included),
 *  - own /run (charon's pid file path /var/run/charon.pid is compiled in): charon is
 *    started as `sh -c 'mount --bind "$1" /run && exec charon'` inside the mount
 *    namespace that `ip netns exec` already makes private,
 *  - own vici socket and SWANCTL_DIR, used by swanctl from the root namespace
 *    (a unix socket is reached by path, not through the network namespace).
 *
 * `encap = yes` is mandatory: libipsec only does ESP in UDP. strongSwan then fakes
 * its NAT-D hash, so the peer sees a NAT and both sides float to UDP 4500.
 */
import { chmodSync, existsSync, mkdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { CHARON_PATH } from '../../helpers/env.js';
import { type ExecResult, exeOf, isAlive, type ProcessHandle, run } from './proc.js';
import type { Topology } from './topology.js';
import { waitFor } from './wait.js';

export interface StrongSwanOptions {
  readonly localAddress: string;
  readonly remoteAddress: string;
  readonly localTs: readonly string[];
  readonly remoteTs: readonly string[];
  readonly psk: string;
  /** IKE proposal, default 'aes256gcm16-prfsha256-x25519'. */
  readonly ikeProposal?: string;
  /** ESP proposal, default 'aes256gcm16'. */
  readonly espProposal?: string;
  /** IKE identities; default the local/remote address (sent as ID_IPV4_ADDR). */
  readonly localId?: string;
  readonly remoteId?: string;
  /** Child start_action, default 'none' (call initiate()). */
  readonly startAction?: 'none' | 'start' | 'trap';
  /** DPD interval in seconds; default 0 = off. */
  readonly dpdDelay?: number;
  /** IKE SA rekey_time in seconds (default strongSwan's 4h). */
  readonly rekeyTime?: number;
  /** CHILD SA rekey_time in seconds (default strongSwan's 1h). */
  readonly childRekeyTime?: number;
  /**
   * Random jitter subtracted from rekey times, in seconds. strongSwan's default is
   * 10% of the rekey time; set 0 for a deterministic rekey moment in tests.
   */
  readonly randTime?: number;
  /** Default false (MOBIKE would move IKE to 4500 right after IKE_SA_INIT anyway). */
  readonly mobike?: boolean;
  /** Force UDP encapsulation; default true (kernel-libipsec can only do ESP-in-UDP). */
  readonly encap?: boolean;
  /**
   * IKE ports, default 500/500: IKE_SA_INIT on 500, then the NAT float to 4500.
   * Use BOTH = 4500 to talk to a peer that only listens on 4500 (IKE_SA_INIT then goes
   * 4500->4500 with the non-ESP marker); remote_port=4500 alone sends it from 500
   * without the marker, which a 4500-only peer cannot parse.
   */
  readonly localPort?: number;
  readonly remotePort?: number;
  /** filelog level for ike/cfg/knl/net/chd/esp (default 2). */
  readonly logLevel?: number;
  /** Log IKE/CHILD keys (ike/chd level 4). Test secrets only! */
  readonly keylog?: boolean;
  /** fragmentation setting, default 'yes'. */
  readonly fragmentation?: 'yes' | 'no' | 'accept' | 'force';
  /** Where config, log, vici socket and private /run live (default $TMPDIR/vgw-netns/strongswan/<ns>). */
  readonly stateDir?: string;
}

export const CONNECTION_NAME = 's2s';
export const CHILD_NAME = 'net';

const PLUGINS =
  'random nonce openssl aes sha1 sha2 hmac gcm curve25519 x509 revocation constraints pubkey pkcs1 pkcs7 ' +
  'pkcs8 pkcs12 pem kdf kernel-libipsec kernel-netlink socket-default vici updown';

export class StrongSwanError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'StrongSwanError';
  }
}

/** A config value that would break out of its swanctl.conf/strongswan.conf line. */
export class UnsafeConfigValueError extends StrongSwanError {
  constructor(field: string, value: string) {
    super(`unsafe value for ${field}: ${JSON.stringify(value)}`);
    this.name = 'UnsafeConfigValueError';
  }
}

export interface SwanctlResult extends ExecResult {
  readonly ok: boolean;
}

export interface ChildSaInfo {
  readonly name: string;
  readonly uniqueId: number;
  readonly reqid: number;
  readonly state: string;
  readonly mode: string;
  readonly protocol: string;
  readonly encap: boolean;
  readonly spiIn: string;
  readonly spiOut: string;
  readonly encrAlg: string;
  readonly encrKeysize: number | undefined;
  readonly bytesIn: number;
  readonly bytesOut: number;
  readonly packetsIn: number;
  readonly packetsOut: number;
  readonly localTs: readonly string[];
  readonly remoteTs: readonly string[];
  readonly rekeyTime: number | undefined;
  readonly installTime: number | undefined;
}

export interface IkeSaInfo {
  readonly name: string;
  readonly uniqueId: number;
  readonly version: number;
  readonly state: string;
  readonly localHost: string;
  readonly localPort: number;
  readonly localId: string;
  readonly remoteHost: string;
  readonly remotePort: number;
  readonly remoteId: string;
  readonly initiator: boolean;
  readonly initiatorSpi: string;
  readonly responderSpi: string;
  readonly natRemote: boolean;
  readonly natLocal: boolean;
  /** strongSwan's faked NAT-D with encap=yes shows up as nat-any (and nat-remote on the peer). */
  readonly natAny: boolean;
  readonly encrAlg: string;
  readonly prfAlg: string;
  readonly dhGroup: string;
  readonly established: number | undefined;
  readonly rekeyTime: number | undefined;
  readonly children: readonly ChildSaInfo[];
}

export interface RekeyCounts {
  /** "IKE_SA ... rekeyed" lines in charon.log. */
  readonly ike: number;
  /** CHILD_SA rekeys completed ("outbound CHILD_SA ... established" lines). */
  readonly child: number;
}

export interface StrongSwanHandle {
  readonly ns: string;
  readonly stateDir: string;
  readonly viciUri: string;
  /** charon's PID (the spawned process IS charon: sh execs it). */
  readonly pid: number;
  readonly process: ProcessHandle;
  /** Any swanctl command against this charon. */
  swanctl(args: readonly string[], timeoutMs?: number): Promise<SwanctlResult>;
  initiate(child?: string, ike?: string, timeoutS?: number): Promise<SwanctlResult>;
  terminate(ike?: string, timeoutS?: number): Promise<SwanctlResult>;
  rekey(target: { child: string } | { ike: string }): Promise<SwanctlResult>;
  listSas(): Promise<IkeSaInfo[]>;
  /** Wait until the named CHILD_SA is INSTALLED; returns its IKE SA. */
  waitForChild(child?: string, timeoutMs?: number): Promise<IkeSaInfo>;
  /** charon.log so far. */
  log(): string;
  rekeyCounts(): RekeyCounts;
  /** SIGTERM charon (after checking /proc/PID/exe), SIGKILL after 5 s. Idempotent. */
  stop(): Promise<void>;
}

const SAFE_VALUE = /^[A-Za-z0-9._:/@=,+\-*%]+$/;
function safe(field: string, value: string): string {
  if (!SAFE_VALUE.test(value)) throw new UnsafeConfigValueError(field, value);
  return value;
}

/** strongswan.conf for one private charon instance. */
export function renderStrongSwanConf(stateDir: string, logLevel: number, keylog: boolean): string {
  const lvl = String(logLevel);
  const ikeLvl = keylog ? '4' : lvl;
  return `# Generated by test/netns/lib/strongswan.ts. Self-contained: does not include
# /etc/strongswan.d (Debian disables kernel-libipsec there).
charon {
    # kernel-libipsec must come before kernel-netlink: the first IPsec backend wins.
    load_modular = no
    load = ${PLUGINS}
    install_routes = yes
    install_virtual_ip = yes
    send_vendor_id = no
    retransmit_tries = 3
    retransmit_timeout = 2.0
    filelog {
        charonlog {
            path = ${stateDir}/charon.log
            time_format = %Y-%m-%dT%H:%M:%S
            ike_name = yes
            append = yes
            flush_line = yes
            default = 1
            ike = ${ikeLvl}
            chd = ${ikeLvl}
            cfg = ${lvl}
            knl = ${lvl}
            net = ${lvl}
            esp = ${lvl}
            enc = 1
            lib = 1
        }
    }
    syslog {
        daemon {
            default = -1
        }
    }
    plugins {
        vici {
            socket = unix://${stateDir}/charon.vici
        }
        kernel-libipsec {
            allow_peer_ts = no
        }
    }
}
swanctl {
    load = pem pkcs1 pkcs8 x509 revocation constraints pubkey openssl random
}
`;
}

const seconds = (n: number): string => `${Math.max(0, Math.floor(n))}s`;

/** swanctl.conf with one PSK site-to-site connection "s2s" and child "net". */
export function renderSwanctlConf(opts: StrongSwanOptions): string {
  const localId = safe('localId', opts.localId ?? opts.localAddress);
  const remoteId = safe('remoteId', opts.remoteId ?? opts.remoteAddress);
  const list = (field: string, values: readonly string[]): string => {
    if (values.length === 0) throw new StrongSwanError(`${field} must not be empty`);
    return values.map((v) => safe(field, v)).join(',');
  };
  const optional = (line: string | undefined): string => (line === undefined ? '' : `${line}\n`);
  const conn = [
    `        version = 2`,
    `        local_addrs = ${safe('localAddress', opts.localAddress)}`,
    `        remote_addrs = ${safe('remoteAddress', opts.remoteAddress)}`,
    `        local_port = ${opts.localPort ?? 500}`,
    `        remote_port = ${opts.remotePort ?? 500}`,
    `        proposals = ${safe('ikeProposal', opts.ikeProposal ?? 'aes256gcm16-prfsha256-x25519')}`,
    `        encap = ${(opts.encap ?? true) ? 'yes' : 'no'}`,
    `        mobike = ${opts.mobike === true ? 'yes' : 'no'}`,
    `        fragmentation = ${opts.fragmentation ?? 'yes'}`,
    `        dpd_delay = ${seconds(opts.dpdDelay ?? 0)}`,
  ].join('\n');
  const connRekey = optional(opts.rekeyTime === undefined ? undefined : `        rekey_time = ${seconds(opts.rekeyTime)}`);
  const childRekey = optional(
    opts.childRekeyTime === undefined ? undefined : `                rekey_time = ${seconds(opts.childRekeyTime)}`,
  );
  const connRand = optional(
    opts.randTime === undefined || opts.rekeyTime === undefined ? undefined : `        rand_time = ${seconds(opts.randTime)}`,
  );
  const childRand = optional(
    opts.randTime === undefined ? undefined : `                rand_time = ${seconds(opts.randTime)}`,
  );
  // Hex-encoded secret: no quoting issues whatever the PSK contains.
  const pskHex = Buffer.from(opts.psk, 'utf8').toString('hex');
  if (pskHex.length === 0) throw new StrongSwanError('psk must not be empty');
  return `# Generated by test/netns/lib/strongswan.ts
connections {
    ${CONNECTION_NAME} {
${conn}
${connRekey}${connRand}        local {
            auth = psk
            id = ${localId}
        }
        remote {
            auth = psk
            id = ${remoteId}
        }
        children {
            ${CHILD_NAME} {
                mode = tunnel
                local_ts = ${list('localTs', opts.localTs)}
                remote_ts = ${list('remoteTs', opts.remoteTs)}
                esp_proposals = ${safe('espProposal', opts.espProposal ?? 'aes256gcm16')}
                start_action = ${opts.startAction ?? 'none'}
${childRekey}${childRand}            }
        }
    }
}
secrets {
    ike-${CONNECTION_NAME} {
        id-local = ${localId}
        id-remote = ${remoteId}
        secret = 0x${pskHex}
    }
}
`;
}

/** Start charon in `ns` with a PSK site-to-site config and load it. */
export async function startStrongSwan(topo: Topology, ns: string, opts: StrongSwanOptions): Promise<StrongSwanHandle> {
  const stateDir = opts.stateDir ?? join(tmpdir(), 'vgw-netns', 'strongswan', ns);
  const runDir = join(stateDir, 'run');
  const swanctlDir = join(stateDir, 'swanctl');
  const confPath = join(stateDir, 'strongswan.conf');
  const viciPath = join(stateDir, 'charon.vici');
  const viciUri = `unix://${viciPath}`;
  const logPath = join(stateDir, 'charon.log');

  const swanctlConf = renderSwanctlConf(opts); // validate before touching anything
  rmSync(stateDir, { recursive: true, force: true });
  mkdirSync(runDir, { recursive: true });
  for (const sub of ['x509', 'x509ca', 'x509ocsp', 'x509aa', 'x509ac', 'x509crl', 'pubkey', 'private', 'rsa', 'ecdsa', 'bliss', 'pkcs8', 'pkcs12']) {
    mkdirSync(join(swanctlDir, sub), { recursive: true });
  }
  chmodSync(swanctlDir, 0o700);
  writeFileSync(confPath, renderStrongSwanConf(stateDir, opts.logLevel ?? 2, opts.keylog === true));
  writeFileSync(join(swanctlDir, 'swanctl.conf'), swanctlConf, { mode: 0o600 });
  writeFileSync(logPath, '');

  const charon = topo.spawn(ns, 'sh', ['-c', 'mount --bind "$1" /run && exec "$2"', 'sh', runDir, CHARON_PATH], {
    clearEnv: true,
    env: { STRONGSWAN_CONF: confPath },
    logFile: join(stateDir, 'charon.stdout'),
  });

  const readLog = (): string => {
    try {
      return readFileSync(logPath, 'utf8');
    } catch {
      return '';
    }
  };
  const failure = (what: string): StrongSwanError =>
    new StrongSwanError(`${what} (ns ${ns})\n--- charon output:\n${charon.output()}\n--- charon.log tail:\n${readLog().split('\n').slice(-20).join('\n')}`);

  const swanctl = async (args: readonly string[], timeoutMs = 30_000): Promise<SwanctlResult> => {
    const result = await run('swanctl', [...args, '--uri', viciUri], {
      env: { STRONGSWAN_CONF: confPath, SWANCTL_DIR: swanctlDir },
      timeoutMs,
    });
    return { ...result, ok: result.code === 0 };
  };

  let stopped: Promise<void> | undefined;
  const stop = (): Promise<void> => {
    stopped ??= (async () => {
      if (charon.hasExited()) return;
      const exe = exeOf(charon.pid);
      // charon itself, or our launcher before it exec'd charon (sh, ip). Anything else
      // means the PID is not what we started: leave it alone.
      const launcher = exe !== undefined && /\/(sh|dash|bash|ip)$/.test(exe);
      if (exe !== CHARON_PATH && !launcher) return;
      await charon.stop(5000);
    })();
    return stopped;
  };

  try {
    await waitFor(
      () => {
        if (charon.hasExited()) throw failure('charon exited during start-up');
        return existsSync(viciPath) && statSync(viciPath).isSocket();
      },
      15_000,
      100,
      `charon vici socket ${viciPath} in ${ns}`,
    );
    const load = await swanctl(['--load-all', '--noprompt']);
    writeFileSync(join(stateDir, 'load-all.out'), load.stdout + load.stderr);
    if (!load.ok || !/loaded connection '/.test(load.stdout + load.stderr)) {
      throw failure(`swanctl --load-all failed (code ${String(load.code)}):\n${load.stdout}${load.stderr}`);
    }
  } catch (err) {
    await stop();
    throw err;
  }

  const handle: StrongSwanHandle = {
    ns,
    stateDir,
    viciUri,
    pid: charon.pid,
    process: charon,
    swanctl,
    initiate: (child = CHILD_NAME, ike = CONNECTION_NAME, timeoutS = 20) =>
      swanctl(['--initiate', '--child', child, '--ike', ike, '--timeout', String(timeoutS)], (timeoutS + 5) * 1000),
    terminate: (ike = CONNECTION_NAME, timeoutS = 10) =>
      swanctl(['--terminate', '--ike', ike, '--timeout', String(timeoutS)], (timeoutS + 5) * 1000),
    rekey: (target) =>
      swanctl('child' in target ? ['--rekey', '--child', target.child] : ['--rekey', '--ike', target.ike]),
    async listSas() {
      const result = await swanctl(['--list-sas', '--raw'], 10_000);
      if (!result.ok) throw new StrongSwanError(`swanctl --list-sas failed: ${result.stderr}`);
      return parseListSasRaw(result.stdout);
    },
    async waitForChild(child = CHILD_NAME, timeoutMs = 20_000) {
      return waitFor(
        async () => {
          if (charon.hasExited()) throw failure('charon exited');
          const sas = await handle.listSas();
          return sas.find((sa) => sa.children.some((c) => c.name === child && c.state === 'INSTALLED'));
        },
        timeoutMs,
        200,
        `CHILD_SA '${child}' INSTALLED in strongSwan (${ns})`,
      );
    },
    log: readLog,
    rekeyCounts: () => countRekeys(readLog()),
    stop,
  };
  return handle;
}

/** Count completed rekeys in a charon log. Exported for unit tests. */
export function countRekeys(log: string): RekeyCounts {
  const ike = log.match(/IKE_SA \S+\[\d+\] rekeyed between/g)?.length ?? 0;
  const child = log.match(/outbound CHILD_SA \S+\{\d+\} established/g)?.length ?? 0;
  return { ike, child };
}

// ---------------------------------------------------------------------------------
// `swanctl --list-sas --raw` parsing.
//
// The raw format is vici's message tree printed inline:
//   list-sa event {s2s {uniqueid=1 version=2 state=ESTABLISHED ... child-sas {net-1 {name=net ...}}}}
// Sections are `name {`, lists `name [item item]`, key/values `key=value`. Values
// never contain spaces for the fields we read (IDs with spaces would be split, which
// only affects localId/remoteId; we join the continuation tokens back).

type VNode = { readonly [key: string]: VValue };
type VValue = string | readonly string[] | VNode;

/** Error for raw output we cannot parse. */
export class ListSasParseError extends StrongSwanError {
  constructor(message: string, readonly text: string) {
    super(`${message} in swanctl --list-sas --raw output:\n${text.slice(0, 2000)}`);
    this.name = 'ListSasParseError';
  }
}

function tokenize(text: string): string[] {
  return text.split(/(\{|\}|\[|\]|\s+)/).filter((t) => t.trim() !== '');
}

function parseSection(tokens: readonly string[], start: number, text: string): { node: Record<string, VValue>; next: number } {
  const node: Record<string, VValue> = {};
  let i = start;
  let lastKey: string | undefined;
  while (i < tokens.length) {
    const tok = tokens[i] as string;
    if (tok === '}') return { node, next: i + 1 };
    const after = tokens[i + 1];
    // Lists print as `key=[a b]`, sections as `name {`.
    const key = tok.endsWith('=') ? tok.slice(0, -1) : tok;
    if (after === '{') {
      const sub = parseSection(tokens, i + 2, text);
      node[key] = sub.node;
      lastKey = undefined;
      i = sub.next;
    } else if (after === '[') {
      const items: string[] = [];
      let j = i + 2;
      while (j < tokens.length && tokens[j] !== ']') items.push(tokens[j++] as string);
      if (j >= tokens.length) throw new ListSasParseError('unterminated list', text);
      node[key] = items;
      lastKey = undefined;
      i = j + 1;
    } else {
      const eq = tok.indexOf('=');
      if (eq > 0) {
        lastKey = tok.slice(0, eq);
        node[lastKey] = tok.slice(eq + 1);
      } else if (lastKey !== undefined && typeof node[lastKey] === 'string') {
        node[lastKey] = `${node[lastKey] as string} ${tok}`; // value with a space
      } else {
        throw new ListSasParseError(`unexpected token '${tok}'`, text);
      }
      i += 1;
    }
  }
  return { node, next: i };
}

const str = (n: VNode, key: string): string => {
  const v = n[key];
  return typeof v === 'string' ? v : '';
};
const num = (n: VNode, key: string): number | undefined => {
  const v = n[key];
  if (typeof v !== 'string' || !/^\d+$/.test(v)) return undefined;
  return Number(v);
};
const strList = (n: VNode, key: string): readonly string[] => {
  const v = n[key];
  return Array.isArray(v) ? (v as readonly string[]) : [];
};
const section = (n: VNode, key: string): VNode => {
  const v = n[key];
  return typeof v === 'object' && !Array.isArray(v) ? (v as VNode) : {};
};

/** Parse `swanctl --list-sas --raw`. Exported for unit tests. */
export function parseListSasRaw(text: string): IkeSaInfo[] {
  const out: IkeSaInfo[] = [];
  for (const line of text.split('\n')) {
    const at = line.indexOf('list-sa event {');
    if (at < 0) continue;
    const tokens = tokenize(line.slice(at + 'list-sa event'.length));
    if (tokens[0] !== '{') throw new ListSasParseError('expected {', line);
    const { node } = parseSection(tokens, 1, line);
    for (const [name, value] of Object.entries(node)) {
      if (typeof value !== 'object' || Array.isArray(value)) continue;
      out.push(toIkeSa(name, value as VNode));
    }
  }
  return out;
}

function toIkeSa(name: string, n: VNode): IkeSaInfo {
  const children = Object.values(section(n, 'child-sas'))
    .filter((c): c is VNode => typeof c === 'object' && !Array.isArray(c))
    .map(toChildSa);
  return {
    name,
    uniqueId: num(n, 'uniqueid') ?? 0,
    version: num(n, 'version') ?? 0,
    state: str(n, 'state'),
    localHost: str(n, 'local-host'),
    localPort: num(n, 'local-port') ?? 0,
    localId: str(n, 'local-id'),
    remoteHost: str(n, 'remote-host'),
    remotePort: num(n, 'remote-port') ?? 0,
    remoteId: str(n, 'remote-id'),
    initiator: str(n, 'initiator') === 'yes',
    initiatorSpi: str(n, 'initiator-spi'),
    responderSpi: str(n, 'responder-spi'),
    natRemote: str(n, 'nat-remote') === 'yes',
    natLocal: str(n, 'nat-local') === 'yes',
    natAny: str(n, 'nat-any') === 'yes',
    encrAlg: str(n, 'encr-alg') + (str(n, 'encr-keysize') ? `-${str(n, 'encr-keysize')}` : ''),
    prfAlg: str(n, 'prf-alg'),
    dhGroup: str(n, 'dh-group'),
    established: num(n, 'established'),
    rekeyTime: num(n, 'rekey-time'),
    children,
  };
}

function toChildSa(n: VNode): ChildSaInfo {
  return {
    name: str(n, 'name'),
    uniqueId: num(n, 'uniqueid') ?? 0,
    reqid: num(n, 'reqid') ?? 0,
    state: str(n, 'state'),
    mode: str(n, 'mode'),
    protocol: str(n, 'protocol'),
    encap: str(n, 'encap') === 'yes',
    spiIn: str(n, 'spi-in'),
    spiOut: str(n, 'spi-out'),
    encrAlg: str(n, 'encr-alg'),
    encrKeysize: num(n, 'encr-keysize'),
    bytesIn: num(n, 'bytes-in') ?? 0,
    bytesOut: num(n, 'bytes-out') ?? 0,
    packetsIn: num(n, 'packets-in') ?? 0,
    packetsOut: num(n, 'packets-out') ?? 0,
    localTs: strList(n, 'local-ts'),
    remoteTs: strList(n, 'remote-ts'),
    rekeyTime: num(n, 'rekey-time'),
    installTime: num(n, 'install-time'),
  };
}

/** True if `pid` is alive and really /usr/lib/ipsec/charon (guards against PID reuse). */
export function isCharon(pid: number): boolean {
  return isAlive(pid) && exeOf(pid) === CHARON_PATH;
}
