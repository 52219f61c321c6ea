/**
 * Azure IPsec/IKE policy vocabulary: which names we accept, which we refuse as
 * weak, and how an accepted policy maps to IKEv2 transform IDs (RFC 7296 §3.3.2,
 * IANA "IKEv2 Parameters").
 */
import { DhGroup, EncrId, IntegId, PrfId } from '../ike/constants.js';
import type {
  Connection, DhGroupName, IkeEncryptionName, IkeIntegrityName, IpsecEncryptionName,
  IpsecIntegrityName, IpsecPolicy, PfsGroupName,
} from './config-types.js';

/** One accepted/refused vocabulary of a policy field; matching is case-insensitive like Azure's API. */
export interface Vocabulary<T extends string> {
  /** Accepted spellings (lower-cased) → canonical name. */
  readonly accepted: ReadonlyMap<string, T>;
  /** Names shown in "use one of". */
  readonly suggested: readonly T[];
  /** Names Azure knows that we refuse because they are cryptographically weak. */
  readonly weak: ReadonlySet<string>;
  /** Names refused for a specific reason (lower-cased name → reason). */
  readonly refused: ReadonlyMap<string, string>;
}

export function vocabulary<T extends string>(
  spec: { accepted: Record<string, T>; suggested: readonly T[]; weak: readonly string[]; refused?: Record<string, string> },
): Vocabulary<T> {
  const lower = <V>(rec: Record<string, V>) => new Map(Object.entries(rec).map(([k, v]) => [k.toLowerCase(), v]));
  return {
    accepted: lower(spec.accepted),
    suggested: spec.suggested,
    weak: new Set(spec.weak.map((w) => w.toLowerCase())),
    refused: lower(spec.refused ?? {}),
  };
}

export const IKE_ENCRYPTION = vocabulary<IkeEncryptionName>({
  accepted: { GCMAES256: 'GCMAES256', GCMAES128: 'GCMAES128', AES256: 'AES256', AES128: 'AES128' },
  suggested: ['GCMAES256', 'GCMAES128', 'AES256', 'AES128'],
  weak: ['DES', 'DES3'],
});

export const IKE_INTEGRITY = vocabulary<IkeIntegrityName>({
  accepted: { SHA384: 'SHA384', SHA256: 'SHA256', GCMAES256: 'GCMAES256', GCMAES128: 'GCMAES128' },
  suggested: ['SHA384', 'SHA256', 'GCMAES256', 'GCMAES128'],
  weak: ['MD5', 'SHA1'],
});

export const DH_GROUP = vocabulary<DhGroupName>({
  accepted: { DHGroup14: 'DHGroup14', DHGroup2048: 'DHGroup14', ECP256: 'ECP256', ECP384: 'ECP384', X25519: 'X25519' },
  suggested: ['DHGroup14', 'ECP256', 'ECP384', 'X25519'],
  weak: ['DHGroup1', 'DHGroup2', 'DHGroup24'],
  refused: { None: 'IKE needs a Diffie-Hellman group' },
});

export const IPSEC_ENCRYPTION = vocabulary<IpsecEncryptionName>({
  accepted: { GCMAES256: 'GCMAES256', GCMAES128: 'GCMAES128', AES256: 'AES256', AES128: 'AES128' },
  suggested: ['GCMAES256', 'GCMAES128', 'AES256', 'AES128'],
  weak: ['DES', 'DES3'],
  refused: { None: 'ESP without encryption would send traffic in clear text' },
});

export const IPSEC_INTEGRITY = vocabulary<IpsecIntegrityName>({
  accepted: { GCMAES256: 'GCMAES256', GCMAES128: 'GCMAES128', SHA256: 'SHA256' },
  suggested: ['GCMAES256', 'GCMAES128', 'SHA256'],
  weak: ['MD5', 'SHA1'],
});

export const PFS_GROUP = vocabulary<PfsGroupName>({
  accepted: { None: 'None', PFS2048: 'PFS2048', PFS14: 'PFS2048', ECP256: 'ECP256', ECP384: 'ECP384', X25519: 'X25519' },
  suggested: ['None', 'PFS2048', 'ECP256', 'ECP384', 'X25519'],
  weak: ['PFS1', 'PFS2', 'PFS24'],
  refused: { PFSMM: 'PFSMM (PFS group "same as main mode") is not supported; name the group explicitly' },
});

export type VocabularyResult<T> = { ok: true; value: T } | { ok: false; message: string };

