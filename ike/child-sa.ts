/**
 * A Child SA as IKE sees it: the negotiated pair, its keys handed to the
 * dataplane, and its lifetimes. The ESP state itself lives in dataplane/.
 */
import type { Ipv4Range, ChildSaInstall, EspSaKeys, IpsecBackend } from '../dataplane/backend.js';
import { EncrId, IntegId } from './constants.js';
import type { EspSuite } from './proposal.js';
import { deriveChildKeys, encrKeyLength, integKeyLength } from '../crypto/ike-keys.js';

export enum ChildState {
  Installed = 'installed',
  Rekeying = 'rekeying',
  Rekeyed = 'rekeyed',   // superseded by a newer SA; waiting for its delete
  Deleting = 'deleting',
  Deleted = 'deleted',
}

export interface ChildSa {
  id: string;
  state: ChildState;
  /** SPI we receive on (we chose it). */
  spiIn: number;
  /** SPI we send with (the peer chose it). */
  spiOut: number;
  suite: EspSuite;
  /** Negotiated selectors from our point of view. */
  tsLocal: Ipv4Range[];
  tsRemote: Ipv4Range[];
  establishedMs: number;
  rekeyAtMs: number;
  expireAtMs: number;
  /** Nonces of the exchange that created it, for rekey collision resolution (RFC 7296 §2.8.1). */
  nonces: Buffer[];
  /** Id of the Child SA that replaced this one in a rekey. */
  replacedBy?: string;
}

let childSeq = 0;
export function nextChildId(conn: string): string {
  childSeq += 1;
  return `${conn}#${childSeq}`;
}

export function espCipherName(encr: number): 'aes-gcm-16' | 'aes-cbc' {
  if (encr === EncrId.AES_GCM_16) return 'aes-gcm-16';
  if (encr === EncrId.AES_CBC) return 'aes-cbc';
  throw new Error(`unsupported ESP cipher ${encr}`);
}

function espKeys(spi: number, suite: EspSuite, encKey: Buffer, integKey: Buffer): EspSaKeys {
  return {
    spi,
    cipher: espCipherName(suite.encr),
    encKey,
    integ: suite.integ === IntegId.HMAC_SHA2_256_128 ? 'hmac-sha2-256-128' : 'none',
    integKey,
  };
}

export interface ChildKeyInput {
  prf: number;
  skD: Buffer;
  ni: Buffer;
  nr: Buffer;
  sharedSecret?: Buffer;
  /** True when we initiated the exchange that created this Child SA. */
  weInitiated: boolean;
}

/** Derives KEYMAT (§2.17) and builds the dataplane install record. */
export function buildInstall(
  child: ChildSa, k: ChildKeyInput, conn: string, peer: { address: string; port: number }, localPort: number,
  installRemote: Ipv4Range[],
): ChildSaInstall {
  const encLen = encrKeyLength(child.suite.encr, child.suite.encrKeyBits, true);
  const intLen = integKeyLength(child.suite.integ);
  const km = deriveChildKeys(k.prf, k.skD, k.ni, k.nr, encLen, intLen, k.sharedSecret);
  const [outEnc, outInt, inEnc, inInt] = k.weInitiated
    ? [km.encI, km.integI, km.encR, km.integR]
    : [km.encR, km.integR, km.encI, km.integI];
  return {
    id: child.id,
    connection: conn,
    inbound: espKeys(child.spiIn, child.suite, inEnc, inInt),
    outbound: espKeys(child.spiOut, child.suite, outEnc, outInt),
    peer,
    localPort,
    tsLocal: child.tsLocal,
    tsRemote: installRemote,
  };
}

export function removeFromBackend(backend: IpsecBackend, child: ChildSa): void {
  backend.removeChildSa(child.id);
  child.state = ChildState.Deleted;
}

export const spiHex = (spi: number): string => spi.toString(16).padStart(8, '0');
