/** Public API of the IKEv2 wire codecs. */
export * from './types.js';
export type { KnownPayload } from './known.js';
export { ByteReader, ByteWriter } from './bytes.js';
export { decodeHeader, encodeHeaderInto } from './header.js';
export { decodeSa, encodeSa } from './sa.js';
export { decodeKe, encodeKe } from './ke.js';
export { decodeId, encodeId } from './id.js';
export { decodeCert, encodeCert } from './cert.js';
export { decodeAuth, encodeAuth } from './auth.js';
export { decodeNonce, encodeNonce } from './nonce.js';
export { decodeNotify, encodeNotify } from './notify.js';
export { decodeDelete, encodeDelete } from './delete.js';
export { decodeVendor, encodeVendor } from './vendor.js';
export { decodeTs, encodeTs } from './ts.js';
export { decodeCp, encodeCp } from './cp.js';
export { decodeEap, encodeEap } from './eap.js';
export {
  PAYLOAD_CODECS, decodePayloadChain, walkPayloadChain, encodePayload, encodePayloadChain, isUnknownPayload,
  payloadsOfType, firstPayload, findNotify,
  type PayloadCodec, type ChainResult, type ChainStop,
} from './payloads.js';
export {
  decodeMessage, openMessage, encodeMessage, encodeFragments, FragmentReassembler, MAX_FRAGMENTS,
} from './message.js';
export { checkPayloadRules, EXCHANGE_RULES, type PayloadRule, type ExchangeRules } from './rules.js';
export { describeMessage, describePayload } from './describe.js';
