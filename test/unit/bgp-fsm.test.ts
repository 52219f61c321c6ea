/**
 * FSM tests with a ManualClock and a fake host that records what the FSM asks
 * for. Exchange drawn per test:
 *
 *   us (AS65001, 203.0.113.1)              peer (AS65002, 203.0.113.2)
 *   manualStart → connect()
 *   tcpConnected ──── OPEN ───────────────►
 *                ◄─── OPEN ───────────────  (test injects)
 *                ──── KEEPALIVE ──────────►
 *                ◄─── KEEPALIVE ──────────  → Established
 */
import { describe, expect, it } from 'vitest';
import { ManualClock } from '../../bgp/clock.js';
import { BgpFsm, BgpState, ceaseError, collisionKeeps, type FsmHost, type TransitionReason } from '../../bgp/fsm.js';
import { decodeMessage } from '../../bgp/message.js';
import { buildLocalOpen, decodeOpen, encodeOpen, type OpenMessage } from '../../bgp/open.js';
import { MessageType } from '../../bgp/constants.js';
import { decodeNotification } from '../../bgp/notification.js';

const silent = { info() {}, warn() {}, debug() {} };

function peerOpen(over: Partial<Omit<OpenMessage, 'type'>> = {}, asn = 65002, hold = 90): OpenMessage {
  return decodeOpen(encodeOpen({ ...buildLocalOpen(asn, hold, '203.0.113.2'), ...over }));
}

function setup(opts: { holdTime?: number; passive?: boolean; collision?: FsmHost['collision'] } = {}) {
  const clock = new ManualClock();
  const sent: Buffer[] = [];
  const log: { from: BgpState; to: BgpState; reason: TransitionReason }[] = [];
  const calls = { connect: 0, disconnect: 0, established: 0, down: [] as TransitionReason[] };
  const host: FsmHost = {
    connect: () => void calls.connect++,
    send: (b) => void sent.push(Buffer.from(b)),
    disconnect: () => void calls.disconnect++,
    established: () => void calls.established++,
    down: (r) => void calls.down.push(r),
    transition: (from, to, reason) => void log.push({ from, to, reason }),
    ...(opts.collision ? { collision: opts.collision } : {}),
  };
  const fsm = new BgpFsm(
    { localAsn: 65001, routerId: '203.0.113.1', peerAsn: 65002, peerAddress: '203.0.113.2', holdTime: opts.holdTime ?? 90, connectRetryTime: 30, passive: opts.passive ?? false, idleHoldTime: 5 },
    host,
    clock,
    silent,
  );
  const types = (): string[] => sent.map((b) => MessageType[b[18] as number] ?? '?');
  const lastNotification = () => {
    const b = sent[sent.length - 1];
    if (!b || b[18] !== MessageType.Notification) throw new Error('last message is not a NOTIFICATION');
    return decodeNotification(b);
  };
  const establish = (open = peerOpen()): void => {
    fsm.handle({ type: 'manualStart' });
    fsm.handle({ type: 'tcpConnected', outgoing: true });
    fsm.handle({ type: 'message', message: open });
    fsm.handle({ type: 'message', message: { type: MessageType.Keepalive } });
  };
  return { clock, sent, log, calls, fsm, types, lastNotification, establish };
}

