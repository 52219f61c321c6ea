import { execFile } from 'node:child_process';
import { existsSync } from 'node:fs';
import { promisify } from 'node:util';
import { afterAll, describe, expect, it } from 'vitest';
import { internetChecksum } from '../../dataplane/ipv4.js';
import { addAddress, IpCommandError, linkUp, routeReplace, runIp } from '../../dataplane/iproute.js';
import { loadTunAddon, TunDevice, TunError, type PacketBatch } from '../../dataplane/tun.js';

const run = promisify(execFile);

function skipReason(): string | undefined {
  if (process.platform !== 'linux') return 'not Linux';
  if (process.getuid?.() !== 0) return 'not root (CAP_NET_ADMIN needed)';
  if (!existsSync('/dev/net/tun')) return '/dev/net/tun missing';
  try {
    loadTunAddon();
  } catch {
    return 'vgw_tun addon not built (npx node-gyp rebuild)';
  }
  return undefined;
}
const reason = skipReason();
const NS = `vgwtest-tun-${process.pid}`;
const IFNAME = `vgwt${process.pid % 100000}`;

describe('iproute helpers', () => {
  it('reject bad names and prefixes before running anything', async () => {
    await expect(linkUp('bad name;rm', 1400)).rejects.toThrow(RangeError);
    await expect(routeReplace('10.0.0.0/8; reboot', 'tun0')).rejects.toThrow(RangeError);
    await expect(linkUp('tun0', 20)).rejects.toThrow(RangeError);
  });

  it.skipIf(reason !== undefined)(`report ip failures as IpCommandError${reason ? ` (skipped: ${reason})` : ''}`, async () => {
    const err = await runIp(['link', 'show', 'dev', 'vgw-no-such-if']).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(IpCommandError);
    expect((err as IpCommandError).stderr).toMatch(/does not exist|Cannot find/);
  });
});

describe('TunDevice (real /dev/net/tun in a private netns)', () => {
  let tun: TunDevice | undefined;
  let nsCreated = false;
  afterAll(async () => {
    tun?.close();
    if (nsCreated) await run('ip', ['netns', 'del', NS]).catch(() => undefined);
  });

  it('rejects interface names longer than IFNAMSIZ', () => {
    if (reason) return;
    expect(() => TunDevice.open('x'.repeat(20))).toThrow();
  });

  it.skipIf(reason !== undefined)(
    `reads a ping as a batch and writes the reply back${reason ? ` (skipped: ${reason})` : ''}`,
    async () => {
      await run('ip', ['netns', 'add', NS]);
      nsCreated = true;
      tun = TunDevice.open(IFNAME, { mtu: 1500 });
      expect(tun.name).toBe(IFNAME);
      // The fd keeps working after the link moves: the test's traffic stays inside NS.
      await run('ip', ['link', 'set', 'dev', IFNAME, 'netns', NS]);
      await linkUp(IFNAME, 1400, { netns: NS });
      await addAddress(IFNAME, '10.99.0.1/24', { netns: NS });
      await routeReplace('10.98.0.0/24', IFNAME, { netns: NS });

      const requests: Buffer[] = [];
      const batchSizes: number[] = [];
      let replyWithBatch = false;
      tun.onPackets((batch: PacketBatch) => {
        batchSizes.push(batch.count);
        const replies: Buffer[] = [];
        for (let i = 0; i < batch.count; i++) {
          const off = batch.offset(i);
          expect(off - batch.headroom).toBe(i * batch.slotSize);
          const pkt = Buffer.from(batch.slab.subarray(off, off + batch.lengths[i]!));
          if (pkt[0] >> 4 !== 4 || pkt[9] !== 1 || pkt[20] !== 8) continue; // only ICMP echo requests
          requests.push(pkt);
          // echo reply: swap addresses, type 0, fix checksums
          const reply = Buffer.from(pkt);
          pkt.copy(reply, 12, 16, 20);
          pkt.copy(reply, 16, 12, 16);
          reply[20] = 0;
          reply.writeUInt16BE(0, 22);
          reply.writeUInt16BE(internetChecksum(reply, 20, reply.length - 20), 22);
          reply.writeUInt16BE(0, 10);
          reply.writeUInt16BE(internetChecksum(reply, 0, 20), 10);
          replies.push(reply);
        }
        if (replies.length === 0) return;
        if (replyWithBatch) {
          expect(tun!.writeBatch(replies, replies.map(() => 0), replies.map((r) => r.length))).toBe(replies.length);
        } else {
          for (const r of replies) expect(tun!.writePacket(r, 0, r.length)).toBe(true);
        }
        replyWithBatch = !replyWithBatch;
      });

      // 10.98.0.7 is routed into the TUN; our replies make ping succeed.
      const { stdout } = await run('ip', ['netns', 'exec', NS, 'ping', '-c', '3', '-i', '0.2', '-W', '2', '10.98.0.7'], {
        timeout: 10_000,
      });
      expect(stdout).toMatch(/3 packets transmitted, 3 received/);
      expect(requests.length).toBeGreaterThanOrEqual(3);
      const first = requests[0]!;
      expect(first.subarray(12, 16).join('.')).toBe('10.99.0.1');
      expect(first.subarray(16, 20).join('.')).toBe('10.98.0.7');
      expect(batchSizes.every((n) => n >= 1 && n <= tun!.batchSize)).toBe(true);
    },
  );

  it.skipIf(reason !== undefined)(`reports a busy name as TunError${reason ? ` (skipped: ${reason})` : ''}`, () => {
    // A TUN opened without IFF_MULTI_QUEUE cannot be attached twice.
    const a = TunDevice.open(`${IFNAME}b`);
    try {
      let caught: unknown;
      try {
        TunDevice.open(`${IFNAME}b`).close();
      } catch (err) {
        caught = err;
      }
      expect(caught).toBeInstanceOf(TunError);
      expect((caught as TunError).code).toBe('EBUSY');
    } finally {
      a.close();
    }
  });
});
