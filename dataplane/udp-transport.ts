/**
 * The UDP sockets shared by IKE and ESP (RFC 7296 §2.23, RFC 3948).
 *
 *   port 500:  IKE only, no marker.
 *   port 4500: demultiplexed on the first bytes (RFC 3948 §2.2):
 *     ┌──────────────┬───────────────────────────┐
 *     │ 00 00 00 00  │ IKE message               │  non-ESP marker → IKE (marker stripped)
 *     ├──────────────┼───────────────────────────┤
 *     │ FF           │                           │  1-byte NAT-keepalive (§2.3) → counted, ignored
 *     ├──────────────┼───────────────────────────┤
 *     │ SPI (≠ 0)    │ seq, IV, payload, ICV ... │  ESP
 *     └──────────────┴───────────────────────────┘
 *
 * Fast path (IPv4, vgw_tun addon built): the 4500 socket is owned by the
 * addon. It is read with recvmmsg into a reused slab (one JS callback per
 * batch; ESP goes to the forwarder's raw handler without a Buffer or endpoint
 * object per packet) and ESP is queued by sendEsp and written with one
 * sendmmsg per TUN batch (flush()). IKE on 4500 uses the same socket, so
 * NAT-T and the marker demultiplexing are unchanged. Port 500 stays on dgram.
 *
 * Fallback (IPv6, no addon, VGW_FASTPATH=0): node:dgram for both ports;
 * outgoing ESP is copied into a ring of preallocated slots before
 * socket.send(): dgram may keep the buffer until the send completes, and the
 * forwarder reuses its buffers at once.
 */
import dgram from 'node:dgram';
import type { Logger } from 'pino';
import type { UdpEndpoint } from './backend.js';
import type { EspRawHandler, EspTransportLike } from './forwarder.js';
import { ipv4ToUint32, uint32ToIpv4 } from './ipv4.js';
import { fastPathAddon, type NativeAddon } from './native.js';

export const DEFAULT_IKE_PORT = 500;
export const DEFAULT_NATT_PORT = 4500;
const NON_ESP_MARKER = Buffer.alloc(4);
const SOCKET_BUFFER_BYTES = 4 * 1024 * 1024;
/**
 * Receive buffer of the fast NAT-T socket (the kernel doubles it). It bounds
 * the queueing delay when this gateway is the bottleneck: 1 MiB → 2 MiB
 * effective ≈ 11 ms at 1.5 Gbit/s. 4 MiB (8 effective) made pings under a
 * TCP load wait ~40 ms behind the queue; TCP needs only ~a BDP (< 0.5 MiB here).
 */
const FAST_RECV_BUFFER_BYTES = 1024 * 1024;
const SEND_RING_SLOTS = 1024;
const SEND_SLOT_BYTES = 2048;
/** Datagrams per sendmmsg / recvmmsg. */
const FAST_BATCH = 64;
/** Receive slots hold any UDP datagram (IKE may be large and IP-fragmented) or a GRO super-datagram. */
const FAST_RECV_SLOT = 65536;
/** The addon splits UDP GRO super-datagrams (up to 64 segments) into entries. */
const FAST_RECV_ENTRIES = FAST_BATCH * 64;

export interface UdpTransportOptions {
  bindAddress: string;
  /** Default 500; 0 = ephemeral (tests). */
  ikePort?: number;
  /** Default 4500; 0 = ephemeral (tests). */
  nattPort?: number;
  /** IKE message WITHOUT the non-ESP marker; localPort = the port it arrived on. */
  onIke: (msg: Buffer, remote: UdpEndpoint, localPort: number) => void;
  onEsp?: (pkt: Buffer, remote: UdpEndpoint) => void;
  log?: Logger;
  /** Use the addon's recvmmsg/sendmmsg socket for port 4500 when possible. Default true. */
  fastPath?: boolean;
  /** SO_RCVBUF of the fast NAT-T socket (the kernel doubles it). Default 1 MiB. */
  recvBufferBytes?: number;
}

