/**
 * UPDATE message (RFC 4271 §4.3) with RFC 7606 revised error handling.
 *
 * +-----------------------------------------------------+
 * |   Withdrawn Routes Length (2 octets)                |
 * +-----------------------------------------------------+
 * |   Withdrawn Routes (variable)                       |
 * +-----------------------------------------------------+
 * |   Total Path Attribute Length (2 octets)            |
 * +-----------------------------------------------------+
 * |   Path Attributes (variable)                        |
 * +-----------------------------------------------------+
 * |   Network Layer Reachability Information (variable) |
 * +-----------------------------------------------------+
 *
 * `decodeUpdate` throws only 'sessionReset' errors. Attribute errors that
 * RFC 7606 lets us survive are returned in `errors`; `treatAsWithdraw` says
 * the announced prefixes must be handled as withdrawn.
 */
import { AS_TRANS, Afi, AttrFlag, AttrType, ErrorCode, HeaderErrorSubcode, MAX_MESSAGE_LENGTH, MIN_UPDATE_LENGTH, MessageType, Safi, UpdateErrorSubcode } from './constants.js';
import {
  attributeDescriptor,
  encodeAttributes,
  mergeAs4Path,
  type AttributeContext,
  type PathAttributes,
  type RawAttribute,
} from './attributes.js';
import { BgpNotificationError, harsherAction, type ErrorAction } from './errors.js';
import { allocMessage, decodePrefixes, parsePrefix, prefixWireLength, writePrefix, type Ipv4Prefix } from './wire.js';

export interface UpdateMessage {
  type: MessageType.Update;
  withdrawn: Ipv4Prefix[];
  attributes: PathAttributes;
  nlri: Ipv4Prefix[];
  /** Non-fatal RFC 7606 errors found (attributeDiscard / treatAsWithdraw). */
  errors: BgpNotificationError[];
  /** RFC 7606 §2: handle every announced prefix of this UPDATE as withdrawn. */
  treatAsWithdraw: boolean;
}

function updateError(subcode: UpdateErrorSubcode, message: string, action: ErrorAction = 'sessionReset', data?: Uint8Array): BgpNotificationError {
  return new BgpNotificationError(ErrorCode.UpdateMessage, subcode, message, data ? { action, data } : { action });
}

