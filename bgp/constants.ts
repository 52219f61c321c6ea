/**
 * BGP-4 wire constants (RFC 4271 §4, IANA "BGP Parameters" registries).
 *
 * Specification constants first; implementation defaults (timers, limits we
 * chose) are in the second half and say so.
 */

// ---------------------------------------------------------------- specification

export const BGP_PORT = 179;
export const BGP_VERSION = 4;
/** RFC 4271 §4.1: 16-octet marker of all ones. */
export const MARKER_LENGTH = 16;
export const HEADER_LENGTH = 19;
/** RFC 4271 §4.1: "The value of the Length field MUST always be at least 19 and no greater than 4096". */
export const MIN_MESSAGE_LENGTH = 19;
export const MAX_MESSAGE_LENGTH = 4096;
/** Fixed part of each message after the header (RFC 4271 §4.2-§4.5). */
export const MIN_OPEN_LENGTH = 29;
export const MIN_UPDATE_LENGTH = 23;
export const MIN_NOTIFICATION_LENGTH = 21;
export const KEEPALIVE_LENGTH = 19;
/** RFC 2918 §3: AFI(2) + reserved/subtype(1) + SAFI(1). */
export const ROUTE_REFRESH_LENGTH = 23;

/** RFC 6793 §9: placeholder 2-octet ASN for a 4-octet ASN. */
export const AS_TRANS = 23456;

export enum MessageType {
  Open = 1,
  Update = 2,
  Notification = 3,
  Keepalive = 4,
  RouteRefresh = 5,
}

/** NOTIFICATION error codes (RFC 4271 §4.5, RFC 7313 §5). */
export enum ErrorCode {
  MessageHeader = 1,
  OpenMessage = 2,
  UpdateMessage = 3,
  HoldTimerExpired = 4,
  FiniteStateMachine = 5,
  Cease = 6,
  RouteRefreshMessage = 7,
}

export enum HeaderErrorSubcode {
  ConnectionNotSynchronized = 1,
  BadMessageLength = 2,
  BadMessageType = 3,
}

export enum OpenErrorSubcode {
  UnsupportedVersionNumber = 1,
  BadPeerAs = 2,
  BadBgpIdentifier = 3,
  UnsupportedOptionalParameter = 4,
  UnacceptableHoldTime = 6,
  /** RFC 5492 §5 */
  UnsupportedCapability = 7,
}

export enum UpdateErrorSubcode {
  MalformedAttributeList = 1,
  UnrecognizedWellKnownAttribute = 2,
  MissingWellKnownAttribute = 3,
  AttributeFlagsError = 4,
  AttributeLengthError = 5,
  InvalidOriginAttribute = 6,
  InvalidNextHopAttribute = 8,
  OptionalAttributeError = 9,
  InvalidNetworkField = 10,
  MalformedAsPath = 11,
}

/** RFC 6608 */
export enum FsmErrorSubcode {
  Unspecified = 0,
  UnexpectedMessageInOpenSent = 1,
  UnexpectedMessageInOpenConfirm = 2,
  UnexpectedMessageInEstablished = 3,
}

/** RFC 4486 */
export enum CeaseSubcode {
  MaximumPrefixesReached = 1,
  AdministrativeShutdown = 2,
  PeerDeconfigured = 3,
  AdministrativeReset = 4,
  ConnectionRejected = 5,
  OtherConfigurationChange = 6,
  ConnectionCollisionResolution = 7,
  OutOfResources = 8,
  /** RFC 8538 */
  HardReset = 9,
}

/** RFC 7313 §5 */
export enum RouteRefreshErrorSubcode {
  InvalidMessageLength = 1,
}

/** RFC 7313 §3: the former "Reserved" octet. */
export enum RouteRefreshSubtype {
  Request = 0,
  BeginningOfRefresh = 1,
  EndOfRefresh = 2,
}

/** RFC 5492 §4 (type 1, authentication, is deprecated). */
export enum OptionalParameterType {
  Capabilities = 2,
}

export enum CapabilityCode {
  Multiprotocol = 1, // RFC 4760
  RouteRefresh = 2, // RFC 2918
  ExtendedNextHop = 5, // RFC 8950
  ExtendedMessage = 6, // RFC 8654
  GracefulRestart = 64, // RFC 4724
  FourOctetAs = 65, // RFC 6793
  AddPath = 69, // RFC 7911
  EnhancedRouteRefresh = 70, // RFC 7313
  LongLivedGracefulRestart = 71, // RFC 9494
  Fqdn = 73,
}

export enum Afi {
  Ipv4 = 1,
  Ipv6 = 2,
}

export enum Safi {
  Unicast = 1,
  Multicast = 2,
}

/** Path attribute flag bits (RFC 4271 §4.3). */
export enum AttrFlag {
  Optional = 0x80,
  Transitive = 0x40,
  Partial = 0x20,
  ExtendedLength = 0x10,
}

export enum AttrType {
  Origin = 1,
  AsPath = 2,
  NextHop = 3,
  MultiExitDisc = 4,
  LocalPref = 5,
  AtomicAggregate = 6,
  Aggregator = 7,
  Communities = 8, // RFC 1997
  MpReachNlri = 14, // RFC 4760
  MpUnreachNlri = 15, // RFC 4760
  As4Path = 17, // RFC 6793
  As4Aggregator = 18, // RFC 6793
}

export enum Origin {
  Igp = 0,
  Egp = 1,
  Incomplete = 2,
}

export enum AsPathSegmentType {
  AsSet = 1,
  AsSequence = 2,
}

// ---------------------------------------------------------------- implementation defaults

/** RFC 4271 §10 suggests 90 s hold time, 120 s ConnectRetry. */
export const DEFAULT_HOLD_TIME = 90;
/** RFC 4271 §4.2: "Hold Time MUST be either zero or at least three seconds". */
export const MIN_HOLD_TIME = 3;
export const DEFAULT_CONNECT_RETRY_TIME = 120;
/** RFC 4271 §8.2.2: "a large value" for the hold timer while waiting for OPEN; suggested 4 minutes. */
export const OPEN_HOLD_TIME = 240;
/** Our choice (GoBGP uses 5 s): wait in Idle before an automatic restart. */
export const DEFAULT_IDLE_HOLD_TIME = 5;
/** Like Azure's per-peer limit for learned prefixes. */
export const DEFAULT_MAX_PREFIXES = 4000;
/** RFC 4271 §9.1.1: LOCAL_PREF assumed for routes without one (common default). */
export const DEFAULT_LOCAL_PREF = 100;
