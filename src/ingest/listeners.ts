import net from 'node:net';
import tls from 'node:tls';
import { CidrSet } from '../address/cidr';
import { isIpv6Host, parseHostPort } from '../address/host-port';
import { FramerEvent, StreamFramer } from './framer';
import { eachLine, FrameBatch, FramePacker, Frames } from './frame-batch';
import { normalizeSender } from './sender';
import { SpareUdpWorker, UdpThread } from './udp-thread';
import type { UdpReader } from './native-udp';

export { normalizeSender };

export type Transport = 'udp' | 'tcp' | 'tls';
/** The transports that carry a stream of frames. */
export type StreamTransport = Exclude<Transport, 'udp'>;

export type IngestOutcome =
  | 'accepted'
  | 'sender_refused'
  | 'oversize'
  /** a datagram the listener thread had no room for: the main thread was behind by the whole ring (udp-thread.ts) */
  | 'overrun'
  | 'framing_error'
  /** an octet count over maxMessageBytes: the connection is closed, as what follows cannot be trusted */
  | 'length_over_limit'
  | 'connection_refused'
  | 'connection_limit'
  | 'tls_refused'
  | 'idle_timeout'
  /** a peer's socket failed (a reset, a broken pipe): the connection is gone, nothing else */
  | 'socket_error';

export interface TlsEndpoint {
  address: string;
  cert: string | Buffer;
  key: string | Buffer;
  /** With a CA, a client must present a certificate signed by it. */
  ca?: string | Buffer;
}

export interface IngestOptions {
  udp: string[];
  tcp: string[];
  tls: TlsEndpoint[];
  allowedSenders: CidrSet;
  maxMessageBytes: number;
  maxConnections: number;
  idleTimeoutMs: number;
  udpReceiveBufferBytes: number;
  /** room between each UDP listener thread and the main thread (udp-thread.ts); tests make it small */
  udpRingBytes?: number;
  /** how UDP listeners read (native-udp.ts): in batches unless Node's reader is asked for */
  udpReader?: UdpReader;
}

export interface IngestHandlers {
  /** The frames of one read of a stream: one sender, one transport. */
  frames(batch: FrameBatch, sender: string, transport: StreamTransport): void;
  /** Datagrams of one sender, as they lie where the UDP thread put them: valid only during the call. */
  datagrams(frames: Frames, sender: string): void;
  outcome(transport: Transport, outcome: IngestOutcome, count?: number): void;
  /** a UDP listener thread died; it is restarted a second later */
  listenerCrashed?(error: Error): void;
  /** a listening socket failed while running (EMFILE when out of descriptors): it keeps listening */
  listenerError?(transport: Transport, error: Error): void;
}

export interface BoundAddress {
  transport: Transport;
  host: string;
  port: number;
  /** a UDP listener's reader */
  reader?: UdpReader;
}

/** The UDP, TCP and TLS listeners. Stops cleanly; never lets a peer crash the process. */
export class Ingest {
  private readonly udpThreads: UdpThread[] = [];
  /** Streams are read one chunk at a time, so one packer serves them all. */
  private readonly packer = new FramePacker();
  /** the sockets frames are read from (for TLS, not the raw socket under it) */
  private readonly streams = new Set<net.Socket>();
  private paused = false;
  private readonly servers: net.Server[] = [];
  private readonly connections = new Set<net.Socket>();
  readonly bound: BoundAddress[] = [];

  constructor(
    private options: IngestOptions,
    private readonly handlers: IngestHandlers,
    /** a UDP listener thread booted ahead, for the first UDP address; discarded when there is none */
    private readonly spareUdp: SpareUdpWorker | null = null,
  ) {}

  /** Applies new limits and allow-list to new frames and connections (listen addresses stay). */
  updateLimits(options: Pick<IngestOptions, 'allowedSenders' | 'maxMessageBytes' | 'maxConnections' | 'idleTimeoutMs'>): void {
    this.options = { ...this.options, ...options };
    for (const thread of this.udpThreads) thread.updateLimits(options.allowedSenders, options.maxMessageBytes);
  }

  /**
   * Binds every address at once (a UDP thread's answer comes while TCP binds), and waits for all
   * of them, so that a failure stops every listener, those that bound after it too. `bound` lists
   * them in the config's order.
   */
  async start(): Promise<void> {
    const starts = [
      ...this.options.udp.map((address) => this.startUdp(address)),
      ...this.options.tcp.map((address) => this.startStream('tcp', address, net.createServer())),
      ...this.options.tls.map((endpoint) => this.startStream('tls', endpoint.address, this.createTlsServer(endpoint))),
    ];
    this.spareUdp?.discard(); // unless a UDP address took it
    const results = await Promise.allSettled(starts);
    const failed = results.find((result) => result.status === 'rejected');
    if (failed) {
      await this.stop();
      throw failed.reason;
    }
    for (const result of results) if (result.status === 'fulfilled') this.bound.push(result.value);
  }

  /** Stops listening and closes every connection. */
  async stop(): Promise<void> {
    const threads = this.udpThreads.splice(0).map((thread) => thread.stop());
    const closing = this.servers.map((server) => new Promise<void>((resolve) => server.close(() => resolve())));
    for (const socket of this.connections) socket.destroy();
    this.connections.clear();
    this.servers.length = 0;
    await Promise.all([...closing, ...threads]);
  }

