/**
 * Tunnel liveness must not take its own stalls for the peer's silence.
 *
 * Regression (seen in docker/labs/active-active-bgp on a loaded host): a vgwd
 * starved of CPU for ~1 s ran its liveness timer before reading the ESP that
 * had queued up meanwhile, declared every tunnel dead at once and tore down
 * all its BGP sessions, though every peer had kept sending.
 */
import { describe, expect, it } from 'vitest';
import type { ChildSaCounters } from '../../dataplane/backend.js';
import { LIVENESS_STALL_TICKS, TunnelLiveness, type LivenessDataplane } from '../../ha/tunnel-liveness.js';

/** One Child SA per connection; `receive` stamps an authenticated inbound packet. */
class FakeDataplane implements LivenessDataplane {
  readonly counters_ = new Map<string, { lastInboundMs: number; outPackets: number }>();
  readonly liveCalls: string[] = [];
  counters(id: string): ChildSaCounters | undefined {
    const c = this.counters_.get(id);
    return c ? { inBytes: 0, inPackets: 0, outBytes: 0, outPackets: c.outPackets, drops: {}, lastInboundMs: c.lastInboundMs, outboundSeq: 0n } : undefined;
  }
  sendDummy(id: string): boolean {
    const c = this.counters_.get(id);
    if (c) c.outPackets++;
    return c !== undefined;
  }
  setConnectionLive(connection: string, live: boolean): void { this.liveCalls.push(`${connection}:${live ? 'up' : 'down'}`); }
  receive(id: string, at: number): void { this.counters_.get(id)!.lastInboundMs = at; }
}

function setup() {
  const clock = { now: 1_000_000 };
  const dp = new FakeDataplane();
  for (const id of ['c0', 'c1']) dp.counters_.set(id, { lastInboundMs: 0, outPackets: 0 });
  const changes: string[] = [];
  const lv = new TunnelLiveness({
    dataplane: dp, connections: ['t0', 't1'], watched: ['t0', 't1'], now: () => clock.now,
    childIds: (c) => (c === 't0' ? ['c0'] : ['c1']), onChange: (c, live) => changes.push(`${c}:${live ? 'up' : 'down'}`),
  });
  /** `ms` of normal 100 ms ticks; `alive` connections get ESP just before each tick. */
  const run = (ms: number, alive: string[]): void => {
    for (let x = 0; x < ms; x += 100) {
      clock.now += 100;
      if (alive.includes('t0')) dp.receive('c0', clock.now - 5);
      if (alive.includes('t1')) dp.receive('c1', clock.now - 5);
      lv.tick();
    }
  };
  return { clock, dp, lv, changes, run };
}

describe('TunnelLiveness and stalls of our own process', () => {
  it('a late tick (our stall) does not declare tunnels whose ESP still sits unread dead', () => {
    const { clock, lv, changes, run, dp } = setup();
    run(1_000, ['t0', 't1']);
    // Stalled for 1.5 s: the peers kept sending, but nothing was read.
    clock.now += 1_500;
    lv.tick();
    expect(changes).toEqual([]);
    expect(lv.stats.stalls).toBe(1);
    // The queued ESP is read right after the late timer; later ticks see it.
    dp.receive('c0', clock.now + 1);
    dp.receive('c1', clock.now + 1);
    run(1_000, ['t0', 't1']);
    expect(changes).toEqual([]);
  });

  it('a tunnel that stays silent after the stall is still declared dead, deadAfterMs after we resumed', () => {
    const { clock, lv, changes, run } = setup();
    run(1_000, ['t0', 't1']);
    clock.now += 1_500;
    lv.tick();
    run(400, ['t1']);
    expect(changes).toEqual([]);
    run(200, ['t1']);
    expect(changes).toEqual(['t0:down']);
    expect(lv.isLive('t0')).toBe(false);
    expect(lv.isLive('t1')).toBe(true);
  });

  it('ticks on time: a silent tunnel dies after deadAfterMs, as before (the stall rule is not a blanket excuse)', () => {
    const { changes, run, lv } = setup();
    run(1_000, ['t0', 't1']);
    run(400, ['t1']);
    expect(changes).toEqual([]);
    run(200, ['t1']);
    expect(changes).toEqual(['t0:down']);
    expect(lv.stats.stalls).toBe(0);
  });

  it('a tick just under the stall threshold counts as on time', () => {
    const { clock, lv, changes, run } = setup();
    run(1_000, ['t0', 't1']);
    run(300, ['t1']);
    clock.now += 100 * LIVENESS_STALL_TICKS; // late, but not a stall
    lv.tick();
    expect(lv.stats.stalls).toBe(0);
    expect(changes).toEqual(['t0:down']);
  });
});
