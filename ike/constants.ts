/**
 * IKEv2 wire constants (RFC 7296 §3 and the IANA "IKEv2 Parameters" registry).
 * Specification constants only; implementation limits live next to their users.
 */

export const IKE_VERSION = 0x20; // major 2, minor 0
export const IKE_HEADER_LENGTH = 28;
export const GENERIC_PAYLOAD_HEADER_LENGTH = 4;
export const IKE_PORT = 500;
export const NATT_PORT = 4500;
/** RFC 3948 §2.2: four zero octets in front of IKE on port 4500. */
export const NON_ESP_MARKER_LENGTH = 4;

export enum ExchangeType {
  IKE_SA_INIT = 34,
  IKE_AUTH = 35,
  CREATE_CHILD_SA = 36,
  INFORMATIONAL = 37,
}

/** IKE header flags (RFC 7296 §3.1). */
export enum HeaderFlag {
  Initiator = 0x08,
  Version = 0x10,
  Response = 0x20,
}

export enum PayloadType {
  NONE = 0,
  SA = 33,
  KE = 34,
  IDi = 35,
  IDr = 36,
  CERT = 37,
  CERTREQ = 38,
  AUTH = 39,
  NONCE = 40,
  NOTIFY = 41,
  DELETE = 42,
  VENDOR = 43,
  TSi = 44,
  TSr = 45,
  SK = 46,
  CP = 47,
  EAP = 48,
  SKF = 53, // RFC 7383
}

export enum ProtocolId {
  NONE = 0,
  IKE = 1,
  AH = 2,
  ESP = 3,
}

export enum TransformType {
  ENCR = 1,
  PRF = 2,
  INTEG = 3,
  DH = 4, // "Key Exchange Method" in RFC 9370
  ESN = 5,
}

export enum EncrId {
  AES_CBC = 12,
  AES_GCM_8 = 18,
  AES_GCM_12 = 19,
  AES_GCM_16 = 20,
  CHACHA20_POLY1305 = 28,
}

export enum PrfId {
  HMAC_SHA1 = 2,
  HMAC_SHA2_256 = 5,
  HMAC_SHA2_384 = 6,
  HMAC_SHA2_512 = 7,
}

export enum IntegId {
  NONE = 0,
  HMAC_SHA1_96 = 2,
  HMAC_SHA2_256_128 = 12,
  HMAC_SHA2_384_192 = 13,
  HMAC_SHA2_512_256 = 14,
}

export enum DhGroup {
  NONE = 0,
  MODP_2048 = 14,
  ECP_256 = 19,
  ECP_384 = 20,
  CURVE25519 = 31,
}

export enum EsnId {
  NO_ESN = 0,
  ESN = 1,
}

/** Transform attribute type for Key Length (TV format, AF bit set). */
export const TRANSFORM_ATTR_KEY_LENGTH = 14;

export enum IdType {
  IPV4_ADDR = 1,
  FQDN = 2,
  RFC822_ADDR = 3,
  IPV6_ADDR = 5,
  DER_ASN1_DN = 9,
  DER_ASN1_GN = 10,
  KEY_ID = 11,
}

export enum AuthMethod {
  RSA_SIG = 1,
  SHARED_KEY_MIC = 2,
  DSS_SIG = 3,
  ECDSA_256 = 9,
  ECDSA_384 = 10,
  ECDSA_521 = 11,
  DIGITAL_SIGNATURE = 14, // RFC 7427
}

export enum TsType {
  IPV4_ADDR_RANGE = 7,
  IPV6_ADDR_RANGE = 8,
}

export enum CertEncoding {
  X509_SIGNATURE = 4,
}

export enum CfgType {
  CFG_REQUEST = 1,
  CFG_REPLY = 2,
  CFG_SET = 3,
  CFG_ACK = 4,
}

export enum CfgAttr {
  INTERNAL_IP4_ADDRESS = 1,
  INTERNAL_IP4_NETMASK = 2,
  INTERNAL_IP4_DNS = 3,
  INTERNAL_IP4_NBNS = 4,
  INTERNAL_IP4_DHCP = 6,
  APPLICATION_VERSION = 7,
  INTERNAL_IP6_ADDRESS = 8,
  INTERNAL_IP6_DNS = 10,
  INTERNAL_IP4_SUBNET = 13,
  SUPPORTED_ATTRIBUTES = 14,
  INTERNAL_IP6_SUBNET = 15,
}

/** Notify message types. Error types are < 16384, status types >= 16384. */
export enum NotifyType {
  UNSUPPORTED_CRITICAL_PAYLOAD = 1,
  INVALID_IKE_SPI = 4,
  INVALID_MAJOR_VERSION = 5,
  INVALID_SYNTAX = 7,
  INVALID_MESSAGE_ID = 9,
  INVALID_SPI = 11,
  NO_PROPOSAL_CHOSEN = 14,
  INVALID_KE_PAYLOAD = 17,
  AUTHENTICATION_FAILED = 24,
  SINGLE_PAIR_REQUIRED = 34,
  NO_ADDITIONAL_SAS = 35,
  INTERNAL_ADDRESS_FAILURE = 36,
  FAILED_CP_REQUIRED = 37,
  TS_UNACCEPTABLE = 38,
  INVALID_SELECTORS = 39,
  TEMPORARY_FAILURE = 43,
  CHILD_SA_NOT_FOUND = 44,

  INITIAL_CONTACT = 16384,
  SET_WINDOW_SIZE = 16385,
  ADDITIONAL_TS_POSSIBLE = 16386,
  IPCOMP_SUPPORTED = 16387,
  NAT_DETECTION_SOURCE_IP = 16388,
  NAT_DETECTION_DESTINATION_IP = 16389,
  COOKIE = 16390,
  USE_TRANSPORT_MODE = 16391,
  HTTP_CERT_LOOKUP_SUPPORTED = 16392,
  REKEY_SA = 16393,
  ESP_TFC_PADDING_NOT_SUPPORTED = 16394,
  NON_FIRST_FRAGMENTS_ALSO = 16395,
  MOBIKE_SUPPORTED = 16396,
  ADDITIONAL_IP4_ADDRESS = 16397,
  NO_ADDITIONAL_ADDRESSES = 16399,
  MULTIPLE_AUTH_SUPPORTED = 16404,
  REDIRECT_SUPPORTED = 16406,
  EAP_ONLY_AUTHENTICATION = 16417,
  CHILDLESS_IKEV2_SUPPORTED = 16418,
  IKEV2_FRAGMENTATION_SUPPORTED = 16430,
  SIGNATURE_HASH_ALGORITHMS = 16431,
}

/** First status notify type; anything below is an error notify. */
export const NOTIFY_STATUS_MIN = 16384;
