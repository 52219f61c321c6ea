/**
 * IKE_SA_INIT (RFC 7296 §1.2, §2.6 cookies, §2.23 NAT detection):
 *
 *   HDR, [N(COOKIE),] SAi1, KEi, Ni, N(NAT_DETECTION_SOURCE_IP), N(NAT_DETECTION_DESTINATION_IP)  -->
 *                                <--  HDR, SAr1, KEr, Nr, N(NATD_S), N(NATD_D)
 *                                <--  HDR, N(INVALID_KE_PAYLOAD | COOKIE | NO_PROPOSAL_CHOSEN)
 *
 * We always fake our NAT_DETECTION_SOURCE_IP hash (like strongSwan's
 * `encap = yes`): there is no kernel ESP here, so ESP must travel in UDP and
 * both sides must float to port 4500.
 */
import { createHash } from 'node:crypto';
import { ExchangeType, NotifyType, PayloadType, NATT_PORT } from '../constants.js';
import type { IkeMessage, Payload } from '../codec/types.js';
import { IkeProtocolError } from '../errors.js';
import { createKeyExchange, isSupportedGroup } from '../../crypto/dh.js';
import { deriveIkeKeys, deriveSkeyseed } from '../../crypto/ike-keys.js';
import { createSkTransform } from '../../crypto/sk.js';
import { randomNonce } from '../../crypto/random.js';
import type { UdpEndpoint } from '../../dataplane/backend.js';
import { buildIkeProposals, ikeSuiteAllowed, selectIkeProposal, suiteFromIkeReply, type IkeSuite } from '../proposal.js';
import { type IkeSa, IkeSaState, errorNotify, findNotify, notify, payloadOf, SA_INIT_DEADLINE_MS } from '../ike-sa.js';
import { startIkeAuth } from './ike-auth.js';

export function natdHash(spiI: Buffer, spiR: Buffer, ep: UdpEndpoint): Buffer {
  const ip = Buffer.from(ep.address.split('.').map(Number));
  const port = Buffer.alloc(2);
  port.writeUInt16BE(ep.port);
  return createHash('sha1').update(spiI).update(spiR).update(ip).update(port).digest();
}

/** NATD payloads: the source hash is random on purpose to force UDP encapsulation. */
export function natdPayloads(spiI: Buffer, spiR: Buffer, remote: UdpEndpoint): Payload[] {
  return [
    notify(NotifyType.NAT_DETECTION_SOURCE_IP, randomNonce(20)),
    notify(NotifyType.NAT_DETECTION_DESTINATION_IP, natdHash(spiI, spiR, remote)),
  ];
}

/** True when the peer's view of our address differs from ours, or the peer is behind a NAT. */
export function detectNat(msg: IkeMessage, spiI: Buffer, spiR: Buffer, local: UdpEndpoint, remote: UdpEndpoint): boolean {
  const src = msg.payloads.filter((p) => p.type === PayloadType.NOTIFY && 'notifyType' in p && p.notifyType === NotifyType.NAT_DETECTION_SOURCE_IP);
  const dst = findNotify(msg, NotifyType.NAT_DETECTION_DESTINATION_IP);
  if (src.length === 0 || !dst) return false;
  const remoteHash = natdHash(spiI, spiR, remote);
  const remoteBehindNat = !src.some((p) => 'data' in p && p.data.equals(remoteHash));
  const localBehindNat = !dst.data.equals(natdHash(spiI, spiR, local));
  return remoteBehindNat || localBehindNat;
}

/** Installs SK keys once both nonces and the shared secret are known. */
export function deriveKeys(sa: IkeSa, suite: IkeSuite, sharedSecret: Buffer): void {
  const skeyseed = deriveSkeyseed(suite.prf, sa.ni, sa.nr, sharedSecret);
  installKeys(sa, suite, skeyseed);
}

