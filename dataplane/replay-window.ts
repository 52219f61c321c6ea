/**
 * ESP anti-replay window (RFC 4303 §3.4.3), bitmap layout from RFC 6479.
 *
 *   bitmap: BITMAP_WORDS × 32 bits, used as a ring indexed by seq mod BITMAP_BITS
 *   ┌────────┬────────┬─────┬────────┐
 *   │ word 0 │ word 1 │ ... │ word N │   bit (seq & 31) of word ((seq >> 5) & (N-1))
 *   └────────┴────────┴─────┴────────┘
 *   window = [highest - WINDOW_SIZE + 1, highest]; one word of slack lets
 *   the window slide a whole word at a time without shifting bits.
 *
 * check() and commit() are separate on purpose: the receiver checks before
 * spending CPU on the ICV, and commits only once the ICV verified, so a
 * forged packet can never move the window (RFC 4303 §3.4.3).
 *
 * Zero value: highest = 0 and an all-zero bitmap = "nothing received"; the
 * first valid packet can carry any seq ≥ 1. Seq 0 is never valid (the sender
 * starts at 1). 32-bit sequence numbers only (no ESN).
 */

const BITMAP_WORDS = 128; // power of two: index by mask
const BITMAP_BITS = BITMAP_WORDS * 32; // 4096
const WORD_MASK = BITMAP_WORDS - 1;
/** Packets up to this far behind the highest seen are still accepted once. */
export const REPLAY_WINDOW_SIZE = BITMAP_BITS - 32; // 4064

export type ReplayVerdict = 'ok' | 'zero' | 'tooOld' | 'duplicate';

export class ReplayWindow {
  private readonly bitmap = new Uint32Array(BITMAP_WORDS);
  private highest = 0;

  /** Highest sequence number committed so far (0 = none). */
  get highestSeq(): number {
    return this.highest;
  }

  /** Would `seq` be accepted? Does not change state. */
  check(seq: number): ReplayVerdict {
    if (seq === 0) return 'zero';
    if (seq > this.highest) return 'ok';
    if (this.highest - seq >= REPLAY_WINDOW_SIZE) return 'tooOld';
    const word = (seq >>> 5) & WORD_MASK;
    const bit = 1 << (seq & 31);
    return (this.bitmap[word]! & bit) !== 0 ? 'duplicate' : 'ok';
  }

  /**
   * Records `seq` as received (call after the ICV verified). Re-checks, so a
   * commit that lost a race with another commit of the same seq returns the
   * verdict instead of silently accepting a duplicate.
   */
  commit(seq: number): ReplayVerdict {
    const verdict = this.check(seq);
    if (verdict !== 'ok') return verdict;
    if (seq > this.highest) {
      // Slide: clear every word between the old and the new highest word.
      const oldWord = this.highest >>> 5;
      const newWord = seq >>> 5;
      const toClear = Math.min(newWord - oldWord, BITMAP_WORDS);
      for (let i = 1; i <= toClear; i++) this.bitmap[(oldWord + i) & WORD_MASK] = 0;
      this.highest = seq;
    }
    const word = (seq >>> 5) & WORD_MASK;
    this.bitmap[word] = this.bitmap[word]! | (1 << (seq & 31));
    return 'ok';
  }
}
