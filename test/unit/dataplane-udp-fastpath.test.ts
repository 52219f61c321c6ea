import dgram from 'node:dgram';
import { afterEach, describe, expect, it } from 'vitest';
import type { UdpEndpoint } from '../../dataplane/backend.js';
import { ipv4ToUint32 } from '../../dataplane/ipv4.js';
import { fastPathAddon } from '../../dataplane/native.js';
import { UdpTransport } from '../../dataplane/udp-transport.js';

// The addon-owned NAT-T socket: recvmmsg batches (UDP GRO super-datagrams
// split back into datagrams), sendmmsg with UDP GSO runs, IKE and
// keepalives demultiplexed exactly like the dgram socket. Loopback only.
const LOOPBACK = '127.0.0.1';
const skip = fastPathAddon() === undefined ? ' (skipped: vgw_tun addon not built)' : '';

interface Raw {
  bytes: Buffer;
  src: number;
  port: number;
}

const opened: UdpTransport[] = [];
afterEach(async () => {
  await Promise.all(opened.splice(0).map((t) => t.close()));
});

async function start(fastPath: boolean): Promise<{ t: UdpTransport; raw: Raw[]; legacy: Buffer[]; ike: Buffer[]; batchEnds: number[] }> {
  const raw: Raw[] = [];
  const legacy: Buffer[] = [];
  const ike: Buffer[] = [];
  const batchEnds: number[] = [];
  const t = new UdpTransport({
    bindAddress: LOOPBACK,
    ikePort: 0,
    nattPort: 0,
    fastPath,
    onIke: (msg) => ike.push(Buffer.from(msg)),
    onEsp: (pkt) => legacy.push(Buffer.from(pkt)),
  });
  await t.start();
  opened.push(t);
  t.setEspRawHandler(
    (buf, off, len, src, port) => raw.push({ bytes: Buffer.from(buf.subarray(off, off + len)), src, port }),
    () => batchEnds.push(raw.length),
  );
  return { t, raw, legacy, ike, batchEnds };
}

async function until(cond: () => boolean, what: string): Promise<void> {
  const deadline = Date.now() + 3000;
  while (!cond()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 5));
  }
}

function espDatagram(i: number, len: number): Buffer {
  const b = Buffer.alloc(len, i & 0xff);
  b.writeUInt32BE(0x1000 + (i % 3), 0); // SPI, never 0 (0 = IKE marker)
  b.writeUInt32BE(i, 4);
  return b;
}

