/**
 * State replication between the active and the standby.
 *
 * Active side:
 *   - ReplicatingBackend wraps the dataplane (IpsecBackend): every Child SA
 *     install/remove becomes a `child` / `child-del` message carrying the keys
 *     of both directions, selectors and the peer endpoint.
 *   - IkeManager's onSaChange hook (called before the packet leaves) turns an
 *     IKE SA into a full `ike` snapshot: SPIs, SK_* keys, suite, nonces,
 *     message IDs (exact: they must be), the request in flight, Child SA records.
 *   - every heartbeat, `seq`: the next outbound ESP sequence number of each Child SA.
 *
 * Standby side: ShadowStore keeps the latest of each, and on takeover
 * `importShadow` rebuilds the IKE SAs inside the local IkeManager and
 * installs the Child SAs into the local dataplane, the outbound sequence
 * number jumped ahead (`jumpedSeq`) so the peer's anti-replay window never
 * sees a number twice. The peer sees no new handshake.
 *
 * Known gaps (documented, not hidden): the responder's cached reply for a
 * retransmitted peer request is not replicated (a peer retransmitting across
 * a failover times out that one exchange); a rekey in flight at the moment
 * of an unplanned failover is retransmitted with the same bytes, but its
 * answer is not acted on (the DH secret is not replicated) and the rekey is
 * simply retried later.
 */
import type { Logger } from 'pino';
import type { ChildSaCounters, ChildSaInstall, EspSaKeys, IpsecBackend } from '../dataplane/backend.js';
import type { IkeManager } from '../ike/manager.js';
import { IkeSa, IkeSaState } from '../ike/ike-sa.js';
import { type ChildSa, ChildState } from '../ike/child-sa.js';
import { createSkTransform } from '../crypto/sk.js';
import { ClientRegistry } from '../ike/p2s/client-registry.js';
import { cidrToRange } from '../ike/traffic-selectors.js';
import type { ConnectionSpec } from '../ike/connection.js';
import type { ChildInstallRecord, ChildRecord, HaMessage, IkeRecord, KeysRecord, P2sClientRecord } from './messages.js';

const hex = (b: Buffer): string => b.toString('hex');
const buf = (h: string): Buffer => Buffer.from(h, 'hex');

/** Key of an IKE SA across instances: both SPIs (the local SPI alone may repeat across rekeys on two sides). */
export const ikeKey = (spiI: string, spiR: string): string => `${spiI}_${spiR}`;

// ---- snapshots ----

function keysRecord(k: EspSaKeys): KeysRecord {
  return { spi: k.spi >>> 0, cipher: k.cipher, encKey: hex(k.encKey), integ: k.integ, integKey: hex(k.integKey) };
}
function keysFrom(r: KeysRecord): EspSaKeys {
  return { spi: r.spi >>> 0, cipher: r.cipher, encKey: buf(r.encKey), integ: r.integ, integKey: buf(r.integKey) };
}

export function childInstallRecord(sa: ChildSaInstall): ChildInstallRecord {
  return {
    id: sa.id, connection: sa.connection, inbound: keysRecord(sa.inbound), outbound: keysRecord(sa.outbound),
    peer: { ...sa.peer }, localPort: sa.localPort, tsLocal: sa.tsLocal.map((r) => ({ ...r })), tsRemote: sa.tsRemote.map((r) => ({ ...r })),
  };
}

export function childInstallFrom(r: ChildInstallRecord, id: string, outboundSeqStart: bigint): ChildSaInstall {
  return {
    id, connection: r.connection, inbound: keysFrom(r.inbound), outbound: keysFrom(r.outbound), peer: { ...r.peer },
    localPort: r.localPort, tsLocal: r.tsLocal, tsRemote: r.tsRemote, outboundSeqStart,
  };
}

