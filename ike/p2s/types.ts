/**
 * Shapes shared by the point-to-site pieces of the IKE engine: certificate
 * identities for AUTH method 14 and the gateway's live P2S policy. The
 * daemon builds these from its config; ike/ never reads files.
 */
import type { KeyObject } from 'node:crypto';
import type { Ipv4Range } from '../../dataplane/backend.js';
import type { AddressPool } from './address-pool.js';
import type { ClientRegistry } from './client-registry.js';

/** An IKE identity (ID payload type + data). */
export interface IkeIdentity {
  idType: number;
  data: Buffer;
}

/** Our certificate and key for RFC 7427 signatures. */
export interface CertIdentity {
  /** End-entity certificate first, then any intermediates to send, DER. */
  chainDer: Buffer[];
  key: KeyObject;
  /** Use RSASSA-PSS instead of PKCS#1 v1.5 with an RSA key. */
  rsaPss?: boolean;
  /** The ID we send; default derived from the certificate (SAN DNS, e-mail, IP, else the DN). */
  id?: IkeIdentity;
}

/**
 * The gateway's point-to-site policy. One object, shared by reference with
 * every P2S IKE SA, so a config reload changes roots, revocations and routes
 * for new authentications without a restart.
 */
export interface P2sPolicy {
  /** Trust anchors (vpnClientRootCertificates), DER. */
  roots: Buffer[];
  /** Normalised (upper-case hex) thumbprints of revoked client certificates. */
  revoked: Set<string>;
  server: CertIdentity;
  pool: AddressPool;
  /** INTERNAL_IP4_DNS values. */
  dns: string[];
  /** VNet address space + custom routes: pushed as INTERNAL_IP4_SUBNET and used as TSr. */
  routes: Ipv4Range[];
  registry: ClientRegistry;
}

/** The client side of certificate authentication (`vgw client`). */
export interface CertClientAuth {
  me: CertIdentity;
  /** Trust anchors for the gateway's certificate, DER. */
  caDer: Buffer[];
  /** Gateway identity the certificate must carry (FQDN or IP); optional. */
  remoteId?: string;
}

/** What the gateway pushed in its CFG_REPLY. */
export interface ClientConfig {
  address: string;
  dns: string[];
  subnets: Ipv4Range[];
}
