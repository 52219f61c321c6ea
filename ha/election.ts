/**
 * Who is active: the election state machine of an active-standby pair.
 *
 *              hello(peer active)                 peer lost / handover received
 *   ┌──────┐ ───────────────────▶ ┌─────────┐ ─────────────────────────────────▶ ┌────────┐
 *   │ Init │                      │ Standby │                                    │ Active │
 *   └──────┘ ───────────────────────────────────────────────────────────────▶    └────────┘
 *      init timeout (no partner heard), or the partner is not active and       │     ▲
 *      we have the lower index                                                 │     │
 *                                           ◀──────────────────────────────────┘     │
 *                 planned handover sent, or a partner that is active with a          │
 *                 higher epoch (equal epoch: lower index wins)  ─────────────────────┘
 *
 * Split brain. Every takeover raises the epoch above the highest the instance
 * has seen, and the active announces its epoch in every heartbeat (100 ms).
 * Two actives that hear each other resolve it on the first heartbeat: the
 * lower epoch (equal: the higher index) steps down at once and releases the
 * floating addresses. Before a standby takes over on a SILENT loss
 * (heartbeats stopped, link not closed), the caller probes whether the
 * floating public address still answers from the outside side (ha/node.ts);
 * if it does, the partner is alive and only the HA link is broken, and the
 * standby stays put. A closed link (RST/FIN from the partner's kernel) means
 * the partner process is gone, so no probe is needed.
 * Limits: a pair that is fully partitioned from each other AND whose probe
 * path is also cut will have two actives until the partition heals; and two
 * instances started at once without a working HA link both go active after
 * the init wait. Both heal within one heartbeat of the link coming back.
 */
import type { HaRole } from './messages.js';

export type ElectionEvent =
  | { type: 'peer-hello'; role: HaRole; epoch: number; index: number }
  | { type: 'peer-lost' }
  | { type: 'init-timeout' }
  /** The partner handed over on purpose (planned switchover); epoch = its epoch. */
  | { type: 'handover-received'; epoch: number }
  /** We handed over on purpose. */
  | { type: 'handover-sent' };

export interface ElectionDecision {
  /** The new role, when it changes. */
  become?: HaRole;
  reason: string;
}

export class Election {
  role: HaRole = 'init';
  epoch = 0;
  /** Highest epoch seen from the partner. */
  peerEpoch = 0;
  /**
   * We handed over and wait for the partner to take the role: its hellos
   * still say "standby" for a moment (they crossed the handover), which must
   * not make us take the role back. Cleared when the partner is active or
   * lost, or by cancelYield() when it never confirmed.
   */
  yielded = false;

  constructor(readonly selfIndex: number) {}

  handle(ev: ElectionEvent): ElectionDecision {
    switch (ev.type) {
      case 'peer-hello': {
        this.peerEpoch = Math.max(this.peerEpoch, ev.epoch);
        if (ev.role === 'active') this.yielded = false;
        if (this.yielded) return { reason: 'handed over: waiting for the partner to take the role' };
        if (ev.role === 'active') {
          if (this.role === 'active') {
            const peerWins = ev.epoch > this.epoch || (ev.epoch === this.epoch && ev.index < this.selfIndex);
            if (!peerWins) return { reason: 'partner is active too but we win (epoch/index); it steps down' };
            this.epoch = ev.epoch;
            return this.to('standby', `partner is active with epoch ${ev.epoch} (ours ${this.epoch}): stepping down`);
          }
          this.epoch = Math.max(this.epoch, ev.epoch);
          return this.to('standby', `partner is active (epoch ${ev.epoch})`);
        }
        if (this.role === 'active') return { reason: 'partner is not active' };
        // Nobody is active: the lower index goes first; a standby partner waits for us.
        if (ev.role === 'standby' || ev.index > this.selfIndex) return this.activate('no active instance: taking the role');
        return { reason: 'partner has the lower index; waiting for it to go active' };
      }
      case 'peer-lost':
        this.yielded = false;
        if (this.role === 'standby') return this.activate('partner lost');
        return { reason: 'partner lost' };
      case 'init-timeout':
        if (this.role === 'init') return this.activate('no partner heard during the init wait');
        return { reason: 'init timeout ignored' };
      case 'handover-received':
        this.yielded = false;
        if (this.role === 'active') return { reason: 'handover while active ignored' };
        this.peerEpoch = Math.max(this.peerEpoch, ev.epoch);
        return this.activate('planned handover from the partner');
      case 'handover-sent':
        if (this.role !== 'active') return { reason: 'not active' };
        this.yielded = true;
        return this.to('standby', 'planned handover sent');
    }
  }

  /** The partner never confirmed a handover: normal rules again (the lower index goes first). */
  cancelYield(): void {
    this.yielded = false;
  }

  private activate(reason: string): ElectionDecision {
    this.epoch = Math.max(this.epoch, this.peerEpoch) + 1;
    return this.to('active', `${reason} (epoch ${this.epoch})`);
  }

  private to(role: HaRole, reason: string): ElectionDecision {
    if (this.role === role) return { reason };
    this.role = role;
    return { become: role, reason };
  }
}