/** Resolves a user-supplied name; the failure message is what the user sees after the field path. */
export function resolveName<T extends string>(vocab: Vocabulary<T>, input: string): VocabularyResult<T> {
  const key = input.toLowerCase();
  const hit = vocab.accepted.get(key);
  if (hit !== undefined) return { ok: true, value: hit };
  const useOneOf = `use one of ${vocab.suggested.join(', ')}`;
  if (vocab.weak.has(key)) return { ok: false, message: `"${input}" is weak and not supported; ${useOneOf}` };
  const reason = vocab.refused.get(key);
  if (reason !== undefined) return { ok: false, message: `"${input}" is refused: ${reason}; ${useOneOf}` };
  return { ok: false, message: `"${input}" is not supported; ${useOneOf}` };
}

/**
 * Pairing rules Azure enforces between fields of one policy. Returns
 * [field, message] pairs, empty when the policy is coherent.
 */
export function policyPairingProblems(p: Pick<IpsecPolicy, 'ikeEncryption' | 'ikeIntegrity' | 'ipsecEncryption' | 'ipsecIntegrity'>): Array<[keyof IpsecPolicy, string]> {
  const problems: Array<[keyof IpsecPolicy, string]> = [];
  const ipsecGcm = p.ipsecEncryption.startsWith('GCMAES');
  if (ipsecGcm && p.ipsecIntegrity !== p.ipsecEncryption) {
    problems.push(['ipsecIntegrity', `"${p.ipsecIntegrity}" does not match ipsecEncryption ${p.ipsecEncryption}: ` +
      `GCM encryption carries its own integrity, so ipsecIntegrity must be ${p.ipsecEncryption}`]);
  }
  if (!ipsecGcm && p.ipsecIntegrity !== 'SHA256') {
    problems.push(['ipsecIntegrity', `"${p.ipsecIntegrity}" does not match ipsecEncryption ${p.ipsecEncryption}: ` +
      `${p.ipsecEncryption} (CBC) needs a separate integrity algorithm, so ipsecIntegrity must be SHA256`]);
  }
  if (!p.ikeEncryption.startsWith('GCMAES') && p.ikeIntegrity.startsWith('GCMAES')) {
    problems.push(['ikeIntegrity', `"${p.ikeIntegrity}" needs GCM ikeEncryption (GCMAES256 or GCMAES128); ` +
      `with ${p.ikeEncryption} use SHA256 or SHA384`]);
  }
  return problems;
}

// ---------------------------------------------------------------------------
// Mapping to IKEv2 transforms

export interface IkeProposalSpec {
  encr: EncrId;
  encrKeyBits: number;
  /** IntegId.NONE for AEAD ciphers. */
  integ: IntegId;
  prf: PrfId;
  /** Acceptable groups, preferred first; the first is the one to send a KE for. */
  dh: DhGroup[];
}

export interface EspProposalSpec {
  encr: EncrId;
  encrKeyBits: number;
  /** IntegId.NONE for AEAD ciphers. */
  integ: IntegId;
  /** DhGroup.NONE when no PFS. */
  pfs: DhGroup;
}

/** Azure's fixed IKE SA lifetime (not configurable in an IpsecPolicy). */
export const IKE_SA_LIFETIME_SECONDS = 28800;
/** Azure defaults for the child (IPsec) SA. */
export const DEFAULT_SA_LIFETIME_SECONDS = 27000;
export const DEFAULT_SA_DATA_SIZE_KILOBYTES = 102400000;

const DH_IDS: Record<DhGroupName, DhGroup> = {
  DHGroup14: DhGroup.MODP_2048,
  ECP256: DhGroup.ECP_256,
  ECP384: DhGroup.ECP_384,
  X25519: DhGroup.CURVE25519,
};

const PFS_IDS: Record<PfsGroupName, DhGroup> = {
  None: DhGroup.NONE,
  PFS2048: DhGroup.MODP_2048,
  ECP256: DhGroup.ECP_256,
  ECP384: DhGroup.ECP_384,
  X25519: DhGroup.CURVE25519,
};

const CIPHERS: Record<IkeEncryptionName | IpsecEncryptionName, { encr: EncrId; bits: number }> = {
  GCMAES256: { encr: EncrId.AES_GCM_16, bits: 256 },
  GCMAES128: { encr: EncrId.AES_GCM_16, bits: 128 },
  AES256: { encr: EncrId.AES_CBC, bits: 256 },
  AES128: { encr: EncrId.AES_CBC, bits: 128 },
};

