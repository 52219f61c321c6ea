/**
 * The composition root: one gateway = TUN device + UDP transport (500/4500)
 * + ESP dataplane + IKE manager, built from the validated config.
 *
 *   down ──start()──▶ up ──stop()──▶ closed
 *
 * start() opens the TUN, routes the remote sites' prefixes into it, binds the
 * IKE/ESP sockets on the public address and starts IKE. stop() sends DELETE
 * for every IKE SA, then releases routes, sockets and the TUN.
 */
import type { Logger } from 'pino';
import type { GatewayConfig } from './config.js';
import { ikeProposalsFor, espProposalsFor, saLifetimesFor } from './config-policy.js';
import type { GatewayStatus, ConnectionStatus } from './status.js';
import type { ConnectionSpec } from '../ike/connection.js';
import { IkeManager } from '../ike/manager.js';
import { IkeSaState } from '../ike/ike-sa.js';
import { ANY_V4, cidrToRange, rangeToString } from '../ike/traffic-selectors.js';
import { algName } from '../ike/proposal.js';
import { spiHex } from '../ike/child-sa.js';
import { TunDevice } from '../dataplane/tun.js';
import { UdpTransport } from '../dataplane/udp-transport.js';
import { EspDataplane } from '../dataplane/forwarder.js';
import { linkUp, routeReplace, routeDel } from '../dataplane/iproute.js';
import type { UdpEndpoint } from '../dataplane/backend.js';
import { GatewayBgp } from './bgp-service.js';
import { routedPrefixesOf } from './bgp-plan.js';
import { configForInstance, haPlanFor, type HaPlan } from './config-ha.js';
import { HaNode, type FailoverReport } from '../ha/node.js';
import { deriveLinkKey } from '../ha/messages.js';
import { gatewayLiveness, type TunnelLiveness } from '../ha/tunnel-liveness.js';
import { P2sService, type P2sReloadResult, type P2sStatus } from './config-p2s-service.js';
import { loadConfig } from './config.js';

const TICK_MS = 200;

/** Maps the Azure-style config onto what the IKE engine needs. */
export function connectionSpecs(config: GatewayConfig): ConnectionSpec[] {
  return config.connections.map((c) => {
    const lng = config.localNetworkGateways.find((l) => l.name === c.localNetworkGateway);
    if (!lng) throw new Error(`connection ${c.name}: unknown local network gateway ${c.localNetworkGateway}`);
    const policyBased = config.gateway.vpnType === 'PolicyBased' || c.usePolicyBasedTrafficSelectors;
    const local = config.gateway.addressSpace.map(cidrToRange);
    const remote = routedPrefixesOf(lng, c.enableBgp).map(cidrToRange); // + the BGP peer's /32 (bgp-plan.ts)
    const life = saLifetimesFor(c);
    return {
      name: c.name,
      remoteName: lng.name,
      localAddress: config.gateway.publicIpAddress,
      remoteAddress: lng.gatewayIpAddress,
      psk: Buffer.from(c.sharedKey, 'utf8'),
      mode: c.connectionMode,
      ikeProposals: ikeProposalsFor(c),
      espProposals: espProposalsFor(c),
      localTs: policyBased ? local : [ANY_V4],
      remoteTs: policyBased ? remote : [ANY_V4],
      remotePrefixes: remote,
      routeBased: !policyBased,
      ikeLifetimeSec: life.ikeSaLifetimeSeconds,
      childLifetimeSec: life.childSaLifetimeSeconds,
      childLifetimeBytes: life.childSaDataSizeKilobytes * 1024,
      dpdTimeoutSec: c.dpdTimeoutSeconds,
    };
  });
}

export class Gateway {
  private readonly startedMs = Date.now();
  private readonly specs: ConnectionSpec[];
  private tun: TunDevice | undefined;
  private transport: UdpTransport | undefined;
  private dataplane: EspDataplane | undefined;
  private ike: IkeManager | undefined;
  private timer: NodeJS.Timeout | undefined;
  private routes: string[] = [];
  private bgp: GatewayBgp | undefined;
  /** HA pair member (ha/node.ts); undefined for a single-instance gateway. */
  private readonly haPlan: HaPlan | undefined;
  private ha: HaNode | undefined;
  /** Per-tunnel liveness for multipath (active-active) tunnels: ha/tunnel-liveness.ts. */
  private liveness: TunnelLiveness | undefined;
  /** Point-to-site clients (gateway.vpnClientConfiguration), when configured. */
  private readonly p2s: P2sService | undefined;

  /** Throws HaConfigError when the config has instances and `instance` is missing or unknown. */
  constructor(private readonly config: GatewayConfig, private readonly log: Logger, private readonly instance?: string) {
    this.haPlan = haPlanFor(config, instance);
    this.specs = connectionSpecs(configForInstance(config, this.haPlan));
    this.p2s = P2sService.fromConfig(config, log.child({ subsys: 'p2s' }));
  }

