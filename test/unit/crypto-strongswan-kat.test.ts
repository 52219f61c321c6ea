/**
 * Known-answer tests from real strongSwan runs: values logged by charon at
 * level 4 (initiator gwA) and the IKE messages captured on the wire, both
 * copied into test/vectors by test/vectors/crypto-extract-strongswan.mjs.
 */
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { DhGroup, EncrId, ExchangeType, HeaderFlag, IntegId, PayloadType, PrfId } from '../../ike/constants.js';
import { signedOctets, pskAuth, pskAuthEquals } from '../../crypto/auth.js';
import { createKeyExchange, keyExchangeLength } from '../../crypto/dh.js';
import { IntegrityError } from '../../crypto/errors.js';
import {
  deriveChildKeys,
  deriveIkeKeys,
  deriveRekeySkeyseed,
  deriveSkeyseed,
  encrKeyLength,
  integKeyLength,
  type IkeKeyMaterial,
  type IkeSuite,
} from '../../crypto/ike-keys.js';
import { createSkTransform } from '../../crypto/sk.js';

const VECTORS = new URL('../vectors/', import.meta.url);

interface LoggedIkeKeys {
  source: string;
  sharedSecret: string;
  skeyseed: string;
  skD: string;
  skAi: string;
  skAr: string;
  skEi: string;
  skEr: string;
  skPi: string;
  skPr: string;
}
interface LoggedAuth {
  source: string;
  idPayloadBody: string;
  skP: string;
  octets: string;
  psk: string;
  prfPskKeyPad: string;
  auth: string;
}
interface LoggedChild {
  source: string;
  seed: string;
  encI: string;
  encR: string;
  integI: string;
  integR: string;
}
interface Message {
  source: string;
  frame: number;
  exchange: number;
  messageId: number;
  flags: number;
  hex: string;
}
interface Capture {
  proposal: string;
  spiI: string;
  spiR: string;
  messages: Message[];
  ikeSa: LoggedIkeKeys;
  authInitiator: LoggedAuth;
  authResponder: LoggedAuth;
  child: LoggedChild;
  childRekey?: LoggedChild;
  ikeRekey?: LoggedIkeKeys & { ni: string; nr: string; spiI: string; spiR: string; requestFrame: number; responseFrame: number };
}
const kat = JSON.parse(readFileSync(new URL('crypto-strongswan-kat.json', VECTORS), 'utf8')) as {
  captures: Record<string, Capture>;
};

const hex = (s: string): Buffer => Buffer.from(s, 'hex');

/** Suites as negotiated in the captures (see each capture's `proposal`). */
const SUITES: Record<string, { suite: IkeSuite; group: DhGroup; childEncr: number; childKeyBits: number; childInteg: number }> = {
  's2s-psk-keylog': {
    suite: { encr: EncrId.AES_GCM_16, encrKeyBits: 256, integ: IntegId.NONE, prf: PrfId.HMAC_SHA2_256 },
    group: DhGroup.CURVE25519,
    childEncr: EncrId.AES_GCM_16,
    childKeyBits: 256,
    childInteg: IntegId.NONE,
  },
  's2s-psk-default-proposals-keylog': {
    suite: { encr: EncrId.AES_CBC, encrKeyBits: 128, integ: IntegId.HMAC_SHA2_256_128, prf: PrfId.HMAC_SHA2_256 },
    group: DhGroup.CURVE25519,
    childEncr: EncrId.AES_CBC,
    childKeyBits: 128,
    childInteg: IntegId.HMAC_SHA2_256_128,
  },
};

interface Payload {
  type: number;
  /** Offset of the generic payload header in the buffer. */
  offset: number;
  body: Buffer;
}

/** Walks a payload chain (RFC 7296 §3.2) starting at `offset` with first type `first`. */
function walkPayloads(buf: Buffer, first: number, offset: number): Payload[] {
  const out: Payload[] = [];
  let type = first;
  while (type !== PayloadType.NONE && offset < buf.length) {
    const next = buf.readUInt8(offset);
    const len = buf.readUInt16BE(offset + 2);
    if (len < 4 || offset + len > buf.length) throw new Error(`bad payload length ${len} at ${offset}`);
    out.push({ type, offset, body: buf.subarray(offset + 4, offset + len) });
    // SK is always last; its Next Payload names the first inner payload.
    if (type === PayloadType.SK) break;
    type = next;
    offset += len;
  }
  return out;
}