/** Decode a complete UPDATE message (header included). */
export function decodeUpdate(msg: Uint8Array, ctx: AttributeContext): UpdateMessage {
  const buf = Buffer.from(msg.buffer, msg.byteOffset, msg.length);
  if (buf.length < MIN_UPDATE_LENGTH) {
    // RFC 4271 §6.1: shorter than the minimum for its type → Bad Message Length with the length as data.
    throw new BgpNotificationError(ErrorCode.MessageHeader, HeaderErrorSubcode.BadMessageLength, 'UPDATE shorter than 23 octets', {
      data: Uint8Array.of(buf.length >> 8, buf.length & 255),
    });
  }
  const withdrawnLen = buf.readUInt16BE(19);
  // RFC 4271 §6.3: "If the Withdrawn Routes Length or Total Attribute Length is too large ... Malformed Attribute List"
  // RFC 7606 §5.3: NLRI framing errors are session resets.
  if (21 + withdrawnLen + 2 > buf.length) throw updateError(UpdateErrorSubcode.MalformedAttributeList, `withdrawn routes length ${withdrawnLen} overruns message`);
  const attrStart = 21 + withdrawnLen + 2;
  const attrLen = buf.readUInt16BE(21 + withdrawnLen);
  const attrEnd = attrStart + attrLen;
  if (attrEnd > buf.length) throw updateError(UpdateErrorSubcode.MalformedAttributeList, `total path attribute length ${attrLen} overruns message`);

  const withdrawn = decodePrefixes(buf, 21, 21 + withdrawnLen, 'withdrawn routes');
  const nlri = decodePrefixes(buf, attrEnd, buf.length, 'NLRI');
  const attributes: PathAttributes = {};
  const errors: BgpNotificationError[] = [];
  let worst: ErrorAction | undefined;
  const seen = new Set<number>();
  const note = (e: BgpNotificationError): void => {
    errors.push(e);
    worst = worst ? harsherAction(worst, e.action) : e.action;
  };

  let off = attrStart;
  while (off < attrEnd) {
    if (off + 3 > attrEnd) {
      noteListError(note, attributes, 'truncated attribute header');
      break;
    }
    const flags = buf[off] as number;
    const type = buf[off + 1] as number;
    const ext = (flags & AttrFlag.ExtendedLength) !== 0;
    if (ext && off + 4 > attrEnd) {
      noteListError(note, attributes, 'truncated extended-length attribute header');
      break;
    }
    const len = ext ? buf.readUInt16BE(off + 2) : (buf[off + 2] as number);
    const valueStart = off + (ext ? 4 : 3);
    if (valueStart + len > attrEnd) {
      noteListError(note, attributes, `attribute ${type} length ${len} overruns the attribute list`);
      break;
    }
    const value = buf.subarray(valueStart, valueStart + len);
    const whole = buf.subarray(off, valueStart + len);
    off = valueStart + len;

    if (seen.has(type)) {
      // RFC 7606 §3.g
      if (type === AttrType.MpReachNlri || type === AttrType.MpUnreachNlri) {
        throw updateError(UpdateErrorSubcode.MalformedAttributeList, `duplicate attribute ${type}`);
      }
      note(updateError(UpdateErrorSubcode.MalformedAttributeList, `duplicate attribute ${type} discarded`, 'attributeDiscard'));
      continue;
    }
    seen.add(type);

    const desc = attributeDescriptor(type);
    if (!desc) {
      if ((flags & AttrFlag.Optional) === 0) {
        // RFC 4271 §6.3: "If any of the well-known mandatory attributes are not recognized ... Unrecognized Well-known Attribute"
        throw updateError(UpdateErrorSubcode.UnrecognizedWellKnownAttribute, `unrecognized well-known attribute ${type}`, 'sessionReset', Uint8Array.from(whole));
      }
      (attributes.unknown ??= []).push({ flags, type, value: Uint8Array.from(value) } satisfies RawAttribute);
      continue;
    }
    if ((flags & (AttrFlag.Optional | AttrFlag.Transitive)) !== desc.flags) {
      // RFC 7606 §3.c: conflicting Optional/Transitive bits → malformed, the attribute's own action.
      note(updateError(UpdateErrorSubcode.AttributeFlagsError, `${desc.name} flags 0x${flags.toString(16)}`, desc.onError, Uint8Array.from(whole)));
      continue;
    }
    try {
      desc.decode(value, ctx, attributes);
    } catch (e) {
      if (!(e instanceof BgpNotificationError)) throw e;
      const err = new BgpNotificationError(e.code, e.subcode, e.message, { action: desc.onError, data: Uint8Array.from(whole) });
      if (err.action === 'sessionReset') throw err;
      note(err);
    }
  }

  // RFC 6793 §4.2.3: AS4_PATH is meaningful only from a 2-octet speaker; a 4-octet one must not send it.
  if (attributes.as4Path) {
    if (!ctx.fourOctetAs && attributes.asPath) attributes.asPath = mergeAs4Path(attributes.asPath, attributes.as4Path);
    delete attributes.as4Path;
  }
  if (attributes.as4Aggregator) {
    if (!ctx.fourOctetAs && attributes.aggregator?.asn === AS_TRANS) attributes.aggregator = attributes.as4Aggregator;
    delete attributes.as4Aggregator;
  }

  // RFC 7606 §3.d: missing well-known mandatory attributes → treat-as-withdraw.
  const mpNlri = attributes.mpReach?.nlri.length ?? 0;
  if (nlri.length > 0 || mpNlri > 0) {
    const missing: AttrType[] = [];
    if (attributes.origin === undefined && !seen.has(AttrType.Origin)) missing.push(AttrType.Origin);
    if (attributes.asPath === undefined && !seen.has(AttrType.AsPath)) missing.push(AttrType.AsPath);
    if (nlri.length > 0 && attributes.nextHop === undefined && !seen.has(AttrType.NextHop)) missing.push(AttrType.NextHop);
    for (const t of missing) {
      note(updateError(UpdateErrorSubcode.MissingWellKnownAttribute, `missing well-known attribute ${t}`, 'treatAsWithdraw', Uint8Array.of(t)));
    }
  }

  return { type: MessageType.Update, withdrawn, attributes, nlri, errors, treatAsWithdraw: worst === 'treatAsWithdraw' };
}

/**
 * RFC 7606 §4: an attribute overrunning the list still leaves NLRI locatable
 * (treat-as-withdraw), unless MP_REACH/MP_UNREACH may be hidden in the broken
 * part, in which case we cannot tell what was announced: session reset.
 */
function noteListError(note: (e: BgpNotificationError) => void, attrs: PathAttributes, message: string): void {
  if (attrs.mpReach || attrs.mpUnreach) throw updateError(UpdateErrorSubcode.MalformedAttributeList, message);
  note(updateError(UpdateErrorSubcode.MalformedAttributeList, message, 'treatAsWithdraw'));
}

/** IPv4 unicast prefixes announced (classic NLRI + MP_REACH). */
export function announcedPrefixes(u: UpdateMessage): Ipv4Prefix[] {
  const mp = u.attributes.mpReach;
  return mp && mp.afi === Afi.Ipv4 && mp.safi === Safi.Unicast && mp.nlri.length > 0 ? [...u.nlri, ...mp.nlri] : u.nlri;
}

