/**
 * IKE_AUTH with certificates (RFC 7296 §1.2, §3.6-3.8; RFC 7427 signatures;
 * RFC 7383 fragmentation) for point-to-site remote access:
 *
 *   Initiator (client)                                  Responder (gateway)
 *   HDR, SAi1, KEi, Ni, N(FRAG_SUP), N(SIG_HASH) -->
 *                  <-- HDR, SAr1, KEr, Nr, CERTREQ, N(FRAG_SUP), N(SIG_HASH)
 *   HDR, SK { IDi, CERT+, [N(INITIAL_CONTACT)], [CERTREQ], [IDr],
 *             AUTH, CP(CFG_REQUEST), SAi2, TSi, TSr } -->
 *                  <-- HDR, SK { IDr, CERT+, AUTH, CP(CFG_REPLY), SAr2, TSi, TSr }
 *                  <-- HDR, SK { N(AUTHENTICATION_FAILED) }
 *
 * The client's chain is checked by verifyClientChain against the configured
 * roots and the revocation list; its IDi must be backed by the certificate.
 * The Child SA is narrowed to the client's pool address (TSi) and the VNet
 * plus custom routes (TSr).
 */
import { X509Certificate } from 'node:crypto';
import { CertEncoding, CfgType, ExchangeType, NotifyType, PayloadType } from '../constants.js';
import type { IkeMessage, Payload } from '../codec/types.js';
import { decodeMessage } from '../codec/message.js';
import { IkeError, IkeProtocolError } from '../errors.js';
import { signedOctets } from '../../crypto/auth.js';
import { verifyClientChain } from '../../crypto/pki-verify.js';
import { type IkeSa, IkeSaState, errorNotify, findNotify, notify, payloadOf, errText } from '../ike-sa.js';
import { deleteIke } from './informational.js';
import { buildChildOffer, installChild, negotiateChildResponder, readChildReply } from './child-common.js';
import { buildCfgReply, buildCfgRequest, findCp, readCfgReply, readCfgRequest } from './config-payload.js';
import { idBody, markEstablished } from './ike-auth.js';
import { cidrToRange } from '../traffic-selectors.js';
import { PoolExhaustedError } from '../p2s/address-pool.js';
import { ClientRegistry } from '../p2s/client-registry.js';
import {
  caKeyId, certMatchesIdentity, identityFromText, identityOfCert, identityToString,
} from '../p2s/cert-identity.js';
import { signAuth, signatureHashAlgorithmsData, verifyAuth, SignatureAuthError } from '../p2s/signature.js';
import type { CertIdentity, ClientConfig, IkeIdentity, P2sPolicy } from '../p2s/types.js';

/** RFC 7383 §2.5.1: keep fragments inside a 1280-byte IPv4 packet (IP 20 + UDP 8 + non-ESP marker 4). */
export const FRAGMENT_MESSAGE_SIZE = 1280 - 20 - 8 - 4;

/** What each P2S client SA received in its CFG_REPLY (client side). */
export const clientConfigs = new WeakMap<IkeSa, ClientConfig>();

/** Extra IKE_SA_INIT payloads of the gateway: CERTREQ for our roots, fragmentation, signature hashes. */
export function gatewayInitPayloads(policy: P2sPolicy): Payload[] {
  const out: Payload[] = [];
  if (policy.roots.length > 0) {
    out.push({ type: PayloadType.CERTREQ, encoding: CertEncoding.X509_SIGNATURE, data: Buffer.concat(policy.roots.map(caKeyId)) });
  }
  out.push(notify(NotifyType.IKEV2_FRAGMENTATION_SUPPORTED), notify(NotifyType.SIGNATURE_HASH_ALGORITHMS, signatureHashAlgorithmsData()));
  return out;
}

/** Extra IKE_SA_INIT payloads of a certificate client. */
export function clientInitPayloads(): Payload[] {
  return [notify(NotifyType.IKEV2_FRAGMENTATION_SUPPORTED), notify(NotifyType.SIGNATURE_HASH_ALGORITHMS, signatureHashAlgorithmsData())];
}