function childRecord(c: ChildSa): ChildRecord {
  const r: ChildRecord = {
    id: c.id, state: c.state, spiIn: c.spiIn >>> 0, spiOut: c.spiOut >>> 0, suite: { ...c.suite },
    tsLocal: c.tsLocal.map((x) => ({ ...x })), tsRemote: c.tsRemote.map((x) => ({ ...x })),
    establishedMs: c.establishedMs, rekeyAtMs: c.rekeyAtMs, expireAtMs: c.expireAtMs, nonces: c.nonces.map(hex),
  };
  if (c.replacedBy !== undefined) r.replacedBy = c.replacedBy;
  return r;
}

/** Whether an IKE SA is worth replicating (only established ones can be carried on). */
export function replicable(sa: IkeSa): boolean {
  return sa.state === IkeSaState.Established && sa.keys !== undefined && sa.suite !== undefined && !sa.rekeyedTo;
}

export function ikeRecord(sa: IkeSa): IkeRecord {
  const k = sa.keys;
  const s = sa.suite;
  if (!k || !s) throw new Error(`IKE SA ${sa.name} has no keys`);
  const r: IkeRecord = {
    conn: sa.conn.name, initiator: sa.initiator, spiI: hex(sa.spiI), spiR: hex(sa.spiR),
    remote: { ...sa.remote }, localPort: sa.localPort, suite: { ...s },
    keys: { skD: hex(k.skD), skAi: hex(k.skAi), skAr: hex(k.skAr), skEi: hex(k.skEi), skEr: hex(k.skEr), skPi: hex(k.skPi), skPr: hex(k.skPr) },
    ni: hex(sa.ni), nr: hex(sa.nr), natDetected: sa.natDetected, nextMidOut: sa.nextMidOut, nextMidIn: sa.nextMidIn,
    establishedMs: sa.establishedMs, rekeyAtMs: sa.rekeyAtMs, expireAtMs: sa.expireAtMs, createdNonces: sa.createdNonces.map(hex),
    children: [...sa.children.values()].filter((c) => c.state !== ChildState.Deleted).map(childRecord),
  };
  const p = sa.pending;
  if (p && p.packets.length === 1 && p.packets[0]) r.pending = { kind: p.kind, exchange: p.exchange, mid: p.mid, packet: hex(p.packets[0]) };
  const client = p2sClientRecord(sa);
  if (client) r.p2s = client;
  return r;
}

/** The point-to-site client an SA serves (registry entry), for replication. */
export function p2sClientRecord(sa: IkeSa): P2sClientRecord | undefined {
  const policy = sa.conn.p2s;
  if (!policy) return undefined;
  const e = policy.registry.entries().find((x) => ClientRegistry.current(x) === sa);
  if (!e) return undefined;
  return {
    identity: e.identity, address: e.address, thumbprint: e.thumbprint, subject: e.subject, leafDer: hex(e.leafDer),
    intermediatesDer: e.intermediatesDer.map(hex), connectedMs: e.connectedMs, localTs: sa.conn.localTs.map((x) => ({ ...x })),
  };
}

/**
 * Takeover of a point-to-site SA: the SA's own narrowed spec, the client's
 * lease adopted into the local pool, the client in the local registry (so
 * revocation and status see it). A revoked client is not carried on.
 */
function restoreP2sClient(spec: ConnectionSpec, rec: P2sClientRecord): { spec: ConnectionSpec; register(sa: IkeSa): void } {
  const policy = spec.p2s;
  if (!policy) throw new Error('connection is not point-to-site');
  if (policy.revoked.has(rec.thumbprint.replace(/:/g, '').toUpperCase())) throw new Error(`client ${rec.identity} is revoked (${rec.thumbprint})`);
  policy.pool.adopt(rec.identity, rec.address);
  const host = cidrToRange(`${rec.address}/32`);
  return {
    spec: { ...spec, remoteTs: [host], remotePrefixes: [host], localTs: rec.localTs.map((x) => ({ ...x })) },
    register: (sa) => {
      policy.registry.add({
        identity: rec.identity, address: rec.address, thumbprint: rec.thumbprint, subject: rec.subject, leafDer: buf(rec.leafDer),
        intermediatesDer: rec.intermediatesDer.map(buf), connectedMs: rec.connectedMs, sa,
      });
    },
  };
}

