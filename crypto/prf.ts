/**
 * IKEv2 pseudo-random functions (RFC 7296 §2.13) — HMAC-SHA2 only
 * (RFC 4868 PRF_HMAC_SHA2_256/384/512).
 */
import { createHmac } from 'node:crypto';
import { PrfId } from '../ike/constants.js';
import { CryptoError } from './errors.js';

/** PrfId.HMAC_SHA2_256 / _384 / _512. */
export type PrfAlg = 5 | 6 | 7;

interface PrfInfo {
  readonly hash: string;
  readonly outputLength: number;
}

const PRFS: ReadonlyMap<number, PrfInfo> = new Map<number, PrfInfo>([
  [PrfId.HMAC_SHA2_256, { hash: 'sha256', outputLength: 32 }],
  [PrfId.HMAC_SHA2_384, { hash: 'sha384', outputLength: 48 }],
  [PrfId.HMAC_SHA2_512, { hash: 'sha512', outputLength: 64 }],
]);

/** RFC 7296 §2.13: the counter octet limits prf+ to 255 blocks. */
export const PRF_PLUS_MAX_ITERATIONS = 255;

function prfInfo(prfId: number): PrfInfo {
  const info = PRFS.get(prfId);
  if (!info) throw new CryptoError(`unsupported PRF transform ${prfId}`);
  return info;
}

export function isSupportedPrf(prfId: number): prfId is PrfAlg {
  return PRFS.has(prfId);
}

/** Hash name for node:crypto ('sha256', ...) of an HMAC PRF. */
export function prfHashName(prfId: number): string {
  return prfInfo(prfId).hash;
}

export function prfOutputLength(prfId: number): number {
  return prfInfo(prfId).outputLength;
}

/** prf(K, S): HMAC with the full key (HMAC hashes over-long keys itself). */
export function prf(prfId: number, key: Buffer, data: Buffer): Buffer {
  return createHmac(prfInfo(prfId).hash, key).update(data).digest();
}

/**
 * prf+ (RFC 7296 §2.13):
 *
 *   prf+ (K,S) = T1 | T2 | T3 | T4 | ...
 *   T1 = prf (K, S | 0x01)
 *   T2 = prf (K, T1 | S | 0x02)
 *   T3 = prf (K, T2 | S | 0x03)
 *
 * Returns exactly `length` bytes; more than 255 blocks is an error.
 */
export function prfPlus(prfId: number, key: Buffer, seed: Buffer, length: number): Buffer {
  const { hash, outputLength } = prfInfo(prfId);
  if (!Number.isInteger(length) || length < 0) {
    throw new CryptoError(`prf+ length must be a non-negative integer, got ${length}`);
  }
  const blocks = Math.ceil(length / outputLength);
  if (blocks > PRF_PLUS_MAX_ITERATIONS) {
    throw new CryptoError(
      `prf+ cannot produce ${length} bytes: needs ${blocks} iterations, max ${PRF_PLUS_MAX_ITERATIONS}`,
    );
  }
  const out = Buffer.alloc(blocks * outputLength);
  const counter = Buffer.alloc(1);
  let previous: Buffer = Buffer.alloc(0);
  for (let i = 1; i <= blocks; i++) {
    counter[0] = i;
    const block = createHmac(hash, key).update(previous).update(seed).update(counter).digest();
    block.copy(out, (i - 1) * outputLength);
    previous = block;
  }
  return out.subarray(0, length);
}