export function installKeys(sa: IkeSa, suite: IkeSuite, skeyseed: Buffer): void {
  const keys = deriveIkeKeys(suite, skeyseed, sa.ni, sa.nr, sa.spiI, sa.spiR);
  sa.suite = suite;
  sa.keys = keys;
  const ei = createSkTransform(suite.encr, suite.encrKeyBits, suite.integ, keys.skEi, keys.skAi);
  const er = createSkTransform(suite.encr, suite.encrKeyBits, suite.integ, keys.skEr, keys.skAr);
  sa.skOut = sa.initiator ? ei : er;
  sa.skIn = sa.initiator ? er : ei;
}

function buildInitRequest(sa: IkeSa, group: number): Payload[] {
  if (!sa.dh || sa.dh.group !== group) sa.dh = createKeyExchange(group);
  // §2.6: a retry with a COOKIE keeps all other payloads unchanged, nonce included.
  if (sa.ni.length === 0) sa.ni = randomNonce(32);
  const payloads: Payload[] = [];
  if (sa.cookie) payloads.push(notify(NotifyType.COOKIE, sa.cookie));
  payloads.push(
    { type: PayloadType.SA, proposals: buildIkeProposals(sa.conn.ikeProposals, Buffer.alloc(0), group) },
    { type: PayloadType.KE, group, data: sa.dh.publicKey },
    { type: PayloadType.NONCE, data: sa.ni },
    ...natdPayloads(sa.spiI, sa.spiR, sa.remote),
  );
  return payloads;
}

const MAX_INIT_RETRIES = 3;

/** Initiator: sends IKE_SA_INIT and drives the SA into IKE_AUTH. */
export function startIkeSaInit(sa: IkeSa, local: UdpEndpoint): void {
  const first = sa.conn.ikeProposals[0]?.dh[0];
  if (first === undefined) { sa.fail('no IKE proposal configured'); return; }
  let group = first;
  let retries = 0;
  const payloads = buildInitRequest(sa, group);

  const onResponse = (msg: IkeMessage): void => {
    const cookie = findNotify(msg, NotifyType.COOKIE);
    if (cookie && retries++ < MAX_INIT_RETRIES) {
      sa.log.info('responder asked for a COOKIE, retrying IKE_SA_INIT');
      sa.cookie = cookie.data;
      resend();
      return;
    }
    const invalidKe = findNotify(msg, NotifyType.INVALID_KE_PAYLOAD);
    if (invalidKe && retries++ < MAX_INIT_RETRIES) {
      const wanted = invalidKe.data.length >= 2 ? invalidKe.data.readUInt16BE(0) : -1;
      const acceptable = sa.conn.ikeProposals.some((p) => p.dh.includes(wanted));
      if (!acceptable || !isSupportedGroup(wanted)) {
        sa.fail(`peer wants DH group ${wanted}, which we do not allow`);
        return;
      }
      sa.log.info({ group: wanted }, 'peer sent INVALID_KE_PAYLOAD, retrying with its group');
      group = wanted;
      resend();
      return;
    }
    const err = errorNotify(msg);
    if (err !== undefined) {
      sa.fail(`peer refused IKE_SA_INIT: ${NotifyType[err] ?? err}`);
      return;
    }
    const saP = payloadOf(msg, PayloadType.SA);
    const ke = payloadOf(msg, PayloadType.KE);
    const nonce = payloadOf(msg, PayloadType.NONCE);
    if (!saP || !ke || !nonce || saP.proposals.length !== 1) { sa.fail('IKE_SA_INIT response lacks SA, KE or Nonce'); return; }
    const proposal = saP.proposals[0];
    const suite = proposal ? suiteFromIkeReply(proposal) : undefined;
    if (!suite || !ikeSuiteAllowed(suite, sa.conn.ikeProposals)) { sa.fail('responder chose a proposal we did not offer'); return; }
    if (ke.group !== suite.dh || !sa.dh || sa.dh.group !== ke.group) { sa.fail('responder KE group does not match the chosen proposal'); return; }
    if (nonce.data.length < 16 || nonce.data.length > 256) { sa.fail('bad responder nonce length'); return; }
    sa.spiR = Buffer.from(msg.header.spiR);
    sa.nr = nonce.data;
    sa.initResponse = sa.lastResponseBytes;
    const secret = sa.dh.computeSharedSecret(ke.data);
    sa.dh = undefined;
    deriveKeys(sa, suite, secret);
    sa.natDetected = detectNat(msg, sa.spiI, sa.spiR, local, sa.remote);
    // Float to 4500 for IKE_AUTH and ESP (RFC 7296 §2.23).
    sa.localPort = NATT_PORT;
    sa.remote = { address: sa.remote.address, port: NATT_PORT };
    sa.setState(IkeSaState.Authenticating);
    startIkeAuth(sa);
  };
  const onTimeout = (): void => sa.fail('IKE_SA_INIT timed out: no response from peer');
  const send = (p: Payload[]): void => {
    sa.nextMidOut = 0;
    sa.startRequest('ike-init', ExchangeType.IKE_SA_INIT, p, onResponse, onTimeout, SA_INIT_DEADLINE_MS);
    // AUTH signs the exact bytes of the request that got the answer.
    if (sa.pending?.packets[0]) sa.initRequest = sa.pending.packets[0];
  };
  const resend = (): void => send(buildInitRequest(sa, group));
  send(payloads);
}

