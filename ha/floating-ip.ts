/**
 * Floating addresses: the active instance's public (IKE/ESP) and private
 * (VNet next hop) addresses. Each goes on the interface whose subnet holds
 * it, as a /32 (no second connected route), and is announced with
 * gratuitous ARP so neighbours switch to our MAC at once:
 *
 *   ARP request, sender = target = floating IP, sender MAC = ours, to ff:ff:ff:ff:ff:ff
 *   ARP reply,   same addresses (some stacks only learn from replies)
 *
 * Linux neighbours update an existing entry on a gratuitous ARP even inside
 * the 1 s locktime (arp_process: is_garp → override). We use iputils
 * `arping -U` when installed, else a raw AF_PACKET socket via python3; the
 * daemon has no raw sockets of its own (Node has none).
 */
import { execFile, spawn, type ChildProcessWithoutNullStreams } from 'node:child_process';
import { existsSync } from 'node:fs';
import { runIp, IpCommandError } from '../dataplane/iproute.js';

export class FloatingIpError extends Error {
  override readonly name = 'FloatingIpError';
}

interface IpAddrJson { ifname?: string; addr_info?: Array<{ family?: string; local?: string; prefixlen?: number }> }

function toInt(ip: string): number {
  const p = ip.split('.').map(Number);
  if (p.length !== 4 || p.some((x) => !Number.isInteger(x) || x < 0 || x > 255)) throw new FloatingIpError(`bad IPv4 address ${ip}`);
  return (((p[0]! << 24) | (p[1]! << 16) | (p[2]! << 8) | p[3]!) >>> 0);
}

/** Pure: which interface's subnet (prefix < 32) contains `ip`, from `ip -j -4 addr show` output. */
export function pickInterface(addrs: readonly IpAddrJson[], ip: string): string | undefined {
  const target = toInt(ip);
  let best: { ifname: string; len: number } | undefined;
  for (const link of addrs) {
    for (const a of link.addr_info ?? []) {
      if (a.family !== 'inet' || !a.local || a.prefixlen === undefined || a.prefixlen >= 32 || !link.ifname) continue;
      const mask = a.prefixlen === 0 ? 0 : (0xffffffff << (32 - a.prefixlen)) >>> 0;
      if (((toInt(a.local) & mask) >>> 0) !== ((target & mask) >>> 0)) continue;
      if (!best || a.prefixlen > best.len) best = { ifname: link.ifname, len: a.prefixlen };
    }
  }
  return best?.ifname;
}

/** Pure: whether `ip` is configured on this host (any prefix length). */
export function hasAddress(addrs: readonly IpAddrJson[], ip: string): boolean {
  return addrs.some((l) => (l.addr_info ?? []).some((a) => a.family === 'inet' && a.local === ip));
}

async function listAddrs(): Promise<IpAddrJson[]> {
  return JSON.parse(await runIp(['-j', '-4', 'addr', 'show'])) as IpAddrJson[];
}

/** Time given to arping to put its first (and only) GARP on the wire. */
const ARPING_SETTLE_MS = 30;
const ARPING_PATHS = ['/usr/sbin/arping', '/usr/bin/arping', '/sbin/arping', '/bin/arping'];

/** Long-running helper: reads "ifname ip" lines, answers "ok"/"err ..." after sending request + reply GARPs. */
const GARP_HELPER_PY = `
import socket,struct,sys
socks={}
for line in sys.stdin:
    try:
        ifn,ip=line.split()
        s=socks.get(ifn)
        if s is None:
            s=socket.socket(socket.AF_PACKET,socket.SOCK_RAW)
            s.bind((ifn,0))
            socks[ifn]=s
        mac=s.getsockname()[4]
        ipb=socket.inet_aton(ip)
        bc=b'\\xff'*6
        for op in (1,2):
            arp=struct.pack('!HHBBH',1,0x0800,6,4,op)+mac+ipb+(b'\\x00'*6 if op==1 else bc)+ipb
            s.send(bc+mac+b'\\x08\\x06'+arp+b'\\x00'*18)
        print('ok',flush=True)
    except Exception as e:
        socks.pop(ifn,None) if 'ifn' in dir() else None
        print('err',str(e).replace(chr(10),' '),flush=True)
`;

function exec(cmd: string, args: string[], timeoutMs = 3000): Promise<void> {
  return new Promise((resolve, reject) => {
    execFile(cmd, args, { timeout: timeoutMs }, (err, _out, stderr) => (err ? reject(new FloatingIpError(`${cmd}: ${stderr || err.message}`)) : resolve()));
  });
}

export type GarpMethod = 'arping' | 'python3' | 'none';

/**
 * Sends gratuitous ARP. Started ahead of need (a standby keeps it warm), so
 * a takeover pays microseconds, not an interpreter start-up.
 */
export class GarpSender {
  private helper: ChildProcessWithoutNullStreams | undefined;
  private waiting: Array<(ok: boolean) => void> = [];
  private readonly arping = ARPING_PATHS.find((p) => existsSync(p));

  get method(): GarpMethod { return this.helper ? 'python3' : this.arping ? 'arping' : 'none'; }

