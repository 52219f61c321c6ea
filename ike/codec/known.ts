/**
 * A narrowed payload shape. `PayloadOf<T>` from types.ts is not usable for
 * that: it also matches the opaque unknown variant (whose `type: number` is
 * assignable to every enum member) and misses shared shapes such as
 * IDi|IDr, CERT|CERTREQ and TSi|TSr. This picks the known variant(s) whose
 * `type` admits T.
 */
import type { PayloadType } from '../constants.js';
import type { Payload } from './types.js';

type Known = Exclude<Payload, { unknown: true }>;

export type KnownPayload<T extends PayloadType> = Known extends infer K
  ? K extends { type: infer U } ? ([T] extends [U] ? K : never) : never
  : never;