function ikePayloads(msg: Buffer): Payload[] {
  return walkPayloads(msg, msg.readUInt8(16), 28);
}

function payloadOf(payloads: Payload[], type: PayloadType): Payload {
  const p = payloads.find((x) => x.type === type);
  if (!p) throw new Error(`no payload ${type}`);
  return p;
}

function findMessage(cap: Capture, exchange: ExchangeType, response: boolean, nth = 0): Message {
  const m = cap.messages.filter((x) => x.exchange === exchange && Boolean(x.flags & HeaderFlag.Response) === response)[nth];
  if (!m) throw new Error(`no ${exchange} ${response ? 'response' : 'request'} #${nth}`);
  return m;
}

function toKeys(k: LoggedIkeKeys): IkeKeyMaterial {
  return {
    skD: hex(k.skD),
    skAi: hex(k.skAi),
    skAr: hex(k.skAr),
    skEi: hex(k.skEi),
    skEr: hex(k.skEr),
    skPi: hex(k.skPi),
    skPr: hex(k.skPr),
  };
}

/** SK transform for messages sent by the initiator (`i`) or responder (`r`). */
function skFor(suite: IkeSuite, keys: IkeKeyMaterial, sender: 'i' | 'r') {
  return createSkTransform(
    suite.encr,
    suite.encrKeyBits,
    suite.integ,
    sender === 'i' ? keys.skEi : keys.skEr,
    sender === 'i' ? keys.skAi : keys.skAr,
  );
}

/** Decrypts an SK-protected IKE message; returns inner payloads and the SK body offset. */
function openMessage(suite: IkeSuite, keys: IkeKeyMaterial, msg: Buffer) {
  const sender = msg.readUInt8(19) & HeaderFlag.Initiator ? 'i' : 'r';
  const sk = payloadOf(ikePayloads(msg), PayloadType.SK);
  const bodyOffset = sk.offset + 4;
  const plain = skFor(suite, keys, sender).open(msg, bodyOffset);
  return { bodyOffset, inner: walkPayloads(plain, msg.readUInt8(sk.offset), 0), sender };
}