  async start(): Promise<void> {
    const rt = this.config.runtime;
    const gw = this.config.gateway;
    this.tun = TunDevice.open(rt.tunName, { mtu: rt.mtu });
    await linkUp(rt.tunName, rt.mtu);
    this.log.info({ tun: rt.tunName, mtu: rt.mtu }, 'TUN device up');
    for (const lng of this.config.localNetworkGateways) {
      for (const p of lng.addressPrefixes) {
        await routeReplace(p, rt.tunName);
        this.routes.push(p);
      }
    }
    if (this.routes.length) this.log.info({ routes: this.routes, dev: rt.tunName }, 'routes to remote sites installed');
    if (this.haPlan) {
      // The HA node owns sockets, dataplane and IKE: they follow the active role.
      const ha = new HaNode({
        plan: this.haPlan, gatewayName: gw.name, specs: this.p2s ? [...this.specs, this.p2s.spec] : this.specs, tun: this.tun, log: this.log,
        key: deriveLinkKey(gw.name, this.config.connections.map((c) => c.sharedKey)),
        // BGP follows the tunnels: a dead tunnel's session stops and its routes are withdrawn at once.
        onPartnerLost: () => this.bgp?.followTunnels(),
        onTunnelLiveness: () => this.bgp?.followTunnels(),
      });
      this.ha = ha;
      this.liveness = ha.liveness;
      this.ike = ha.ike;
      this.dataplane = ha.dataplane;
      await this.p2s?.start(rt.tunName);
      await ha.start();
      await this.startBgp();
      this.log.info({ gateway: gw.name, instance: this.haPlan.self.name, mode: this.haPlan.mode, connections: this.specs.map((s) => s.name) }, 'gateway started (HA)');
      return;
    }
    const dpLog = this.log.child({ subsys: 'esp' });
    const ikeLog = this.log.child({ subsys: 'ike' });
    let ike: IkeManager | undefined;
    this.transport = new UdpTransport({
      bindAddress: gw.publicIpAddress,
      onIke: (msg: Buffer, remote: UdpEndpoint, localPort: number) => ike?.handleDatagram(msg, remote, localPort),
      log: this.log.child({ subsys: 'net' }),
    });
    await this.transport.start();
    const transport = this.transport;
    // The outer path is plain Ethernet; the TUN MTU (rt.mtu) leaves room for ESP-in-UDP.
    const dataplane = new EspDataplane({ tun: this.tun, transport, log: dpLog, mtu: 1500 });
    this.dataplane = dataplane;
    ike = new IkeManager({
      connections: this.p2s ? [...this.specs, this.p2s.spec] : this.specs,
      backend: dataplane,
      send: (msg, remote, localPort) => transport.sendIke(msg, remote, localPort),
      localAddress: gw.publicIpAddress,
      log: ikeLog,
    });
    this.ike = ike;
    this.timer = setInterval(() => ike?.tick(), TICK_MS);
    this.liveness = gatewayLiveness({
      specs: this.specs, ike, dataplane, watchAll: false, log: this.log.child({ subsys: 'liveness' }),
      onChange: () => this.bgp?.followTunnels(),
    });
    this.liveness?.start();
    await this.p2s?.start(rt.tunName);
    ike.start();
    await this.startBgp();
    this.log.info({ gateway: gw.name, publicIp: gw.publicIpAddress, connections: this.specs.map((s) => s.name) }, 'gateway started');
  }

  /** BGP over the tunnels (daemon/bgp-service.ts), when gateway.bgp is configured. */
  private async startBgp(): Promise<void> {
    const dataplane = this.dataplane;
    if (!this.config.gateway.bgp || !dataplane) return;
    this.bgp = GatewayBgp.create({
      config: this.config,
      instanceIndex: this.haPlan?.self.index ?? 0,
      tunName: this.config.runtime.tunName,
      dataplane,
      tunnelUp: (name) => (this.ike?.sasOf(name) ?? []).some((sa) => sa.state === IkeSaState.Established && sa.activeChildren().length > 0)
        && (this.liveness?.isLive(name) ?? true),
      log: this.log.child({ subsys: 'bgp' }),
    });
    await this.bgp?.start();
  }

  /** The gateway's BGP (undefined without gateway.bgp or before start). */
  bgpService(): GatewayBgp | undefined { return this.bgp; }

