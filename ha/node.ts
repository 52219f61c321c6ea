/**
 * DOC: one instance of an HA gateway pair (`vgwd --instance NAME`).
 *
 *          ┌──────────── instance 0 ────────────┐   HA link (TCP, sealed)   ┌──────── instance 1 ────────┐
 *   TUN ◀─▶│ EspDataplane ◀─ ReplicatingBackend ◀─ IkeManager │ ══ hello/ike/child/seq ══▶ │ ShadowStore ... │
 *          │  UdpTransport (bound to the floating public IP, active only) │                 │ (idle until takeover) │
 *          └────────────────────────────────────┘                           └────────────────────────────┘
 *
 * Active-standby: the active holds gateway.publicIpAddress and
 * privateIpAddress (ha/floating-ip.ts), runs IKE and ESP, and replicates
 * every change (ha/replicator.ts). The standby keeps the shadow. Takeover
 * (ha/election.ts decides): import the shadow into IKE and the dataplane
 * (sequence numbers jumped ahead), add the addresses with gratuitous ARP,
 * bind the sockets, run IKE. `handover()` is the planned switchover: the
 * active stops, sends its final state with exact sequence numbers, drops
 * the addresses; the standby takes over without a jump.
 *
 * Active-active: each instance always holds its own public and private
 * addresses and runs its own IKE SAs; the link carries heartbeats only, for
 * status. Flows spread and fail over at the peer (dataplane flow pinning and
 * the tunnels' liveness); a route-withdrawal hook `onPartnerLost` is there for BGP.
 *
 * Every failover the instance takes part in is measured (detection time,
 * time to take over, time until ESP flows in again) and logged as the
 * event `failover`.
 */
import type { Logger } from 'pino';
import type { HaPlan } from '../daemon/config-ha.js';
import type { ConnectionSpec } from '../ike/connection.js';
import { IkeManager } from '../ike/manager.js';
import type { IkeSa } from '../ike/ike-sa.js';
import { EspDataplane, type EspRawHandler, type EspTransportLike } from '../dataplane/forwarder.js';
import type { PacketDevice } from '../dataplane/tun.js';
import { UdpTransport } from '../dataplane/udp-transport.js';
import type { UdpEndpoint } from '../dataplane/backend.js';
import { Election } from './election.js';
import { HaLink, type LinkDownReason } from './link.js';
import { FloatingIps, addressAnswers, interfaceFor } from './floating-ip.js';
import { ReplicatingBackend, ShadowStore, ikeRecord, importShadow, replicable } from './replicator.js';
import { gatewayLiveness, type TunnelLiveness } from './tunnel-liveness.js';
import type { HaMessage, HaRole } from './messages.js';
import type { FailoverStatus as FailoverReport, HaStatus } from '../daemon/status.js';

export type { FailoverReport, HaStatus };

export const HEARTBEAT_MS = 100;
export const DEAD_AFTER_MS = 400;
const INIT_WAIT_MS = 1_000;
const PROBE_TIMEOUT_MS = 150;
const TICK_MS = 200;
const HANDOVER_ACK_TIMEOUT_MS = 3_000;

/** Forwards to the UDP transport of the moment; drops while there is none (standby). */
class SwitchableTransport implements EspTransportLike {
  current: UdpTransport | undefined;
  espHandler: ((pkt: Buffer, remote: UdpEndpoint) => void) | undefined;
  /** The forwarder's allocation-free receive path, handed on to each new transport. */
  raw: { handler: EspRawHandler; onBatchEnd: (() => void) | undefined } | undefined;
  sendEsp(b: Buffer, off: number, len: number, remote: UdpEndpoint): void { this.current?.sendEsp(b, off, len, remote); }
  sendEspBorrowed(b: Buffer, off: number, len: number, remote: UdpEndpoint): void {
    const t = this.current;
    if (!t) return;
    if (t.sendEspBorrowed) t.sendEspBorrowed(b, off, len, remote); else t.sendEsp(b, off, len, remote);
  }
  flush(): void { this.current?.flush?.(); }
  setEspHandler(h: (pkt: Buffer, remote: UdpEndpoint) => void): void { this.espHandler = h; }
  setEspRawHandler(handler: EspRawHandler, onBatchEnd?: () => void): void {
    this.raw = { handler, onBatchEnd };
    this.current?.setEspRawHandler?.(handler, onBatchEnd);
  }
  sendIke(msg: Buffer, remote: UdpEndpoint, localPort: number): void { this.current?.sendIke(msg, remote, localPort); }
}