/** Whether the peer's IKE_SA_INIT message carried IKEV2_FRAGMENTATION_SUPPORTED. */
function peerSupportsFragmentation(initBytes: Buffer): boolean {
  try {
    const raw = decodeMessage(initBytes);
    return findNotify({ header: raw.header, payloads: raw.payloads }, NotifyType.IKEV2_FRAGMENTATION_SUPPORTED) !== undefined;
  } catch {
    return false;
  }
}

function certPayloads(me: CertIdentity): Payload[] {
  return me.chainDer.map((data) => ({ type: PayloadType.CERT, encoding: CertEncoding.X509_SIGNATURE, data }));
}

function peerCerts(msg: IkeMessage): Buffer[] {
  const out: Buffer[] = [];
  for (const p of msg.payloads) {
    if (p.type === PayloadType.CERT && 'encoding' in p && p.encoding === CertEncoding.X509_SIGNATURE) out.push(p.data);
  }
  return out;
}

function ourId(me: CertIdentity): IkeIdentity {
  const leaf = me.chainDer[0];
  if (!leaf) throw new Error('certificate identity without a certificate');
  return me.id ?? identityOfCert(leaf);
}

function authData(sa: IkeSa, ofInitiator: boolean, id: IkeIdentity, me: CertIdentity): Payload {
  const octets = octetsFor(sa, ofInitiator, id);
  const a = signAuth(me.key, octets, me.rsaPss === true);
  return { type: PayloadType.AUTH, method: a.method, data: a.data };
}

function octetsFor(sa: IkeSa, ofInitiator: boolean, id: IkeIdentity): Buffer {
  if (!sa.keys || !sa.suite) throw new Error('no keys');
  return ofInitiator
    ? signedOctets(sa.suite.prf, sa.initRequest, sa.nr, sa.keys.skPi, idBody(id.idType, id.data))
    : signedOctets(sa.suite.prf, sa.initResponse, sa.ni, sa.keys.skPr, idBody(id.idType, id.data));
}

