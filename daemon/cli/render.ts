/**
 * Human-readable `vgw status`: one block per connection, in the spirit of
 * `swanctl --list-sas` (SPIs with the local one starred, IANA algorithm names)
 * and Azure's connection view (Connected / Connecting / NotConnected).
 *
 *   Gateway vnet1-gw  (up 2m13s)
 *   Connection vnet1-to-site1  Connected  → site1 192.0.2.2:4500 (NAT-T)
 *     IKE SA  c7c179c7faaba50d_i* 89a07621e172eafd_r  AES_GCM_16-256/PRF_HMAC_SHA2_384/ECP_384  established 2m ago, rekey in 7h57m
 *     Child   in 3be54835  out 26dbade7  ESP AES_GCM_16-256  10.1.0.0/16 === 10.2.0.0/16
 *             in 1.2 MB (980 pkts)  out 1.1 MB (975 pkts)  rekey in 7h14m
 *     Last error: —
 */
import type { ChildSaStatus, ConnectionStatus, FailoverStatus, GatewayStatus, HaStatus, IkeSaStatus } from '../status.js';

const CHILD_INDENT = ' '.repeat(10);

/** "2m13s", "7h57m", "3d4h": the two most significant units, dropping a zero second one. */
export function formatDuration(totalSeconds: number): string {
  const s = Math.max(0, Math.floor(totalSeconds));
  const units: Array<[string, number]> = [['d', Math.floor(s / 86400)], ['h', Math.floor(s / 3600) % 24], ['m', Math.floor(s / 60) % 60], ['s', s % 60]];
  const first = units.findIndex(([, v]) => v > 0);
  if (first < 0) return '0s';
  const [u1, v1] = units[first]!;
  const next = units[first + 1];
  return next && next[1] > 0 ? `${v1}${u1}${next[1]}${next[0]}` : `${v1}${u1}`;
}

/** Decimal units like iperf and most NOS counters: "980 B", "1.2 MB". */
export function formatBytes(bytes: number): string {
  if (bytes < 1000) return `${bytes} B`;
  const units = ['kB', 'MB', 'GB', 'TB', 'PB'];
  let v = bytes / 1000;
  let i = 0;
  while (v >= 999.95 && i < units.length - 1) {
    v /= 1000;
    i++;
  }
  return `${v.toFixed(1)} ${units[i]}`;
}

function packets(n: number): string {
  return `${n} ${n === 1 ? 'pkt' : 'pkts'}`;
}

function secondsBetween(fromIso: string, now: Date): number | null {
  const t = Date.parse(fromIso);
  return Number.isNaN(t) ? null : (now.getTime() - t) / 1000;
}

function ago(iso: string, now: Date): string {
  const s = secondsBetween(iso, now);
  return s === null ? 'at an unknown time' : `${formatDuration(s)} ago`;
}

function rekeyIn(iso: string | null, now: Date): string | null {
  if (iso === null) return null;
  const s = secondsBetween(iso, now);
  if (s === null) return null;
  return s >= 0 ? 'rekey due' : `rekey in ${formatDuration(-s)}`;
}

/** "NONE"/"" integrity (AEAD) and "NONE" PFS are not shown, as in swanctl. */
function meaningful(name: string): boolean {
  return name !== '' && name.toUpperCase() !== 'NONE';
}

function ikeSaLine(sa: IkeSaStatus, now: Date): string {
  const spis = `${sa.spiI}_i${sa.initiator ? '*' : ''} ${sa.spiR}_r${sa.initiator ? '' : '*'}`;
  const algs = [sa.encryption, sa.integrity, sa.prf, sa.dhGroup].filter(meaningful).join('/');
  const rekey = rekeyIn(sa.rekeyAt, now);
  return `  IKE SA  ${spis}  ${algs}  established ${ago(sa.establishedAt, now)}${rekey ? `, ${rekey}` : ''}`;
}

function childSaLines(ch: ChildSaStatus, now: Date): string[] {
  const algs = [ch.encryption, ch.integrity, ch.pfsGroup].filter(meaningful).join('/');
  const ts = `${ch.tsLocal.join(',') || '(none)'} === ${ch.tsRemote.join(',') || '(none)'}`;
  const rekey = rekeyIn(ch.rekeyAt, now);
  return [
    `  Child   in ${ch.spiIn}  out ${ch.spiOut}  ESP ${algs}  ${ts}`,
    `${CHILD_INDENT}in ${formatBytes(ch.ingressBytes)} (${packets(ch.ingressPackets)})  ` +
      `out ${formatBytes(ch.egressBytes)} (${packets(ch.egressPackets)})${rekey ? `  ${rekey}` : ''}`,
  ];
}