export interface HaNodeOptions {
  plan: HaPlan;
  gatewayName: string;
  /** Link key (messages.deriveLinkKey). */
  key: Buffer;
  specs: ConnectionSpec[];
  tun: PacketDevice;
  log: Logger;
  haPort?: number;
  /** Called when the partner is declared lost (active-active: withdraw its routes, e.g. BGP). */
  onPartnerLost?: () => void;
  /** A watched tunnel's liveness changed (ha/tunnel-liveness.ts; e.g. BGP follows it). */
  onTunnelLiveness?: (connection: string, live: boolean) => void;
}

export class HaNode {
  readonly ike: IkeManager;
  readonly dataplane: EspDataplane;
  private readonly backend: ReplicatingBackend;
  private readonly transport = new SwitchableTransport();
  private readonly election: Election;
  private readonly link: HaLink;
  private readonly shadow = new ShadowStore();
  private readonly floating: FloatingIps;
  private readonly log: Logger;
  private hbTimer: NodeJS.Timeout | undefined;
  private tickTimer: NodeJS.Timeout | undefined;
  private initTimer: NodeJS.Timeout | undefined;
  private partner: { role: HaRole | 'unknown'; epoch: number; applied: number; lastHeardMs: number } = { role: 'unknown', epoch: 0, applied: 0, lastHeardMs: 0 };
  private sentMessages = 0;
  private lastFailover: FailoverReport | null = null;
  private transition: Promise<void> = Promise.resolve();
  private stopped = false;
  private handoverWait: { resolve: (ms: number) => void; startedMs: number } | undefined;
  private probing = false;
  /** Active-active: the partner's private address, held by us while the partner is gone. */
  private readonly partnerNextHop: FloatingIps | undefined;
  private adoptingPartner = false;
  /** Per-tunnel liveness (dummy-packet heartbeats): every tunnel in active-active, multipath groups otherwise. */
  readonly liveness: TunnelLiveness | undefined;

  constructor(private readonly o: HaNodeOptions) {
    this.log = o.log.child({ subsys: 'ha' });
    this.election = new Election(o.plan.self.index);
    const dp = new EspDataplane({ tun: o.tun, transport: this.transport, log: o.log.child({ subsys: 'esp' }), mtu: 1500 });
    this.dataplane = dp;
    this.backend = new ReplicatingBackend(dp, (m) => this.replicate(m));
    const transport = this.transport;
    this.ike = new IkeManager({
      connections: o.specs,
      backend: this.backend,
      send: (msg, remote, localPort) => transport.sendIke(msg, remote, localPort),
      localAddress: o.plan.self.publicIpAddress,
      log: o.log.child({ subsys: 'ike' }),
      onSaChange: (sa) => this.onSaChange(sa),
    });
    const ips = [o.plan.self.publicIpAddress, o.plan.self.privateIpAddress].filter((x) => x !== '');
    this.floating = new FloatingIps(ips);
    if (o.plan.mode === 'active-active' && o.plan.peer.privateIpAddress !== '') this.partnerNextHop = new FloatingIps([o.plan.peer.privateIpAddress], this.floating.garp);
    this.liveness = gatewayLiveness({
      specs: o.specs, ike: this.ike, dataplane: dp, watchAll: o.plan.mode === 'active-active', log: this.log,
      onChange: (conn, live) => o.onTunnelLiveness?.(conn, live),
    });
    this.link = new HaLink({
      selfIndex: o.plan.self.index, localAddress: o.plan.self.haAddress, peerAddress: o.plan.peer.haAddress, key: o.key,
      port: o.haPort, log: this.log, deadAfterMs: DEAD_AFTER_MS,
      onMessage: (m) => this.onMessage(m), onUp: () => this.onLinkUp(), onDown: (r) => this.onLinkDown(r),
    });
  }