// ---- sequence numbers ----

/** Floor of the jump; 2^16 packets is ~0.7 s at 100 kpps and costs 1/65536 of the 32-bit space. */
export const MIN_SEQ_JUMP = 65_536n;
const SEQ_CEILING = 0xffff_ff00n;

/**
 * The first outbound sequence number the new active may use: the last one
 * reported plus four times what the old active could have sent since (at the
 * rate observed between reports), never less than MIN_SEQ_JUMP. A planned
 * handover reports final numbers and needs no jump (exact = true).
 */
export function jumpedSeq(lastNext: bigint, ratePps: number, ageMs: number, exact = false): bigint {
  if (exact) return lastNext < 1n ? 1n : lastNext;
  const guess = BigInt(Math.ceil(Math.max(0, ratePps) * (Math.max(0, ageMs) + 100) / 1000 * 4));
  const jump = guess > MIN_SEQ_JUMP ? guess : MIN_SEQ_JUMP;
  const next = lastNext + jump;
  // Near the end of the space the manager rekeys at once (seqNearEnd); never wrap.
  return next > SEQ_CEILING ? SEQ_CEILING : next;
}

// ---- active side ----

/** Wraps the real dataplane; reports Child SA installs/removals while `enabled()`. */
export class ReplicatingBackend implements IpsecBackend {
  /** Everything installed and not removed, for full syncs. */
  readonly installed = new Map<string, ChildInstallRecord>();

  constructor(private readonly inner: IpsecBackend, private readonly emit: (m: HaMessage) => void) {}

  get onAcquire(): ((connection: string) => void) | undefined { return this.inner.onAcquire; }
  set onAcquire(cb: ((connection: string) => void) | undefined) { this.inner.onAcquire = cb; }

  installChildSa(sa: ChildSaInstall): void {
    this.inner.installChildSa(sa);
    const rec = childInstallRecord(sa);
    this.installed.set(sa.id, rec);
    this.emit({ v: 1, t: 'child', from: '', child: rec });
  }

  removeChildSa(id: string): void {
    this.inner.removeChildSa(id);
    if (this.installed.delete(id)) this.emit({ v: 1, t: 'child-del', from: '', id });
  }

  counters(id: string): ChildSaCounters | undefined { return this.inner.counters(id); }
  activateOutbound(id: string): void { this.inner.activateOutbound?.(id); }

  /** [id, next outbound seq] for every installed Child SA. */
  seqs(): Array<[string, string]> {
    const out: Array<[string, string]> = [];
    for (const id of this.installed.keys()) {
      const c = this.inner.counters(id);
      if (c) out.push([id, c.outboundSeq.toString()]);
    }
    return out;
  }

  /** Forgets everything without telling the dataplane (after a step-down the SAs are removed by IKE closing). */
  clear(): void { this.installed.clear(); }
}

// ---- standby side ----

interface SeqInfo { next: bigint; receivedMs: number; ratePps: number; exact: boolean }

export class ShadowStore {
  readonly ikes = new Map<string, IkeRecord>();
  readonly children = new Map<string, ChildInstallRecord>();
  readonly seqs = new Map<string, SeqInfo>();
  /** Messages applied (reported back in hello for the lag figure). */
  applied = 0;
  lastUpdateMs = 0;
  private syncing: { ikes: Set<string>; children: Set<string> } | undefined;

  constructor(private readonly now: () => number = Date.now) {}

