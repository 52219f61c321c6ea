/**
 * OPEN message (RFC 4271 §4.2) with Capabilities optional parameter (RFC 5492).
 *
 *  0                   1                   2                   3
 *  0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1
 *  +-+-+-+-+-+-+-+-+
 *  |    Version    |
 *  +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
 *  |     My Autonomous System      |
 *  +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
 *  |           Hold Time           |
 *  +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
 *  |                         BGP Identifier                        |
 *  +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
 *  | Opt Parm Len  |
 *  +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
 *  |             Optional Parameters (type 2 = capabilities)       |
 *  +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
 *
 * Capabilities understood: Multiprotocol (RFC 4760), Route Refresh (RFC 2918),
 * 4-octet AS (RFC 6793), Enhanced Route Refresh (RFC 7313). Everything else
 * (graceful restart, LLGR, ADD-PATH, ...) is kept raw so it round-trips.
 * Semantic checks (version, peer AS, hold time, identifier) live in
 * `validateOpen` because they need the local configuration.
 */
import {
  AS_TRANS,
  Afi,
  BGP_VERSION,
  CapabilityCode,
  ErrorCode,
  HeaderErrorSubcode,
  MIN_HOLD_TIME,
  MIN_OPEN_LENGTH,
  MessageType,
  OpenErrorSubcode,
  OptionalParameterType,
  Safi,
} from './constants.js';
import { BgpNotificationError } from './errors.js';
import { allocMessage, ipv4ToNumber, ipv4ToString, writeIpv4 } from './wire.js';

export type Capability =
  | { code: CapabilityCode.Multiprotocol; afi: number; safi: number }
  | { code: CapabilityCode.RouteRefresh }
  | { code: CapabilityCode.EnhancedRouteRefresh }
  | { code: CapabilityCode.FourOctetAs; asn: number }
  | { code: number; raw: Uint8Array };

export interface OpenMessage {
  type: MessageType.Open;
  version: number;
  /** The 2-octet "My Autonomous System" field (AS_TRANS when the real ASN needs 4 octets). */
  myAsField: number;
  holdTime: number;
  bgpId: string;
  capabilities: Capability[];
}

function openError(subcode: OpenErrorSubcode, message: string, data?: Uint8Array): BgpNotificationError {
  return new BgpNotificationError(ErrorCode.OpenMessage, subcode, message, data ? { data } : {});
}

function decodeCapability(code: number, value: Uint8Array): Capability {
  // Known codes with an unexpected length are kept raw rather than rejected:
  // RFC 5492 §3 lets a speaker ignore capabilities it cannot use.
  if (code === CapabilityCode.Multiprotocol && value.length === 4) {
    return { code, afi: ((value[0] as number) << 8) | (value[1] as number), safi: value[3] as number };
  }
  if (code === CapabilityCode.RouteRefresh && value.length === 0) return { code };
  if (code === CapabilityCode.EnhancedRouteRefresh && value.length === 0) return { code };
  if (code === CapabilityCode.FourOctetAs && value.length === 4) {
    return { code, asn: Buffer.from(value.buffer, value.byteOffset, 4).readUInt32BE(0) };
  }
  return { code, raw: Uint8Array.from(value) };
}

/** Decode a complete OPEN message (header included). */
export function decodeOpen(msg: Uint8Array): OpenMessage {
  const buf = Buffer.from(msg.buffer, msg.byteOffset, msg.length);
  if (buf.length < MIN_OPEN_LENGTH) {
    throw new BgpNotificationError(ErrorCode.MessageHeader, HeaderErrorSubcode.BadMessageLength, 'OPEN shorter than 29 octets', {
      data: Uint8Array.of(buf.length >> 8, buf.length & 255),
    });
  }
  const version = buf[19] as number;
  const myAsField = buf.readUInt16BE(20);
  const holdTime = buf.readUInt16BE(22);
  const bgpId = ipv4ToString(buf, 24);
  const optLen = buf[28] as number;
  if (29 + optLen !== buf.length) {
    // RFC 4271 §6.2: inconsistent optional parameters length → Unspecific OPEN error (subcode 0).
    throw openError(0 as OpenErrorSubcode, `OPEN optional parameters length ${optLen} does not match message length ${buf.length}`);
  }
  const capabilities: Capability[] = [];
  let off = 29;
  while (off < buf.length) {
    if (off + 2 > buf.length) throw openError(0 as OpenErrorSubcode, 'truncated optional parameter header');
    const ptype = buf[off] as number;
    const plen = buf[off + 1] as number;
    off += 2;
    if (off + plen > buf.length) throw openError(0 as OpenErrorSubcode, 'optional parameter overruns OPEN');
    if (ptype !== OptionalParameterType.Capabilities) {
      // RFC 4271 §6.2: "If one of the Optional Parameters ... is not recognized ... Unsupported Optional Parameters".
      throw openError(OpenErrorSubcode.UnsupportedOptionalParameter, `unsupported optional parameter type ${ptype}`);
    }
    const end = off + plen;
    while (off < end) {
      if (off + 2 > end) throw openError(0 as OpenErrorSubcode, 'truncated capability header');
      const code = buf[off] as number;
      const clen = buf[off + 1] as number;
      off += 2;
      if (off + clen > end) throw openError(0 as OpenErrorSubcode, `capability ${code} overruns its parameter`);
      capabilities.push(decodeCapability(code, buf.subarray(off, off + clen)));
      off += clen;
    }
  }
  return { type: MessageType.Open, version, myAsField, holdTime, bgpId, capabilities };
}

