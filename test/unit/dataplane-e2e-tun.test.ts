/**
 * Full path with real parts: ping in netns A → TUN A → EspDataplane A → ESP in
 * UDP (loopback) → EspDataplane B → TUN B → netns B, and the reply back.
 * Needs root; the namespaces are created and deleted by this test.
 */
import { execFile } from 'node:child_process';
import { existsSync } from 'node:fs';
import { promisify } from 'node:util';
import { randomBytes } from 'node:crypto';
import { afterAll, describe, expect, it } from 'vitest';
import type { ChildSaInstall, EspSaKeys } from '../../dataplane/backend.js';
import { EspDataplane } from '../../dataplane/forwarder.js';
import { addAddress, linkUp, routeReplace } from '../../dataplane/iproute.js';
import { loadTunAddon, TunDevice } from '../../dataplane/tun.js';
import { UdpTransport } from '../../dataplane/udp-transport.js';

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
const tag = process.pid % 100000;
const NS_A = `vgwtest-e2ea-${process.pid}`;
const NS_B = `vgwtest-e2eb-${process.pid}`;

const keys = (spi: number): EspSaKeys => ({ spi, cipher: 'aes-gcm-16', encKey: randomBytes(36), integ: 'none', integKey: Buffer.alloc(0) });

describe('EspDataplane over real TUN devices and UDP', () => {
  const cleanup: Array<() => Promise<unknown> | void> = [];
  afterAll(async () => {
    for (const step of cleanup.reverse()) await Promise.resolve(step()).catch(() => undefined);
  });

  it.skipIf(reason !== undefined)(`ping crosses two dataplanes and comes back${reason ? ` (skipped: ${reason})` : ''}`, async () => {
    for (const ns of [NS_A, NS_B]) {
      await run('ip', ['netns', 'add', ns]);
      cleanup.push(() => run('ip', ['netns', 'del', ns]));
    }
    const setups = [
      { ns: NS_A, ifname: `vgwea${tag}`, addr: '10.91.0.1/24', remote: '10.92.0.0/24' },
      { ns: NS_B, ifname: `vgweb${tag}`, addr: '10.92.0.1/24', remote: '10.91.0.0/24' },
    ];
    const tuns: TunDevice[] = [];
    for (const s of setups) {
      const tun = TunDevice.open(s.ifname, { mtu: 1500 });
      cleanup.push(() => tun.close());
      tuns.push(tun);
      await run('ip', ['link', 'set', 'dev', s.ifname, 'netns', s.ns]);
      await linkUp(s.ifname, 1400, { netns: s.ns });
      await addAddress(s.ifname, s.addr, { netns: s.ns });
      await routeReplace(s.remote, s.ifname, { netns: s.ns });
    }
    const transports = [0, 1].map(() => new UdpTransport({ bindAddress: '127.0.0.1', ikePort: 0, nattPort: 0, onIke: () => undefined }));
    for (const t of transports) {
      await t.start();
      cleanup.push(() => t.close());
    }
    const [ta, tb] = transports as [UdpTransport, UdpTransport];
    const a = new EspDataplane({ tun: tuns[0]!, transport: ta, mtu: 1500 });
    const b = new EspDataplane({ tun: tuns[1]!, transport: tb, mtu: 1500 });
    const ab = keys(0xa0000001);
    const ba = keys(0xb0000001);
    const netA = { start: '10.91.0.0', end: '10.91.0.255' };
    const netB = { start: '10.92.0.0', end: '10.92.0.255' };
    const common = { id: 'e2e', connection: 'net', localPort: 4500 };
    const saA: ChildSaInstall = { ...common, inbound: ba, outbound: ab, peer: { address: '127.0.0.1', port: tb.ports.natt }, tsLocal: [netA], tsRemote: [netB] };
    const saB: ChildSaInstall = { ...common, inbound: ab, outbound: ba, peer: { address: '127.0.0.1', port: ta.ports.natt }, tsLocal: [netB], tsRemote: [netA] };
    a.installChildSa(saA);
    b.installChildSa(saB);

    const { stdout } = await run('ip', ['netns', 'exec', NS_A, 'ping', '-c', '3', '-i', '0.2', '-W', '2', '-s', '1000', '10.92.0.1'], { timeout: 10_000 });
    expect(stdout).toMatch(/3 packets transmitted, 3 received/);
    expect(a.counters('e2e')).toMatchObject({ outPackets: 3, inPackets: 3, drops: {} });
    expect(b.counters('e2e')).toMatchObject({ outPackets: 3, inPackets: 3, drops: {} });
    expect(tb.stats.espIn).toBe(3);
  });
});