  get role(): HaRole { return this.election.role; }

  async start(): Promise<void> {
    // Addresses left behind by a crashed run of ours must not answer for the pair.
    if (this.o.plan.mode === 'active-standby') await this.floating.release();
    // Active-active: a partner address we adopted before a crash is not ours (this also learns its interface).
    else await this.partnerNextHop?.release();
    this.floating.garp.start();
    this.liveness?.start();
    await this.link.start();
    this.hbTimer = setInterval(() => this.heartbeat(), HEARTBEAT_MS);
    if (this.o.plan.mode === 'active-active') {
      this.election.role = 'active';
      this.election.epoch = 1;
      await this.activate({ kind: 'unplanned', reason: 'active-active: every instance is active', detectionMs: null, lastWordMs: 0 });
      return;
    }
    this.initTimer = setTimeout(() => this.decide(this.election.handle({ type: 'init-timeout' })), INIT_WAIT_MS);
    this.log.info({ instance: this.o.plan.self.name, partner: this.o.plan.peer.name, waitMs: INIT_WAIT_MS }, 'HA: waiting for the partner before choosing a role');
  }

  /** Stops the instance. An active one with a ready standby hands over instead of deleting the SAs. */
  async stop(): Promise<void> {
    if (this.stopped) return;
    let handedOver = false;
    if (this.o.plan.mode === 'active-standby' && this.role === 'active' && this.partnerReady()) {
      try { await this.handover(); handedOver = true; } catch (err) { this.log.warn({ err: (err as Error).message }, 'HA: handover at stop failed'); }
    }
    this.stopped = true;
    this.liveness?.stop();
    if (this.hbTimer) clearInterval(this.hbTimer);
    if (this.initTimer) clearTimeout(this.initTimer);
    await this.transition;
    if (this.role === 'active' && !handedOver) {
      await this.ike.shutdown();
      this.stopTicking();
      await this.closeTransport();
      if (this.o.plan.mode === 'active-standby') await this.floating.release().catch(() => undefined);
    }
    if (this.o.plan.mode === 'active-active') {
      await this.floating.release().catch(() => undefined);
      if (this.partnerNextHop?.heldAddresses().length) await this.partnerNextHop.release().catch(() => undefined);
    }
    await this.link.close();
    this.floating.garp.stop();
  }

  private partnerReady(): boolean {
    return this.link.up && this.partner.role === 'standby';
  }

  // ---- planned switchover ----

  /** Planned switchover from the active: returns what it measured. */
  async handover(): Promise<FailoverReport> {
    if (this.o.plan.mode !== 'active-standby') throw new HaError('handover is for active-standby pairs; in active-active both instances are active');
    if (this.role !== 'active') throw new HaError(`this instance is ${this.role}; run the failover on the active instance`);
    if (!this.partnerReady()) throw new HaError(`partner ${this.o.plan.peer.name} is not a ready standby (link ${this.link.up ? 'up' : 'down'}, role ${this.partner.role})`);
    let report!: FailoverReport;
    const run = async (): Promise<void> => {
      const t0 = Date.now();
      // 1. Stop everything that moves state: IKE timers, sockets (no ESP in or out from here on).
      this.stopTicking();
      await this.closeTransport();
      // 2. Final state, exact sequence numbers, then the handover itself.
      this.fullSync();
      const acked = new Promise<number>((resolve) => { this.handoverWait = { resolve, startedMs: t0 }; });
      this.link.send({ v: 1, t: 'handover', from: this.o.plan.self.name, epoch: this.election.epoch, startedMs: t0, seqs: this.backend.seqs() });
      this.decide(this.election.handle({ type: 'handover-sent' }), false);
      // 3. Release the addresses while the partner adds them (its GARP moves the neighbours).
      await this.floating.release();
      this.dropLocalState('handed over to the partner');
      const ackMs = await Promise.race([acked, new Promise<number>((r) => setTimeout(() => r(-1), HANDOVER_ACK_TIMEOUT_MS))]);
      this.handoverWait = undefined;
      if (ackMs < 0) this.election.cancelYield();
      report = {
        kind: 'planned', role: 'handed-over', reason: 'vgw failover', at: new Date(t0).toISOString(), epoch: this.election.epoch,
        detectionMs: null, takeoverMs: ackMs < 0 ? Date.now() - t0 : ackMs, outageMs: null, ikeSas: 0, childSas: 0,
        incomplete: ackMs < 0 ? ['partner did not confirm the handover within 3 s'] : [],
      };
      this.recordFailover(report);
    };
    this.transition = this.transition.then(run, run);
    await this.transition;
    return report;
  }

