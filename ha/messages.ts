/**
 * The HA protocol between the two instances of a gateway (version 1).
 *
 * One TCP connection between the haAddresses carries length-prefixed frames,
 * each sealed with AES-256-GCM (the link carries SA keys):
 *
 *    0                   1                   2                   3
 *   +-------------------------------+-------------------------------+
 *   |                 frame length (uint32, bytes that follow)      |
 *   +---------------------------------------------------------------+
 *   |                 nonce (12 bytes, random)                      |
 *   +---------------------------------------------------------------+
 *   ~      ciphertext of the UTF-8 JSON message                     ~
 *   +---------------------------------------------------------------+
 *   |                 GCM tag (16 bytes)                            |
 *   +---------------------------------------------------------------+
 *
 * Messages (all carry `v: 1`, `t`, and the sender's instance name):
 *   hello       on connect and every 100 ms (also the heartbeat): role, epoch, index, last applied seq
 *   ike         an IKE SA snapshot: SPIs, keys, suite, nonces, message IDs, endpoints, lifetimes,
 *               the request in flight and its Child SA records (sent on every change; IKE is low rate);
 *               for a point-to-site SA also the client: identity, leased address, certificate
 *   ike-del     an IKE SA is gone
 *   child       a Child SA's dataplane record (both directions' keys, selectors, peer)
 *   child-del   a Child SA is gone
 *   seq         outbound ESP sequence numbers of every Child SA (every heartbeat)
 *   sync-begin / sync-end   full state dump on (re)join, so a returning standby is complete
 *   handover    planned switchover: the active has stopped, here is everything final
 *   handover-ack  the new active took over (the old one may exit or stay standby)
 *
 * Decoding is strict: an unknown version or malformed message is an
 * HaProtocolError, never an exception elsewhere.
 */
import { createCipheriv, createDecipheriv, createHash, randomBytes } from 'node:crypto';

export const HA_PROTOCOL_VERSION = 1;
/** TCP port of the HA link on the haAddresses (not IANA-registered; the GatewaySubnet is private). */
export const HA_PORT = 5789;
export const MAX_FRAME = 4 * 1024 * 1024;

export type HaRole = 'init' | 'standby' | 'active';

export class HaProtocolError extends Error {
  override readonly name = 'HaProtocolError';
}

/** Buffers travel as lowercase hex. */
export type Hex = string;

export interface Range { start: string; end: string }

export interface ChildRecord {
  id: string;
  state: string;
  spiIn: number;
  spiOut: number;
  suite: { encr: number; encrKeyBits: number; integ: number; dh: number; esn: number };
  tsLocal: Range[];
  tsRemote: Range[];
  establishedMs: number;
  rekeyAtMs: number;
  expireAtMs: number;
  nonces: Hex[];
  replacedBy?: string;
}

export interface IkeRecord {
  /** Connection name. */
  conn: string;
  initiator: boolean;
  spiI: Hex;
  spiR: Hex;
  remote: { address: string; port: number };
  localPort: number;
  suite: { encr: number; encrKeyBits: number; integ: number; prf: number; dh: number };
  keys: { skD: Hex; skAi: Hex; skAr: Hex; skEi: Hex; skEr: Hex; skPi: Hex; skPr: Hex };
  ni: Hex;
  nr: Hex;
  natDetected: boolean;
  nextMidOut: number;
  nextMidIn: number;
  establishedMs: number;
  rekeyAtMs: number;
  expireAtMs: number;
  createdNonces: Hex[];
  /** Our request in flight, so the new active can retransmit the same bytes under the same ID. */
  pending?: { kind: string; exchange: number; mid: number; packet: Hex };
  children: ChildRecord[];
  /** Point-to-site client served by this SA: its lease and what authenticated it. */
  p2s?: P2sClientRecord;
}

export interface P2sClientRecord {
  identity: string;
  address: string;
  thumbprint: string;
  subject: string;
  leafDer: Hex;
  intermediatesDer: Hex[];
  connectedMs: number;
  /** The SA's narrowed local selectors (the routes pushed at login). */
  localTs: Range[];
}

export interface KeysRecord { spi: number; cipher: 'aes-gcm-16' | 'aes-cbc'; encKey: Hex; integ: 'none' | 'hmac-sha2-256-128'; integKey: Hex }

export interface ChildInstallRecord {
  id: string;
  connection: string;
  inbound: KeysRecord;
  outbound: KeysRecord;
  peer: { address: string; port: number };
  localPort: number;
  tsLocal: Range[];
  tsRemote: Range[];
}

