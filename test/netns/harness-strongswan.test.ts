/**
 * Self-test of the strongSwan harness: two stock charons (kernel-libipsec, encap=yes,
 * PSK, ports 500) on gwA and gwB carry real traffic between hostA and hostB, and
 * teardown leaves no namespace and no process behind.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { canRunNetns, hasIperf3, hasStrongSwan, requireOrSkip, skipLabel } from '../helpers/env.js';
import { isAlive } from './lib/proc.js';
import {
  countRekeys,
  isCharon,
  parseListSasRaw,
  renderSwanctlConf,
  startStrongSwan,
  type StrongSwanHandle,
  UnsafeConfigValueError,
} from './lib/strongswan.js';
import { createSiteToSite, listNamespaces, ping, type SiteToSiteTopology, tcpTransfer, waitFor } from './lib/topology.js';

// Captured from `swanctl --list-sas --raw` of this harness (strongSwan 5.9.8).
const RAW_LIST_SAS =
  'list-sa event {s2s {uniqueid=1 version=2 state=ESTABLISHED local-host=192.0.2.1 local-port=4500 local-id=192.0.2.1 ' +
  'remote-host=192.0.2.2 remote-port=4500 remote-id=192.0.2.2 initiator=yes initiator-spi=54fcefbdb2181534 ' +
  'responder-spi=6cd00b594416ab8f nat-remote=yes nat-any=yes encr-alg=AES_GCM_16 encr-keysize=256 ' +
  'prf-alg=PRF_HMAC_SHA2_256 dh-group=CURVE_25519 established=0 rekey-time=13603 child-sas {net-1 {name=net ' +
  'uniqueid=1 reqid=1 state=INSTALLED mode=TUNNEL protocol=ESP encap=yes spi-in=48289fbd spi-out=216e8a01 ' +
  'encr-alg=AES_GCM_16 encr-keysize=256 bytes-in=252 packets-in=3 use-in=0 bytes-out=252 packets-out=3 use-out=0 ' +
  'rekey-time=3463 life-time=3960 install-time=0 local-ts=[10.1.0.0/24] remote-ts=[10.2.0.0/24]}}}}\n' +
  'list-sas reply {}\n';

describe('strongSwan harness helpers (no root needed)', () => {
  it('parses swanctl --list-sas --raw', () => {
    const [sa, ...rest] = parseListSasRaw(RAW_LIST_SAS);
    expect(rest).toEqual([]);
    expect(sa).toMatchObject({
      name: 's2s',
      state: 'ESTABLISHED',
      localPort: 4500,
      remotePort: 4500,
      initiator: true,
      initiatorSpi: '54fcefbdb2181534',
      responderSpi: '6cd00b594416ab8f',
      natRemote: true,
      natAny: true,
      encrAlg: 'AES_GCM_16-256',
      dhGroup: 'CURVE_25519',
    });
    expect(sa?.children).toEqual([
      expect.objectContaining({
        name: 'net',
        state: 'INSTALLED',
        encap: true,
        spiIn: '48289fbd',
        spiOut: '216e8a01',
        bytesIn: 252,
        packetsOut: 3,
        localTs: ['10.1.0.0/24'],
        remoteTs: ['10.2.0.0/24'],
      }),
    ]);
  });

  it('returns no SAs for an empty listing', () => {
    expect(parseListSasRaw('list-sas reply {}\n')).toEqual([]);
  });

  it('counts IKE and CHILD rekeys in a charon log', () => {
    const log = [
      '12[IKE] <s2s|1> inbound CHILD_SA net{2} established with SPIs a14ebab1_i a486d1e1_o and TS 10.2.0.0/24 === 10.1.0.0/24',
      '12[IKE] <s2s|1> outbound CHILD_SA net{2} established with SPIs a486d1e1_i a14ebab1_o and TS 10.1.0.0/24 === 10.2.0.0/24',
      '01[IKE] <s2s|1> IKE_SA s2s[2] rekeyed between 192.0.2.1[192.0.2.1]...192.0.2.2[192.0.2.2]',
      '01[IKE] <s2s|1> CHILD_SA net{1} established with SPIs 4a059c59_i 96e4f899_o and TS 10.1.0.0/24 === 10.2.0.0/24',
    ].join('\n');
    expect(countRekeys(log)).toEqual({ ike: 1, child: 1 });
  });

  it('renders swanctl.conf with a hex PSK and rejects values that could inject config', () => {
    const base = {
      localAddress: '192.0.2.1',
      remoteAddress: '192.0.2.2',
      localTs: ['10.1.0.0/24'],
      remoteTs: ['10.2.0.0/24'],
      psk: 'a "quoted" secret',
    };
    const conf = renderSwanctlConf({ ...base, childRekeyTime: 30, randTime: 0 });
    expect(conf).toContain(`secret = 0x${Buffer.from(base.psk).toString('hex')}`);
    expect(conf).toMatch(/encap = yes/);
    expect(conf).toMatch(/mobike = no/);
    expect(conf).toMatch(/local_port = 500\n\s+remote_port = 500/);
    expect(conf).toMatch(/rekey_time = 30s\n\s+rand_time = 0s/);
    expect(() => renderSwanctlConf({ ...base, remoteId: 'x }\nsecrets {' })).toThrow(UnsafeConfigValueError);
  });
});

describe.skipIf(requireOrSkip(canRunNetns, hasStrongSwan))(
  `strongSwan <-> strongSwan through the harness${skipLabel(canRunNetns, hasStrongSwan)}`,
  () => {
    let topo: SiteToSiteTopology;
    let swanA: StrongSwanHandle;
    let swanB: StrongSwanHandle;
    const psk = 'harness-self-test-psk';

    beforeAll(async () => {
      topo = await createSiteToSite('vgwh');
      const a = topo.addr;
      swanA = await startStrongSwan(topo, topo.ns.gwA, {
        localAddress: a.gwAWan,
        remoteAddress: a.gwBWan,
        localTs: [topo.nets.siteA],
        remoteTs: [topo.nets.siteB],
        psk,
      });
      swanB = await startStrongSwan(topo, topo.ns.gwB, {
        localAddress: a.gwBWan,
        remoteAddress: a.gwAWan,
        localTs: [topo.nets.siteB],
        remoteTs: [topo.nets.siteA],
        psk,
      });
    });
    afterAll(async () => {
      await topo?.destroy();
    });

    it('charon runs with a private /run and its own vici socket', () => {
      expect(isCharon(swanA.pid)).toBe(true);
      expect(isCharon(swanB.pid)).toBe(true);
      expect(swanA.viciUri).not.toBe(swanB.viciUri);
      expect(swanA.log()).toMatch(/created TUN device: ipsec0/);
    });

    it('establishes IKE and CHILD SAs with ESP-in-UDP on 4500', async () => {
      const init = await swanA.initiate();
      expect(init.ok, init.stdout + init.stderr).toBe(true);
      const saA = await swanA.waitForChild();
      const saB = await swanB.waitForChild();
      expect(saA).toMatchObject({ state: 'ESTABLISHED', initiator: true, localPort: 4500, remotePort: 4500 });
      expect(saB).toMatchObject({ state: 'ESTABLISHED', initiator: false, initiatorSpi: saA.initiatorSpi });
      const childA = saA.children.find((c) => c.name === 'net');
      const childB = saB.children.find((c) => c.name === 'net');
      expect(childA).toMatchObject({ encap: true, protocol: 'ESP', mode: 'TUNNEL' });
      expect(childA?.spiIn).toBe(childB?.spiOut);
      expect(childA?.spiOut).toBe(childB?.spiIn);
    });

    it('carries pings hostA -> hostB through the tunnel (3/3)', async () => {
      const before = (await swanA.listSas())[0]?.children[0]?.packetsOut ?? 0;
      const p = await ping(topo.ns.hostA, topo.addr.hostB, { count: 3, intervalS: 0.2 });
      expect(p.received, p.output).toBe(3);
      const after = (await swanA.listSas())[0]?.children[0]?.packetsOut ?? 0;
      expect(after - before).toBeGreaterThanOrEqual(3);
    });

    it('carries a TCP transfer hostA -> hostB (SHA-256 checked)', async () => {
      const result = await tcpTransfer(topo.ns.hostA, topo.ns.hostB, topo.addr.hostB, 2_000_000, { method: 'node' });
      expect(result, result.detail).toMatchObject({ ok: true, bytes: 2_000_000 });
    });

    it.skipIf(!hasIperf3.ok)('carries an iperf3 transfer hostB -> hostA', async () => {
      const result = await tcpTransfer(topo.ns.hostB, topo.ns.hostA, topo.addr.hostA, 1_000_000, { method: 'iperf3' });
      expect(result, result.detail).toMatchObject({ ok: true, method: 'iperf3' });
      expect(result.bytes).toBeGreaterThanOrEqual(1_000_000);
    });

    it('observes a CHILD_SA rekey and keeps forwarding', async () => {
      const oldSpi = (await swanA.listSas())[0]?.children[0]?.spiIn;
      const rekey = await swanA.rekey({ child: 'net' });
      expect(rekey.ok, rekey.stderr).toBe(true);
      await waitFor(() => swanA.rekeyCounts().child >= 1 && swanB.rekeyCounts().child >= 1, 10_000, 100, 'CHILD rekey on both');
      const sas = await swanA.waitForChild();
      const installed = sas.children.filter((c) => c.state === 'INSTALLED');
      expect(installed.map((c) => c.spiIn)).not.toContain(oldSpi);
      const p = await ping(topo.ns.hostA, topo.addr.hostB, { count: 2, intervalS: 0.2 });
      expect(p.received, p.output).toBe(2);
    });

    it('terminate() tears the IKE SA down on both sides', async () => {
      const term = await swanA.terminate();
      expect(term.ok, term.stderr).toBe(true);
      await waitFor(async () => (await swanB.listSas()).length === 0, 10_000, 200, 'gwB to drop the IKE SA');
      const p = await ping(topo.ns.hostA, topo.addr.hostB, { count: 1, timeoutS: 1 });
      expect(p.received).toBe(0);
    });

    it('teardown leaves no namespace and no process behind', async () => {
      const pids = topo.processes().map((h) => h.pid);
      expect(pids).toContain(swanA.pid);
      await swanA.stop(); // explicit stop path (checks /proc/PID/exe)
      expect(isAlive(swanA.pid)).toBe(false);
      await topo.destroy();
      expect(listNamespaces().filter((n) => n.startsWith('vgwh-'))).toEqual([]);
      for (const pid of pids) expect(isAlive(pid), `pid ${pid}`).toBe(false);
    });
  },
);