  async stop(): Promise<void> {
    if (this.timer) clearInterval(this.timer);
    this.timer = undefined;
    if (!this.ha) this.liveness?.stop();
    await this.bgp?.stop().catch((err: unknown) => this.log.warn({ err }, 'stopping BGP failed'));
    if (this.ha) await this.ha.stop();
    else if (this.ike) await this.ike.shutdown();
    await this.p2s?.stop();
    for (const p of this.routes) {
      await routeDel(p, this.config.runtime.tunName).catch(() => undefined);
    }
    this.routes = [];
    await this.transport?.close();
    this.tun?.close();
    this.log.info('gateway stopped');
  }

  /** Planned switchover to the partner instance (`vgw failover`). */
  async failover(): Promise<FailoverReport> {
    if (!this.ha) throw new Error('this gateway is a single instance: there is no partner to fail over to');
    return this.ha.handover();
  }

  initiate(name: string): void { this.requireIke().initiate(name); }
  terminate(name: string): void { this.requireIke().terminate(name); }
  rekey(name: string, what: 'child' | 'ike'): void { this.requireIke().rekey(name, what); }

  /** Re-reads the config file and applies what can change live (point-to-site roots, revocations, routes). */
  reload(): { pointToSite: P2sReloadResult | null } {
    const next = loadConfig(this.config.source);
    return { pointToSite: this.p2s ? this.p2s.reload(next) : null };
  }

  /** Connected point-to-site clients; null when P2S is not configured. */
  p2sStatus(): P2sStatus | null { return this.p2s ? this.p2s.status() : null; }

  private requireIke(): IkeManager {
    if (!this.ike) throw new Error('gateway not started');
    return this.ike;
  }

  status(): GatewayStatus {
    const out: GatewayStatus = {
      gateway: this.config.gateway.name,
      uptimeSeconds: Math.round((Date.now() - this.startedMs) / 1000),
      connections: this.specs.map((s) => this.connectionStatus(s)),
    };
    if (this.instance) out.instance = this.instance;
    if (this.ha) out.ha = this.ha.status();
    return out;
  }

  private connectionStatus(spec: ConnectionSpec): ConnectionStatus {
    const ike = this.ike;
    const sas = ike ? ike.sasOf(spec.name) : [];
    const est = sas.filter((s) => s.state === IkeSaState.Established && !s.rekeyedTo);
    const sa = est[0] ?? sas[0];
    const iso = (ms: number): string => new Date(ms).toISOString();
    const childSas: ConnectionStatus['childSas'] = [];
    let inB = 0, outB = 0, inP = 0, outP = 0;
    for (const s of sas) {
      for (const ch of s.activeChildren()) {
        const ctr = this.dataplane?.counters(ch.id);
        const c = { ingressBytes: ctr?.inBytes ?? 0, egressBytes: ctr?.outBytes ?? 0, ingressPackets: ctr?.inPackets ?? 0, egressPackets: ctr?.outPackets ?? 0 };
        inB += c.ingressBytes; outB += c.egressBytes; inP += c.ingressPackets; outP += c.egressPackets;
        childSas.push({
          spiIn: spiHex(ch.spiIn), spiOut: spiHex(ch.spiOut),
          tsLocal: ch.tsLocal.map(rangeToString), tsRemote: ch.tsRemote.map(rangeToString),
          encryption: algName.encr(ch.suite.encr, ch.suite.encrKeyBits), integrity: algName.integ(ch.suite.integ),
          pfsGroup: algName.dh(ch.suite.dh), establishedAt: iso(ch.establishedMs), rekeyAt: iso(ch.rekeyAtMs), ...c,
        });
      }
    }
    const connected = est.length > 0 && childSas.length > 0;
    const rt = ike?.connection(spec.name);
    return {
      name: spec.name,
      localNetworkGateway: spec.remoteName,
      remoteAddress: spec.remoteAddress,
      connectionMode: spec.mode,
      state: connected ? 'Connected' : sas.length > 0 ? 'Connecting' : 'NotConnected',
      ikeSa: sa && sa.suite ? {
        spiI: sa.spiI.toString('hex'), spiR: sa.spiR.toString('hex'), initiator: sa.initiator,
        localEndpoint: `${spec.localAddress}:${sa.localPort}`, remoteEndpoint: `${sa.remote.address}:${sa.remote.port}`,
        natDetected: sa.natDetected,
        encryption: algName.encr(sa.suite.encr, sa.suite.encrKeyBits), integrity: algName.integ(sa.suite.integ),
        prf: algName.prf(sa.suite.prf), dhGroup: algName.dh(sa.suite.dh),
        establishedAt: sa.establishedMs ? iso(sa.establishedMs) : iso(Date.now()),
        rekeyAt: sa.rekeyAtMs ? iso(sa.rekeyAtMs) : null,
      } : null,
      childSas,
      ingressBytes: inB, egressBytes: outB, ingressPackets: inP, egressPackets: outP,
      lastError: sa?.lastError ?? rt?.lastError ?? null,
    };
  }
}
