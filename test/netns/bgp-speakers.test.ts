/**
 * Our speaker against itself, both sides active at once (so the RFC 4271 §6.8
 * collision path is exercised whenever both SYNs cross), with a 4-octet ASN
 * on one side and a hold timer that is made to expire by freezing one process.
 *
 *   vgwtest-bgp-s1  198.51.100.1/24  AS4200000001 ── vbgp0 ═ vbgp0 ── vgwtest-bgp-s2  198.51.100.2/24  AS65002
 *   originates 10.201.1.0/24                                           originates 10.202.1.0/24
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildHarness, createPair, deletePair, firstPeer, isRoot, startSpeaker, waitFor, type SpeakerProcess } from './bgp-helpers.js';

const NS1 = 'vgwtest-bgp-s1';
const NS2 = 'vgwtest-bgp-s2';
const IP1 = '198.51.100.1';
const IP2 = '198.51.100.2';
const ASN1 = 4200000001;

const skipReason = !isRoot() ? 'needs root for network namespaces' : undefined;
if (skipReason) console.warn(`bgp-speakers.test.ts skipped: ${skipReason}`);

describe.skipIf(skipReason !== undefined)('two of our speakers in network namespaces', () => {
  let s1: SpeakerProcess | undefined;
  let s2: SpeakerProcess | undefined;

  beforeAll(async () => {
    buildHarness();
    createPair(NS1, IP1, NS2, IP2);
    const common = { listen: { address: '0.0.0.0', port: 179 }, connectRetryTime: 2, idleHoldTime: 1 };
    [s1, s2] = await Promise.all([
      startSpeaker(NS1, { ...common, localAsn: ASN1, routerId: IP1, peers: [{ address: IP2, asn: 65002, holdTime: 3 }], originate: ['10.201.1.0/24'] }),
      startSpeaker(NS2, { ...common, localAsn: 65002, routerId: IP2, peers: [{ address: IP1, asn: ASN1, holdTime: 3 }], originate: ['10.202.1.0/24'] }),
    ]);
  }, 120_000);

  afterAll(async () => {
    for (const s of [s1, s2]) {
      if (s?.child.pid !== undefined) {
        try {
          process.kill(s.child.pid, 'SIGCONT');
        } catch {
          /* gone */
        }
      }
      await s?.request('quit', 3_000).catch(() => undefined);
      s?.kill();
    }
    deletePair(NS1, NS2);
  });

  const established = async (s: SpeakerProcess | undefined): Promise<boolean> => {
    const st = s ? await s.request('status') : {};
    return firstPeer(st)?.state === 'Established' && st['learned'] === 1;
  };

  it('establishes exactly one session (collision resolved) and exchanges routes with a 4-octet ASN', async () => {
    await waitFor('both Established', 30_000, async () => (await established(s1)) && (await established(s2)));
    const st2 = (await s2?.request('status')) ?? {};
    expect((st2['routes'] as Record<string, string>)['10.201.1.0/24']).toBe(`${ASN1} via ${IP1} (onlyPath)`);
    const st1 = (await s1?.request('status')) ?? {};
    expect((st1['routes'] as Record<string, string>)['10.202.1.0/24']).toBe(`65002 via ${IP2} (onlyPath)`);
    expect(firstPeer(st1)).toMatchObject({ holdTime: 3, advertised: 1, received: 1 });
    const log = `${s1?.stderr() ?? ''}${s2?.stderr() ?? ''}`;
    if (process.env['VGW_TEST_DUMP']) console.log(log);
    // If the connections crossed, the collision was resolved in favour of the higher identifier's connection.
    if (/connection collision/.test(log)) expect(log).toMatch(/keeping the (locallyInitiated|remotelyInitiated) connection/);
  }, 40_000);

  it('a frozen peer makes the hold timer expire (NOTIFICATION 4/0), and the session recovers', async () => {
    const pid = s2?.child.pid;
    if (pid === undefined) throw new Error('no s2 pid');
    process.kill(pid, 'SIGSTOP');
    try {
      await waitFor('s1 hold timer expiry', 15_000, () => /holdTimerExpired/.test(s1?.stderr() ?? ''));
      const p = firstPeer((await s1?.request('status')) ?? {});
      expect(p?.lastError).toMatch(/sent Hold Timer Expired 4\/0/);
    } finally {
      process.kill(pid, 'SIGCONT');
    }
    await waitFor('both Established again', 30_000, async () => (await established(s1)) && (await established(s2)));
  }, 60_000);
});

/**
 * Deterministic collision (RFC 4271 §6.8): a scripted raw peer (our codecs, no FSM) in
 * vgwtest-bgp-c2 accepts the speaker's connection (A), and once the speaker's OPEN arrived
 * on A opens its own (B), then answers both OPENs at once. Remote id 198.51.100.2 > local 198.51.100.1, so the speaker must
 * keep B (remotely initiated), close A with Cease/7, and establish on B.
 */
