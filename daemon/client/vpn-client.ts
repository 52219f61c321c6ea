/**
 * `vgw client`: the point-to-site client. The same IKE engine as the gateway
 * (IkeManager with one InitiatorOnly certificate connection) plus a TUN
 * device, the ESP dataplane and the UDP transport.
 *
 *   start ─▶ IKE_SA_INIT/IKE_AUTH (cert + CP request) ─▶ address + routes on the TUN
 *     ▲                                                        │
 *     └──── DPD timeout / DELETE / gateway failover ◀──────────┘  (the manager re-initiates)
 *
 * Whenever the established SA's CFG_REPLY differs from what is applied, the
 * TUN address and the pushed routes are replaced, so a reconnect that gets
 * a different address (a new gateway instance) heals itself.
 */
import type { Logger } from 'pino';
import { IkeManager } from '../../ike/manager.js';
import { IkeSaState, type IkeSa } from '../../ike/ike-sa.js';
import { clientConfigs } from '../../ike/exchanges/ike-auth-cert.js';
import { certClientSpec } from '../../ike/p2s/spec.js';
import { identityFromText } from '../../ike/p2s/cert-identity.js';
import type { ClientConfig } from '../../ike/p2s/types.js';
import { rangeToString } from '../../ike/traffic-selectors.js';
import { TunDevice } from '../../dataplane/tun.js';
import { UdpTransport } from '../../dataplane/udp-transport.js';
import { EspDataplane } from '../../dataplane/forwarder.js';
import { addAddress, linkUp, routeDel, routeReplace, runIp } from '../../dataplane/iproute.js';
import type { UdpEndpoint } from '../../dataplane/backend.js';
import { DEFAULT_ESP_PROPOSALS, DEFAULT_IKE_PROPOSALS } from '../config-policy.js';
import type { ClientProfile } from './profile.js';

export const CLIENT_CONNECTION = 'vpn';
const TICK_MS = 200;
const TUN_MTU = 1400;

export interface ClientStatus {
  gateway: string;
  state: 'Connected' | 'Connecting' | 'NotConnected';
  address: string | null;
  dns: string[];
  routes: string[];
  ikeSa: { spiI: string; spiR: string; establishedAt: string; remote: string } | null;
  connects: number;
  lastError: string | null;
  bytesIn: number;
  bytesOut: number;
}

export class VpnClient {
  private tun: TunDevice | undefined;
  private transport: UdpTransport | undefined;
  private dataplane: EspDataplane | undefined;
  private ike: IkeManager | undefined;
  private timer: NodeJS.Timeout | undefined;
  private applied: { sa: IkeSa; cfg: ClientConfig; routes: string[] } | undefined;
  private applying = false;
  private connects = 0;

  constructor(private readonly profile: ClientProfile, private readonly log: Logger) {}

  async start(): Promise<void> {
    const p = this.profile;
    this.tun = TunDevice.open(p.tunName, { mtu: TUN_MTU });
    await linkUp(p.tunName, TUN_MTU);
    let ike: IkeManager | undefined;
    this.transport = new UdpTransport({
      bindAddress: p.localAddress,
      onIke: (msg: Buffer, remote: UdpEndpoint, localPort: number) => ike?.handleDatagram(msg, remote, localPort),
      log: this.log.child({ subsys: 'net' }),
    });
    await this.transport.start();
    const transport = this.transport;
    this.dataplane = new EspDataplane({ tun: this.tun, transport, log: this.log.child({ subsys: 'esp' }), mtu: 1500 });
    ike = new IkeManager({
      connections: [certClientSpec({
        name: CLIENT_CONNECTION, localAddress: p.localAddress, gatewayAddress: p.gateway,
        ikeProposals: DEFAULT_IKE_PROPOSALS.map((x) => ({ ...x, dh: [...x.dh] })),
        espProposals: DEFAULT_ESP_PROPOSALS.map((x) => ({ ...x })),
        dpdTimeoutSec: p.dpdTimeoutSeconds,
        auth: {
          me: { chainDer: p.clientChainDer, key: p.key, ...(p.identity ? { id: identityFromText(p.identity) } : {}) },
          caDer: p.caDer,
          ...(p.gatewayId ? { remoteId: p.gatewayId } : {}),
        },
      })],
      backend: this.dataplane,
      send: (msg, remote, localPort) => transport.sendIke(msg, remote, localPort),
      localAddress: p.localAddress,
      log: this.log.child({ subsys: 'ike' }),
    });
    this.ike = ike;
    this.timer = setInterval(() => { ike?.tick(); void this.sync(); }, TICK_MS);
    ike.start();
    this.log.info({ gateway: p.gateway, tun: p.tunName }, 'vgw client started');
  }