for (const [name, cap] of Object.entries(kat.captures)) {
  const cfg = SUITES[name];
  if (!cfg) throw new Error(`no suite for capture ${name}`);
  const { suite } = cfg;
  const initReq = hex(findMessage(cap, ExchangeType.IKE_SA_INIT, false).hex);
  const initResp = hex(findMessage(cap, ExchangeType.IKE_SA_INIT, true).hex);
  const reqPayloads = ikePayloads(initReq);
  const respPayloads = ikePayloads(initResp);
  const ni = payloadOf(reqPayloads, PayloadType.NONCE).body;
  const nr = payloadOf(respPayloads, PayloadType.NONCE).body;
  const spiI = initResp.subarray(0, 8);
  const spiR = initResp.subarray(8, 16);
  const logged = toKeys(cap.ikeSa);

  describe(`strongSwan ${name} (${cap.proposal})`, () => {
    it('pcap IKE_SA_INIT agrees with the log (SPIs, nonces = CHILD seed, KE sizes)', () => {
      expect(spiI.toString('hex')).toBe(cap.spiI);
      expect(spiR.toString('hex')).toBe(cap.spiR);
      expect(Buffer.concat([ni, nr]).toString('hex')).toBe(cap.child.seed);
      for (const ke of [payloadOf(reqPayloads, PayloadType.KE), payloadOf(respPayloads, PayloadType.KE)]) {
        expect(ke.body.readUInt16BE(0)).toBe(cfg.group);
        expect(ke.body.length - 4).toBe(keyExchangeLength(cfg.group));
      }
    });

    it('accepts strongSwan\'s real KE values as peer public keys', () => {
      // The private keys are not logged, so g^ir cannot be recomputed; the
      // peer values must still pass validation.
      const ours = createKeyExchange(cfg.group);
      for (const p of [reqPayloads, respPayloads]) {
        const secret = ours.computeSharedSecret(payloadOf(p, PayloadType.KE).body.subarray(4));
        expect(secret.length).toBe(32);
      }
    });

    it(`deriveSkeyseed matches SKEYSEED (${cap.ikeSa.source})`, () => {
      expect(deriveSkeyseed(suite.prf, ni, nr, hex(cap.ikeSa.sharedSecret)).toString('hex')).toBe(cap.ikeSa.skeyseed);
    });

    it('deriveIkeKeys matches SK_d, SK_a*, SK_e*, SK_p*', () => {
      const keys = deriveIkeKeys(suite, hex(cap.ikeSa.skeyseed), ni, nr, spiI, spiR);
      expect(keys).toEqual(logged);
      expect(keys.skEi.length).toBe(encrKeyLength(suite.encr, suite.encrKeyBits));
    });

    it(`initiator AUTH: signedOctets and pskAuth match (${cap.authInitiator.source})`, () => {
      const a = cap.authInitiator;
      expect(Buffer.from(hex(a.psk)).toString()).toBe('interop-test-psk');
      const octets = signedOctets(suite.prf, initReq, nr, logged.skPi, hex(a.idPayloadBody));
      expect(octets.toString('hex')).toBe(a.octets);
      const auth = pskAuth(suite.prf, Buffer.from('interop-test-psk'), octets);
      expect(auth.toString('hex')).toBe(a.auth);
      expect(pskAuthEquals(auth, hex(a.auth))).toBe(true);
      expect(pskAuthEquals(pskAuth(suite.prf, Buffer.from('interop-test-psK'), octets), hex(a.auth))).toBe(false);
    });

    it(`responder AUTH: signedOctets and pskAuth match (${cap.authResponder.source})`, () => {
      const a = cap.authResponder;
      const octets = signedOctets(suite.prf, initResp, ni, logged.skPr, hex(a.idPayloadBody));
      expect(octets.toString('hex')).toBe(a.octets);
      expect(pskAuth(suite.prf, Buffer.from('interop-test-psk'), octets).toString('hex')).toBe(a.auth);
    });

    it('opens the real IKE_AUTH request and response; IDs and AUTH inside match the log', () => {
      for (const [response, auth, idType] of [
        [false, cap.authInitiator, PayloadType.IDi],
        [true, cap.authResponder, PayloadType.IDr],
      ] as const) {
        const msg = hex(findMessage(cap, ExchangeType.IKE_AUTH, response).hex);
        const { inner } = openMessage(suite, logged, msg);
        expect(payloadOf(inner, idType).body.toString('hex')).toBe(auth.idPayloadBody);
        const authPayload = payloadOf(inner, PayloadType.AUTH).body;
        expect(authPayload.readUInt8(0)).toBe(2); // Shared Key Message Integrity Code
        expect(authPayload.subarray(4).toString('hex')).toBe(auth.auth);
      }
    });

    it('rejects the IKE_AUTH request after any single bit flip (header/AAD, IV, ciphertext, ICV)', () => {
      const msg = hex(findMessage(cap, ExchangeType.IKE_AUTH, false).hex);
      const { bodyOffset } = openMessage(suite, logged, msg);
      const sk = skFor(suite, logged, 'i');
      const positions = [4, bodyOffset - 1, bodyOffset, bodyOffset + sk.ivLength + 3, msg.length - sk.icvLength - 1, msg.length - 1];
      for (const pos of positions) {
        const bad = Buffer.from(msg);
        bad[pos] = (bad[pos] ?? 0) ^ 0x01;
        expect(() => sk.open(bad, bodyOffset), `bit flip at ${pos}`).toThrow(IntegrityError);
      }
      // The wrong direction's key must not open it either.
      expect(() => skFor(suite, logged, 'r').open(msg, bodyOffset)).toThrow(IntegrityError);
    });

    it(`deriveChildKeys matches the CHILD_SA keymat (${cap.child.source})`, () => {
      const encLen = encrKeyLength(cfg.childEncr, cfg.childKeyBits, true);
      const integLen = integKeyLength(cfg.childInteg);
      const child = deriveChildKeys(suite.prf, logged.skD, ni, nr, encLen, integLen);
      expect(child.encI.toString('hex')).toBe(cap.child.encI);
      expect(child.encR.toString('hex')).toBe(cap.child.encR);
      expect(child.integI.toString('hex')).toBe(cap.child.integI);
      expect(child.integR.toString('hex')).toBe(cap.child.integR);
    });

    const childRekey = cap.childRekey;
    if (childRekey) {
      it(`CHILD_SA rekey without PFS: nonces from the decrypted CREATE_CHILD_SA, keymat matches (${childRekey.source})`, () => {
        const req = openMessage(suite, logged, hex(findMessage(cap, ExchangeType.CREATE_CHILD_SA, false, 0).hex));
        const resp = openMessage(suite, logged, hex(findMessage(cap, ExchangeType.CREATE_CHILD_SA, true, 0).hex));
        const cni = payloadOf(req.inner, PayloadType.NONCE).body;
        const cnr = payloadOf(resp.inner, PayloadType.NONCE).body;
        expect(Buffer.concat([cni, cnr]).toString('hex')).toBe(childRekey.seed);
        const encLen = encrKeyLength(cfg.childEncr, cfg.childKeyBits, true);
        const child = deriveChildKeys(suite.prf, logged.skD, cni, cnr, encLen, integKeyLength(cfg.childInteg));
        expect(child.encI.toString('hex')).toBe(childRekey.encI);
        expect(child.encR.toString('hex')).toBe(childRekey.encR);
      });
    }

    const ikeRekey = cap.ikeRekey;
    if (ikeRekey) {
      it(`IKE SA rekey: deriveRekeySkeyseed and new keys match (${ikeRekey.source})`, () => {
        const req = openMessage(suite, logged, hex(findMessage(cap, ExchangeType.CREATE_CHILD_SA, false, 1).hex));
        const resp = openMessage(suite, logged, hex(findMessage(cap, ExchangeType.CREATE_CHILD_SA, true, 1).hex));
        const rni = payloadOf(req.inner, PayloadType.NONCE).body;
        const rnr = payloadOf(resp.inner, PayloadType.NONCE).body;
        // Cross-check our decryption against tshark's dissection.
        expect(rni.toString('hex')).toBe(ikeRekey.ni);
        expect(rnr.toString('hex')).toBe(ikeRekey.nr);
        const skeyseed = deriveRekeySkeyseed(suite.prf, logged.skD, hex(ikeRekey.sharedSecret), rni, rnr);
        expect(skeyseed.toString('hex')).toBe(ikeRekey.skeyseed);
        const keys = deriveIkeKeys(suite, skeyseed, rni, rnr, hex(ikeRekey.spiI), hex(ikeRekey.spiR));
        expect(keys).toEqual(toKeys(ikeRekey));
      });
    }
  });
}