/** Responder: validates an IKE_SA_INIT request for a known connection and builds the reply. */
export function respondIkeSaInit(sa: IkeSa, msg: IkeMessage, requestBytes: Buffer, local: UdpEndpoint): Payload[] {
  const saP = payloadOf(msg, PayloadType.SA);
  const ke = payloadOf(msg, PayloadType.KE);
  const nonce = payloadOf(msg, PayloadType.NONCE);
  if (!saP || !ke || !nonce) throw new IkeProtocolError(NotifyType.INVALID_SYNTAX, 'IKE_SA_INIT lacks SA, KE or Nonce');
  if (nonce.data.length < 16 || nonce.data.length > 256) throw new IkeProtocolError(NotifyType.INVALID_SYNTAX, 'bad nonce length');
  const chosen = selectFor(sa, saP.proposals);
  if (ke.group !== chosen.suite.dh) {
    // §1.2: tell the initiator which group we want; no state is kept.
    const data = Buffer.alloc(2);
    data.writeUInt16BE(chosen.suite.dh);
    throw new IkeProtocolError(NotifyType.INVALID_KE_PAYLOAD, `peer sent KE for group ${ke.group}, we want ${chosen.suite.dh}`, data);
  }
  const dh = createKeyExchange(chosen.suite.dh);
  const secret = dh.computeSharedSecret(ke.data);
  sa.ni = nonce.data;
  sa.nr = randomNonce(32);
  sa.initRequest = requestBytes;
  deriveKeys(sa, chosen.suite, secret);
  sa.natDetected = detectNat(msg, sa.spiI, sa.spiR, local, sa.remote);
  const proposal = chosen.proposal;
  const reply = buildIkeProposals([{ ...chosenSpec(chosen.suite) }])[0];
  if (!reply || !proposal) throw new IkeProtocolError(NotifyType.NO_PROPOSAL_CHOSEN, 'no proposal');
  reply.num = proposal.num;
  return [
    { type: PayloadType.SA, proposals: [reply] },
    { type: PayloadType.KE, group: dh.group, data: dh.publicKey },
    { type: PayloadType.NONCE, data: sa.nr },
    ...natdPayloads(sa.spiI, sa.spiR, sa.remote),
  ];
}

function chosenSpec(s: IkeSuite): { encr: number; encrKeyBits: number; integ: number; prf: number; dh: number[] } {
  return { encr: s.encr, encrKeyBits: s.encrKeyBits, integ: s.integ, prf: s.prf, dh: [s.dh] };
}

function selectFor(sa: IkeSa, offered: Parameters<typeof selectIkeProposal>[0]): NonNullable<ReturnType<typeof selectIkeProposal>> {
  const chosen = selectIkeProposal(offered, sa.conn.ikeProposals);
  if (!chosen) throw new IkeProtocolError(NotifyType.NO_PROPOSAL_CHOSEN, 'no acceptable IKE proposal offered');
  return chosen;
}
