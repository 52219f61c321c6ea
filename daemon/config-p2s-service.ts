/**
 * The gateway's point-to-site service: turns `vpnClientConfiguration` into
 * the live P2sPolicy the IKE engine uses, routes the client pool into the
 * TUN device, releases addresses of clients that left, and applies a
 * reloaded config without a restart (roots, revocations, routes, DNS):
 * clients whose certificate no longer passes are disconnected at once.
 */
import { readFileSync } from 'node:fs';
import { createPrivateKey, type KeyObject } from 'node:crypto';
import { dirname, isAbsolute, resolve } from 'node:path';
import type { Logger } from 'pino';
import type { GatewayConfig } from './config-types.js';
import { espProposalsFor, ikeProposalsFor } from './config-policy.js';
import { vpnClientConfigurationOf, type VpnClientConfiguration } from './config-p2s.js';
import { pemToDers } from '../crypto/pki.js';
import { verifyClientChain } from '../crypto/pki-verify.js';
import type { ConnectionSpec } from '../ike/connection.js';
import { IkeSaState } from '../ike/ike-sa.js';
import { deleteIke } from '../ike/exchanges/informational.js';
import { cidrToRange, rangeToString } from '../ike/traffic-selectors.js';
import { AddressPool } from '../ike/p2s/address-pool.js';
import { ClientRegistry } from '../ike/p2s/client-registry.js';
import { p2sResponderSpec } from '../ike/p2s/spec.js';
import type { CertIdentity, P2sPolicy } from '../ike/p2s/types.js';
import { routeDel, routeReplace } from '../dataplane/iproute.js';

export class P2sConfigError extends Error {
  override readonly name = 'P2sConfigError';
}

export interface P2sClientStatus {
  identity: string;
  address: string;
  thumbprint: string;
  subject: string;
  remote: string;
  connectedAt: string;
  state: string;
}

export interface P2sStatus {
  addressPool: string[];
  poolSize: number;
  leased: number;
  routes: string[];
  clients: P2sClientStatus[];
}

export interface P2sReloadResult {
  disconnected: Array<{ identity: string; thumbprint: string; reason: string }>;
  routes: string[];
  revoked: number;
  roots: number;
}

function readServerCertificate(s: VpnClientConfiguration['serverCertificate'], baseDir: string): CertIdentity {
  const at = (p: string): string => (isAbsolute(p) ? p : resolve(baseDir, p));
  let chainDer: Buffer[];
  let key: KeyObject;
  try {
    chainDer = pemToDers(readFileSync(at(s.cert), 'utf8'));
  } catch (e) {
    throw new P2sConfigError(`serverCertificate.cert ${s.cert}: ${(e as Error).message}`);
  }
  if (chainDer.length === 0) throw new P2sConfigError(`serverCertificate.cert ${s.cert}: no PEM CERTIFICATE block`);
  try {
    key = createPrivateKey(readFileSync(at(s.key)));
  } catch (e) {
    throw new P2sConfigError(`serverCertificate.key ${s.key}: ${(e as Error).message}`);
  }
  return { chainDer, key };
}

function routesOf(config: GatewayConfig, p2s: VpnClientConfiguration): string[] {
  return [...config.gateway.addressSpace, ...p2s.customRoutes];
}

export class P2sService {
  readonly policy: P2sPolicy;
  readonly spec: ConnectionSpec;
  private settings: VpnClientConfiguration;
  private tunName: string | undefined;
  private poolRoutes: string[] = [];
  private timer: NodeJS.Timeout | undefined;

  /** Undefined when the config has no vpnClientConfiguration. */
  static fromConfig(config: GatewayConfig, log: Logger): P2sService | undefined {
    const p2s = vpnClientConfigurationOf(config.gateway);
    return p2s ? new P2sService(config, p2s, log) : undefined;
  }

  private constructor(config: GatewayConfig, settings: VpnClientConfiguration, private readonly log: Logger) {
    this.settings = settings;
    this.policy = {
      roots: settings.vpnClientRootCertificates.map((r) => Buffer.from(r.publicCertData, 'base64')),
      revoked: new Set(settings.vpnClientRevokedCertificates.map((r) => r.thumbprint)),
      server: readServerCertificate(settings.serverCertificate, dirname(config.source)),
      pool: new AddressPool(settings.vpnClientAddressPool),
      dns: [...settings.dnsServers],
      routes: routesOf(config, settings).map(cidrToRange),
      registry: new ClientRegistry(),
    };
    // Azure P2S IKEv2 accepts the usual suites; the default S2S sets cover what clients offer.
    this.spec = p2sResponderSpec({
      localAddress: config.gateway.publicIpAddress, policy: this.policy,
      ikeProposals: ikeProposalsFor({ ipsecPolicies: [] }), espProposals: espProposalsFor({ ipsecPolicies: [] }),
    });
  }

