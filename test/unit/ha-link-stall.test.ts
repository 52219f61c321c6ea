/**
 * The HA link must not call its partner silent because this process itself
 * was stalled (timers fire before the socket reads that piled up meanwhile).
 */
import { describe, expect, it } from 'vitest';
import pino from 'pino';
import { HaLink, type LinkDownReason } from '../../ha/link.js';

describe('HA link silence detection', () => {
  it('a stall of our own restarts the silence clock; real silence still drops the link', async () => {
    let now = 1_000_000;
    const downs: LinkDownReason[] = [];
    let ups = 0;
    const port = 20000 + Math.floor(Math.random() * 20000);
    const mk = (selfIndex: number, local: string, peer: string, fake: boolean): HaLink => new HaLink({
      selfIndex, localAddress: local, peerAddress: peer, key: Buffer.alloc(32, 7), port, log: pino({ level: 'silent' }),
      deadAfterMs: 400, onMessage: () => undefined, onUp: () => { ups++; },
      onDown: (r) => { if (fake) downs.push(r); }, ...(fake ? { now: () => now } : {}),
    });
    const a = mk(0, '127.0.0.2', '127.0.0.3', true);
    const b = mk(1, '127.0.0.3', '127.0.0.2', false);
    await b.start();
    await a.start();
    const deadline = Date.now() + 5000;
    while (!a.up && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));
    expect(a.up).toBe(true);
    // A 2 s stall: the next poll comes far too late. Not the partner's fault.
    now += 2_000;
    a.pollNow();
    expect(a.up).toBe(true);
    expect(a.stats.stalls).toBe(1);
    // Then real silence (the partner sends nothing in this test), polled on time.
    for (let i = 0; i < 6; i++) { now += 100; a.pollNow(); }
    expect(a.up).toBe(false);
    expect(downs).toEqual(['silent']);
    await a.close();
    await b.close();
    expect(ups).toBeGreaterThanOrEqual(1);
  });
});
