/**
 * Decoded IKEv2 message and payload shapes. One codec module per payload lives
 * beside this file; they all produce and consume these types.
 */
import type {
  ExchangeType, PayloadType, ProtocolId, TransformType, IdType, AuthMethod,
  NotifyType, TsType, CfgType,
} from '../constants.js';

export interface IkeHeader {
  spiI: Buffer;           // 8 bytes
  spiR: Buffer;           // 8 bytes (zero in the first IKE_SA_INIT request)
  nextPayload: number;    // filled in by the encoder
  version: number;        // 0x20
  exchange: ExchangeType | number;
  flags: number;          // HeaderFlag bits
  messageId: number;      // uint32
  length: number;         // filled in by the encoder
}

export interface Transform {
  type: TransformType;
  id: number;
  keyLength?: number;     // bits, from the Key Length attribute (type 14)
}

export interface Proposal {
  num: number;            // 1-based proposal number
  protocolId: ProtocolId;
  spi: Buffer;            // empty for IKE_SA_INIT, 8 bytes for IKE rekey, 4 for ESP
  transforms: Transform[];
}

export interface TrafficSelector {
  tsType: TsType;         // 7 (IPv4 range) or 8 (IPv6 range)
  ipProtocol: number;     // 0 = any
  startPort: number;
  endPort: number;
  startAddress: Buffer;   // 4 or 16 bytes
  endAddress: Buffer;
}

export interface CfgAttribute {
  type: number;           // CfgAttr
  value: Buffer;          // may be empty (a request)
}

export type Payload =
  | { type: PayloadType.SA; critical?: boolean; proposals: Proposal[] }
  | { type: PayloadType.KE; critical?: boolean; group: number; data: Buffer }
  | { type: PayloadType.IDi | PayloadType.IDr; critical?: boolean; idType: IdType | number; data: Buffer }
  | { type: PayloadType.CERT | PayloadType.CERTREQ; critical?: boolean; encoding: number; data: Buffer }
  | { type: PayloadType.AUTH; critical?: boolean; method: AuthMethod | number; data: Buffer }
  | { type: PayloadType.NONCE; critical?: boolean; data: Buffer }
  | { type: PayloadType.NOTIFY; critical?: boolean; protocolId: ProtocolId | number; spi: Buffer; notifyType: NotifyType | number; data: Buffer }
  | { type: PayloadType.DELETE; critical?: boolean; protocolId: ProtocolId | number; spiSize: number; spis: Buffer[] }
  | { type: PayloadType.VENDOR; critical?: boolean; data: Buffer }
  | { type: PayloadType.TSi | PayloadType.TSr; critical?: boolean; selectors: TrafficSelector[] }
  | { type: PayloadType.CP; critical?: boolean; cfgType: CfgType | number; attributes: CfgAttribute[] }
  | { type: PayloadType.EAP; critical?: boolean; data: Buffer }
  /** An unknown payload: kept opaque; ignored unless critical. */
  | { type: number; unknown: true; critical: boolean; body: Buffer };

export type PayloadOf<T extends PayloadType> = Extract<Payload, { type: T }>;

/** A message as it came off the wire. SK/SKF are not decrypted here. */
export interface RawIkeMessage {
  header: IkeHeader;
  /** Payloads before any SK/SKF payload (IKE_SA_INIT has all of them here). */
  payloads: Payload[];
  /** Present when the message carries SK (46). */
  encrypted?: {
    firstInnerPayload: number;   // Next Payload field of the SK header
    /** Offset in the message of the SK body (just after the 4-byte generic header). */
    bodyOffset: number;
  };
  /** Present when the message carries SKF (53), RFC 7383. */
  fragment?: {
    firstInnerPayload: number;   // non-zero only in fragment number 1
    number: number;
    total: number;
    bodyOffset: number;          // just after Fragment Number / Total Fragments
  };
  /** The whole message (without the non-ESP marker), for AUTH and integrity. */
  bytes: Buffer;
}

/** A message after SK decryption: plain and inner payloads in one list. */
export interface IkeMessage {
  header: IkeHeader;
  payloads: Payload[];
}