/** State of the addon-owned NAT-T socket. */
interface FastSocket {
  readonly addon: NativeAddon;
  readonly fd: number;
  readonly port: number;
  readonly recvSlab: Buffer;
  readonly recvOffsets: Uint32Array;
  readonly recvLengths: Uint32Array;
  readonly recvAddrs: Uint32Array;
  readonly recvPorts: Uint32Array;
  readonly sendSlab: Buffer;
  /** The buffer sendOffsets point into: sendSlab, or a caller's buffer lent with sendEspBorrowed. */
  pendingBuf: Buffer;
  readonly sendOffsets: Uint32Array;
  readonly sendLengths: Uint32Array;
  readonly sendAddrs: Uint32Array;
  readonly sendPorts: Uint32Array;
  pending: number;
}

export interface UdpTransportStats {
  ikeIn: number;
  espIn: number;
  keepalivesIn: number;
  ikeOut: number;
  espOut: number;
  sendErrors: number;
  /** Datagrams dropped on receive (too short IKE, handler threw, no ESP handler). */
  rxDropped: number;
  /** sendmmsg calls (fast path); espOut / espBatches = datagrams per syscall. */
  espBatches: number;
}

export class UdpTransportError extends Error {
  constructor(message: string, cause?: unknown) {
    super(message, { cause });
    this.name = 'UdpTransportError';
  }
}

export class UdpTransport implements EspTransportLike {
  readonly stats: UdpTransportStats = {
    ikeIn: 0,
    espIn: 0,
    keepalivesIn: 0,
    ikeOut: 0,
    espOut: 0,
    sendErrors: 0,
    rxDropped: 0,
    espBatches: 0,
  };
  private readonly opts: UdpTransportOptions;
  private onEsp: ((pkt: Buffer, remote: UdpEndpoint) => void) | undefined;
  private onEspRaw: EspRawHandler | undefined;
  private onEspBatchEnd: (() => void) | undefined;
  private fast: FastSocket | undefined;
  /** One-entry cache: the forwarder passes the same endpoint object for every packet of an SA. */
  private lastRemote: UdpEndpoint | undefined;
  private lastRemoteIpv4 = 0;
  private flushQueued = false;
  private readonly flushTask = (): void => {
    this.flushQueued = false;
    this.flush();
  };
  private ikeSocket: dgram.Socket | undefined;
  private nattSocket: dgram.Socket | undefined;
  private ikePortBound = 0;
  private nattPortBound = 0;
  private readonly sendRing = Buffer.alloc(SEND_RING_SLOTS * SEND_SLOT_BYTES);
  private sendRingNext = 0;
  private readonly onSendDone = (err: Error | null): void => {
    if (err) this.countSendError(err);
  };

  constructor(opts: UdpTransportOptions) {
    this.opts = opts;
    this.onEsp = opts.onEsp;
  }

  /** Local ports actually bound (useful with port 0). */
  get ports(): { ike: number; natt: number } {
    return { ike: this.ikePortBound, natt: this.nattPortBound };
  }

  setEspHandler(handler: (pkt: Buffer, remote: UdpEndpoint) => void): void {
    this.onEsp = handler;
  }

  setEspRawHandler(handler: EspRawHandler, onBatchEnd?: () => void): void {
    this.onEspRaw = handler;
    this.onEspBatchEnd = onBatchEnd;
  }

  /** True when port 4500 runs on the addon's recvmmsg/sendmmsg socket. */
  get fastPath(): boolean {
    return this.fast !== undefined;
  }

  async start(): Promise<void> {
    const family = this.opts.bindAddress.includes(':') ? 'udp6' : 'udp4';
    this.ikeSocket = await this.bind(family, this.opts.ikePort ?? DEFAULT_IKE_PORT, (msg, rinfo) => this.onIkeDatagram(msg, rinfo));
    this.ikePortBound = this.ikeSocket.address().port;
    const addon = family === 'udp4' && this.opts.fastPath !== false ? fastPathAddon() : undefined;
    try {
      if (addon) {
        this.fast = this.openFast(addon, this.opts.nattPort ?? DEFAULT_NATT_PORT);
        this.nattPortBound = this.fast.port;
      } else {
        this.nattSocket = await this.bind(family, this.opts.nattPort ?? DEFAULT_NATT_PORT, (msg, rinfo) => this.onNattDatagram(msg, rinfo));
        this.nattPortBound = this.nattSocket.address().port;
      }
    } catch (err) {
      await closeSocket(this.ikeSocket);
      this.ikeSocket = undefined;
      throw err;
    }
    this.opts.log?.info({ address: this.opts.bindAddress, ike: this.ikePortBound, natt: this.nattPortBound }, 'UDP transport listening');
  }

