/**
 * GatewayBgp: the gateway's BGP, glued to its tunnels.
 *
 *   config ─ bgpPlanFor ─► BgpSpeaker (AS gateway.bgp.asn, router id = peering address)
 *                            │ one eBGP-multihop peer per enableBgp connection,
 *                            │ TCP from our peering address (on the TUN) to the LNG's,
 *                            │ both routed into the TUN → through that connection's Child SA
 *                            ▼
 *   Loc-RIB ─► LearnedRouteProgrammer ─► kernel routes (dev vgw0) + dataplane learned routes (ECMP)
 *
 * A peer follows its tunnel: while the connection has no IKE/Child SA the peer
 * is stopped, so the moment the tunnel goes away (DELETE, DPD, terminate) the
 * session is closed and everything learned over it is withdrawn, locally and
 * toward the other peers, without waiting for the hold timer. When the tunnel
 * is back the session starts again.
 *
 * We originate gateway.addressSpace and re-advertise learned routes to the
 * other peers (transit between sites), AS_PATH prepended, NEXT_HOP = our
 * peering address.
 */
import type { Logger } from 'pino';
import { BgpSpeaker, BgpState, formatAsPath, LOCAL_SOURCE, type LearnedRoute, type PeerStatus } from '../bgp/index.js';
import { addAddress, routeDel, routeReplace, runIp, runIpBatch } from '../dataplane/iproute.js';
import type { GatewayConfig } from './config-types.js';
import { bgpPlanFor, routedPrefixesOf, type BgpPlan, type BgpPeerPlan } from './bgp-plan.js';
import { kernelBatchLines, LearnedRouteProgrammer, type KernelApply, type LearnedRouteSink } from './bgp-routes.js';
import { originName, type BgpPeerView, type LearnedRouteView, type AdvertisedRouteView, type BgpSummary } from './bgp-views.js';

const TUNNEL_POLL_MS = 250;

export interface GatewayBgpOptions {
  config: GatewayConfig;
  /** Index of this instance in gateway.instances (active-active), default 0. */
  instanceIndex?: number;
  tunName: string;
  dataplane: LearnedRouteSink;
  /** True while the connection has an established IKE SA with a Child SA. */
  tunnelUp: (connection: string) => boolean;
  log: Logger;
  /** Kernel side; default: iproute2 on the TUN device. Tests inject a fake. */
  system?: BgpSystem;
  /** TCP port (tests); default 179. */
  port?: number;
}

/** What the BGP glue does to the host. */
export interface BgpSystem {
  /** Put our peering address on the gateway (`ip addr replace ADDR/32 dev TUN`) / take it away. */
  addOwnAddress(address: string): Promise<void>;
  delOwnAddress(address: string): Promise<void>;
  /** Route a peer's /32 into the TUN (when addressPrefixes did not already cover it). */
  addPeerRoute(prefix: string): Promise<void>;
  delPeerRoute(prefix: string): Promise<void>;
  applyRoutes: KernelApply;
}

export function iproute2System(tun: string): BgpSystem {
  return {
    addOwnAddress: (a) => addAddress(tun, `${a}/32`),
    delOwnAddress: async (a) => { await runIp(['addr', 'del', `${a}/32`, 'dev', tun]).catch(() => undefined); },
    addPeerRoute: (p) => routeReplace(p, tun),
    delPeerRoute: (p) => routeDel(p, tun),
    applyRoutes: (replace, remove) => runIpBatch(kernelBatchLines(tun, replace, remove)),
  };
}

export class GatewayBgp {
  readonly plan: BgpPlan;
  readonly speaker: BgpSpeaker;
  readonly routes: LearnedRouteProgrammer;
  readonly #o: GatewayBgpOptions;
  readonly #byAddress = new Map<string, BgpPeerPlan>();
  readonly #log: Logger;
  readonly #system: BgpSystem;
  #timer: NodeJS.Timeout | undefined;
  #addressAdded = false;
  /** Peer /32 routes we added (not already in the LNG's addressPrefixes). */
  #peerRoutes: string[] = [];