const RAW_PEER = `
import net from 'node:net';
const { BgpFramer, decodeMessage, encodeOpen, buildLocalOpen, KEEPALIVE, encodeUpdate } = await import(process.argv[1]);
const out = (o) => process.stdout.write(JSON.stringify(o) + '\\n');
const conns = {};
function wire(name, sock) {
  const framer = new BgpFramer();
  conns[name] = { sock, gotOpen: false };
  sock.on('data', (d) => {
    for (const f of framer.push(d)) {
      const m = decodeMessage(f, { fourOctetAs: true });
      out({ conn: name, type: m.type, code: m.code, subcode: m.subcode });
      if (m.type === 1) {
        conns[name].gotOpen = true;
        // only now (speaker's FSM on A is in OpenSent) open B, so B becomes a second connection
        if (name === 'A') { const b = net.connect({ host: '198.51.100.1', port: 179 }, () => wire('B', b)); }
        maybeOpen();
      }
      if (m.type === 4 && name === 'B' && !conns.B.sentKa) {
        conns.B.sentKa = true;
        sock.write(KEEPALIVE);
        sock.write(encodeUpdate({ attributes: { origin: 0, asPath: [{ type: 2, asns: [65002] }], nextHop: '198.51.100.2' }, nlri: ['10.202.9.0/24'] }, { fourOctetAs: true }));
      }
    }
  });
  sock.on('close', () => out({ conn: name, closed: true }));
  sock.on('error', () => {});
}
let opened = false;
function maybeOpen() {
  if (opened || !conns.A?.gotOpen || !conns.B?.gotOpen) return;
  opened = true;
  const open = encodeOpen(buildLocalOpen(65002, 90, '198.51.100.2'));
  conns.A.sock.write(open);
  conns.B.sock.write(open);
}
const server = net.createServer((sock) => wire('A', sock));
server.listen(179, '198.51.100.2', () => out({ ready: true }));
setTimeout(() => process.exit(0), 30000).unref();
`;

describe.skipIf(skipReason !== undefined)('connection collision against a scripted peer', () => {
  const NSC1 = 'vgwtest-bgp-c1';
  const NSC2 = 'vgwtest-bgp-c2';
  let us: SpeakerProcess | undefined;
  let raw: import('node:child_process').ChildProcess | undefined;
  const events: Record<string, unknown>[] = [];

  beforeAll(async () => {
    buildHarness();
    createPair(NSC1, IP1, NSC2, IP2);
    const { spawn } = await import('node:child_process');
    const { createInterface } = await import('node:readline');
    const { HARNESS } = await import('./bgp-helpers.js');
    const indexJs = HARNESS.replace(/cli-test-speaker\.js$/, 'index.js');
    raw = spawn('ip', ['netns', 'exec', NSC2, process.execPath, '--input-type=module', '-e', RAW_PEER, indexJs], { stdio: ['ignore', 'pipe', 'inherit'] });
    createInterface({ input: raw.stdout as NodeJS.ReadableStream }).on('line', (l) => events.push(JSON.parse(l) as Record<string, unknown>));
    await waitFor('raw peer listening', 10_000, () => events.some((e) => e['ready']));
    us = await startSpeaker(NSC1, {
      localAsn: 65001,
      routerId: IP1,
      listen: { address: '0.0.0.0', port: 179 },
      connectRetryTime: 30,
      idleHoldTime: 30,
      peers: [{ address: IP2, asn: 65002 }],
    });
  }, 60_000);

  afterAll(async () => {
    await us?.request('quit', 3_000).catch(() => undefined);
    us?.kill();
    if (raw?.pid !== undefined && raw.exitCode === null) process.kill(raw.pid, 'SIGKILL');
    deletePair(NSC1, NSC2);
  });

  it('closes the locally initiated connection with Cease/7 and establishes on the other', async () => {
    await waitFor('Cease/7 on connection A', 15_000, () => events.some((e) => e['conn'] === 'A' && e['type'] === 3 && e['code'] === 6 && e['subcode'] === 7)).catch((e: Error) => {
      throw new Error(`${e.message}\nraw peer events: ${JSON.stringify(events)}\nspeaker log:\n${us?.stderr().slice(-4000)}`);
    });
    const st = await waitFor('Established on B with the route', 15_000, async () => {
      const s = (await us?.request('status')) ?? {};
      return firstPeer(s)?.state === 'Established' && s['learned'] === 1 ? s : undefined;
    });
    expect((st['routes'] as Record<string, string>)['10.202.9.0/24']).toBe(`65002 via ${IP2} (onlyPath)`);
    expect(events.filter((e) => e['conn'] === 'B' && e['type'] === 3)).toEqual([]); // B never got a NOTIFICATION
    expect(us?.stderr()).toMatch(/connection collision, keeping the remotelyInitiated connection/);
  }, 40_000);
});
