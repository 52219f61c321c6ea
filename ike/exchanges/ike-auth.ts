/**
 * IKE_AUTH with pre-shared keys (RFC 7296 §1.2, §2.15):
 *
 *   HDR, SK { IDi, [N(INITIAL_CONTACT)], IDr, AUTH, SAi2, TSi, TSr }  -->
 *                                       <--  HDR, SK { IDr, AUTH, SAr2, TSi, TSr }
 *                                       <--  HDR, SK { N(AUTHENTICATION_FAILED) }
 *
 * A Child SA failure (NO_PROPOSAL_CHOSEN, TS_UNACCEPTABLE) keeps the IKE SA
 * (§1.2: "the IKE SA is still created").
 */
import { AuthMethod, ExchangeType, IdType, NotifyType, PayloadType } from '../constants.js';
import type { IkeMessage, Payload } from '../codec/types.js';
import { IkeError, IkeProtocolError } from '../errors.js';
import { pskAuth, pskAuthEquals, signedOctets } from '../../crypto/auth.js';
import { type IkeSa, IkeSaState, errorNotify, findNotify, notify, payloadOf, errText } from '../ike-sa.js';
import { buildChildOffer, installChild, negotiateChildResponder, readChildReply } from './child-common.js';
import { algName } from '../proposal.js';
import { respondIkeAuthCert, startIkeAuthCert } from './ike-auth-cert.js';

export function idBody(idType: number, data: Buffer): Buffer {
  return Buffer.concat([Buffer.from([idType, 0, 0, 0]), data]);
}

function ipv4Id(address: string): { idType: IdType; data: Buffer } {
  return { idType: IdType.IPV4_ADDR, data: Buffer.from(address.split('.').map(Number)) };
}

function idToString(idType: number, data: Buffer): string {
  if (idType === IdType.IPV4_ADDR && data.length === 4) return [...data].join('.');
  if (idType === IdType.FQDN || idType === IdType.RFC822_ADDR) return data.toString('utf8');
  return `type${idType}:${data.toString('hex')}`;
}

function authFor(sa: IkeSa, ofInitiator: boolean, idType: number, idData: Buffer): Buffer {
  if (!sa.keys || !sa.suite) throw new Error('no keys');
  const octets = ofInitiator
    ? signedOctets(sa.suite.prf, sa.initRequest, sa.nr, sa.keys.skPi, idBody(idType, idData))
    : signedOctets(sa.suite.prf, sa.initResponse, sa.ni, sa.keys.skPr, idBody(idType, idData));
  return pskAuth(sa.suite.prf, sa.conn.psk, octets);
}

export function markEstablished(sa: IkeSa): void {
  const now = sa.host.now();
  sa.establishedMs = now;
  const life = sa.conn.ikeLifetimeSec * 1000;
  sa.rekeyAtMs = now + life * (0.9 - Math.random() * 0.05);
  sa.expireAtMs = now + life;
  sa.lastError = null;
  const s = sa.suite;
  sa.log.info({
    ike: s ? `${algName.encr(s.encr, s.encrKeyBits)}/${s.integ ? algName.integ(s.integ) + '/' : ''}${algName.prf(s.prf)}/${algName.dh(s.dh)}` : '',
    remote: `${sa.remote.address}[${sa.remote.port}]`, nat: sa.natDetected,
  }, `IKE_SA ${sa.name} established`);
  sa.setState(IkeSaState.Established);
}

