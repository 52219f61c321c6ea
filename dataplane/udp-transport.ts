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
 * Outgoing ESP is copied into a ring of preallocated slots before
 * socket.send(): dgram may keep the buffer until the send completes, and the
 * forwarder reuses its buffers at once.
 */
import dgram from 'node:dgram';
import type { Logger } from 'pino';
import type { UdpEndpoint } from './backend.js';
import type { EspTransportLike } from './forwarder.js';

export const DEFAULT_IKE_PORT = 500;
export const DEFAULT_NATT_PORT = 4500;
const NON_ESP_MARKER = Buffer.alloc(4);
const SOCKET_BUFFER_BYTES = 4 * 1024 * 1024;
const SEND_RING_SLOTS = 1024;
const SEND_SLOT_BYTES = 2048;

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
}

export class UdpTransportError extends Error {
  constructor(message: string, cause?: unknown) {
    super(message, { cause });
    this.name = 'UdpTransportError';
  }
}

export class UdpTransport implements EspTransportLike {
  readonly stats: UdpTransportStats = { ikeIn: 0, espIn: 0, keepalivesIn: 0, ikeOut: 0, espOut: 0, sendErrors: 0, rxDropped: 0 };
  private readonly opts: UdpTransportOptions;
  private onEsp: ((pkt: Buffer, remote: UdpEndpoint) => void) | undefined;
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

  async start(): Promise<void> {
    const family = this.opts.bindAddress.includes(':') ? 'udp6' : 'udp4';
    this.ikeSocket = await this.bind(family, this.opts.ikePort ?? DEFAULT_IKE_PORT, (msg, rinfo) => this.onIkeDatagram(msg, rinfo));
    this.ikePortBound = this.ikeSocket.address().port;
    try {
      this.nattSocket = await this.bind(family, this.opts.nattPort ?? DEFAULT_NATT_PORT, (msg, rinfo) => this.onNattDatagram(msg, rinfo));
    } catch (err) {
      await closeSocket(this.ikeSocket);
      this.ikeSocket = undefined;
      throw err;
    }
    this.nattPortBound = this.nattSocket.address().port;
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

  /** Sends a NAT-keepalive (one 0xFF byte, RFC 3948 §2.3) from the NAT-T port. */
  sendKeepalive(remote: UdpEndpoint): void {
    this.nattSocket?.send(Buffer.from([0xff]), remote.port, remote.address, this.onSendDone);
  }

  private countSendError(err: Error): void {
    this.stats.sendErrors++;
    this.opts.log?.debug({ err }, 'UDP send failed');
  }

  async close(): Promise<void> {
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