export type HaMessage =
  | { v: 1; t: 'hello'; from: string; role: HaRole; epoch: number; index: number; applied: number }
  | { v: 1; t: 'ike'; from: string; sa: IkeRecord }
  | { v: 1; t: 'ike-del'; from: string; conn: string; spiI: Hex; spiR: Hex }
  | { v: 1; t: 'child'; from: string; child: ChildInstallRecord }
  | { v: 1; t: 'child-del'; from: string; id: string }
  | { v: 1; t: 'seq'; from: string; atMs: number; seqs: Array<[string, string]> }
  | { v: 1; t: 'sync-begin'; from: string; epoch: number }
  | { v: 1; t: 'sync-end'; from: string; epoch: number }
  | { v: 1; t: 'handover'; from: string; epoch: number; startedMs: number; seqs: Array<[string, string]> }
  | { v: 1; t: 'handover-ack'; from: string; epoch: number };

export type HaMessageType = HaMessage['t'];
const TYPES: ReadonlySet<string> = new Set<HaMessageType>(['hello', 'ike', 'ike-del', 'child', 'child-del', 'seq', 'sync-begin', 'sync-end', 'handover', 'handover-ack']);

/** Derives the link key from material both instances share (the same config file). */
export function deriveLinkKey(gatewayName: string, secrets: readonly string[]): Buffer {
  const h = createHash('sha256').update('vgw-ha-link-v1\0').update(gatewayName).update('\0');
  for (const s of [...secrets].sort()) h.update(s).update('\0');
  return h.digest();
}

/** Seals one message into a frame (length prefix included). */
export function encodeFrame(msg: HaMessage, key: Buffer): Buffer {
  const nonce = randomBytes(12);
  const c = createCipheriv('aes-256-gcm', key, nonce);
  const ct = Buffer.concat([c.update(JSON.stringify(msg), 'utf8'), c.final()]);
  const tag = c.getAuthTag();
  const len = Buffer.alloc(4);
  len.writeUInt32BE(12 + ct.length + 16);
  return Buffer.concat([len, nonce, ct, tag]);
}

/** Opens a frame body (without the length prefix) and validates the message. */
export function decodeFrameBody(body: Buffer, key: Buffer): HaMessage {
  if (body.length < 28) throw new HaProtocolError(`HA frame of ${body.length} bytes is too short`);
  const nonce = body.subarray(0, 12);
  const tag = body.subarray(body.length - 16);
  const d = createDecipheriv('aes-256-gcm', key, nonce);
  d.setAuthTag(tag);
  let text: string;
  try {
    text = Buffer.concat([d.update(body.subarray(12, body.length - 16)), d.final()]).toString('utf8');
  } catch {
    throw new HaProtocolError('HA frame failed authentication (is the partner running the same config?)');
  }
  let v: unknown;
  try { v = JSON.parse(text); } catch { throw new HaProtocolError('HA frame is not JSON'); }
  return validate(v);
}

function validate(v: unknown): HaMessage {
  if (typeof v !== 'object' || v === null) throw new HaProtocolError('HA message is not an object');
  const m = v as Record<string, unknown>;
  if (m.v !== HA_PROTOCOL_VERSION) throw new HaProtocolError(`HA protocol version ${String(m.v)} not supported (we speak ${HA_PROTOCOL_VERSION})`);
  if (typeof m.t !== 'string' || !TYPES.has(m.t)) throw new HaProtocolError(`unknown HA message type ${String(m.t)}`);
  if (typeof m.from !== 'string') throw new HaProtocolError('HA message without sender');
  const need = (field: string, type: 'number' | 'string' | 'object'): void => {
    if (typeof m[field] !== type || m[field] === null) throw new HaProtocolError(`HA ${m.t} message: ${field} must be a ${type}`);
  };
  switch (m.t) {
    case 'hello': need('role', 'string'); need('epoch', 'number'); need('index', 'number'); need('applied', 'number');
      if (!['init', 'standby', 'active'].includes(m.role as string)) throw new HaProtocolError(`bad role ${String(m.role)}`);
      break;
    case 'ike': need('sa', 'object'); checkIke(m.sa as Record<string, unknown>); break;
    case 'ike-del': need('conn', 'string'); need('spiI', 'string'); need('spiR', 'string'); break;
    case 'child': need('child', 'object'); checkChild(m.child as Record<string, unknown>); break;
    case 'child-del': need('id', 'string'); break;
    case 'seq': need('atMs', 'number');
      checkSeqs(m.seqs);
      break;
    case 'sync-begin': case 'sync-end': case 'handover-ack': need('epoch', 'number'); break;
    case 'handover': need('epoch', 'number'); need('startedMs', 'number'); checkSeqs(m.seqs); break;
  }
  return v as HaMessage;
}

function checkSeqs(seqs: unknown): void {
  if (!Array.isArray(seqs) || !seqs.every((e) => Array.isArray(e) && typeof e[0] === 'string' && typeof e[1] === 'string' && /^\d{1,20}$/.test(e[1]))) {
    throw new HaProtocolError('HA message: seqs must be [id, decimal] pairs');
  }
}