  get connectionCount(): number {
    return this.connections.size;
  }

  private async startUdp(address: string): Promise<BoundAddress> {
    const { host, port } = parseHostPort(address);
    const thread = new UdpThread(
      {
        host,
        port,
        ipv6: isIpv6Host(host),
        recvBufferSize: this.options.udpReceiveBufferBytes,
        allowedSenders: this.options.allowedSenders.texts,
        maxMessageBytes: this.options.maxMessageBytes,
        reader: this.options.udpReader ?? 'batch',
      },
      (frames) => {
        this.handlers.outcome('udp', 'accepted', frames.times.length);
        this.handlers.datagrams(frames, frames.sender);
      },
      (drops) => {
        if (drops.refused > 0) this.handlers.outcome('udp', 'sender_refused', drops.refused);
        if (drops.oversize > 0) this.handlers.outcome('udp', 'oversize', drops.oversize);
        if (drops.full > 0) this.handlers.outcome('udp', 'overrun', drops.full);
      },
      (error) => this.handlers.listenerCrashed?.(error),
      this.spareUdp,
      this.options.udpRingBytes,
    );
    const { port: bound, reader } = await thread.start();
    this.udpThreads.push(thread);
    return { transport: 'udp', host, port: bound, reader };
  }

  private createTlsServer(endpoint: TlsEndpoint): tls.Server {
    const mutual = endpoint.ca !== undefined;
    const server = tls.createServer({
      key: endpoint.key,
      cert: endpoint.cert,
      ca: endpoint.ca,
      requestCert: mutual,
      rejectUnauthorized: mutual,
      minVersion: 'TLSv1.2',
      handshakeTimeout: 10_000,
    });
    server.on('tlsClientError', (_error, socket) => {
      this.handlers.outcome('tls', 'tls_refused');
      socket.destroy();
    });
    return server;
  }

  private startStream(transport: StreamTransport, address: string, server: net.Server): Promise<BoundAddress> {
    const { host, port } = parseHostPort(address);
    // For TLS, 'connection' fires with the raw socket before the handshake: refuse early.
    server.on('connection', (socket: net.Socket) => this.admit(transport, socket));
    server.on(transport === 'tls' ? 'secureConnection' : 'connection', (socket: net.Socket) => {
      if (!socket.destroyed) this.serve(transport, socket);
    });
    server.on('error', (error) => this.handlers.listenerError?.(transport, error));
    return new Promise((resolve, reject) => {
      server.once('error', reject);
      server.listen({ host, port, backlog: 511 }, () => {
        server.removeListener('error', reject);
        this.servers.push(server);
        resolve({ transport, host, port: (server.address() as net.AddressInfo).port });
      });
    });
  }

  private admit(transport: Transport, socket: net.Socket): void {
    socket.on('error', () => this.handlers.outcome(transport, 'socket_error'));
    if (!this.options.allowedSenders.hasText(normalizeSender(socket.remoteAddress))) {
      this.handlers.outcome(transport, 'connection_refused');
      socket.destroy();
      return;
    }
    if (this.connections.size >= this.options.maxConnections) {
      this.handlers.outcome(transport, 'connection_limit');
      socket.destroy();
      return;
    }
    this.connections.add(socket);
    socket.once('close', () => this.connections.delete(socket));
    socket.setTimeout(this.options.idleTimeoutMs, () => {
      this.handlers.outcome(transport, 'idle_timeout');
      socket.destroy();
    });
  }

  /** Stops reading every stream (the consumer is behind); rsyslog waits, nothing is lost. */
  pauseStreams(): void {
    if (this.paused) return;
    this.paused = true;
    for (const socket of this.streams) socket.pause();
  }

  resumeStreams(): void {
    if (!this.paused) return;
    this.paused = false;
    for (const socket of this.streams) socket.resume();
  }

  private serve(transport: StreamTransport, socket: net.Socket): void {
    const sender = normalizeSender(socket.remoteAddress);
    const packer = this.packer;
    let receivedAt = 0;
    const emit = () => {
      this.handlers.outcome(transport, 'accepted', packer.size);
      this.handlers.frames(packer.take(), sender, transport);
    };
    const framer = new StreamFramer(this.options.maxMessageBytes, {
      frame: (frame) =>
        eachLine(frame, (from, to) => {
          if (!packer.fits(to - from)) emit();
          packer.add(frame.subarray(from, to), receivedAt);
        }),
      problem: (kind: FramerEvent) => {
        this.handlers.outcome(transport, kind);
        if (kind === 'length_over_limit') socket.destroy(); // the sender reconnects and starts on a frame boundary
      },
    });
    socket.on('data', (chunk: Buffer) => {
      // the frames of a read arrived together: one clock reading for them all
      receivedAt = Date.now();
      framer.push(chunk);
      if (packer.size > 0) emit();
    });
    this.streams.add(socket);
    socket.once('close', () => this.streams.delete(socket));
    if (this.paused) socket.pause();
  }
}
