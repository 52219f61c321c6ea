import { execFile, spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { promisify } from 'node:util';
import { afterAll, describe, expect, it } from 'vitest';
import { internetChecksum, onesComplementSum } from '../../dataplane/ipv4.js';
import { addAddress, linkUp, routeReplace } from '../../dataplane/iproute.js';
import { loadNativeAddon } from '../../dataplane/native.js';
import { loadTunAddon, TunDevice, type PacketBatch } from '../../dataplane/tun.js';

// A real kernel TCP sender behind a TUN opened with TSO offload: the addon
// must cut the kernel's super-packets into MSS-sized segments with valid IP
// and TCP checksums and contiguous sequence numbers, and finish partial
// checksums of ordinary packets (the SYN here).
const run = promisify(execFile);

function skipReason(): string | undefined {
  if (process.platform !== 'linux') return 'not Linux';
  if (process.getuid?.() !== 0) return 'not root (CAP_NET_ADMIN needed)';
  if (!existsSync('/dev/net/tun')) return '/dev/net/tun missing';
  try {
    loadTunAddon();
  } catch {
    return 'vgw_tun addon not built';
  }
  return undefined;
}
const reason = skipReason();
const NS = `vgwtest-tso-${process.pid}`;
const IFNAME = `vgwo${process.pid % 100000}`;
const MSS = 1000;

function tcpChecksumOk(p: Buffer): boolean {
  const ihl = (p[0]! & 0x0f) * 4;
  const len = p.readUInt16BE(2);
  const pseudo = onesComplementSum(p, 12, 8, 6 + len - ihl);
  return internetChecksum(p, ihl, len - ihl, pseudo) === 0;
}

/** SYN-ACK for `syn` with an MSS option, valid checksums. */
function synAck(syn: Buffer, isn: number): Buffer {
  const p = Buffer.alloc(44);
  p[0] = 0x45;
  p.writeUInt16BE(44, 2);
  p.writeUInt16BE(0x4000, 6);
  p[8] = 64;
  p[9] = 6;
  syn.copy(p, 12, 16, 20);
  syn.copy(p, 16, 12, 16);
  p.writeUInt16BE(internetChecksum(p, 0, 20), 10);
  p.writeUInt16BE(syn.readUInt16BE(22), 20);
  p.writeUInt16BE(syn.readUInt16BE(20), 22);
  p.writeUInt32BE(isn, 24);
  p.writeUInt32BE((syn.readUInt32BE(24) + 1) >>> 0, 28);
  p[32] = 6 << 4;
  p[33] = 0x12; // SYN ACK
  p.writeUInt16BE(65535, 34);
  p[40] = 2;
  p[41] = 4;
  p.writeUInt16BE(MSS, 42);
  const pseudo = onesComplementSum(p, 12, 8, 6 + 24);
  p.writeUInt16BE(internetChecksum(p, 20, 24, pseudo), 36);
  return p;
}

describe('TunDevice with TSO offload (real kernel TCP in a private netns)', () => {
  let tun: TunDevice | undefined;
  let nsCreated = false;
  afterAll(async () => {
    tun?.close();
    if (nsCreated) await run('ip', ['netns', 'del', NS]).catch(() => undefined);
  });

  it.skipIf(reason !== undefined)(`cuts super-packets into valid MSS segments${reason ? ` (skipped: ${reason})` : ''}`, async () => {
    await run('ip', ['netns', 'add', NS]);
    nsCreated = true;
    tun = TunDevice.open(IFNAME, { mtu: 1500, tso: true });
    expect(tun.vnetHdr).toBe(true);
    expect(tun.tso).toBe(true);
    await run('ip', ['link', 'set', 'dev', IFNAME, 'netns', NS]);
    await linkUp(IFNAME, 1500, { netns: NS });
    await addAddress(IFNAME, '10.95.0.1/24', { netns: NS });
    await routeReplace('10.94.0.0/24', IFNAME, { netns: NS });

    const superBefore = loadNativeAddon().tsoSuperPackets();
    const data: Buffer[] = [];
    let synOk = false;
    let maxBatch = 0;
    tun.onPackets((batch: PacketBatch) => {
      maxBatch = Math.max(maxBatch, batch.count);
      for (let i = 0; i < batch.count; i++) {
        const off = batch.offset(i);
        const p = Buffer.from(batch.slab.subarray(off, off + batch.lengths[i]!));
        if (p[0]! >> 4 !== 4 || p[9] !== 6) continue;
        if (p[33]! & 0x02) {
          synOk = internetChecksum(p, 0, 20) === 0 && tcpChecksumOk(p);
          tun!.writePacket(synAck(p, 5000), 0, 44);
          continue;
        }
        if (p.readUInt16BE(2) > 40 + 12) data.push(p); // segments with payload
      }
    });

    // The kernel connects to 10.94.0.7 through the TUN and writes 64 KiB at once.
    const child = spawn('ip', [
      'netns', 'exec', NS, process.execPath, '-e',
      "const s=require('net').connect(9,'10.94.0.7',()=>{s.write(Buffer.alloc(65536,7));setTimeout(()=>process.exit(0),1500)});s.on('error',()=>process.exit(1))",
    ]);
    const deadline = Date.now() + 5000;
    while (data.length < 8 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));
    child.kill();

    expect(synOk).toBe(true); // the SYN's partial checksum was finished
    expect(data.length).toBeGreaterThanOrEqual(8); // initial window: ~10 segments
    expect(loadNativeAddon().tsoSuperPackets()).toBeGreaterThan(superBefore); // the kernel did send super-packets
    const first = data[0]!.readUInt32BE(24);
    let expectSeq = first;
    for (const p of data) {
      const ihl = (p[0]! & 0x0f) * 4;
      const thl = (p[ihl + 12]! >> 4) * 4;
      const payload = p.readUInt16BE(2) - ihl - thl;
      expect(payload).toBeLessThanOrEqual(MSS);
      expect(internetChecksum(p, 0, ihl)).toBe(0);
      expect(tcpChecksumOk(p)).toBe(true);
      expect(p.readUInt32BE(24)).toBe(expectSeq);
      expect(p.subarray(ihl + thl).every((b) => b === 7)).toBe(true);
      expectSeq = (expectSeq + payload) >>> 0;
    }
  });
});