/** IPv4 unicast prefixes withdrawn (classic + MP_UNREACH). */
export function withdrawnPrefixes(u: UpdateMessage): Ipv4Prefix[] {
  const mp = u.attributes.mpUnreach;
  return mp && mp.afi === Afi.Ipv4 && mp.safi === Safi.Unicast && mp.withdrawn.length > 0 ? [...u.withdrawn, ...mp.withdrawn] : u.withdrawn;
}

/**
 * RFC 4724 §2: End-of-RIB for IPv4 unicast is an UPDATE with no withdrawn
 * routes, no attributes and no NLRI; for other families an UPDATE holding only
 * an empty MP_UNREACH_NLRI.
 */
export function isEndOfRib(u: UpdateMessage): { afi: number; safi: number } | undefined {
  if (u.withdrawn.length || u.nlri.length) return undefined;
  const keys = Object.keys(u.attributes).filter((k) => (u.attributes as Record<string, unknown>)[k] !== undefined);
  if (keys.length === 0) return { afi: Afi.Ipv4, safi: Safi.Unicast };
  if (keys.length === 1 && u.attributes.mpUnreach && u.attributes.mpUnreach.withdrawn.length === 0) {
    return { afi: u.attributes.mpUnreach.afi, safi: u.attributes.mpUnreach.safi };
  }
  return undefined;
}

export interface UpdateToEncode {
  withdrawn?: readonly Ipv4Prefix[];
  attributes?: PathAttributes;
  nlri?: readonly Ipv4Prefix[];
}

/** Encode one UPDATE; throws RangeError when it does not fit 4096 octets (use `packUpdates`). */
export function encodeUpdate(u: UpdateToEncode, ctx: AttributeContext): Buffer {
  const attrs = u.attributes ? encodeAttributes(u.attributes, ctx) : Buffer.alloc(0);
  return encodeWithAttributeBytes(u.withdrawn ?? [], attrs, u.nlri ?? []);
}

function encodeWithAttributeBytes(withdrawn: readonly Ipv4Prefix[], attrs: Buffer, nlri: readonly Ipv4Prefix[]): Buffer {
  let wLen = 0;
  for (const p of withdrawn) wLen += prefixWireLength(parsePrefix(p).length);
  let nLen = 0;
  for (const p of nlri) nLen += prefixWireLength(parsePrefix(p).length);
  const body = 2 + wLen + 2 + attrs.length + nLen;
  if (19 + body > MAX_MESSAGE_LENGTH) throw new RangeError(`UPDATE of ${19 + body} octets exceeds ${MAX_MESSAGE_LENGTH}`);
  const buf = allocMessage(MessageType.Update, body);
  let off = 19;
  buf.writeUInt16BE(wLen, off);
  off += 2;
  for (const p of withdrawn) off = writePrefix(buf, off, p);
  buf.writeUInt16BE(attrs.length, off);
  off += 2;
  attrs.copy(buf, off);
  off += attrs.length;
  for (const p of nlri) off = writePrefix(buf, off, p);
  return buf;
}

/** The empty UPDATE that marks End-of-RIB for IPv4 unicast (RFC 4724 §2). */
export const END_OF_RIB_IPV4: Buffer = encodeWithAttributeBytes([], Buffer.alloc(0), []);

/**
 * Split withdrawals and announcements into as few UPDATEs as fit 4096 octets.
 * Each group shares one attribute set. Withdrawals go first, in their own messages.
 */
export function packUpdates(
  withdrawn: readonly Ipv4Prefix[],
  groups: readonly { attributes: PathAttributes; nlri: readonly Ipv4Prefix[] }[],
  ctx: AttributeContext,
): Buffer[] {
  const out: Buffer[] = [];
  const fixed = 19 + 2 + 2;
  let batch: Ipv4Prefix[] = [];
  let size = fixed;
  for (const p of withdrawn) {
    const n = prefixWireLength(parsePrefix(p).length);
    if (size + n > MAX_MESSAGE_LENGTH) {
      out.push(encodeWithAttributeBytes(batch, Buffer.alloc(0), []));
      batch = [];
      size = fixed;
    }
    batch.push(p);
    size += n;
  }
  if (batch.length) out.push(encodeWithAttributeBytes(batch, Buffer.alloc(0), []));
  for (const g of groups) {
    const attrs = encodeAttributes(g.attributes, ctx);
    batch = [];
    size = fixed + attrs.length;
    for (const p of g.nlri) {
      const n = prefixWireLength(parsePrefix(p).length);
      if (size + n > MAX_MESSAGE_LENGTH) {
        out.push(encodeWithAttributeBytes([], attrs, batch));
        batch = [];
        size = fixed + attrs.length;
      }
      batch.push(p);
      size += n;
    }
    if (batch.length) out.push(encodeWithAttributeBytes([], attrs, batch));
  }
  return out;
}
