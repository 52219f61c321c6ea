/**
 * IPv4 address and prefix helpers for configuration validation.
 * Addresses are kept as dotted-quad strings in the config; these helpers turn
 * them into uint32 ranges for overlap checks and traffic selectors.
 */

export interface Ipv4Prefix {
  /** Canonical "a.b.c.d/len" text. */
  readonly cidr: string;
  /** Network address as an unsigned 32-bit integer. */
  readonly network: number;
  readonly prefixLength: number;
  /** First and last address of the prefix, inclusive, as uint32. */
  readonly first: number;
  readonly last: number;
}

const DOTTED_QUAD = /^(\d{1,3})\.(\d{1,3})\.(\d{1,3})\.(\d{1,3})$/;

/** Parses a strict dotted quad (no leading zeros, each octet 0..255); null if invalid. */
export function parseIpv4(text: string): number | null {
  const m = DOTTED_QUAD.exec(text);
  if (!m) return null;
  let value = 0;
  for (let i = 1; i <= 4; i++) {
    const part = m[i] as string;
    // "010" is ambiguous (octal in inet_aton): refuse it rather than guess.
    if (part.length > 1 && part.startsWith('0')) return null;
    const octet = Number(part);
    if (octet > 255) return null;
    value = value * 256 + octet;
  }
  return value;
}

export function formatIpv4(value: number): string {
  return [value >>> 24, (value >>> 16) & 0xff, (value >>> 8) & 0xff, value & 0xff].join('.');
}

function maskOf(prefixLength: number): number {
  return prefixLength === 0 ? 0 : (0xffffffff << (32 - prefixLength)) >>> 0;
}

export type CidrParseResult =
  | { ok: true; prefix: Ipv4Prefix }
  | { ok: false; reason: string };

/** Parses "a.b.c.d/len", refusing host bits, so a typo never silently widens a route. */
export function parseIpv4Cidr(text: string): CidrParseResult {
  const slash = text.indexOf('/');
  if (slash < 0) return { ok: false, reason: `"${text}" is not an IPv4 prefix (expected a.b.c.d/len)` };
  const addr = parseIpv4(text.slice(0, slash));
  const lenText = text.slice(slash + 1);
  if (addr === null) return { ok: false, reason: `"${text}" is not an IPv4 prefix (bad address)` };
  if (!/^\d{1,2}$/.test(lenText) || Number(lenText) > 32) {
    return { ok: false, reason: `"${text}" is not an IPv4 prefix (length must be 0..32)` };
  }
  const prefixLength = Number(lenText);
  const mask = maskOf(prefixLength);
  const network = (addr & mask) >>> 0;
  if (network !== addr) {
    return {
      ok: false,
      reason: `"${text}" has host bits set; did you mean ${formatIpv4(network)}/${prefixLength}?`,
    };
  }
  const last = (network | (~mask >>> 0)) >>> 0;
  return {
    ok: true,
    prefix: { cidr: `${formatIpv4(network)}/${prefixLength}`, network, prefixLength, first: network, last },
  };
}

/** Like parseIpv4Cidr but throws; for values that already passed validation. */
export function ipv4Prefix(text: string): Ipv4Prefix {
  const r = parseIpv4Cidr(text);
  if (!r.ok) throw new RangeError(r.reason);
  return r.prefix;
}

export function prefixesOverlap(a: Ipv4Prefix, b: Ipv4Prefix): boolean {
  return a.first <= b.last && b.first <= a.last;
}

export function prefixContains(prefix: Ipv4Prefix, address: number): boolean {
  return address >= prefix.first && address <= prefix.last;
}