  apply(m: HaMessage): void {
    const now = this.now();
    switch (m.t) {
      case 'ike': {
        const k = ikeKey(m.sa.spiI, m.sa.spiR);
        this.ikes.set(k, m.sa);
        this.syncing?.ikes.add(k);
        break;
      }
      case 'ike-del': this.ikes.delete(ikeKey(m.spiI, m.spiR)); break;
      case 'child':
        this.children.set(m.child.id, m.child);
        this.syncing?.children.add(m.child.id);
        break;
      case 'child-del': this.children.delete(m.id); this.seqs.delete(m.id); break;
      case 'seq': this.applySeqs(m.seqs, now, false); break;
      case 'handover': this.applySeqs(m.seqs, now, true); break;
      case 'sync-begin': this.syncing = { ikes: new Set(), children: new Set() }; this.applied = 0; break;
      case 'sync-end': {
        const s = this.syncing;
        this.syncing = undefined;
        if (!s) break;
        for (const k of [...this.ikes.keys()]) if (!s.ikes.has(k)) this.ikes.delete(k);
        for (const k of [...this.children.keys()]) if (!s.children.has(k)) { this.children.delete(k); this.seqs.delete(k); }
        break;
      }
      default: return;
    }
    this.applied++;
    this.lastUpdateMs = now;
  }

  private applySeqs(seqs: Array<[string, string]>, now: number, exact: boolean): void {
    for (const [id, v] of seqs) {
      const next = BigInt(v);
      const prev = this.seqs.get(id);
      let rate = prev?.ratePps ?? 0;
      if (prev && now > prev.receivedMs && next >= prev.next) {
        const r = Number(next - prev.next) / ((now - prev.receivedMs) / 1000);
        rate = Math.max(r, rate * 0.5); // decay slowly: a burst right before death must still be covered
      }
      this.seqs.set(id, { next, receivedMs: now, ratePps: rate, exact });
    }
  }

  clear(): void {
    this.ikes.clear();
    this.children.clear();
    this.seqs.clear();
  }

  /** Age of the newest replicated information, ms (the "replication lag" shown in status). */
  ageMs(): number { return this.lastUpdateMs ? this.now() - this.lastUpdateMs : -1; }
}

export interface ImportResult {
  ikeSas: number;
  childSas: number;
  /** IKE SAs dropped for missing state (their connections re-initiate with INITIAL_CONTACT). */
  incomplete: string[];
}

