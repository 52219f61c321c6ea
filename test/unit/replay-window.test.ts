import { describe, expect, it } from 'vitest';
import { REPLAY_WINDOW_SIZE, ReplayWindow, type ReplayVerdict } from '../../dataplane/replay-window.js';

/** Commits every seq of `history` (asserting each is accepted), then returns the window. */
function windowAfter(history: number[]): ReplayWindow {
  const w = new ReplayWindow();
  for (const seq of history) expect(w.commit(seq), `commit ${seq}`).toBe('ok');
  return w;
}

const W = REPLAY_WINDOW_SIZE;

describe('ReplayWindow', () => {
  it('is at least 1024 packets wide', () => {
    expect(W).toBeGreaterThanOrEqual(1024);
  });

  const cases: Array<{ name: string; history: number[]; seq: number; expected: ReplayVerdict }> = [
    { name: 'zero value accepts 1', history: [], seq: 1, expected: 'ok' },
    { name: 'zero value accepts a big first seq', history: [], seq: 100_000, expected: 'ok' },
    { name: 'seq 0 is always invalid', history: [], seq: 0, expected: 'zero' },
    { name: 'seq 0 invalid after traffic', history: [1, 2], seq: 0, expected: 'zero' },
    { name: 'in order next', history: [1, 2, 3], seq: 4, expected: 'ok' },
    { name: 'duplicate of highest', history: [1, 2, 3], seq: 3, expected: 'duplicate' },
    { name: 'duplicate inside window', history: [1, 2, 3], seq: 2, expected: 'duplicate' },
    { name: 'out of order gap fill', history: [1, 3], seq: 2, expected: 'ok' },
    { name: 'just inside the left edge', history: [W + 10], seq: 11, expected: 'ok' },
    { name: 'just outside the left edge', history: [W + 10], seq: 10, expected: 'tooOld' },
    { name: 'left edge already received', history: [11, W + 10], seq: 11, expected: 'duplicate' },
    { name: 'far jump ahead then old is too old', history: [1, 1_000_000], seq: 5, expected: 'tooOld' },
    // 97 and 97 + 10*4096 share a ring bit: the slide must have cleared it.
    { name: 'far jump clears bits (same ring bit as an old seq)', history: [97, 100 + 4096 * 10], seq: 97 + 4096 * 10, expected: 'ok' },
    { name: 'top of the 32-bit space', history: [0xffff_fffe], seq: 0xffff_ffff, expected: 'ok' },
    { name: 'top of the 32-bit space duplicate', history: [0xffff_ffff], seq: 0xffff_ffff, expected: 'duplicate' },
  ];
  it.each(cases)('$name', ({ history, seq, expected }) => {
    const w = windowAfter(history);
    expect(w.check(seq)).toBe(expected);
    expect(w.commit(seq)).toBe(expected);
  });

  it('slides word by word: bits of the ring words reused after a wrap are cleared', () => {
    const w = new ReplayWindow();
    // Fill seq 1..4096 (every bitmap bit once), then move across the ring twice.
    for (let s = 1; s <= 4096; s++) expect(w.commit(s)).toBe('ok');
    for (let s = 4097; s <= 4096 * 3; s++) expect(w.commit(s)).toBe('ok');
    // Every seq still inside the window is a duplicate, every one left of it too old.
    const top = 4096 * 3;
    expect(w.check(top - W + 1)).toBe('duplicate');
    expect(w.check(top - W)).toBe('tooOld');
    // A packet ahead lands in a word that was used before: must be accepted once.
    expect(w.commit(top + 40)).toBe('ok');
    expect(w.check(top + 39)).toBe('ok'); // skipped seq in the new word
    expect(w.check(top + 40)).toBe('duplicate');
  });

  it('jump of less than a word keeps earlier bits of the same word', () => {
    const w = windowAfter([33, 35]);
    expect(w.check(33)).toBe('duplicate');
    expect(w.check(34)).toBe('ok');
  });

  it('check without commit leaves the state unchanged', () => {
    const w = windowAfter([1, 2, 3]);
    expect(w.check(10)).toBe('ok');
    expect(w.check(10)).toBe('ok');
    expect(w.highestSeq).toBe(3);
    expect(w.check(4)).toBe('ok');
    expect(w.commit(10)).toBe('ok');
    expect(w.commit(10)).toBe('duplicate');
    expect(w.highestSeq).toBe(10);
  });
});