/** Default IKE proposals when a connection has no ipsecPolicies; all accepted by strongSwan's defaults. */
export const DEFAULT_IKE_PROPOSALS: readonly Readonly<IkeProposalSpec>[] = Object.freeze([
  { encr: EncrId.AES_GCM_16, encrKeyBits: 256, integ: IntegId.NONE, prf: PrfId.HMAC_SHA2_384,
    dh: [DhGroup.CURVE25519, DhGroup.ECP_384, DhGroup.ECP_256, DhGroup.MODP_2048] },
  { encr: EncrId.AES_GCM_16, encrKeyBits: 256, integ: IntegId.NONE, prf: PrfId.HMAC_SHA2_256,
    dh: [DhGroup.CURVE25519, DhGroup.ECP_384, DhGroup.ECP_256, DhGroup.MODP_2048] },
  { encr: EncrId.AES_GCM_16, encrKeyBits: 128, integ: IntegId.NONE, prf: PrfId.HMAC_SHA2_256,
    dh: [DhGroup.CURVE25519, DhGroup.ECP_256, DhGroup.MODP_2048] },
  { encr: EncrId.AES_CBC, encrKeyBits: 256, integ: IntegId.HMAC_SHA2_256_128, prf: PrfId.HMAC_SHA2_256,
    dh: [DhGroup.CURVE25519, DhGroup.ECP_256, DhGroup.MODP_2048] },
].map((p) => Object.freeze({ ...p, dh: Object.freeze(p.dh) as DhGroup[] })));

export const DEFAULT_ESP_PROPOSALS: readonly Readonly<EspProposalSpec>[] = Object.freeze([
  { encr: EncrId.AES_GCM_16, encrKeyBits: 256, integ: IntegId.NONE, pfs: DhGroup.NONE },
  { encr: EncrId.AES_GCM_16, encrKeyBits: 128, integ: IntegId.NONE, pfs: DhGroup.NONE },
  { encr: EncrId.AES_CBC, encrKeyBits: 256, integ: IntegId.HMAC_SHA2_256_128, pfs: DhGroup.NONE },
].map((p) => Object.freeze(p)));

/** IKE proposals to offer/accept for a connection, strongest first. Returns fresh objects. */
export function ikeProposalsFor(conn: Pick<Connection, 'ipsecPolicies'>): IkeProposalSpec[] {
  const policy = conn.ipsecPolicies[0];
  if (!policy) return DEFAULT_IKE_PROPOSALS.map((p) => ({ ...p, dh: [...p.dh] }));
  const cipher = CIPHERS[policy.ikeEncryption];
  const hash384 = policy.ikeIntegrity === 'SHA384';
  const prf = hash384 ? PrfId.HMAC_SHA2_384 : PrfId.HMAC_SHA2_256;
  let integ = IntegId.NONE;
  if (cipher.encr === EncrId.AES_CBC) integ = hash384 ? IntegId.HMAC_SHA2_384_192 : IntegId.HMAC_SHA2_256_128;
  return [{ encr: cipher.encr, encrKeyBits: cipher.bits, integ, prf, dh: [DH_IDS[policy.dhGroup]] }];
}

/** ESP proposals to offer/accept for a connection, strongest first. Returns fresh objects. */
export function espProposalsFor(conn: Pick<Connection, 'ipsecPolicies'>): EspProposalSpec[] {
  const policy = conn.ipsecPolicies[0];
  if (!policy) return DEFAULT_ESP_PROPOSALS.map((p) => ({ ...p }));
  const cipher = CIPHERS[policy.ipsecEncryption];
  const integ = cipher.encr === EncrId.AES_CBC ? IntegId.HMAC_SHA2_256_128 : IntegId.NONE;
  return [{ encr: cipher.encr, encrKeyBits: cipher.bits, integ, pfs: PFS_IDS[policy.pfsGroup] }];
}

export interface SaLifetimes {
  ikeSaLifetimeSeconds: number;
  childSaLifetimeSeconds: number;
  childSaDataSizeKilobytes: number;
}

/** Lifetimes for a connection: the policy's child SA values or Azure's defaults. */
export function saLifetimesFor(conn: Pick<Connection, 'ipsecPolicies'>): SaLifetimes {
  const policy = conn.ipsecPolicies[0];
  return {
    ikeSaLifetimeSeconds: IKE_SA_LIFETIME_SECONDS,
    childSaLifetimeSeconds: policy?.saLifeTimeSeconds ?? DEFAULT_SA_LIFETIME_SECONDS,
    childSaDataSizeKilobytes: policy?.saDataSizeKilobytes ?? DEFAULT_SA_DATA_SIZE_KILOBYTES,
  };
}