  // ---- link events ----

  private onLinkUp(): void {
    this.sentMessages = 0;
    this.heartbeat();
    if (this.role === 'active' && this.o.plan.mode === 'active-standby') this.fullSync();
  }

  private onLinkDown(reason: LinkDownReason): void {
    this.partner.role = 'unknown';
    if (this.stopped) return;
    if (this.o.plan.mode === 'active-active') {
      this.log.warn({ partner: this.o.plan.peer.name, reason }, 'HA: partner lost; its tunnels fail over at the peers');
      void this.adoptPartnerNextHop(reason);
      try { this.o.onPartnerLost?.(); } catch (err) { this.log.warn({ err }, 'HA: onPartnerLost failed'); }
      return;
    }
    if (this.role !== 'standby') return;
    const detectionMs = this.partner.lastHeardMs ? Date.now() - this.partner.lastHeardMs : null;
    if (reason === 'closed') {
      // The partner's kernel closed the connection: its process is gone.
      this.decide(this.election.handle({ type: 'peer-lost' }), true, { detectionMs, lastWordMs: this.partner.lastHeardMs, why: 'HA link closed by the partner' });
      return;
    }
    void this.probeThenTakeOver(detectionMs);
  }

  /** Silent loss: take over only if nobody answers for the public address any more (split-brain guard). */
  private async probeThenTakeOver(detectionMs: number | null): Promise<void> {
    if (this.probing) return;
    this.probing = true;
    try {
      const ip = this.o.plan.self.publicIpAddress;
      const ifname = await interfaceFor(ip).catch(() => undefined);
      while (!this.stopped && this.role === 'standby' && !this.link.up) {
        const alive = ifname ? await addressAnswers(ip, ifname, PROBE_TIMEOUT_MS) : false;
        if (!alive) {
          const d = detectionMs === null ? null : detectionMs + PROBE_TIMEOUT_MS;
          this.decide(this.election.handle({ type: 'peer-lost' }), true, { detectionMs: d, lastWordMs: this.partner.lastHeardMs, why: 'heartbeats stopped and the public address is silent' });
          return;
        }
        this.log.warn({ ip }, 'HA: partner silent on the HA link but still answers for the public address; staying standby (split-brain guard)');
        await new Promise((r) => setTimeout(r, 500));
      }
    } finally {
      this.probing = false;
    }
  }