  /** Routes the client pool into the TUN and starts releasing addresses of departed clients. */
  async start(tunName: string): Promise<void> {
    this.tunName = tunName;
    for (const p of this.settings.vpnClientAddressPool) {
      await routeReplace(p, tunName);
      this.poolRoutes.push(p);
    }
    this.timer = setInterval(() => this.sweep(), 1000);
    this.timer.unref();
    this.log.info({ pool: this.settings.vpnClientAddressPool, routes: pushedRoutes(this.policy), roots: this.policy.roots.length },
      'point-to-site enabled');
  }

  async stop(): Promise<void> {
    if (this.timer) clearInterval(this.timer);
    this.timer = undefined;
    if (this.tunName) for (const p of this.poolRoutes) await routeDel(p, this.tunName).catch(() => undefined);
    this.poolRoutes = [];
  }

  /** Releases the addresses of clients whose IKE SA is gone. */
  sweep(): void {
    for (const e of this.policy.registry.sweep()) {
      this.policy.pool.release(e.identity);
      this.log.info({ client: e.identity, address: e.address }, 'point-to-site client disconnected, address released');
    }
  }

  /**
   * Applies a freshly loaded config. Roots, revocations, DNS and routes change
   * in place; connected clients are re-checked and those that fail now are
   * deleted. A different address pool or server certificate needs a restart.
   */
  reload(config: GatewayConfig): P2sReloadResult {
    const next = vpnClientConfigurationOf(config.gateway);
    if (!next) throw new P2sConfigError('vpnClientConfiguration was removed; restart vgwd to disable point-to-site');
    if (next.vpnClientAddressPool.join() !== this.settings.vpnClientAddressPool.join()) {
      this.log.warn('vpnClientAddressPool changed: takes effect after a restart');
    }
    const p = this.policy;
    p.roots = next.vpnClientRootCertificates.map((r) => Buffer.from(r.publicCertData, 'base64'));
    p.revoked = new Set(next.vpnClientRevokedCertificates.map((r) => r.thumbprint));
    p.dns = [...next.dnsServers];
    p.routes = routesOf(config, next).map(cidrToRange);
    this.spec.localTs = [...p.routes];
    this.settings = { ...next, vpnClientAddressPool: this.settings.vpnClientAddressPool };
    const disconnected: P2sReloadResult['disconnected'] = [];
    for (const e of p.registry.entries()) {
      const sa = ClientRegistry.current(e);
      if (sa.state === IkeSaState.Closed) continue;
      const v = verifyClientChain({ leafDer: e.leafDer, intermediatesDer: e.intermediatesDer, roots: p.roots, revokedThumbprints: p.revoked });
      if (v.ok) continue;
      disconnected.push({ identity: e.identity, thumbprint: e.thumbprint, reason: v.reason });
      this.log.warn({ client: e.identity, thumbprint: e.thumbprint, address: e.address }, `disconnecting point-to-site client: ${v.reason}`);
      if (sa.state === IkeSaState.Established) sa.enqueue('ike-delete', () => deleteIke(sa, `client certificate no longer valid: ${v.reason}`), true);
      else sa.close('client certificate no longer valid');
    }
    const result = { disconnected, routes: pushedRoutes(p), revoked: p.revoked.size, roots: p.roots.length };
    this.log.info(result, 'point-to-site configuration reloaded');
    return result;
  }

  status(): P2sStatus {
    const p = this.policy;
    return {
      addressPool: [...this.settings.vpnClientAddressPool],
      poolSize: p.pool.size,
      leased: p.pool.leased,
      routes: pushedRoutes(p),
      clients: p.registry.entries().map((e) => {
        const sa = ClientRegistry.current(e);
        return {
          identity: e.identity, address: e.address, thumbprint: e.thumbprint, subject: e.subject,
          remote: `${sa.remote.address}:${sa.remote.port}`, connectedAt: new Date(e.connectedMs).toISOString(), state: sa.state,
        };
      }),
    };
  }
}

function pushedRoutes(p: P2sPolicy): string[] {
  return p.routes.map(rangeToString);
}