  private current(): IkeSa | undefined {
    return this.ike?.sasOf(CLIENT_CONNECTION).find((s) => s.state === IkeSaState.Established && !s.rekeyedTo && clientConfigs.has(s));
  }

  /** Applies the address and routes of the live SA to the TUN device. */
  private async sync(): Promise<void> {
    if (this.applying || !this.tun) return;
    let sa = this.current();
    // An IKE rekey keeps the lease: carry the applied config over to the new SA.
    if (!sa && this.applied) {
      let s: IkeSa | undefined = this.applied.sa;
      while (s?.rekeyedTo) s = s.rekeyedTo;
      if (s && s !== this.applied.sa && s.state === IkeSaState.Established) { this.applied.sa = s; sa = s; }
    }
    if (!sa) return;
    const cfg = clientConfigs.get(sa) ?? this.applied?.cfg;
    if (!cfg) return;
    if (this.applied && this.applied.sa === sa) return;
    this.applying = true;
    try {
      const dev = this.profile.tunName;
      const routes = cfg.subnets.map(rangeToString);
      const same = this.applied && this.applied.cfg.address === cfg.address && this.applied.routes.join() === routes.join();
      if (!same) {
        if (this.applied) await this.unapply(this.applied.cfg.address, this.applied.routes);
        await addAddress(dev, `${cfg.address}/32`);
        for (const r of routes) await routeReplace(r, dev, { src: cfg.address });
        this.log.info({ address: cfg.address, routes, dns: cfg.dns }, 'virtual IP and routes installed');
      }
      this.connects += 1;
      this.applied = { sa, cfg, routes };
    } catch (e) {
      this.log.error({ err: e }, 'installing the virtual IP failed');
    } finally {
      this.applying = false;
    }
  }

  private async unapply(address: string, routes: string[]): Promise<void> {
    const dev = this.profile.tunName;
    for (const r of routes) await routeDel(r, dev).catch(() => undefined);
    await runIp(['addr', 'del', `${address}/32`, 'dev', dev]).catch(() => undefined);
  }

  status(): ClientStatus {
    const sa = this.current() ?? this.applied?.sa;
    const live = sa && sa.state === IkeSaState.Established ? sa : undefined;
    const sas = this.ike?.sasOf(CLIENT_CONNECTION) ?? [];
    let bytesIn = 0, bytesOut = 0;
    for (const s of sas) for (const ch of s.activeChildren()) {
      const c = this.dataplane?.counters(ch.id);
      bytesIn += c?.inBytes ?? 0; bytesOut += c?.outBytes ?? 0;
    }
    return {
      gateway: this.profile.gateway,
      state: live && live.activeChildren().length > 0 ? 'Connected' : sas.length > 0 ? 'Connecting' : 'NotConnected',
      address: live ? (this.applied?.cfg.address ?? null) : null,
      dns: live ? (this.applied?.cfg.dns ?? []) : [],
      routes: live ? (this.applied?.routes ?? []) : [],
      ikeSa: live ? {
        spiI: live.spiI.toString('hex'), spiR: live.spiR.toString('hex'),
        establishedAt: new Date(live.establishedMs).toISOString(), remote: `${live.remote.address}:${live.remote.port}`,
      } : null,
      connects: this.connects,
      lastError: this.ike?.connection(CLIENT_CONNECTION)?.lastError ?? null,
      bytesIn, bytesOut,
    };
  }

  async stop(): Promise<void> {
    if (this.timer) clearInterval(this.timer);
    this.timer = undefined;
    if (this.ike) await this.ike.shutdown();
    if (this.applied) await this.unapply(this.applied.cfg.address, this.applied.routes);
    await this.transport?.close();
    this.tun?.close();
    this.log.info('vgw client stopped');
  }
}
