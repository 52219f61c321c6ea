/**
 * Tiny capture reader for tests: classic pcap and pcapng (SHB/IDB/EPB/SPB),
 * link types Ethernet (1), Linux cooked SLL (113), SLL2 (276) and raw IP
 * (101). Yields UDP datagrams over IPv4/IPv6; everything else is skipped.
 */

export interface UdpDatagram {
  /** 1-based frame number in the capture (matches tshark / the .ikemap.txt "#N"). */
  frame: number;
  src: string;
  dst: string;
  srcPort: number;
  dstPort: number;
  payload: Buffer;
}

export interface IkeDatagram extends UdpDatagram {
  /** The IKE message, with the RFC 3948 non-ESP marker removed on port 4500. */
  ike: Buffer;
}

const LINKTYPE_ETHERNET = 1;
const LINKTYPE_RAW = 101;
const LINKTYPE_LINUX_SLL = 113;
const LINKTYPE_LINUX_SLL2 = 276;

const ETHERTYPE_IPV4 = 0x0800;
const ETHERTYPE_IPV6 = 0x86dd;
const ETHERTYPE_VLAN = 0x8100;
const IPPROTO_UDP = 17;

interface Frame { linkType: number; data: Buffer }

export function readPcapUdp(file: Buffer): UdpDatagram[] {
  const frames = file.readUInt32LE(0) === 0x0a0d0d0a ? readPcapng(file) : readClassicPcap(file);
  const out: UdpDatagram[] = [];
  frames.forEach((f, i) => {
    const udp = decodeLink(f.linkType, f.data);
    if (udp) out.push({ frame: i + 1, ...udp });
  });
  return out;
}

/** IKE messages (port 500, and port 4500 with the non-ESP marker); ESP and keepalives skipped. */
export function readPcapIke(file: Buffer): IkeDatagram[] {
  const out: IkeDatagram[] = [];
  for (const d of readPcapUdp(file)) {
    if (d.srcPort === 500 || d.dstPort === 500) {
      out.push({ ...d, ike: d.payload });
    } else if (d.srcPort === 4500 || d.dstPort === 4500) {
      const p = d.payload;
      if (p.length >= 4 && p.readUInt32BE(0) === 0) out.push({ ...d, ike: p.subarray(4) });
    }
  }
  return out;
}

function readClassicPcap(file: Buffer): Frame[] {
  const magic = file.readUInt32LE(0);
  let le: boolean;
  if (magic === 0xa1b2c3d4 || magic === 0xa1b23c4d) le = true;
  else if (magic === 0xd4c3b2a1 || magic === 0x4d3cb2a1) le = false;
  else throw new Error(`not a pcap file (magic ${magic.toString(16)})`);
  const u32 = (o: number): number => (le ? file.readUInt32LE(o) : file.readUInt32BE(o));
  const linkType = u32(20) & 0xffff;
  const frames: Frame[] = [];
  let o = 24;
  while (o + 16 <= file.length) {
    const capLen = u32(o + 8);
    o += 16;
    if (o + capLen > file.length) break;
    frames.push({ linkType, data: file.subarray(o, o + capLen) });
    o += capLen;
  }
  return frames;
}

function readPcapng(file: Buffer): Frame[] {
  const frames: Frame[] = [];
  let le = true;
  let linkTypes: number[] = [];
  let o = 0;
  while (o + 12 <= file.length) {
    let type = le ? file.readUInt32LE(o) : file.readUInt32BE(o);
    if (type === 0x0a0d0d0a) {
      // Section header: the byte-order magic decides the endianness of the section.
      le = file.readUInt32LE(o + 8) === 0x1a2b3c4d;
      linkTypes = [];
      type = 0x0a0d0d0a;
    }
    const u32 = (x: number): number => (le ? file.readUInt32LE(x) : file.readUInt32BE(x));
    const u16 = (x: number): number => (le ? file.readUInt16LE(x) : file.readUInt16BE(x));
    const len = u32(o + 4);
    if (len < 12 || o + len > file.length) break;
    if (type === 1) {
      linkTypes.push(u16(o + 8));
    } else if (type === 6) {
      const iface = u32(o + 8);
      const capLen = u32(o + 20);
      frames.push({ linkType: linkTypes[iface] ?? -1, data: file.subarray(o + 28, o + 28 + capLen) });
    } else if (type === 3) {
      const origLen = u32(o + 8);
      const capLen = Math.min(origLen, len - 16);
      frames.push({ linkType: linkTypes[0] ?? -1, data: file.subarray(o + 12, o + 12 + capLen) });
    }
    o += len;
  }
  return frames;
}

type Udp = Omit<UdpDatagram, 'frame'>;

function decodeLink(linkType: number, d: Buffer): Udp | undefined {
  switch (linkType) {
    case LINKTYPE_ETHERNET: {
      let o = 12;
      let etherType = d.readUInt16BE(o);
      while (etherType === ETHERTYPE_VLAN && o + 6 <= d.length) {
        o += 4;
        etherType = d.readUInt16BE(o);
      }
      return decodeIp(etherType, d.subarray(o + 2));
    }
    case LINKTYPE_LINUX_SLL:
      return d.length >= 16 ? decodeIp(d.readUInt16BE(14), d.subarray(16)) : undefined;
    case LINKTYPE_LINUX_SLL2:
      return d.length >= 20 ? decodeIp(d.readUInt16BE(0), d.subarray(20)) : undefined;
    case LINKTYPE_RAW:
      return d.length >= 1 ? decodeIp((d[0]! >> 4) === 6 ? ETHERTYPE_IPV6 : ETHERTYPE_IPV4, d) : undefined;
    default:
      return undefined;
  }
}

function decodeIp(etherType: number, ip: Buffer): Udp | undefined {
  if (etherType === ETHERTYPE_IPV4 && ip.length >= 20) {
    const ihl = (ip[0]! & 0x0f) * 4;
    const fragOffset = ip.readUInt16BE(6) & 0x1fff;
    const moreFragments = (ip.readUInt16BE(6) & 0x2000) !== 0;
    if (ip[9] !== IPPROTO_UDP || fragOffset !== 0 || moreFragments) return undefined;
    const total = Math.min(ip.readUInt16BE(2), ip.length);
    return decodeUdp(ipv4(ip.subarray(12, 16)), ipv4(ip.subarray(16, 20)), ip.subarray(ihl, total));
  }
  if (etherType === ETHERTYPE_IPV6 && ip.length >= 40) {
    if (ip[6] !== IPPROTO_UDP) return undefined; // extension headers not needed for our captures
    const end = Math.min(40 + ip.readUInt16BE(4), ip.length);
    return decodeUdp(ipv6(ip.subarray(8, 24)), ipv6(ip.subarray(24, 40)), ip.subarray(40, end));
  }
  return undefined;
}

function decodeUdp(src: string, dst: string, udp: Buffer): Udp | undefined {
  if (udp.length < 8) return undefined;
  const len = Math.min(udp.readUInt16BE(4), udp.length);
  return { src, dst, srcPort: udp.readUInt16BE(0), dstPort: udp.readUInt16BE(2), payload: udp.subarray(8, len) };
}

const ipv4 = (b: Buffer): string => Array.from(b).join('.');
const ipv6 = (b: Buffer): string => {
  const parts: string[] = [];
  for (let i = 0; i < 16; i += 2) parts.push(b.readUInt16BE(i).toString(16));
  return parts.join(':');
};
