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
import { execFile } from 'node:child_process';
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

const ARPING_PATHS = ['/usr/sbin/arping', '/usr/bin/arping', '/sbin/arping', '/bin/arping'];

const GARP_PY = `
import socket,struct,sys
ifn,ip=sys.argv[1],sys.argv[2]
s=socket.socket(socket.AF_PACKET,socket.SOCK_RAW)
s.bind((ifn,0))
mac=s.getsockname()[4]
ipb=socket.inet_aton(ip)
bc=b'\\xff'*6
for op in (1,2):
    arp=struct.pack('!HHBBH',1,0x0800,6,4,op)+mac+ipb+(b'\\x00'*6 if op==1 else bc)+ipb
    s.send(bc+mac+b'\\x08\\x06'+arp+b'\\x00'*18)
`;

function exec(cmd: string, args: string[], timeoutMs = 3000): Promise<void> {
  return new Promise((resolve, reject) => {
    execFile(cmd, args, { timeout: timeoutMs }, (err, _out, stderr) => (err ? reject(new FloatingIpError(`${cmd}: ${stderr || err.message}`)) : resolve()));
  });
}

export type GarpMethod = 'arping' | 'python3' | 'none';

export function garpMethod(): GarpMethod {
  if (ARPING_PATHS.some((p) => existsSync(p))) return 'arping';
  return 'python3';
}

/** Announces `ip` on `ifname` with gratuitous ARP (request + reply). */
export async function gratuitousArp(ifname: string, ip: string): Promise<GarpMethod> {
  const arping = ARPING_PATHS.find((p) => existsSync(p));
  if (arping) {
    await exec(arping, ['-U', '-c', '1', '-I', ifname, '-s', ip, ip]);
    void exec(arping, ['-A', '-c', '1', '-I', ifname, '-s', ip, ip]).catch(() => undefined);
    return 'arping';
  }
  try {
    await exec('python3', ['-c', GARP_PY, ifname, ip]);
    return 'python3';
  } catch {
    return 'none';
  }
}

export interface FloatingAddress {
  ip: string;
  /** Interface it lives on (resolved at first add). */
  ifname?: string;
}

export class FloatingIps {
  private readonly held = new Map<string, string>(); // ip → ifname

  constructor(private readonly ips: readonly string[]) {}

  /** Adds every floating address and announces it. Returns the interfaces used. */
  async acquire(): Promise<Array<{ ip: string; ifname: string; garp: GarpMethod }>> {
    const addrs = await listAddrs();
    const out: Array<{ ip: string; ifname: string; garp: GarpMethod }> = [];
    const placed: Array<{ ip: string; ifname: string }> = [];
    for (const ip of this.ips) {
      const ifname = pickInterface(addrs, ip);
      if (!ifname) throw new FloatingIpError(`no interface has a subnet containing floating address ${ip}`);
      await runIp(['addr', 'replace', `${ip}/32`, 'dev', ifname]);
      this.held.set(ip, ifname);
      placed.push({ ip, ifname });
    }
    // Announce all at once: ARP for one address must not wait for the other.
    const garps = await Promise.all(placed.map((p) => gratuitousArp(p.ifname, p.ip)));
    placed.forEach((p, i) => out.push({ ...p, garp: garps[i] ?? 'none' }));
    return out;
  }

  /** Removes every floating address we hold, or find configured (stale after a crash). */
  async release(): Promise<void> {
    const addrs = await listAddrs();
    for (const ip of this.ips) {
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