/** Initiator side, called right after a successful IKE_SA_INIT. */
export function startIkeAuth(sa: IkeSa): void {
  if (sa.conn.certClient) { startIkeAuthCert(sa); return; }
  const idi = ipv4Id(sa.conn.localAddress);
  const idr = ipv4Id(sa.conn.remoteAddress);
  const offer = buildChildOffer(sa, false);
  const payloads: Payload[] = [{ type: PayloadType.IDi, ...idi }];
  sa.sentInitialContact = sa.host.initialContactWanted?.(sa) ?? true;
  if (sa.sentInitialContact) payloads.push(notify(NotifyType.INITIAL_CONTACT));
  payloads.push(
    { type: PayloadType.IDr, ...idr },
    { type: PayloadType.AUTH, method: AuthMethod.SHARED_KEY_MIC, data: authFor(sa, true, idi.idType, idi.data) },
    ...offer.payloads,
  );

  const onResponse = (msg: IkeMessage): void => {
    if (findNotify(msg, NotifyType.AUTHENTICATION_FAILED)) {
      sa.fail('peer answered AUTHENTICATION_FAILED: check the shared key on both sides');
      return;
    }
    const id = payloadOf(msg, PayloadType.IDr);
    const auth = payloadOf(msg, PayloadType.AUTH);
    if (!id || !auth) {
      const err = errorNotify(msg);
      sa.fail(err !== undefined ? `peer refused IKE_AUTH: ${NotifyType[err] ?? err}` : 'IKE_AUTH response lacks IDr or AUTH');
      return;
    }
    if (auth.method !== AuthMethod.SHARED_KEY_MIC) { sa.fail(`peer used auth method ${auth.method}, expected PSK`); return; }
    if (!pskAuthEquals(auth.data, authFor(sa, false, id.idType, id.data))) {
      sa.fail(`authentication of '${idToString(id.idType, id.data)}' with pre-shared key failed: the shared keys differ`);
      return;
    }
    sa.log.info(`authentication of '${idToString(id.idType, id.data)}' with pre-shared key successful`);
    markEstablished(sa);
    const childErr = errorNotify(msg);
    if (childErr !== undefined) {
      sa.lastError = `Child SA refused by peer: ${NotifyType[childErr] ?? childErr}`;
      sa.log.warn(sa.lastError);
      return;
    }
    try {
      const r = readChildReply(sa, msg, offer);
      installChild(sa, r.suite, offer.spiIn, r.spiOut, r.tsLocal, r.tsRemote, { ni: sa.ni, nr: sa.nr, weInitiated: true });
    } catch (e) {
      sa.lastError = `Child SA: ${errText(e)}`;
      sa.log.warn(sa.lastError);
    }
  };
  sa.startRequest('ike-auth', ExchangeType.IKE_AUTH, payloads, onResponse,
    () => sa.fail('IKE_AUTH timed out: no response from peer'), 20_000);
}

/** Responder side. */
export function respondIkeAuth(sa: IkeSa, msg: IkeMessage): Payload[] {
  if (sa.conn.p2s) return respondIkeAuthCert(sa, msg);
  if (sa.state !== IkeSaState.Authenticating) throw new IkeProtocolError(NotifyType.INVALID_SYNTAX, 'IKE_AUTH in wrong state');
  const id = payloadOf(msg, PayloadType.IDi);
  const auth = payloadOf(msg, PayloadType.AUTH);
  if (!id || !auth) throw new IkeProtocolError(NotifyType.INVALID_SYNTAX, 'IKE_AUTH lacks IDi or AUTH');
  const who = idToString(id.idType, id.data);
  if (auth.method !== AuthMethod.SHARED_KEY_MIC || !pskAuthEquals(auth.data, authFor(sa, true, id.idType, id.data))) {
    const why = auth.method !== AuthMethod.SHARED_KEY_MIC ? `auth method ${auth.method} not allowed` : 'the shared keys differ';
    sa.lastError = `authentication of '${who}' failed: ${why}`;
    sa.log.warn(sa.lastError);
    // Close once the AUTHENTICATION_FAILED reply has gone out.
    sa.afterRespond = (): void => sa.close('authentication failed');
    throw new IkeProtocolError(NotifyType.AUTHENTICATION_FAILED, sa.lastError);
  }
  sa.log.info(`authentication of '${who}' with pre-shared key successful`);
  const idr = ipv4Id(sa.conn.localAddress);
  const reply: Payload[] = [
    { type: PayloadType.IDr, ...idr },
    { type: PayloadType.AUTH, method: AuthMethod.SHARED_KEY_MIC, data: authFor(sa, false, idr.idType, idr.data) },
  ];
  markEstablished(sa);
  if (findNotify(msg, NotifyType.INITIAL_CONTACT)) sa.host.initialContact(sa);
  try {
    const c = negotiateChildResponder(sa, msg, undefined);
    installChild(sa, c.suite, c.spiIn, c.spiOut, c.tsLocal, c.tsRemote, { ni: sa.ni, nr: sa.nr, weInitiated: false });
    reply.push(...c.reply);
  } catch (e) {
    if (e instanceof IkeError && e.notify !== undefined) {
      sa.lastError = `Child SA refused: ${e.message}`;
      sa.log.warn(sa.lastError);
      reply.push(notify(e.notify, e.notifyData));
    } else throw e;
  }
  return reply;
}
