import dgram from 'node:dgram';
import { afterEach, describe, expect, it } from 'vitest';
import type { UdpEndpoint } from '../../dataplane/backend.js';
import { UdpTransport, UdpTransportError } from '../../dataplane/udp-transport.js';

// Loopback only, ephemeral ports: nothing leaves the machine and parallel runs don't collide.
const LOOPBACK = '127.0.0.1';

interface Received {
  ike: Array<{ msg: Buffer; remote: UdpEndpoint; localPort: number }>;
  esp: Array<{ pkt: Buffer; remote: UdpEndpoint }>;
}

const opened: UdpTransport[] = [];
afterEach(async () => {
  await Promise.all(opened.splice(0).map((t) => t.close()));
});

async function startTransport(opts: { throwOnIke?: boolean } = {}): Promise<{ t: UdpTransport; rx: Received }> {
  const rx: Received = { ike: [], esp: [] };
  const t = new UdpTransport({
    bindAddress: LOOPBACK,
    ikePort: 0,
    nattPort: 0,
    onIke: (msg, remote, localPort) => {
      if (opts.throwOnIke) throw new Error('handler bug');
      rx.ike.push({ msg: Buffer.from(msg), remote, localPort });
    },
    onEsp: (pkt, remote) => rx.esp.push({ pkt: Buffer.from(pkt), remote }),
  });
  await t.start();
  opened.push(t);
  return { t, rx };
}

async function until(cond: () => boolean, what: string): Promise<void> {
  const deadline = Date.now() + 2000;
  while (!cond()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 5));
  }
}

async function rawSend(data: Buffer, port: number): Promise<void> {
  const s = dgram.createSocket('udp4');
  await new Promise<void>((resolve, reject) => s.send(data, port, LOOPBACK, (err) => (err ? reject(err) : resolve())));
  s.close();
}

describe('UdpTransport', () => {
  it('carries IKE on port 500 without a marker and on 4500 with the non-ESP marker stripped', async () => {
    const a = await startTransport();
    const b = await startTransport();
    const msg = Buffer.from('ike message bytes');
    a.t.sendIke(msg, { address: LOOPBACK, port: b.t.ports.ike }, a.t.ports.ike);
    a.t.sendIke(msg, { address: LOOPBACK, port: b.t.ports.natt }, a.t.ports.natt);
    await until(() => b.rx.ike.length === 2, 'two IKE messages');
    const byPort = new Map(b.rx.ike.map((r) => [r.localPort, r]));
    expect(byPort.get(b.t.ports.ike)!.msg).toEqual(msg);
    expect(byPort.get(b.t.ports.ike)!.remote).toEqual({ address: LOOPBACK, port: a.t.ports.ike });
    expect(byPort.get(b.t.ports.natt)!.msg).toEqual(msg);
    expect(byPort.get(b.t.ports.natt)!.remote).toEqual({ address: LOOPBACK, port: a.t.ports.natt });
    expect(b.rx.esp).toHaveLength(0);
  });

  it('puts the 4 zero bytes on the wire for IKE from the NAT-T port', async () => {
    const a = await startTransport();
    const sniff = dgram.createSocket('udp4');
    const got = new Promise<Buffer>((resolve) => sniff.once('message', (m) => resolve(m)));
    await new Promise<void>((resolve) => sniff.bind(0, LOOPBACK, () => resolve()));
    a.t.sendIke(Buffer.from([1, 2, 3]), { address: LOOPBACK, port: sniff.address().port }, a.t.ports.natt);
    expect([...(await got)]).toEqual([0, 0, 0, 0, 1, 2, 3]);
    sniff.close();
  });

  it('delivers ESP from a caller buffer it may reuse at once, and counts NAT-keepalives', async () => {
    const a = await startTransport();
    const b = await startTransport();
    const buf = Buffer.from('xxxx' + 'c0ffee01' + '00000001payload', 'latin1');
    const esp = Buffer.from(buf.subarray(4));
    a.t.sendEsp(buf, 4, buf.length - 4, { address: LOOPBACK, port: b.t.ports.natt });
    buf.fill(0); // the transport must have copied
    await rawSend(Buffer.from([0xff]), b.t.ports.natt);
    await rawSend(Buffer.from([0xab, 0xcd, 0xef]), b.t.ports.natt); // runt: still ESP (the ESP layer drops it)
    await until(() => b.rx.esp.length === 2 && b.t.stats.keepalivesIn === 1, 'ESP and keepalive');
    expect(b.rx.esp[0]!.pkt).toEqual(esp);
    expect(b.rx.esp[0]!.remote).toEqual({ address: LOOPBACK, port: a.t.ports.natt });
    expect([...b.rx.esp[1]!.pkt]).toEqual([0xab, 0xcd, 0xef]);
    expect(b.rx.ike).toHaveLength(0);
    expect(b.t.stats).toMatchObject({ espIn: 2, keepalivesIn: 1, ikeIn: 0 });
  });

  it('routes ESP to a handler set later with setEspHandler', async () => {
    const b = await startTransport();
    const seen: Buffer[] = [];
    b.t.setEspHandler((pkt) => seen.push(Buffer.from(pkt)));
    await rawSend(Buffer.from('0102030400000001', 'hex'), b.t.ports.natt);
    await until(() => seen.length === 1, 'ESP');
    expect(b.rx.esp).toHaveLength(0);
  });

  it('survives a throwing handler', async () => {
    const b = await startTransport({ throwOnIke: true });
    await rawSend(Buffer.from('00000000aabbcc', 'hex'), b.t.ports.natt);
    await rawSend(Buffer.from('aabbcc', 'hex'), b.t.ports.ike);
    await until(() => b.t.stats.rxDropped === 2, 'two dropped datagrams');
  });

  it('refuses to share a port (reuseAddr false) with a typed error', async () => {
    const a = await startTransport();
    const clash = new UdpTransport({ bindAddress: LOOPBACK, ikePort: 0, nattPort: a.t.ports.natt, onIke: () => undefined });
    await expect(clash.start()).rejects.toThrow(UdpTransportError);
    await clash.close();
  });
});