const HEX = /^(?:[0-9a-f]{2})*$/;
function checkIke(sa: Record<string, unknown>): void {
  const str = ['conn', 'spiI', 'spiR', 'ni', 'nr'];
  const num = ['localPort', 'nextMidOut', 'nextMidIn', 'establishedMs', 'rekeyAtMs', 'expireAtMs'];
  for (const f of str) if (typeof sa[f] !== 'string') throw new HaProtocolError(`HA ike record: ${f} must be a string`);
  for (const f of num) if (typeof sa[f] !== 'number' || !Number.isFinite(sa[f])) throw new HaProtocolError(`HA ike record: ${f} must be a number`);
  if (!/^[0-9a-f]{16}$/.test(sa.spiI as string) || !/^[0-9a-f]{16}$/.test(sa.spiR as string)) throw new HaProtocolError('HA ike record: SPIs must be 16 hex digits');
  const keys = sa.keys as Record<string, unknown> | undefined;
  if (!keys || typeof keys !== 'object') throw new HaProtocolError('HA ike record: keys missing');
  for (const k of ['skD', 'skAi', 'skAr', 'skEi', 'skEr', 'skPi', 'skPr']) {
    if (typeof keys[k] !== 'string' || !HEX.test(keys[k] as string)) throw new HaProtocolError(`HA ike record: keys.${k} must be hex`);
  }
  if (typeof sa.suite !== 'object' || sa.suite === null) throw new HaProtocolError('HA ike record: suite missing');
  if (typeof sa.remote !== 'object' || sa.remote === null) throw new HaProtocolError('HA ike record: remote missing');
  if (!Array.isArray(sa.children)) throw new HaProtocolError('HA ike record: children must be a list');
  if (sa.p2s !== undefined) checkP2s(sa.p2s);
}

function checkP2s(v: unknown): void {
  const p = v as Record<string, unknown> | null;
  if (typeof p !== 'object' || p === null) throw new HaProtocolError('HA ike record: p2s must be an object');
  for (const f of ['identity', 'address', 'thumbprint', 'subject', 'leafDer']) {
    if (typeof p[f] !== 'string') throw new HaProtocolError(`HA ike record: p2s.${f} must be a string`);
  }
  if (!HEX.test(p.leafDer as string)) throw new HaProtocolError('HA ike record: p2s.leafDer must be hex');
  if (!/^\d{1,3}(\.\d{1,3}){3}$/.test(p.address as string)) throw new HaProtocolError('HA ike record: p2s.address must be an IPv4 address');
  if (typeof p.connectedMs !== 'number') throw new HaProtocolError('HA ike record: p2s.connectedMs must be a number');
  if (!Array.isArray(p.intermediatesDer) || !p.intermediatesDer.every((x) => typeof x === 'string' && HEX.test(x))) {
    throw new HaProtocolError('HA ike record: p2s.intermediatesDer must be a list of hex');
  }
  if (!Array.isArray(p.localTs) || !p.localTs.every((r) => typeof r === 'object' && r !== null && typeof (r as Range).start === 'string' && typeof (r as Range).end === 'string')) {
    throw new HaProtocolError('HA ike record: p2s.localTs must be a list of ranges');
  }
}

function checkChild(c: Record<string, unknown>): void {
  if (typeof c.id !== 'string' || typeof c.connection !== 'string') throw new HaProtocolError('HA child record: id/connection missing');
  for (const dir of ['inbound', 'outbound']) {
    const k = c[dir] as Record<string, unknown> | undefined;
    if (!k || typeof k.spi !== 'number' || typeof k.encKey !== 'string' || !HEX.test(k.encKey) || typeof k.integKey !== 'string') {
      throw new HaProtocolError(`HA child record: ${dir} keys malformed`);
    }
  }
  if (!Array.isArray(c.tsLocal) || !Array.isArray(c.tsRemote)) throw new HaProtocolError('HA child record: selectors missing');
}

/**
 * Reassembles frames from a TCP byte stream. `push` returns the complete
 * frame bodies received so far; a frame above MAX_FRAME is a protocol error.
 */
export class FrameReader {
  private buf: Buffer = Buffer.alloc(0);
  push(chunk: Buffer): Buffer[] {
    this.buf = this.buf.length === 0 ? chunk : Buffer.concat([this.buf, chunk]);
    const out: Buffer[] = [];
    while (this.buf.length >= 4) {
      const len = this.buf.readUInt32BE(0);
      if (len > MAX_FRAME) throw new HaProtocolError(`HA frame of ${len} bytes exceeds ${MAX_FRAME}`);
      if (this.buf.length < 4 + len) break;
      out.push(this.buf.subarray(4, 4 + len));
      this.buf = this.buf.subarray(4 + len);
    }
    return out;
  }
}