  /** Starts the warm helper (python3 raw socket): a takeover then pays a pipe write, not a fork. */
  start(): void {
    if (this.helper) return;
    try {
      const h = spawn('python3', ['-u', '-c', GARP_HELPER_PY], { stdio: ['pipe', 'pipe', 'pipe'] });
      h.on('error', () => { this.helper = undefined; });
      h.on('exit', () => { if (this.helper === h) this.helper = undefined; for (const w of this.waiting.splice(0)) w(false); });
      let buf = '';
      h.stdout.on('data', (d: Buffer) => {
        buf += d.toString();
        let i: number;
        while ((i = buf.indexOf('\n')) >= 0) {
          const line = buf.slice(0, i);
          buf = buf.slice(i + 1);
          this.waiting.shift()?.(line.startsWith('ok'));
        }
      });
      h.stderr.resume();
      this.helper = h;
    } catch {
      this.helper = undefined;
    }
  }

  /** Announces `ip` on `ifname` (request + reply). */
  async announce(ifname: string, ip: string): Promise<GarpMethod> {
    if (this.helper) {
      const h = this.helper;
      const ok = await new Promise<boolean>((resolve) => {
        this.waiting.push(resolve);
        h.stdin.write(`${ifname} ${ip}\n`);
        setTimeout(() => resolve(false), 2000).unref();
      });
      if (ok) return 'python3';
    }
    if (this.arping) {
      const done = exec(this.arping, ['-U', '-c', '1', '-I', ifname, '-s', ip, ip]).catch(() => undefined);
      // iputils arping sends at once, then lingers one interval (1 s, whole seconds only) before
      // exiting: a takeover must not wait for that. The process finishes on its own.
      await Promise.race([done, new Promise((r) => setTimeout(r, ARPING_SETTLE_MS))]);
      return 'arping';
    }
    if (!this.helper) this.start();
    const h = this.helper;
    if (!h) return 'none';
    const ok = await new Promise<boolean>((resolve) => {
      this.waiting.push(resolve);
      h.stdin.write(`${ifname} ${ip}\n`);
      setTimeout(() => resolve(false), 2000).unref();
    });
    return ok ? 'python3' : 'none';
  }

  stop(): void {
    this.helper?.stdin.end();
    this.helper?.kill();
    this.helper = undefined;
  }
}

export interface FloatingAddress {
  ip: string;
  /** Interface it lives on (resolved at first add). */
  ifname?: string;
}

export class FloatingIps {
  private readonly held = new Map<string, string>(); // ip → ifname
  /** ip → the interface whose subnet holds it; learnt at start (release), so a takeover spawns no `ip addr show`. */
  private readonly where = new Map<string, string>();

  /** Several address sets may share one sender (one warm helper per process). */
  constructor(private readonly ips: readonly string[], readonly garp: GarpSender = new GarpSender()) {}

  /** Adds every floating address (not yet announced). Returns where each went. */
  async place(): Promise<Array<{ ip: string; ifname: string }>> {
    const addrs = this.ips.every((ip) => this.where.has(ip)) ? [] : await listAddrs();
    const placed: Array<{ ip: string; ifname: string }> = [];
    for (const ip of this.ips) {
      const ifname = this.where.get(ip) ?? pickInterface(addrs, ip);
      if (!ifname) throw new FloatingIpError(`no interface has a subnet containing floating address ${ip}`);
      placed.push({ ip, ifname });
    }
    await Promise.all(placed.map((p) => runIp(['addr', 'replace', `${p.ip}/32`, 'dev', p.ifname])));
    for (const p of placed) { this.held.set(p.ip, p.ifname); this.where.set(p.ip, p.ifname); }
    return placed;
  }

  /** Gratuitous ARP for every address we hold, all at once. */
  async announce(): Promise<Array<{ ip: string; ifname: string; garp: GarpMethod }>> {
    const held = [...this.held].map(([ip, ifname]) => ({ ip, ifname }));
    const garps = await Promise.all(held.map((p) => this.garp.announce(p.ifname, p.ip)));
    return held.map((p, i) => ({ ...p, garp: garps[i] ?? 'none' }));
  }

  /** Removes every floating address we hold, or find configured (stale after a crash). */
  async release(): Promise<void> {
    const addrs = await listAddrs();
    for (const ip of this.ips) {
      const ifname = pickInterface(addrs, ip);
      if (ifname) this.where.set(ip, ifname);
      for (const link of addrs) {
        if (!link.ifname || !(link.addr_info ?? []).some((a) => a.family === 'inet' && a.local === ip && a.prefixlen === 32)) continue;
        try {
          await runIp(['addr', 'del', `${ip}/32`, 'dev', link.ifname]);
        } catch (err) {
          if (!(err instanceof IpCommandError && /Cannot assign/.test(err.stderr))) throw err;
        }
      }
      this.held.delete(ip);
    }
  }

  heldAddresses(): string[] { return [...this.held.keys()]; }
}

/**
 * Whether something on the network answers for `ip` (someone else holds it).
 * Sends one ICMP echo out of `ifname`; bounded by `timeoutMs`.
 */
export async function addressAnswers(ip: string, ifname: string, timeoutMs: number): Promise<boolean> {
  const w = Math.max(0.05, timeoutMs / 1000);
  try {
    await exec('ping', ['-n', '-q', '-c', '1', '-W', w.toFixed(2), '-I', ifname, ip], timeoutMs + 1000);
    return true;
  } catch {
    return false;
  }
}

/** The interface whose subnet holds `ip` (for probes and announcements). */
export async function interfaceFor(ip: string): Promise<string | undefined> {
  return pickInterface(await listAddrs(), ip);
}