  /**
   * Active-active survivor: the VNet still sends the dead partner's share of
   * flows to the partner's private address (ECMP next hop). We take that
   * address, with gratuitous ARP, and carry those flows on our own tunnels.
   * Split brain: on a silent loss we first probe whether the partner still
   * answers for it (then only the HA link is broken, and we leave it); the
   * partner's hello makes us give it back.
   */
  private async adoptPartnerNextHop(reason: LinkDownReason): Promise<void> {
    const nh = this.partnerNextHop;
    if (!nh || this.adoptingPartner || this.stopped) return;
    this.adoptingPartner = true;
    const lastHeard = this.partner.lastHeardMs;
    const t0 = Date.now();
    try {
      const ip = this.o.plan.peer.privateIpAddress;
      if (reason === 'silent') {
        const ifname = await interfaceFor(ip).catch(() => undefined);
        if (ifname && await addressAnswers(ip, ifname, PROBE_TIMEOUT_MS)) {
          this.log.warn({ ip }, 'HA: partner silent on the HA link but still answers for its private address; not taking it (split-brain guard)');
          return;
        }
      }
      if (this.stopped || this.link.up) return;
      await nh.place();
      const announced = await nh.announce();
      const report: FailoverReport = {
        kind: 'unplanned', role: 'took-over', reason: `active-active partner ${this.o.plan.peer.name} lost (${reason}): carrying its VNet next hop ${ip}`,
        at: new Date(t0).toISOString(), epoch: this.election.epoch, detectionMs: lastHeard ? t0 - lastHeard : null,
        takeoverMs: Date.now() - t0, outageMs: null, ikeSas: 0, childSas: 0, incomplete: [],
      };
      this.log.info({ addresses: announced }, 'HA: took the partner\'s private address');
      this.recordFailover(report);
    } catch (err) {
      this.log.error({ err: (err as Error).message }, 'HA: cannot take the partner\'s private address');
    } finally {
      this.adoptingPartner = false;
    }
  }

  /** Active-active: the partner is back; its own address goes back to it. */
  private async returnPartnerNextHop(): Promise<void> {
    const nh = this.partnerNextHop;
    if (!nh || nh.heldAddresses().length === 0) return;
    await nh.release().catch((err: unknown) => this.log.error({ err }, 'HA: releasing the partner\'s private address failed'));
    this.log.info({ ip: this.o.plan.peer.privateIpAddress }, 'HA: partner back, its private address returned');
  }

  private onMessage(m: HaMessage): void {
    switch (m.t) {
      case 'hello': {
        this.partner = { role: m.role, epoch: m.epoch, applied: m.applied, lastHeardMs: Date.now() };
        if (this.o.plan.mode === 'active-active') {
          if (m.role === 'active') void this.returnPartnerNextHop();
          return;
        }
        this.decide(this.election.handle({ type: 'peer-hello', role: m.role, epoch: m.epoch, index: m.index }), true,
          { detectionMs: null, lastWordMs: 0, why: 'partner hello' });
        return;
      }
      case 'handover': {
        this.partner.lastHeardMs = Date.now();
        this.shadow.apply(m);
        this.decide(this.election.handle({ type: 'handover-received', epoch: m.epoch }), true,
          { detectionMs: null, lastWordMs: m.startedMs, why: 'planned handover', planned: true });
        return;
      }
      case 'handover-ack':
        this.handoverWait?.resolve(Date.now() - this.handoverWait.startedMs);
        return;
      default:
        this.partner.lastHeardMs = Date.now();
        if (this.role === 'active') {
          this.log.warn({ t: m.t }, 'HA: replication message while active ignored (partner thinks it is active)');
          return;
        }
        this.shadow.apply(m);
    }
  }

  // ---- role changes ----

  private decide(d: { become?: HaRole; reason: string }, apply = true,
    ctx: { detectionMs: number | null; lastWordMs: number; why: string; planned?: boolean } = { detectionMs: null, lastWordMs: 0, why: '' }): void {
    if (!d.become) return;
    if (this.initTimer && d.become !== 'init') { clearTimeout(this.initTimer); this.initTimer = undefined; }
    this.log.info({ role: d.become, epoch: this.election.epoch, reason: d.reason }, `HA: becoming ${d.become}`);
    this.heartbeat();
    if (!apply) return;
    const run = async (): Promise<void> => {
      if (this.stopped) return;
      if (d.become === 'active') {
        await this.activate({ kind: ctx.planned ? 'planned' : 'unplanned', reason: `${ctx.why}: ${d.reason}`, detectionMs: ctx.detectionMs, lastWordMs: ctx.lastWordMs, planned: ctx.planned });
      } else if (d.become === 'standby') {
        await this.deactivate(d.reason);
      }
    };
    this.transition = this.transition.then(run, run).catch((err: unknown) => this.log.error({ err }, 'HA: role change failed'));
  }

