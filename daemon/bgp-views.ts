/**
 * The BGP documents of the control socket (`bgp.peers`, `routes.learned`,
 * `routes.advertised`) and their text rendering for `vgw`. Field names follow
 * Azure's Get-AzVirtualNetworkGatewayLearnedRoute / AdvertisedRoute / BgpPeerStatus
 * (network, nextHop, sourcePeer, origin, asPath, weight, localPref), plus
 * what a network engineer expects from BIRD/FRR (best-path reason, installed).
 * Stable external interface: add fields, never rename or remove them.
 */

export interface BgpPeerView {
  neighbor: string;
  asn: number;
  /** The connection (tunnel) the session runs through. */
  connection: string | null;
  localAddress: string;
  /** RFC 4271 state: Idle, Connect, Active, OpenSent, OpenConfirm, Established. */
  state: string;
  /** False while its tunnel is down (the session is held stopped). */
  enabled: boolean;
  uptimeSeconds: number;
  routesReceived: number;
  routesAccepted: number;
  routesAdvertised: number;
  routerId: string | null;
  holdTime: number | null;
  lastError: string | null;
}

export interface LearnedRouteView {
  network: string;
  /** The BGP NEXT_HOP (for eBGP multihop: the peer's peering address); null for our own. */
  nextHop: string | null;
  sourcePeer: string;
  /** Azure's origin: where the route came from ("Network" = our address space, "EBgp" = a peer). */
  origin: 'Network' | 'EBgp' | 'IBgp';
  /** The BGP ORIGIN attribute. */
  bgpOrigin: 'IGP' | 'EGP' | 'INCOMPLETE' | null;
  asPath: string;
  weight: number;
  localPref: number;
  med: number | null;
  communities: number[];
  /** The best path for the network (one line per candidate path). */
  best: boolean;
  /** Why the best path won (RFC 4271 §9.1.2.2 step), on the best line only. */
  reason: string | null;
  connection: string | null;
  /** In the kernel and the dataplane toward `connection` (several connections: ECMP). */
  installed: boolean;
  notInstalledReason: string | null;
}

export interface AdvertisedRouteView {
  network: string;
  nextHop: string | null;
  /** The peer it is advertised to. */
  peer: string;
  connection: string;
  asPath: string;
  bgpOrigin: 'IGP' | 'EGP' | 'INCOMPLETE' | null;
  weight: number;
  localPref: number | null;
}

export interface BgpSummary {
  asn: number;
  peeringAddress: string;
  peers: number;
  established: number;
  routesLearned: number;
  routesInstalled: number;
  kernelRoutes: number;
  kernelErrors: number;
}

export const ORIGIN_NAMES = ['IGP', 'EGP', 'INCOMPLETE'] as const;

export function originName(o: number | undefined): 'IGP' | 'EGP' | 'INCOMPLETE' | null {
  return o === undefined ? null : (ORIGIN_NAMES[o] ?? null);
}

function table(header: readonly string[], rows: readonly (readonly string[])[]): string {
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => (r[i] ?? '').length)));
  const line = (cells: readonly string[]) => cells.map((c, i) => (i === cells.length - 1 ? c : c.padEnd(widths[i] ?? 0))).join('  ').trimEnd();
  return [line(header), ...rows.map(line)].join('\n') + '\n';
}

export function formatUptime(seconds: number): string {
  if (seconds <= 0) return '-';
  const d = Math.floor(seconds / 86400);
  const h = Math.floor((seconds % 86400) / 3600);
  const m = Math.floor((seconds % 3600) / 60);
  const s = seconds % 60;
  const hms = `${String(h).padStart(2, '0')}:${String(m).padStart(2, '0')}:${String(s).padStart(2, '0')}`;
  return d > 0 ? `${d}d ${hms}` : hms;
}

export function renderPeers(peers: readonly BgpPeerView[]): string {
  if (peers.length === 0) return 'no BGP peers configured\n';
  return table(
    ['Neighbor', 'ASN', 'Connection', 'State', 'Uptime', 'Rcvd', 'Accepted', 'Advertised', 'Last error'],
    peers.map((p) => [
      p.neighbor, String(p.asn), p.connection ?? '-', p.enabled ? p.state : `${p.state} (tunnel down)`, formatUptime(p.uptimeSeconds),
      String(p.routesReceived), String(p.routesAccepted), String(p.routesAdvertised), p.lastError ?? '',
    ]),
  );
}

export function renderLearned(routes: readonly LearnedRouteView[]): string {
  if (routes.length === 0) return 'no learned routes\n';
  return table(
    ['', 'Network', 'NextHop', 'SourcePeer', 'Origin', 'AsPath', 'Weight', 'LocalPref', 'Connection', 'Installed'],
    routes.map((r) => [
      r.best ? '*>' : '*', r.network, r.nextHop ?? '-', r.sourcePeer, r.origin, r.asPath || '-', String(r.weight), String(r.localPref),
      r.connection ?? '-', r.origin === 'Network' ? '-' : r.installed ? 'yes' : r.notInstalledReason ? `no (${r.notInstalledReason})` : 'no',
    ]),
  );
}

export function renderAdvertised(routes: readonly AdvertisedRouteView[]): string {
  if (routes.length === 0) return 'no advertised routes\n';
  return table(
    ['Network', 'NextHop', 'Peer', 'Connection', 'AsPath', 'Origin', 'Weight'],
    routes.map((r) => [r.network, r.nextHop ?? '-', r.peer, r.connection, r.asPath || '-', r.bgpOrigin ?? '-', String(r.weight)]),
  );
}