  /** Undefined when the config has no gateway.bgp. */
  static create(o: GatewayBgpOptions): GatewayBgp | undefined {
    const plan = bgpPlanFor(o.config, o.instanceIndex ?? 0);
    return plan ? new GatewayBgp(plan, o) : undefined;
  }

  constructor(plan: BgpPlan, o: GatewayBgpOptions) {
    this.plan = plan;
    this.#o = o;
    this.#log = o.log;
    this.#system = o.system ?? iproute2System(o.tunName);
    this.speaker = new BgpSpeaker({
      localAsn: plan.asn,
      routerId: plan.peeringAddress,
      listen: { address: plan.peeringAddress, ...(o.port !== undefined ? { port: o.port } : {}) },
      transit: true,
      logger: o.log,
      connectRetryTime: 5,
      idleHoldTime: 2,
      timerJitter: true,
    });
    for (const p of plan.peers) {
      this.#byAddress.set(p.address, p);
      this.speaker.addPeer({
        address: p.address,
        asn: p.asn,
        localAddress: plan.peeringAddress,
        holdTime: plan.holdTime,
        maxPrefixes: plan.maxPrefixes,
        ...(o.port !== undefined ? { port: o.port } : {}),
        enabled: false,
      });
    }
    this.routes = new LearnedRouteProgrammer({
      rib: this.speaker.rib,
      connectionOf: (addr) => this.#byAddress.get(addr)?.connection,
      dataplane: o.dataplane,
      kernel: (replace, remove) => this.#system.applyRoutes(replace, remove),
      ownPrefixes: plan.originate,
      protectedAddresses: plan.protectedAddresses,
      log: o.log,
    });
    this.speaker.rib.subscribeCandidates((prefixes) => this.routes.refresh(prefixes));
    this.speaker.on('peerState', (ev) => {
      const peer = this.#byAddress.get(ev.address);
      if (ev.to === BgpState.Established || ev.from === BgpState.Established) {
        this.#log.info({ peer: ev.address, connection: peer?.connection, from: ev.from, to: ev.to, reason: ev.reason, error: ev.error },
          `BGP peer ${ev.address} (${peer?.connection ?? '?'}) ${ev.to === BgpState.Established ? 'established' : `down: ${ev.reason}`}`);
      }
    });
  }

  async start(): Promise<void> {
    const addr = this.plan.peeringAddress;
    await this.#system.addOwnAddress(addr);
    this.#addressAdded = true;
    for (const p of this.plan.peers) {
      const lng = this.#o.config.localNetworkGateways.find((l) => l.name === p.localNetworkGateway);
      if (!lng) continue;
      for (const prefix of routedPrefixesOf(lng, true)) {
        if (lng.addressPrefixes.includes(prefix)) continue;
        await this.#system.addPeerRoute(prefix);
        this.#peerRoutes.push(prefix);
      }
    }
    this.speaker.originate(this.plan.originate);
    await this.speaker.start();
    this.#log.info({ asn: this.plan.asn, peeringAddress: addr, peers: this.plan.peers.map((p) => `${p.address} AS${p.asn} via ${p.connection}`) }, 'BGP started');
    this.#followTunnels();
    this.#timer = setInterval(() => this.#followTunnels(), TUNNEL_POLL_MS);
    this.#timer.unref();
  }

  async stop(): Promise<void> {
    if (this.#timer) clearInterval(this.#timer);
    this.#timer = undefined;
    await this.speaker.stop('gateway shutting down');
    for (const p of this.plan.peers) this.speaker.rib.peerDown(p.address);
    await this.routes.clear();
    for (const p of this.#peerRoutes) await this.#system.delPeerRoute(p).catch(() => undefined);
    this.#peerRoutes = [];
    if (this.#addressAdded) await this.#system.delOwnAddress(this.plan.peeringAddress);
    this.#addressAdded = false;
  }

  /** Re-check the tunnels now (the gateway may call this on IKE events; a timer does it anyway). */
  followTunnels(): void {
    this.#followTunnels();
  }

  #followTunnels(): void {
    for (const p of this.plan.peers) {
      const up = this.#o.tunnelUp(p.connection);
      if (up === this.speaker.peerEnabled(p.address)) continue;
      this.#log.info({ peer: p.address, connection: p.connection, tunnel: up ? 'up' : 'down' },
        up ? `tunnel ${p.connection} up: starting BGP with ${p.address}` : `tunnel ${p.connection} down: BGP with ${p.address} stopped, its routes withdrawn`);
      this.speaker.setPeerEnabled(p.address, up, `tunnel ${p.connection} down`);
    }
  }

  // ------------------------------------------------------------ views for the control socket / CLI

  peers(): BgpPeerView[] {
    return this.speaker.peers().map((s: PeerStatus) => {
      const plan = this.#byAddress.get(s.address);
      const v: BgpPeerView = {
        neighbor: s.address,
        asn: s.asn,
        connection: plan?.connection ?? null,
        localAddress: this.plan.peeringAddress,
        state: s.state,
        enabled: this.speaker.peerEnabled(s.address),
        uptimeSeconds: s.uptimeSeconds,
        routesReceived: s.received,
        routesAccepted: s.accepted,
        routesAdvertised: s.advertised,
        routerId: s.routerId ?? null,
        holdTime: s.holdTime ?? null,
        lastError: s.lastError ?? null,
      };
      return v;
    });
  }

  learnedRoutes(): LearnedRouteView[] {
    const out: LearnedRouteView[] = [];
    const rib = this.speaker.rib;
    const best = new Map<string, LearnedRoute>();
    for (const r of this.speaker.learnedRoutes()) best.set(r.prefix, r);
    for (const [prefix, b] of best) {
      for (const c of rib.candidates(prefix)) {
        const a = c.attributes;
        const local = c.source === LOCAL_SOURCE;
        const isBest = c === rib.best(prefix)?.route;
        const via = this.routes.installedVia(prefix);
        const peer = this.#byAddress.get(c.source);
        out.push({
          network: prefix,
          nextHop: local ? null : (a.nextHop ?? a.mpReach?.nextHop ?? c.source),
          sourcePeer: local ? this.plan.peeringAddress : c.source,
          origin: local ? 'Network' : c.peer?.ibgp ? 'IBgp' : 'EBgp',
          bgpOrigin: originName(a.origin),
          asPath: formatAsPath(a.asPath),
          weight: local ? 32768 : 0,
          localPref: a.localPref ?? 100,
          med: a.med ?? null,
          communities: a.communities ?? [],
          best: isBest,
          reason: isBest ? b.reason : null,
          connection: peer?.connection ?? null,
          installed: !local && via !== undefined && peer !== undefined && via.includes(peer.connection),
          notInstalledReason: local ? null : (this.routes.notInstalledReason(prefix) ?? null),
        });
      }
    }
    return out;
  }

  advertisedRoutes(peer?: string): AdvertisedRouteView[] {
    const out: AdvertisedRouteView[] = [];
    for (const p of this.plan.peers) {
      if (peer !== undefined && p.address !== peer) continue;
      for (const r of this.speaker.advertisedRoutes(p.address)) {
        out.push({ network: r.prefix, nextHop: r.nextHop ?? null, peer: p.address, connection: p.connection, asPath: r.asPath, bgpOrigin: originName(r.origin), weight: 0, localPref: null });
      }
    }
    return out;
  }

  summary(): BgpSummary {
    return {
      asn: this.plan.asn,
      peeringAddress: this.plan.peeringAddress,
      peers: this.plan.peers.length,
      established: this.speaker.peers().filter((p) => p.state === BgpState.Established).length,
      routesLearned: this.speaker.rib.size,
      routesInstalled: this.routes.installedCount,
      kernelRoutes: this.routes.kernelCount,
      kernelErrors: this.routes.kernelErrors,
    };
  }
}