  private bind(
    family: 'udp4' | 'udp6',
    port: number,
    onMessage: (msg: Buffer, rinfo: dgram.RemoteInfo) => void,
  ): Promise<dgram.Socket> {
    return new Promise((resolve, reject) => {
      const socket = dgram.createSocket({
        type: family,
        reuseAddr: false,
        recvBufferSize: SOCKET_BUFFER_BYTES,
        sendBufferSize: SOCKET_BUFFER_BYTES,
      });
      const onError = (err: Error): void => {
        socket.close();
        reject(new UdpTransportError(`cannot bind UDP ${this.opts.bindAddress}:${port}: ${err.message}`, err));
      };
      socket.once('error', onError);
      socket.bind({ address: this.opts.bindAddress, port, exclusive: true }, () => {
        socket.off('error', onError);
        socket.on('error', (err) => this.opts.log?.warn({ err, port }, 'UDP socket error'));
        socket.on('message', onMessage);
        resolve(socket);
      });
    });
  }

  private openFast(addon: NativeAddon, port: number): FastSocket {
    let opened: { fd: number; port: number };
    try {
      opened = addon.udpOpen(ipv4ToUint32(this.opts.bindAddress), port, this.opts.recvBufferBytes ?? FAST_RECV_BUFFER_BYTES, SOCKET_BUFFER_BYTES);
    } catch (err) {
      throw new UdpTransportError(`cannot bind UDP ${this.opts.bindAddress}:${port}: ${(err as Error).message}`, err);
    }
    const sendSlab = Buffer.alloc(FAST_BATCH * SEND_SLOT_BYTES);
    const fast: FastSocket = {
      addon,
      fd: opened.fd,
      port: opened.port,
      recvSlab: Buffer.from(new ArrayBuffer(FAST_BATCH * FAST_RECV_SLOT)),
      recvOffsets: new Uint32Array(FAST_RECV_ENTRIES),
      recvLengths: new Uint32Array(FAST_RECV_ENTRIES),
      recvAddrs: new Uint32Array(FAST_RECV_ENTRIES),
      recvPorts: new Uint32Array(FAST_RECV_ENTRIES),
      sendSlab,
      pendingBuf: sendSlab,
      sendOffsets: new Uint32Array(FAST_BATCH),
      sendLengths: new Uint32Array(FAST_BATCH),
      sendAddrs: new Uint32Array(FAST_BATCH),
      sendPorts: new Uint32Array(FAST_BATCH),
      pending: 0,
    };
    try {
      addon.udpStart(
        fast.fd,
        fast.recvSlab.buffer as ArrayBuffer,
        FAST_RECV_SLOT,
        FAST_BATCH,
        fast.recvOffsets,
        fast.recvLengths,
        fast.recvAddrs,
        fast.recvPorts,
        (count, errno) => this.onFastBatch(fast, count, errno),
      );
    } catch (err) {
      addon.udpClose(fast.fd);
      throw new UdpTransportError(`cannot poll UDP ${this.opts.bindAddress}:${port}: ${(err as Error).message}`, err);
    }
    return fast;
  }

  /** One recvmmsg batch: datagram i is recvSlab[recvOffsets[i], + recvLengths[i]). */
  private onFastBatch(fast: FastSocket, count: number, errno: number): void {
    if (errno !== 0) {
      this.opts.log?.warn({ errno, port: fast.port }, 'UDP receive error');
      return;
    }
    const slab = fast.recvSlab;
    for (let i = 0; i < count; i++) {
      const off = fast.recvOffsets[i]!;
      const len = fast.recvLengths[i]!;
      try {
        this.onFastDatagram(slab, off, len, fast.recvAddrs[i]!, fast.recvPorts[i]!);
      } catch (err) {
        this.stats.rxDropped++;
        this.opts.log?.warn({ err }, 'datagram handler threw');
      }
    }
    try {
      this.onEspBatchEnd?.();
    } catch (err) {
      this.opts.log?.warn({ err }, 'ESP batch-end handler threw');
    }
    // ESP generated while handling the batch (none today) goes out together.
    this.flush();
  }