function capabilityValue(c: Capability): Uint8Array {
  if ('raw' in c) return c.raw;
  switch (c.code) {
    case CapabilityCode.Multiprotocol:
      return Uint8Array.of(c.afi >> 8, c.afi & 255, 0, c.safi);
    case CapabilityCode.FourOctetAs: {
      const b = Buffer.allocUnsafe(4);
      b.writeUInt32BE(c.asn >>> 0, 0);
      return b;
    }
    default:
      return new Uint8Array(0);
  }
}

/** Encode an OPEN; all capabilities go into ONE optional parameter, as BIRD and GoBGP do. */
export function encodeOpen(open: Omit<OpenMessage, 'type'>): Buffer {
  const values = open.capabilities.map(capabilityValue);
  const capsLen = values.reduce((n, v) => n + 2 + v.length, 0);
  const optLen = capsLen === 0 ? 0 : 2 + capsLen;
  if (capsLen > 255 || optLen > 255) throw new RangeError('capabilities do not fit one optional parameter');
  const buf = allocMessage(MessageType.Open, 10 + optLen);
  buf[19] = open.version;
  buf.writeUInt16BE(open.myAsField, 20);
  buf.writeUInt16BE(open.holdTime, 22);
  writeIpv4(buf, 24, open.bgpId);
  buf[28] = optLen;
  let off = 29;
  if (optLen > 0) {
    buf[off++] = OptionalParameterType.Capabilities;
    buf[off++] = capsLen;
    open.capabilities.forEach((c, i) => {
      const v = values[i] as Uint8Array;
      buf[off++] = c.code;
      buf[off++] = v.length;
      buf.set(v, off);
      off += v.length;
    });
  }
  return buf;
}

/** Build our OPEN: IPv4 unicast, route refresh, enhanced route refresh, 4-octet AS. */
export function buildLocalOpen(localAsn: number, holdTime: number, routerId: string): Omit<OpenMessage, 'type'> {
  return {
    version: BGP_VERSION,
    myAsField: localAsn > 0xffff ? AS_TRANS : localAsn,
    holdTime,
    bgpId: routerId,
    capabilities: [
      { code: CapabilityCode.Multiprotocol, afi: Afi.Ipv4, safi: Safi.Unicast },
      { code: CapabilityCode.RouteRefresh },
      { code: CapabilityCode.EnhancedRouteRefresh },
      { code: CapabilityCode.FourOctetAs, asn: localAsn },
    ],
  };
}

export function hasCapability(open: OpenMessage, code: CapabilityCode): boolean {
  return open.capabilities.some((c) => c.code === code);
}

/** The peer's real ASN: the 4-octet AS capability if present (RFC 6793 §4.1), else My AS. */
export function peerAsnOf(open: OpenMessage): number {
  for (const c of open.capabilities) if (c.code === CapabilityCode.FourOctetAs && 'asn' in c) return c.asn;
  return open.myAsField;
}

export interface OpenExpectations {
  localAsn: number;
  localRouterId: string;
  /** Expected peer ASN; undefined accepts any. */
  peerAsn?: number;
}

/**
 * RFC 4271 §6.2 checks on a received OPEN. Throws the NOTIFICATION to send.
 */
export function validateOpen(open: OpenMessage, expect: OpenExpectations): void {
  if (open.version !== BGP_VERSION) {
    // "the Data field is a 2-octet unsigned integer, which indicates the largest locally-supported version number"
    throw openError(OpenErrorSubcode.UnsupportedVersionNumber, `unsupported BGP version ${open.version}`, Uint8Array.of(0, BGP_VERSION));
  }
  const asn = peerAsnOf(open);
  if (expect.peerAsn !== undefined && asn !== expect.peerAsn) {
    throw openError(OpenErrorSubcode.BadPeerAs, `peer AS ${asn} does not match configured AS ${expect.peerAsn}`);
  }
  if (asn > 0xffff && open.myAsField !== AS_TRANS) {
    // RFC 6793 §4.1: a 4-octet-only ASN must be sent as AS_TRANS in My AS.
    throw openError(OpenErrorSubcode.BadPeerAs, `4-octet AS ${asn} with My AS ${open.myAsField} instead of AS_TRANS`);
  }
  // "An implementation MUST reject Hold Time values of one or two seconds."
  if (open.holdTime !== 0 && open.holdTime < MIN_HOLD_TIME) {
    throw openError(OpenErrorSubcode.UnacceptableHoldTime, `unacceptable hold time ${open.holdTime}`);
  }
  const id = ipv4ToNumber(open.bgpId);
  // RFC 6286 §2.2: identifier must be non-zero; for iBGP it must differ from ours.
  if (id === 0 || (asn === expect.localAsn && open.bgpId === expect.localRouterId)) {
    throw openError(OpenErrorSubcode.BadBgpIdentifier, `bad BGP identifier ${open.bgpId}`);
  }
}