  private async activate(c: { kind: 'planned' | 'unplanned'; reason: string; detectionMs: number | null; lastWordMs: number; planned?: boolean }): Promise<void> {
    const t0 = Date.now();
    const hadState = this.shadow.ikes.size > 0;
    const imported = importShadow(this.shadow, this.ike, this.backend, this.log, this.election.epoch);
    this.shadow.clear();
    const inBefore = this.inboundPackets();
    try {
      await this.floating.place();
    } catch (err) {
      this.log.error({ err: (err as Error).message }, 'HA: cannot add the floating addresses');
    }
    // Sockets first, then the announcement: the first packet that follows the GARP finds them bound.
    await this.openTransport();
    const announced = await this.floating.announce();
    this.log.info({ addresses: announced, ms: Date.now() - t0 }, 'HA: floating addresses acquired and announced');
    this.ike.start();
    this.ike.tick();
    this.startTicking();
    if (c.planned) this.link.send({ v: 1, t: 'handover-ack', from: this.o.plan.self.name, epoch: this.election.epoch });
    this.fullSync();
    const takeoverMs = Date.now() - t0;
    if (this.o.plan.mode === 'active-active' && !hadState) {
      this.log.info({ takeoverMs }, 'HA: active-active instance up');
      return;
    }
    const report: FailoverReport = {
      kind: c.kind, role: 'took-over', reason: c.reason, at: new Date(t0).toISOString(), epoch: this.election.epoch,
      detectionMs: c.detectionMs, takeoverMs, outageMs: null, ikeSas: imported.ikeSas, childSas: imported.childSas, incomplete: imported.incomplete,
    };
    this.recordFailover(report, false);
    // Outage as the daemon sees it: last word from the old active → first ESP packet in again.
    const from = c.lastWordMs || t0;
    const deadline = Date.now() + 5_000;
    const watch = setInterval(() => {
      const now = Date.now();
      if (this.inboundPackets() > inBefore) {
        report.outageMs = now - from;
      } else if (now < deadline && this.role === 'active') {
        return;
      }
      clearInterval(watch);
      this.recordFailover(report);
    }, 5);
  }

  private async deactivate(reason: string): Promise<void> {
    this.stopTicking();
    await this.closeTransport();
    await this.floating.release().catch((err: unknown) => this.log.error({ err }, 'HA: releasing floating addresses failed'));
    this.dropLocalState(reason);
    this.log.info({ reason }, 'HA: standby');
  }

  /** Closes every SA locally, without DELETE: the partner carries them on. */
  private dropLocalState(reason: string): void {
    for (const sa of this.ike.allSas()) sa.close(`HA: ${reason}`);
    this.backend.clear();
  }

  private recordFailover(r: FailoverReport, final = true): void {
    this.lastFailover = r;
    if (final) this.log.info({ event: 'failover', ...r }, `failover: ${r.kind} ${r.role}, detection ${r.detectionMs ?? '-'} ms, takeover ${r.takeoverMs} ms, outage ${r.outageMs ?? '-'} ms`);
  }

  private inboundPackets(): number {
    let n = 0;
    for (const id of this.backend.installed.keys()) n += this.dataplane.counters(id)?.inPackets ?? 0;
    return n;
  }

  private async openTransport(): Promise<void> {
    if (this.transport.current) return;
    const ike = this.ike;
    const t = new UdpTransport({
      bindAddress: this.o.plan.self.publicIpAddress,
      onIke: (msg, remote, localPort) => ike.handleDatagram(msg, remote, localPort),
      log: this.o.log.child({ subsys: 'net' }),
    });
    const h = this.transport.espHandler;
    if (h) t.setEspHandler(h);
    const raw = this.transport.raw;
    if (raw) t.setEspRawHandler?.(raw.handler, raw.onBatchEnd);
    // The address was just added: retry briefly while the kernel makes it usable.
    for (let i = 0; ; i++) {
      try { await t.start(); break; } catch (err) {
        if (i >= 20) throw err;
        await new Promise((r) => setTimeout(r, 10));
      }
    }
    this.transport.current = t;
  }