function connectionLines(c: ConnectionStatus, now: Date): string[] {
  const endpoint = c.ikeSa ? c.ikeSa.remoteEndpoint : c.remoteAddress;
  const nat = c.ikeSa?.natDetected ? ' (NAT-T)' : '';
  const mode = c.connectionMode && c.connectionMode !== 'Default' ? `  [${c.connectionMode}]` : '';
  const lines = [`Connection ${c.name}  ${c.state}  → ${c.localNetworkGateway} ${endpoint}${nat}${mode}`];
  if (c.ikeSa) lines.push(ikeSaLine(c.ikeSa, now));
  else lines.push(c.state === 'Connecting' ? '  IKE SA  negotiating' : '  IKE SA  none');
  for (const ch of c.childSas) lines.push(...childSaLines(ch, now));
  lines.push(`  Last error: ${c.lastError ?? '—'}`);
  return lines;
}

function ms(v: number | null): string {
  return v === null ? '—' : `${Math.round(v)} ms`;
}

function failoverLine(f: FailoverStatus, now: Date): string {
  const what = f.role === 'took-over' ? 'took over' : 'handed over';
  const state = f.kind === 'planned' ? '' : `, detection ${ms(f.detectionMs)}`;
  const carried = f.role === 'took-over' && (f.ikeSas > 0 || f.childSas > 0) ? `, carried ${f.ikeSas} IKE / ${f.childSas} Child SA(s)` : '';
  const gaps = f.incomplete.length ? `; incomplete: ${f.incomplete.join('; ')}` : '';
  return `  Last failover  ${f.kind}, ${what} ${ago(f.at, now)} (epoch ${f.epoch})${state}, takeover ${ms(f.takeoverMs)}, outage ${ms(f.outageMs)}${carried}${gaps}\n` +
    `                 ${f.reason}`;
}

/**
 * The HA block:
 *
 *   HA active-standby  epoch 3
 *     vnet1-gw-0  active   (this instance)  holds 192.0.2.1, 10.1.0.1
 *     vnet1-gw-1  standby  link up, heard 40 ms ago
 *     Replication  lag 0 messages
 *     Last failover  unplanned, took over 2m ago (epoch 3), detection 12 ms, takeover 41 ms, outage 51 ms, carried 1 IKE / 1 Child SA(s)
 */
export function haLines(ha: HaStatus, now: Date = new Date()): string[] {
  const width = Math.max(ha.instance.length, ha.partner.name.length);
  const held = ha.floatingAddresses.length ? `  holds ${ha.floatingAddresses.join(', ')}` : '';
  const heard = ha.partner.lastHeardMsAgo === null ? 'never heard' : `heard ${ms(ha.partner.lastHeardMsAgo)} ago`;
  const r = ha.replication;
  const repl = ha.mode === 'active-active'
    ? 'none (active-active: each instance owns its tunnels)'
    : ha.role === 'active'
      ? `lag ${r.lagMessages === null ? '— (no standby)' : `${r.lagMessages} message${r.lagMessages === 1 ? '' : 's'}`}`
      : `shadow ${r.shadowIkeSas} IKE / ${r.shadowChildSas} Child SA(s), last update ${ms(r.ageMs)} ago`;
  return [
    `HA ${ha.mode}  epoch ${ha.epoch}`,
    `  ${ha.instance.padEnd(width)}  ${ha.role.padEnd(7)}  (this instance)${held}`,
    `  ${ha.partner.name.padEnd(width)}  ${ha.partner.role.padEnd(7)}  link ${ha.partner.linkUp ? 'up' : 'DOWN'}, ${heard}`,
    `  Replication  ${repl}`,
    ha.lastFailover ? failoverLine(ha.lastFailover, now) : '  Last failover  none',
  ];
}

export function renderStatus(status: GatewayStatus, now: Date = new Date()): string {
  const instance = status.instance ? `  instance ${status.instance}` : '';
  const lines = [`Gateway ${status.gateway}${instance}  (up ${formatDuration(status.uptimeSeconds)})`];
  if (status.ha) lines.push(...haLines(status.ha, now));
  if (status.connections.length === 0) lines.push('  no connections configured');
  for (const c of status.connections) lines.push(...connectionLines(c, now));
  return lines.join('\n') + '\n';
}