describe('BGP FSM', () => {
  it('active open handshake reaches Established with a reason on each transition', () => {
    const t = setup();
    t.establish();
    expect(t.fsm.state).toBe(BgpState.Established);
    expect(t.log.map((l) => `${l.from}->${l.to}:${l.reason}`)).toEqual([
      'Idle->Connect:manualStart',
      'Connect->OpenSent:tcpConnected',
      'OpenSent->OpenConfirm:openReceived',
      'OpenConfirm->Established:keepaliveReceived',
    ]);
    expect(t.calls.connect).toBe(1);
    expect(t.types()).toEqual(['Open', 'Keepalive']);
    const ourOpen = decodeMessage(t.sent[0] as Buffer, { fourOctetAs: true });
    expect(ourOpen).toMatchObject({ myAsField: 65001, holdTime: 90, bgpId: '203.0.113.1' });
    expect(t.fsm.negotiated).toMatchObject({ holdTime: 90, keepaliveTime: 30, fourOctetAs: true, enhancedRouteRefresh: true });
    expect(t.calls.established).toBe(1);
  });

  it('passive mode waits in Active and never connects', () => {
    const t = setup({ passive: true });
    t.fsm.handle({ type: 'manualStart' });
    expect(t.fsm.state).toBe(BgpState.Active);
    t.clock.advance(100_000);
    expect(t.calls.connect).toBe(0);
    t.fsm.handle({ type: 'tcpConnected', outgoing: false });
    expect(t.fsm.state).toBe(BgpState.OpenSent);
  });

  it('connect failure goes to Active, ConnectRetry expiry tries again', () => {
    const t = setup();
    t.fsm.handle({ type: 'manualStart' });
    t.fsm.handle({ type: 'tcpFailed' });
    expect(t.fsm.state).toBe(BgpState.Active);
    t.clock.advance(29_999);
    expect(t.calls.connect).toBe(1);
    t.clock.advance(1);
    expect(t.fsm.state).toBe(BgpState.Connect);
    expect(t.calls.connect).toBe(2);
  });

  it('keepalive cadence is hold/3 with the negotiated (smaller) hold time', () => {
    const t = setup({ holdTime: 90 });
    t.establish(peerOpen({}, 65002, 9));
    expect(t.fsm.negotiated?.holdTime).toBe(9);
    const before = t.sent.length;
    t.clock.advance(2_999);
    expect(t.sent.length).toBe(before);
    // the peer keeps us alive
    for (let i = 0; i < 3; i++) {
      t.clock.advance(1);
      t.fsm.handle({ type: 'message', message: { type: MessageType.Keepalive } });
      t.clock.advance(2_999);
    }
    expect(t.types().slice(before)).toEqual(['Keepalive', 'Keepalive', 'Keepalive']);
    expect(t.fsm.state).toBe(BgpState.Established);
  });

  it('hold timer expiry sends NOTIFICATION 4/0 and goes Idle, then restarts automatically', () => {
    const t = setup();
    t.establish(peerOpen({}, 65002, 9));
    t.clock.advance(9_000);
    expect(t.fsm.state).toBe(BgpState.Idle);
    expect(t.lastNotification()).toMatchObject({ code: 4, subcode: 0 });
    expect(t.log[t.log.length - 1]?.reason).toBe('holdTimerExpired');
    expect(t.calls.down).toEqual(['holdTimerExpired']);
    t.clock.advance(5_000); // idle hold
    expect(t.fsm.state).toBe(BgpState.Connect);
  });

  it('hold time 0 means no keepalives and no hold timer', () => {
    const t = setup({ holdTime: 0 });
    t.establish(peerOpen({}, 65002, 0));
    const n = t.sent.length;
    t.clock.advance(3_600_000);
    expect(t.fsm.state).toBe(BgpState.Established);
    expect(t.sent.length).toBe(n);
  });

  it.each([
    ['wrong peer AS', peerOpen({}, 65099), 2, 2],
    ['unsupported version', peerOpen({ version: 3 }), 2, 1],
    ['hold time 2', peerOpen({ holdTime: 2 }), 2, 6],
    ['hold time 1', peerOpen({ holdTime: 1 }), 2, 6],
    ['zero BGP identifier', peerOpen({ bgpId: '0.0.0.0' }), 2, 3],
  ] as const)('bad OPEN (%s) → NOTIFICATION %i/%i', (_name, open, code, subcode) => {
    const t = setup();
    t.fsm.handle({ type: 'manualStart' });
    t.fsm.handle({ type: 'tcpConnected', outgoing: true });
    t.fsm.handle({ type: 'message', message: open });
    expect(t.fsm.state).toBe(BgpState.Idle);
    expect(t.lastNotification()).toMatchObject({ code, subcode });
    expect(t.log[t.log.length - 1]?.reason).toBe('openRejected');
    if (code === 2 && subcode === 1) expect(Array.from(t.lastNotification().data)).toEqual([0, 4]);
  });

  it('unexpected UPDATE in OpenSent → FSM error 5/1', () => {
    const t = setup();
    t.fsm.handle({ type: 'manualStart' });
    t.fsm.handle({ type: 'tcpConnected', outgoing: true });
    t.fsm.handle({ type: 'message', message: { type: MessageType.Update, withdrawn: [], nlri: [], attributes: {}, errors: [], treatAsWithdraw: false } });
    expect(t.lastNotification()).toMatchObject({ code: 5, subcode: 1 });
  });

  it('OpenSent hold timer is the large 240 s value', () => {
    const t = setup();
    t.fsm.handle({ type: 'manualStart' });
    t.fsm.handle({ type: 'tcpConnected', outgoing: true });
    t.clock.advance(239_999);
    expect(t.fsm.state).toBe(BgpState.OpenSent);
    t.clock.advance(1);
    expect(t.lastNotification()).toMatchObject({ code: 4, subcode: 0 });
  });

  it('received NOTIFICATION (admin shutdown) → Idle with notificationReceived', () => {
    const t = setup();
    t.establish();
    t.fsm.handle({ type: 'message', message: { type: MessageType.Notification, code: 6, subcode: 2, data: new Uint8Array(0) } });
    expect(t.fsm.state).toBe(BgpState.Idle);
    expect(t.calls.down).toEqual(['notificationReceived']);
  });

  it('manualStop sends Cease/2 with the shutdown communication and does not restart', () => {
    const t = setup();
    t.establish();
    t.fsm.handle({ type: 'manualStop', shutdownCommunication: 'bye' });
    expect(t.lastNotification()).toMatchObject({ code: 6, subcode: 2, shutdownCommunication: 'bye' });
    t.clock.advance(600_000);
    expect(t.fsm.state).toBe(BgpState.Idle);
  });

  it('a nested reset from the UPDATE callback (max-prefix) transitions exactly once', () => {
    const t = setup();
    let fsmRef: BgpFsm | undefined;
    const downs: TransitionReason[] = [];
    const clock = new ManualClock();
    const host: FsmHost = {
      connect() {},
      send: (b) => void t.sent.push(Buffer.from(b)),
      disconnect() {},
      update: () => void fsmRef?.handle({ type: 'localError', error: ceaseError(1, 'limit') }),
      down: (r) => void downs.push(r),
    };
    const fsm = new BgpFsm({ localAsn: 65001, routerId: '203.0.113.1', peerAsn: 65002, peerAddress: '203.0.113.2' }, host, clock, silent);
    fsmRef = fsm;
    fsm.handle({ type: 'manualStart' });
    fsm.handle({ type: 'tcpConnected', outgoing: true });
    fsm.handle({ type: 'message', message: peerOpen() });
    fsm.handle({ type: 'message', message: { type: MessageType.Keepalive } });
    const r = fsm.handle({ type: 'message', message: { type: MessageType.Update, withdrawn: [], nlri: ['10.0.0.0/24'], attributes: {}, errors: [], treatAsWithdraw: false } });
    expect(r.next).toBe(BgpState.Idle);
    expect(downs).toEqual(['notificationSent']);
    expect(t.lastNotification()).toMatchObject({ code: 6, subcode: 1 });
  });

  it('collision: the connection initiated by the higher BGP identifier survives (RFC 4271 §6.8)', () => {
    expect(collisionKeeps('203.0.113.1', '203.0.113.2')).toBe('remotelyInitiated');
    expect(collisionKeeps('203.0.113.9', '203.0.113.2')).toBe('locallyInitiated');
    expect(collisionKeeps('10.0.0.1', '9.255.255.255')).toBe('locallyInitiated');
    // Our outgoing connection receives the peer's OPEN while its incoming one is in OpenConfirm:
    // local id 203.0.113.1 < 203.0.113.2 → the locally initiated one is closed with Cease/7.
    const t = setup({ collision: (open, outgoing) => (collisionKeeps('203.0.113.1', open.bgpId) === (outgoing ? 'locallyInitiated' : 'remotelyInitiated') ? 'continue' : 'closeThis') });
    t.fsm.handle({ type: 'manualStart' });
    t.fsm.handle({ type: 'tcpConnected', outgoing: true });
    t.fsm.handle({ type: 'message', message: peerOpen() });
    expect(t.fsm.state).toBe(BgpState.Idle);
    expect(t.log[t.log.length - 1]?.reason).toBe('collisionLost');
    expect(t.lastNotification()).toMatchObject({ code: 6, subcode: 7 });
    t.clock.advance(600_000); // the losing FSM does not restart by itself
    expect(t.calls.connect).toBe(1);
  });
});