describe(`UdpTransport fast path (recvmmsg/sendmmsg)${skip}`, () => {
  it.skipIf(skip !== '')('is used for IPv4 and can be turned off', async () => {
    expect((await start(true)).t.fastPath).toBe(true);
    expect((await start(false)).t.fastPath).toBe(false);
  });

  it.skipIf(skip !== '')(
    'sends queued ESP with few syscalls and delivers every datagram in order, split back from GRO',
    async () => {
      const a = await start(true);
      const b = await start(true);
      const to: UdpEndpoint = { address: LOOPBACK, port: b.t.ports.natt };
      const sent: Buffer[] = [];
      // equal sizes (one GSO run), then a shorter one, then mixed sizes
      for (let i = 0; i < 150; i++) {
        const len = i < 100 ? 1400 : i === 100 ? 600 : 100 + ((i * 37) % 1300);
        const d = espDatagram(i, len);
        sent.push(d);
        a.t.sendEsp(d, 0, d.length, to);
        d.fill(0xee, 8); // the transport copied it: the caller may reuse its buffer at once
      }
      a.t.flush();
      await until(() => b.raw.length >= 150, '150 ESP datagrams');
      expect(b.raw.map((r) => r.bytes.readUInt32BE(4))).toEqual(sent.map((_, i) => i));
      for (const [i, r] of b.raw.entries()) {
        const expected = espDatagram(i, sent[i]!.length);
        expect(r.bytes.equals(expected)).toBe(true);
        expect(r.src).toBe(ipv4ToUint32(LOOPBACK));
        expect(r.port).toBe(a.t.ports.natt);
      }
      expect(a.t.stats.espOut).toBe(150);
      expect(a.t.stats.espBatches).toBeLessThanOrEqual(3); // 64 per sendmmsg
      expect(b.t.stats.espIn).toBe(150);
      expect(b.legacy).toHaveLength(0); // the raw handler takes precedence
      expect(b.batchEnds.length).toBeGreaterThanOrEqual(1); // batch-end hook ran
      expect(b.batchEnds.at(-1)).toBe(150);
    },
  );

  it.skipIf(skip !== '')('sends borrowed buffers without copying and keeps order when mixed with copied ones', async () => {
    const a = await start(true);
    const b = await start(true);
    const to: UdpEndpoint = { address: LOOPBACK, port: b.t.ports.natt };
    const lent = Buffer.alloc(10 * 1500);
    const expected: Buffer[] = [];
    for (let i = 0; i < 10; i++) {
      const d = espDatagram(i, 700);
      expected.push(d);
      if (i % 4 === 3) {
        a.t.sendEsp(d, 0, d.length, to); // copied
      } else {
        d.copy(lent, i * 1500);
        a.t.sendEspBorrowed(lent, i * 1500, d.length, to); // lent until flush()
      }
    }
    a.t.flush();
    lent.fill(0); // after flush the lender may reuse its buffer
    await until(() => b.raw.length === 10, 'ten datagrams');
    expect(b.raw.map((r) => r.bytes)).toEqual(expected);
  });

  it.skipIf(skip !== '')('sends on its own at the end of the tick when nobody calls flush()', async () => {
    const a = await start(true);
    const b = await start(true);
    a.t.sendEsp(espDatagram(7, 200), 0, 200, { address: LOOPBACK, port: b.t.ports.natt });
    await until(() => b.raw.length === 1, 'one datagram');
    expect(b.raw[0]!.bytes.readUInt32BE(4)).toBe(7);
  });

  it.skipIf(skip !== '')('keeps IKE (non-ESP marker) and keepalives off the ESP path, both directions', async () => {
    const a = await start(true);
    const b = await start(true);
    const msg = Buffer.from('IKE_SA_INIT bytes');
    a.t.sendIke(msg, { address: LOOPBACK, port: b.t.ports.natt }, a.t.ports.natt);
    a.t.sendKeepalive({ address: LOOPBACK, port: b.t.ports.natt });
    await until(() => b.ike.length === 1 && b.t.stats.keepalivesIn === 1, 'IKE + keepalive');
    expect(b.ike[0]).toEqual(msg);
    expect(b.raw).toHaveLength(0);
    // from a plain dgram socket too (the peer may be anything)
    const s = dgram.createSocket('udp4');
    await new Promise<void>((resolve, reject) =>
      s.send(Buffer.concat([Buffer.alloc(4), msg]), b.t.ports.natt, LOOPBACK, (err) => (err ? reject(err) : resolve())),
    );
    s.close();
    await until(() => b.ike.length === 2, 'second IKE');
  });

  it.skipIf(skip !== '')('receives a datagram too big for a send slot (jumbo path) intact', async () => {
    const a = await start(true);
    const b = await start(true);
    const big = espDatagram(9, 9000);
    a.t.sendEsp(big, 0, big.length, { address: LOOPBACK, port: b.t.ports.natt });
    await until(() => b.raw.length === 1, 'the jumbo datagram');
    expect(b.raw[0]!.bytes.equals(big)).toBe(true);
  });

  it.skipIf(skip !== '')('interoperates with the dgram fallback on the other side', async () => {
    const fast = await start(true);
    const slow = await start(false);
    const d = espDatagram(3, 500);
    fast.t.sendEsp(d, 0, d.length, { address: LOOPBACK, port: slow.t.ports.natt });
    slow.t.sendEsp(d, 0, d.length, { address: LOOPBACK, port: fast.t.ports.natt });
    fast.t.flush();
    await until(() => slow.raw.length + slow.legacy.length === 1 && fast.raw.length === 1, 'both directions');
    expect(fast.raw[0]!.bytes.equals(d)).toBe(true);
  });

  it.skipIf(skip !== '')('refuses a port already in use with UdpTransportError', async () => {
    const a = await start(true);
    const t = new UdpTransport({ bindAddress: LOOPBACK, ikePort: 0, nattPort: a.t.ports.natt, onIke: () => undefined });
    await expect(t.start()).rejects.toThrow(/cannot bind UDP/);
  });
});
