/**
 * DOC: BGP-4 speaker (library; the gateway wires it to tunnels, the kernel and the CLI).
 *
 * How the parts fit, from the wire up:
 *
 *   constants.ts    every wire code (message types, error codes/subcodes, attribute
 *                   types and flags, capability codes, AFI/SAFI) plus our defaults.
 *   errors.ts       BgpNotificationError {code, subcode, data, action}; `action` is the
 *                   RFC 7606 level: 'sessionReset' | 'treatAsWithdraw' | 'attributeDiscard'.
 *   wire.ts         header, IPv4 and (length, prefix) helpers shared by the codecs.
 *   framer.ts       TCP stream → whole messages (marker, 19..4096 length checks).
 *   open.ts, update.ts (+ attributes.ts, the descriptor table of path attributes),
 *   notification.ts, keepalive.ts, route-refresh.ts
 *                   one codec per message; message.ts dispatches on the type octet.
 *                   Decoders throw only BgpNotificationError; UPDATE decoding returns
 *                   survivable RFC 7606 errors with the message instead of throwing.
 *   fsm.ts          RFC 4271 §8 state machine, one handler per state returning
 *                   {next, reason}; ConnectRetry/Hold/Keepalive timers on an injected
 *                   Clock (clock.ts: systemClock, ManualClock for tests); collision rule.
 *   session.ts      a node:net socket ⇄ framer ⇄ decoder ⇄ FSM (one per connection).
 *   rib.ts          Adj-RIB-In per peer (loop check, max-prefix) → Loc-RIB best path
 *                   with the reason it won; batched best-path change events.
 *   export.ts       export policy (originated / transit, AS_PATH prepend, next-hop self).
 *   speaker.ts      BgpSpeaker: peers, listener, collision handling, Adj-RIB-Out diffs,
 *                   End-of-RIB, ROUTE-REFRESH answers, snapshots for the CLI.
 *   cli-test-speaker.ts  a process wrapper with a line-based JSON control channel,
 *                   used by the netns interop tests (a process must run inside a namespace).
 *
 * Typical use:
 *
 *   const bgp = new BgpSpeaker({ localAsn: 65001, routerId: '198.51.100.2', listen: { address: '0.0.0.0' } });
 *   bgp.addPeer({ address: '198.51.100.1', asn: 65002 });
 *   bgp.originate(['10.200.1.0/24']);
 *   bgp.on('routesChanged', (changes) => programKernel(changes));
 *   await bgp.start();
 *
 * Only IPv4 unicast is carried (classic NLRI, MP_REACH/MP_UNREACH decoded for
 * AFI 1/SAFI 1). Graceful restart, ADD-PATH and the rest are not negotiated; their
 * capabilities are kept raw when received.
 *
 * Supported standards:
 *   RFC 4271  A Border Gateway Protocol 4 (BGP-4)
 *   RFC 1997  BGP Communities Attribute
 *   RFC 2918  Route Refresh Capability for BGP-4
 *   RFC 4486  Subcodes for BGP Cease Notification Message
 *   RFC 4724  Graceful Restart (End-of-RIB marker only)
 *   RFC 4760  Multiprotocol Extensions for BGP-4 (IPv4 unicast)
 *   RFC 5492  Capabilities Advertisement with BGP-4
 *   RFC 6286  Autonomous-System-Wide Unique BGP Identifier
 *   RFC 6608  Subcodes for BGP Finite State Machine Error
 *   RFC 6793  BGP Support for Four-Octet AS Number Space
 *   RFC 7313  Enhanced Route Refresh Capability for BGP-4
 *   RFC 7606  Revised Error Handling for BGP UPDATE Messages
 *   RFC 8203  BGP Administrative Shutdown Communication (RFC 9003 length limit)
 */
export * from './constants.js';
export { BgpNotificationError, isBgpNotificationError, harsherAction, type ErrorAction } from './errors.js';
export { BgpFramer } from './framer.js';
export { decodeMessage, type BgpMessage } from './message.js';
export { decodeOpen, encodeOpen, buildLocalOpen, validateOpen, peerAsnOf, type OpenMessage, type Capability } from './open.js';
export {
  decodeUpdate,
  encodeUpdate,
  packUpdates,
  isEndOfRib,
  announcedPrefixes,
  withdrawnPrefixes,
  END_OF_RIB_IPV4,
  type UpdateMessage,
} from './update.js';
export { ATTRIBUTES, encodeAttributes, formatAttributes, formatAsPath, type PathAttributes, type AsPathSegment, type RawAttribute } from './attributes.js';
export { decodeNotification, encodeNotification, shutdownCommunicationData, formatNotification, type NotificationMessage } from './notification.js';
export { KEEPALIVE, decodeKeepalive } from './keepalive.js';
export { decodeRouteRefresh, encodeRouteRefresh, type RouteRefreshMessage } from './route-refresh.js';
export { BgpFsm, BgpState, collisionKeeps, type TransitionReason, type FsmEvent, type FsmHost, type NegotiatedSession } from './fsm.js';
export { systemClock, ManualClock, type Clock } from './clock.js';
export { Rib, compareRoutes, selectBest, LOCAL_SOURCE, type RibRoute, type BestPathChange, type BestPathReason, type PeerInfo } from './rib.js';
export { exportAttributes, type ExportTarget } from './export.js';
export {
  BgpSpeaker,
  type SpeakerOptions,
  type PeerOptions,
  type OriginateAttributes,
  type PeerStatus,
  type LearnedRoute,
  type AdvertisedRoute,
  type PeerStateEvent,
} from './speaker.js';
export { canonicalPrefix, type Ipv4Prefix } from './wire.js';