/** Gateway: authenticates a point-to-site client and assigns its address. */
export function respondIkeAuthCert(sa: IkeSa, msg: IkeMessage): Payload[] {
  const policy = sa.conn.p2s;
  if (!policy) throw new IkeProtocolError(NotifyType.AUTHENTICATION_FAILED, 'no point-to-site policy');
  if (sa.state !== IkeSaState.Authenticating) throw new IkeProtocolError(NotifyType.INVALID_SYNTAX, 'IKE_AUTH in wrong state');
  const idp = payloadOf(msg, PayloadType.IDi);
  const auth = payloadOf(msg, PayloadType.AUTH);
  if (!idp || !auth) throw new IkeProtocolError(NotifyType.INVALID_SYNTAX, 'IKE_AUTH lacks IDi or AUTH');
  const id: IkeIdentity = { idType: idp.idType, data: idp.data };
  const who = identityToString(id);
  const refuse = (why: string, thumbprint: string | undefined): never => {
    sa.lastError = `authentication of '${who}' failed: ${why}`;
    sa.log.warn({ client: who, thumbprint, from: sa.remote.address }, sa.lastError);
    sa.afterRespond = (): void => sa.close('authentication failed');
    throw new IkeProtocolError(NotifyType.AUTHENTICATION_FAILED, sa.lastError);
  };
  if (peerSupportsFragmentation(sa.initRequest)) sa.fragmentMax = FRAGMENT_MESSAGE_SIZE;
  const certs = peerCerts(msg);
  const leaf = certs[0];
  if (!leaf) refuse('no client certificate (CERT payload) sent', undefined);
  const chain = verifyClientChain({ leafDer: leaf!, intermediatesDer: certs.slice(1), roots: policy.roots, revokedThumbprints: policy.revoked });
  if (!chain.ok) refuse(chain.reason, chain.thumbprint);
  const verified = chain as Extract<typeof chain, { ok: true }>;
  if (!certMatchesIdentity(leaf!, id)) refuse(`identity is not in certificate "${verified.subject}"`, verified.thumbprint);
  let alg = '';
  try {
    alg = verifyAuth(auth.method, auth.data, new X509Certificate(leaf!).publicKey, octetsFor(sa, true, id));
  } catch (e) {
    refuse(e instanceof SignatureAuthError ? e.message : `signature check failed: ${errText(e)}`, verified.thumbprint);
  }
  sa.log.info({ client: who, thumbprint: verified.thumbprint, alg }, `authentication of '${who}' with certificate "${verified.subject}" successful`);

  // Our identity: the IDr the client asked for when our certificate holds it.
  const idrReq = payloadOf(msg, PayloadType.IDr);
  const serverLeaf = policy.server.chainDer[0]!;
  const idr = idrReq && certMatchesIdentity(serverLeaf, { idType: idrReq.idType, data: idrReq.data })
    ? { idType: idrReq.idType, data: idrReq.data } : ourId(policy.server);
  const reply: Payload[] = [
    { type: PayloadType.IDr, ...idr },
    ...certPayloads(policy.server),
    authData(sa, false, idr, policy.server),
  ];
  markEstablished(sa);

  // One IKE SA per client identity: a new login replaces the old one.
  const previous = policy.registry.get(who);
  if (previous) {
    const old = ClientRegistry.current(previous);
    if (old !== sa && old.state !== IkeSaState.Closed) {
      sa.log.info({ client: who }, `client reconnected: deleting its previous IKE_SA ${old.name}`);
      if (old.state === IkeSaState.Established) old.enqueue('ike-delete', () => deleteIke(old, 'replaced by a new login'), true);
      else old.close('replaced by a new login');
    }
  }
  try {
    const cp = findCp(msg, CfgType.CFG_REQUEST);
    if (!cp || !readCfgRequest(cp).wantsAddress) {
      throw new IkeProtocolError(NotifyType.FAILED_CP_REQUIRED, 'point-to-site clients must request an address (CP CFG_REQUEST)');
    }
    let address: string;
    try {
      address = policy.pool.allocate(who).address;
    } catch (e) {
      if (e instanceof PoolExhaustedError) throw new IkeProtocolError(NotifyType.INTERNAL_ADDRESS_FAILURE, e.message);
      throw e;
    }
    // This SA's own spec copy (see IkeManager): narrow the Child SA to the client.
    const host = cidrToRange(`${address}/32`);
    sa.conn.remoteTs = [host];
    sa.conn.remotePrefixes = [host];
    sa.conn.localTs = [...policy.routes];
    let c: ReturnType<typeof negotiateChildResponder>;
    try {
      c = negotiateChildResponder(sa, msg, undefined);
    } catch (e) {
      if (!previous) policy.pool.release(who);
      throw e;
    }
    installChild(sa, c.suite, c.spiIn, c.spiOut, c.tsLocal, c.tsRemote, { ni: sa.ni, nr: sa.nr, weInitiated: false });
    policy.registry.add({
      identity: who, address, thumbprint: verified.thumbprint, subject: verified.subject, leafDer: leaf!,
      intermediatesDer: certs.slice(1), connectedMs: sa.host.now(), sa,
    });
    sa.log.info({ client: who, address }, `assigned virtual IP ${address} to '${who}'`);
    reply.push(buildCfgReply({ address, dns: policy.dns, subnets: policy.routes }), ...c.reply);
  } catch (e) {
    if (e instanceof IkeError && e.notify !== undefined) {
      sa.lastError = `Child SA refused: ${e.message}`;
      sa.log.warn({ client: who }, sa.lastError);
      reply.push(notify(e.notify, e.notifyData));
    } else throw e;
  }
  return reply;
}

