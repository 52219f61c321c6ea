/**
 * `PayloadOf<T>` from types.ts also matches the opaque unknown-payload variant
 * (its `type: number` is assignable to any numeric enum member), which hides
 * the fields of the known shape. Codecs use this narrowed form instead.
 */
import type { PayloadType } from '../constants.js';
import type { PayloadOf } from './types.js';

export type KnownPayload<T extends PayloadType> = Exclude<PayloadOf<T>, { unknown: true }>;