  private onFastDatagram(slab: Buffer, off: number, len: number, srcIpv4: number, srcPort: number): void {
    if (len === 0) {
      this.stats.rxDropped++; // truncated (larger than a slot) or empty
      return;
    }
    if (len === 1 && slab[off] === 0xff) {
      this.stats.keepalivesIn++; // RFC 3948 §2.3 NAT-keepalive
      return;
    }
    if (len >= 4 && slab[off] === 0 && slab[off + 1] === 0 && slab[off + 2] === 0 && slab[off + 3] === 0) {
      this.stats.ikeIn++;
      // IKE may keep the message past this call: copy it out of the reused slab.
      const msg = Buffer.from(slab.subarray(off + 4, off + len));
      this.opts.onIke(msg, { address: uint32ToIpv4(srcIpv4), port: srcPort }, this.nattPortBound);
      return;
    }
    if (this.onEspRaw) {
      this.stats.espIn++;
      this.onEspRaw(slab, off, len, srcIpv4, srcPort);
      return;
    }
    if (!this.onEsp) {
      this.stats.rxDropped++;
      return;
    }
    this.stats.espIn++;
    this.onEsp(slab.subarray(off, off + len), { address: uint32ToIpv4(srcIpv4), port: srcPort });
  }

  private onIkeDatagram(msg: Buffer, rinfo: dgram.RemoteInfo): void {
    try {
      this.stats.ikeIn++;
      this.opts.onIke(msg, { address: rinfo.address, port: rinfo.port }, this.ikePortBound);
    } catch (err) {
      this.stats.rxDropped++;
      this.opts.log?.warn({ err }, 'IKE handler threw');
    }
  }

  private onNattDatagram(msg: Buffer, rinfo: dgram.RemoteInfo): void {
    try {
      if (msg.length === 1 && msg[0] === 0xff) {
        this.stats.keepalivesIn++; // RFC 3948 §2.3 NAT-keepalive
        return;
      }
      const remote = { address: rinfo.address, port: rinfo.port };
      if (msg.length >= 4 && msg[0] === 0 && msg[1] === 0 && msg[2] === 0 && msg[3] === 0) {
        this.stats.ikeIn++;
        this.opts.onIke(msg.subarray(4), remote, this.nattPortBound);
        return;
      }
      // Everything else is ESP, including runts: the ESP layer counts them as badLength.
      if (!this.onEsp) {
        this.stats.rxDropped++;
        return;
      }
      this.stats.espIn++;
      this.onEsp(msg, remote);
    } catch (err) {
      this.stats.rxDropped++;
      this.opts.log?.warn({ err }, 'datagram handler threw');
    }
  }

  /** Sends an IKE message; adds the non-ESP marker when it leaves from the NAT-T port. */
  sendIke(msg: Buffer, remote: UdpEndpoint, localPort: number): void {
    const useNatt = localPort === this.nattPortBound;
    const fast = this.fast;
    if (useNatt && fast) {
      const data = Buffer.concat([NON_ESP_MARKER, msg]);
      this.stats.ikeOut++;
      if (!this.sendFastOne(fast, data, 0, data.length, remote)) this.stats.sendErrors++;
      return;
    }
    const socket = useNatt ? this.nattSocket : this.ikeSocket;
    if (!socket) {
      this.stats.sendErrors++;
      this.opts.log?.warn({ localPort }, 'sendIke before start() or after close()');
      return;
    }
    this.stats.ikeOut++;
    const data = useNatt ? [NON_ESP_MARKER, msg] : [msg];
    socket.send(data, remote.port, remote.address, this.onSendDone);
  }

  /** Sends ESP-in-UDP from the NAT-T port. `buf` is copied; the caller may reuse it at once. */
  sendEsp(buf: Buffer, offset: number, length: number, remote: UdpEndpoint): void {
    const fast = this.fast;
    if (fast) {
      this.queueFast(fast, buf, offset, length, remote, false);
      return;
    }
    const socket = this.nattSocket;
    if (!socket) {
      this.stats.sendErrors++;
      return;
    }
    let data: Buffer;
    if (length <= SEND_SLOT_BYTES) {
      const at = this.sendRingNext * SEND_SLOT_BYTES;
      this.sendRingNext = (this.sendRingNext + 1) % SEND_RING_SLOTS;
      buf.copy(this.sendRing, at, offset, offset + length);
      data = this.sendRing.subarray(at, at + length);
    } else {
      data = Buffer.from(buf.subarray(offset, offset + length)); // jumbo: rare, allocate
    }
    this.stats.espOut++;
    socket.send(data, remote.port, remote.address, this.onSendDone);
  }