/**
 * Minimal pcapng reader: Section Header (0x0A0D0D0A), Interface Description
 * (type 1, linktype), Enhanced Packet (type 6); Ethernet/IPv4/UDP to IKE.
 */
function readPcapngIke(file: Buffer): { frame: number; ike: Buffer }[] {
  expect(file.readUInt32LE(0)).toBe(0x0a0d0d0a);
  expect(file.readUInt32LE(8)).toBe(0x1a2b3c4d); // little-endian section
  const linktypes: number[] = [];
  const out: { frame: number; ike: Buffer }[] = [];
  let frame = 0;
  for (let off = 0; off < file.length; ) {
    const type = file.readUInt32LE(off);
    const len = file.readUInt32LE(off + 4);
    if (type === 1) linktypes.push(file.readUInt16LE(off + 8));
    if (type === 6) {
      frame++;
      expect(linktypes[file.readUInt32LE(off + 8)]).toBe(1); // LINKTYPE_ETHERNET
      const pkt = file.subarray(off + 28, off + 28 + file.readUInt32LE(off + 20));
      if (pkt.readUInt16BE(12) === 0x0800 && pkt[23] === 17) {
        const ip = pkt.subarray(14);
        const udp = ip.subarray((ip.readUInt8(0) & 0x0f) * 4);
        const ports = [udp.readUInt16BE(0), udp.readUInt16BE(2)];
        const payload = udp.subarray(8, udp.readUInt16BE(4));
        if (ports.includes(500)) out.push({ frame, ike: payload });
        else if (ports.includes(4500) && payload.readUInt32BE(0) === 0) out.push({ frame, ike: payload.subarray(4) });
      }
    }
    off += len;
  }
  return out;
}

describe('strongSwan captures: pcapng bytes', () => {
  for (const [name, cap] of Object.entries(kat.captures)) {
    it(`${name}: IKE messages in the copied pcapng equal the JSON vectors`, () => {
      const pkts = readPcapngIke(readFileSync(new URL(`crypto-strongswan-${name}.pcapng`, VECTORS)));
      expect(pkts.map((p) => ({ frame: p.frame, hex: p.ike.toString('hex') }))).toEqual(
        cap.messages.map((m) => ({ frame: m.frame, hex: m.hex })),
      );
    });
  }
});
