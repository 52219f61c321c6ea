/**
 * The seam between IKE (control plane) and the ESP dataplane, in the spirit
 * of strongSwan's kernel_ipsec_t: ike/ installs and removes Child SAs through
 * this interface; dataplane/ implements it. Tests use an in-memory mock.
 */

export type EspCipher = 'aes-gcm-16' | 'aes-cbc';
export type EspInteg = 'none' | 'hmac-sha2-256-128';

/** An IPv4 prefix pair entry. Route-based connections use 0.0.0.0/0 both sides. */
export interface Ipv4Range {
  start: string; // dotted quad
  end: string;   // dotted quad, inclusive
}

export interface EspSaKeys {
  spi: number;          // uint32, the SPI carried on the wire for this direction
  cipher: EspCipher;
  /** AES key, plus the 4-byte salt at the end for GCM (RFC 4106 §8.1). */
  encKey: Buffer;
  integ: EspInteg;
  integKey: Buffer;     // empty for AEAD
}

export interface UdpEndpoint {
  address: string;
  port: number;
}

export interface ChildSaInstall {
  /** Unique id chosen by IKE; stable for the Child SA's life. */
  id: string;
  /** The connection (config name) this Child SA belongs to. */
  connection: string;
  inbound: EspSaKeys;   // we decrypt packets carrying inbound.spi
  outbound: EspSaKeys;  // we encrypt with outbound.spi
  /** Where to send ESP-in-UDP; also the source we accept it from. */
  peer: UdpEndpoint;
  /** Local port the ESP leaves from (4500). */
  localPort: number;
  /** Traffic selectors as negotiated: local side (our networks) and remote side. */
  tsLocal: Ipv4Range[];
  tsRemote: Ipv4Range[];
  /** Sequence number to start the outbound SA at (HA takeover jumps ahead). Default 1. */
  outboundSeqStart?: bigint;
  /**
   * false: install inbound now but keep sending on the older SA until the peer
   * sends on this one (or activateOutbound is called). A rekey responder uses
   * it, since the initiator installs the new SA only when our answer arrives.
   */
  outboundActive?: boolean;
}

export interface ChildSaCounters {
  inBytes: number;
  inPackets: number;
  outBytes: number;
  outPackets: number;
  /** Drops by reason: replay, icv, badLength, unknownSpi, badPadding, noRoute ... */
  drops: Record<string, number>;
  /** Last time (ms since epoch) an authenticated inbound packet arrived; 0 = never. */
  lastInboundMs: number;
  /** Next outbound sequence number. */
  outboundSeq: bigint;
}

export interface IpsecBackend {
  /**
   * Install a Child SA. Inbound is live immediately. Outbound traffic moves to
   * the newest installed SA of the connection whose selectors match
   * ("make before break" for rekeys).
   */
  installChildSa(sa: ChildSaInstall): void;
  /** Remove a Child SA (both directions). Unknown ids are ignored. */
  removeChildSa(id: string): void;
  counters(id: string): ChildSaCounters | undefined;
  /** Starts sending on a Child SA installed with outboundActive: false. */
  activateOutbound?(id: string): void;
  /**
   * Called for outbound packets that match a connection's configured remote
   * prefixes but no installed SA (an "acquire"): IKE may initiate.
   */
  onAcquire?: (connection: string) => void;
}