  private async closeTransport(): Promise<void> {
    const t = this.transport.current;
    this.transport.current = undefined;
    await t?.close();
  }

  private startTicking(): void {
    if (!this.tickTimer) this.tickTimer = setInterval(() => this.ike.tick(), TICK_MS);
  }

  private stopTicking(): void {
    if (this.tickTimer) clearInterval(this.tickTimer);
    this.tickTimer = undefined;
  }

  // ---- replication ----

  private replicate(m: HaMessage): void {
    if (this.role !== 'active' || this.o.plan.mode !== 'active-standby') return;
    if (this.link.send({ ...m, from: this.o.plan.self.name } as HaMessage)) this.sentMessages++;
  }

  private onSaChange(sa: IkeSa): void {
    if (this.role !== 'active' || this.o.plan.mode !== 'active-standby') return;
    if (replicable(sa)) this.replicate({ v: 1, t: 'ike', from: '', sa: ikeRecord(sa) });
    else if (sa.keys && sa.spiR.some((b) => b !== 0)) this.replicate({ v: 1, t: 'ike-del', from: '', conn: sa.conn.name, spiI: sa.spiI.toString('hex'), spiR: sa.spiR.toString('hex') });
  }

  private fullSync(): void {
    if (this.o.plan.mode !== 'active-standby' || !this.link.up) return;
    const from = this.o.plan.self.name;
    const epoch = this.election.epoch;
    const send = (m: HaMessage): void => { if (this.link.send(m)) this.sentMessages++; };
    send({ v: 1, t: 'sync-begin', from, epoch });
    for (const c of this.backend.installed.values()) send({ v: 1, t: 'child', from, child: c });
    for (const sa of this.ike.allSas()) if (replicable(sa)) send({ v: 1, t: 'ike', from, sa: ikeRecord(sa) });
    send({ v: 1, t: 'seq', from, atMs: Date.now(), seqs: this.backend.seqs() });
    send({ v: 1, t: 'sync-end', from, epoch });
  }

  private heartbeat(): void {
    if (this.stopped) return;
    const from = this.o.plan.self.name;
    this.link.send({ v: 1, t: 'hello', from, role: this.election.role, epoch: this.election.epoch, index: this.o.plan.self.index, applied: this.shadow.applied });
    if (this.role === 'active' && this.o.plan.mode === 'active-standby' && this.backend.installed.size > 0) {
      this.replicate({ v: 1, t: 'seq', from, atMs: Date.now(), seqs: this.backend.seqs() });
    }
  }

  status(): HaStatus {
    const now = Date.now();
    const standby = this.role !== 'active';
    return {
      mode: this.o.plan.mode,
      instance: this.o.plan.self.name,
      role: this.role,
      epoch: this.election.epoch,
      partner: {
        name: this.o.plan.peer.name, role: this.link.up ? this.partner.role : 'unknown', linkUp: this.link.up,
        lastHeardMsAgo: this.partner.lastHeardMs ? now - this.partner.lastHeardMs : null,
      },
      replication: {
        shadowIkeSas: this.shadow.ikes.size, shadowChildSas: this.shadow.children.size,
        ageMs: standby && this.shadow.lastUpdateMs ? this.shadow.ageMs() : null,
        // Messages the standby has not applied yet (its hello reports its count).
        lagMessages: !standby && this.link.up ? Math.max(0, this.sentMessages - this.partner.applied) : null,
      },
      floatingAddresses: [...this.floating.heldAddresses(), ...(this.partnerNextHop?.heldAddresses() ?? [])],
      lastFailover: this.lastFailover,
    };
  }
}

export class HaError extends Error {
  override readonly name = 'HaError';
}