/** Takeover: rebuilds the shadowed SAs inside `manager`, Child SAs through `backend`. */
export function importShadow(shadow: ShadowStore, manager: IkeManager, backend: IpsecBackend, log: Logger, epoch: number): ImportResult {
  const now = Date.now();
  const res: ImportResult = { ikeSas: 0, childSas: 0, incomplete: [] };
  for (const rec of shadow.ikes.values()) {
    const conn = manager.connection(rec.conn);
    if (!conn) { res.incomplete.push(`${rec.conn}: connection no longer configured`); continue; }
    let spec = conn.spec;
    let p2s: ReturnType<typeof restoreP2sClient> | undefined;
    if (conn.spec.p2s) {
      if (!rec.p2s) { res.incomplete.push(`${rec.conn} ${rec.spiI}: point-to-site SA without its client record`); continue; }
      try {
        p2s = restoreP2sClient(conn.spec, rec.p2s);
      } catch (err) {
        res.incomplete.push(`${rec.conn} ${rec.p2s.identity}: ${(err as Error).message}`);
        continue;
      }
      spec = p2s.spec;
    }
    const sa = manager.restoreSa((host) => new IkeSa(host, spec, {
      initiator: rec.initiator, spiI: buf(rec.spiI), spiR: buf(rec.spiR), remote: { ...rec.remote }, localPort: rec.localPort,
      log: log.child({ conn: rec.conn }),
    }));
    // Registered at once: if the SA is dropped below, the P2S sweep releases the lease with it.
    p2s?.register(sa);
    const keys = {
      skD: buf(rec.keys.skD), skAi: buf(rec.keys.skAi), skAr: buf(rec.keys.skAr), skEi: buf(rec.keys.skEi),
      skEr: buf(rec.keys.skEr), skPi: buf(rec.keys.skPi), skPr: buf(rec.keys.skPr),
    };
    const s = rec.suite;
    const ei = createSkTransform(s.encr, s.encrKeyBits, s.integ, keys.skEi, keys.skAi);
    const er = createSkTransform(s.encr, s.encrKeyBits, s.integ, keys.skEr, keys.skAr);
    sa.suite = { ...s };
    sa.keys = keys;
    sa.skOut = rec.initiator ? ei : er;
    sa.skIn = rec.initiator ? er : ei;
    sa.ni = buf(rec.ni);
    sa.nr = buf(rec.nr);
    sa.natDetected = rec.natDetected;
    sa.nextMidOut = rec.nextMidOut;
    sa.nextMidIn = rec.nextMidIn;
    sa.establishedMs = rec.establishedMs;
    sa.rekeyAtMs = rec.rekeyAtMs;
    sa.expireAtMs = rec.expireAtMs;
    sa.createdNonces = rec.createdNonces.map(buf);
    sa.state = IkeSaState.Established;
    let missing = 0;
    for (const c of rec.children) {
      const inst = shadow.children.get(c.id);
      if (!inst) { missing++; continue; }
      // Local Child SA ids come from a per-process counter ("conn#N"); imported ones get a suffix that cannot collide.
      const id = `${c.id.replace(/@.*$/, '')}@e${epoch}`;
      const seq = shadow.seqs.get(c.id);
      const start = jumpedSeq(seq?.next ?? 1n, seq?.ratePps ?? 0, seq ? now - seq.receivedMs : 10_000, seq?.exact ?? false);
      try {
        backend.installChildSa(childInstallFrom(inst, id, start));
      } catch (err) {
        missing++;
        log.warn({ err: (err as Error).message, child: c.id }, 'HA import: Child SA install failed');
        continue;
      }
      const child: ChildSa = {
        id, state: c.state === ChildState.Rekeying ? ChildState.Installed : (c.state as ChildState), spiIn: c.spiIn, spiOut: c.spiOut,
        suite: { ...c.suite }, tsLocal: c.tsLocal, tsRemote: c.tsRemote, establishedMs: c.establishedMs, rekeyAtMs: c.rekeyAtMs,
        expireAtMs: c.expireAtMs, nonces: c.nonces.map(buf),
      };
      if (c.replacedBy !== undefined) child.replacedBy = `${c.replacedBy.replace(/@.*$/, '')}@e${epoch}`;
      sa.children.set(id, child);
      res.childSas++;
      log.info({ child: id, spiIn: c.spiIn.toString(16), spiOut: c.spiOut.toString(16), seqStart: start.toString() }, 'HA import: Child SA carried on');
    }
    if (missing > 0 || (rec.children.length > 0 && sa.children.size === 0)) {
      res.incomplete.push(`${sa.name}: ${missing} Child SA(s) without replicated keys`);
      // Without all of its state the SA cannot be carried on: drop it locally; the
      // connection re-initiates and its IKE_AUTH carries INITIAL_CONTACT.
      sa.close('HA import: state incomplete');
      continue;
    }
    if (rec.pending) {
      const packet = buf(rec.pending.packet);
      const kind = rec.pending.kind;
      sa.nextMidOut = rec.pending.mid;
      sa.pending = {
        kind, exchange: rec.pending.exchange, mid: rec.pending.mid, packets: [packet], tries: 0, nextSendMs: now,
        deadlineMs: now + conn.spec.dpdTimeoutSec * 1000,
        onResponse: () => { log.info({ kind }, 'HA import: request in flight at takeover answered'); },
        onTimeout: () => sa.fail(`no answer to the ${kind} request in flight at takeover`),
      };
    }
    if (p2s && rec.p2s) log.info({ client: rec.p2s.identity, address: rec.p2s.address }, 'HA import: point-to-site client carried on');
    res.ikeSas++;
    log.info({ sa: sa.name, midOut: sa.nextMidOut, midIn: sa.nextMidIn }, 'HA import: IKE SA carried on');
  }
  return res;
}