  /**
   * Like sendEsp, without the copy: buf[offset, offset+length) must stay
   * unchanged until the next flush() returns (the forwarder lends its TUN slab
   * and flushes at the end of every TUN batch).
   */
  sendEspBorrowed(buf: Buffer, offset: number, length: number, remote: UdpEndpoint): void {
    const fast = this.fast;
    if (fast) this.queueFast(fast, buf, offset, length, remote, true);
    else this.sendEsp(buf, offset, length, remote);
  }

  /** Fast path: queues the datagram (copied into the send slab unless borrowed); sendmmsg on flush() or when full. */
  private queueFast(fast: FastSocket, buf: Buffer, offset: number, length: number, remote: UdpEndpoint, borrowed: boolean): void {
    if (length > SEND_SLOT_BYTES && !borrowed) {
      this.flush(); // keep ESP order: what is queued goes first
      this.stats.espOut++;
      if (!this.sendFastOne(fast, buf, offset, length, remote)) this.stats.sendErrors++;
      return;
    }
    if (remote !== this.lastRemote) {
      this.lastRemoteIpv4 = ipv4ToUint32(remote.address);
      this.lastRemote = remote;
    }
    const target = borrowed ? buf : fast.sendSlab;
    if (fast.pending > 0 && fast.pendingBuf !== target) this.flush(); // one base buffer per sendmmsg
    fast.pendingBuf = target;
    const i = fast.pending++;
    if (borrowed) {
      fast.sendOffsets[i] = offset;
    } else {
      const at = i * SEND_SLOT_BYTES;
      buf.copy(fast.sendSlab, at, offset, offset + length);
      fast.sendOffsets[i] = at;
    }
    fast.sendLengths[i] = length;
    fast.sendAddrs[i] = this.lastRemoteIpv4;
    fast.sendPorts[i] = remote.port;
    if (fast.pending === FAST_BATCH) this.flush();
    else if (!this.flushQueued) {
      // Safety net for callers that never call flush(): send at the end of this tick.
      this.flushQueued = true;
      queueMicrotask(this.flushTask);
    }
  }

  private sendFastOne(fast: FastSocket, buf: Buffer, offset: number, length: number, remote: UdpEndpoint): boolean {
    try {
      return fast.addon.udpSend(fast.fd, buf, offset, length, ipv4ToUint32(remote.address), remote.port);
    } catch (err) {
      this.opts.log?.debug({ err }, 'UDP send failed');
      return false;
    }
  }

  /** Sends the queued ESP datagrams with one sendmmsg (fast path; no-op otherwise). */
  flush(): void {
    const fast = this.fast;
    if (!fast || fast.pending === 0) return;
    const n = fast.pending;
    fast.pending = 0;
    const sent = fast.addon.udpSendBatch(fast.fd, fast.pendingBuf, fast.sendOffsets, fast.sendLengths, fast.sendAddrs, fast.sendPorts, n);
    this.stats.espBatches++;
    this.stats.espOut += n;
    if (sent < n) this.stats.sendErrors += n - sent;
  }

  /** Sends a NAT-keepalive (one 0xFF byte, RFC 3948 §2.3) from the NAT-T port. */
  sendKeepalive(remote: UdpEndpoint): void {
    if (this.fast) {
      if (!this.sendFastOne(this.fast, Buffer.from([0xff]), 0, 1, remote)) this.stats.sendErrors++;
      return;
    }
    this.nattSocket?.send(Buffer.from([0xff]), remote.port, remote.address, this.onSendDone);
  }

  private countSendError(err: Error): void {
    this.stats.sendErrors++;
    this.opts.log?.debug({ err }, 'UDP send failed');
  }

  async close(): Promise<void> {
    const fast = this.fast;
    if (fast) {
      this.flush();
      this.fast = undefined;
      try {
        fast.addon.udpClose(fast.fd);
      } catch (err) {
        this.opts.log?.warn({ err }, 'closing the NAT-T socket failed');
      }
    }
    const sockets = [this.ikeSocket, this.nattSocket];
    this.ikeSocket = undefined;
    this.nattSocket = undefined;
    await Promise.all(sockets.map((s) => (s ? closeSocket(s) : undefined)));
  }
}

function closeSocket(socket: dgram.Socket): Promise<void> {
  return new Promise((resolve) => {
    try {
      socket.close(() => resolve());
    } catch {
      resolve(); // already closed
    }
  });
}