/** Client: IKE_AUTH with our certificate, asking for an address. */
export function startIkeAuthCert(sa: IkeSa): void {
  const client = sa.conn.certClient;
  if (!client) { sa.fail('connection has no client certificate'); return; }
  if (peerSupportsFragmentation(sa.initResponse)) sa.fragmentMax = FRAGMENT_MESSAGE_SIZE;
  const idi = ourId(client.me);
  const offer = buildChildOffer(sa, false);
  const payloads: Payload[] = [{ type: PayloadType.IDi, ...idi }, ...certPayloads(client.me)];
  sa.sentInitialContact = sa.host.initialContactWanted?.(sa) ?? true;
  if (sa.sentInitialContact) payloads.push(notify(NotifyType.INITIAL_CONTACT));
  if (client.caDer.length > 0) {
    payloads.push({ type: PayloadType.CERTREQ, encoding: CertEncoding.X509_SIGNATURE, data: Buffer.concat(client.caDer.map(caKeyId)) });
  }
  if (client.remoteId) payloads.push({ type: PayloadType.IDr, ...identityFromText(client.remoteId) });
  payloads.push(authData(sa, true, idi, client.me), buildCfgRequest(), ...offer.payloads);

  const onResponse = (msg: IkeMessage): void => {
    if (findNotify(msg, NotifyType.AUTHENTICATION_FAILED)) {
      sa.fail('gateway answered AUTHENTICATION_FAILED: our certificate was refused (revoked, unknown CA or wrong identity)');
      return;
    }
    const idp = payloadOf(msg, PayloadType.IDr);
    const auth = payloadOf(msg, PayloadType.AUTH);
    const certs = peerCerts(msg);
    const leaf = certs[0];
    if (!idp || !auth || !leaf) {
      const err = errorNotify(msg);
      sa.fail(err !== undefined ? `gateway refused IKE_AUTH: ${NotifyType[err] ?? err}` : 'IKE_AUTH response lacks IDr, CERT or AUTH');
      return;
    }
    const idr: IkeIdentity = { idType: idp.idType, data: idp.data };
    const chain = verifyClientChain({ leafDer: leaf, intermediatesDer: certs.slice(1), roots: client.caDer, revokedThumbprints: new Set(), purpose: 'serverAuth' });
    if (!chain.ok) { sa.fail(`gateway certificate not trusted: ${chain.reason}`); return; }
    if (!certMatchesIdentity(leaf, idr)) { sa.fail(`gateway identity '${identityToString(idr)}' is not in its certificate`); return; }
    if (client.remoteId && !certMatchesIdentity(leaf, identityFromText(client.remoteId))) {
      sa.fail(`gateway certificate "${chain.subject}" does not name ${client.remoteId}`);
      return;
    }
    try {
      verifyAuth(auth.method, auth.data, new X509Certificate(leaf).publicKey, octetsFor(sa, false, idr));
    } catch (e) {
      sa.fail(`gateway AUTH: ${errText(e)}`);
      return;
    }
    sa.log.info(`authentication of '${identityToString(idr)}' with certificate "${chain.subject}" successful`);
    markEstablished(sa);
    const cp = findCp(msg, CfgType.CFG_REPLY);
    const childErr = errorNotify(msg);
    if (childErr !== undefined || !cp) {
      sa.lastError = `gateway gave no address: ${childErr !== undefined ? (NotifyType[childErr] ?? childErr) : 'no CFG_REPLY'}`;
      sa.log.warn(sa.lastError);
      sa.enqueue('ike-delete', () => deleteIke(sa, sa.lastError ?? 'no address'), true);
      return;
    }
    try {
      const cfg = readCfgReply(cp);
      clientConfigs.set(sa, cfg);
      const r = readChildReply(sa, msg, offer);
      installChild(sa, r.suite, offer.spiIn, r.spiOut, r.tsLocal, r.tsRemote, { ni: sa.ni, nr: sa.nr, weInitiated: true });
      sa.log.info({ address: cfg.address, dns: cfg.dns }, `installing virtual IP ${cfg.address}`);
    } catch (e) {
      sa.lastError = `Child SA: ${errText(e)}`;
      sa.log.warn(sa.lastError);
    }
  };
  sa.startRequest('ike-auth', ExchangeType.IKE_AUTH, payloads, onResponse,
    () => sa.fail('IKE_AUTH timed out: no response from gateway'), 20_000);
}
