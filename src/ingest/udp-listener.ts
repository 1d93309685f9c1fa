/**
 * A UDP listener in its own thread, so that reading datagrams costs the main thread nothing.
 * Where the batch reader was built (native-udp.ts), the thread sleeps in recvmmsg and takes up to
 * a batch of datagrams a system call; otherwise Node's dgram hands it one datagram a callback,
 * which at high rates costs as much as everything else edgeban does. Datagrams from the allowed
 * senders go, with their arrival times, into the ring the main thread reads (frame-ring.ts); a
 * message crosses only to wake it.
 */
import dgram from 'node:dgram';
import { getSystemErrorName } from 'node:util';
import { MessagePort, receiveMessageOnPort } from 'node:worker_threads';
import { CidrSet } from '../address/cidr';
import { formatIp, Ip, parseIp } from '../address/ip';
import type { UdpWorkerData, UdpWorkerCommand } from './udp-thread';
import { eachLine } from './frame-batch';
import { RingWriter } from './frame-ring';
import { datagramSender, loadNativeUdp, META_STRIDE, NativeError, NativeUdp } from './native-udp';
import { normalizeSender } from './sender';

/** datagrams a system call at most */
const BATCH = 64;
/** how long the batch reader sleeps in the kernel before it looks at its commands (ms) */
const WAIT_MS = 50;
/** the largest UDP payload there is, and one byte more, so that a longer one shows as truncated */
const LARGEST_DATAGRAM = 65536;

/** What happens to a datagram, whichever way it was read: the sender's check, the size's, the ring. */
class DatagramSink {
  private allowed: CidrSet;
  maxMessageBytes: number;
  readonly ring: RingWriter;

  constructor(data: UdpWorkerData) {
    this.allowed = new CidrSet(data.allowedSenders);
    this.maxMessageBytes = data.maxMessageBytes;
    this.ring = new RingWriter(data.ring);
  }

  setLimits(allowedSenders: string[], maxMessageBytes: number): void {
    this.allowed = new CidrSet(allowedSenders);
    this.maxMessageBytes = maxMessageBytes;
  }

  isAllowed(sender: Ip | null): boolean {
    return sender !== null && this.allowed.has(sender);
  }

  isAllowedText(sender: string): boolean {
    return this.allowed.hasText(sender);
  }

  take(sender: string, allowed: boolean, datagram: Uint8Array, truncated: boolean, receivedAt: number): void {
    if (!allowed) this.ring.refusedSender();
    else if (truncated || datagram.length > this.maxMessageBytes) this.ring.oversize();
    else eachLine(datagram, (from, to) => this.ring.write(sender, datagram, receivedAt, from, to));
  }
}

/** Node's dgram: one datagram a callback, the sender as text. */
class DgramReader {
  /** the last sender asked about, and the answer: datagrams come in runs from one sender */
  private lastSender = '';
  private lastAllowed = false;

  constructor(
    private readonly port: MessagePort,
    private readonly sink: DatagramSink,
  ) {}

  listen(data: UdpWorkerData): void {
    const { port } = this;
    const socket = dgram.createSocket({ type: data.ipv6 ? 'udp6' : 'udp4', recvBufferSize: data.recvBufferSize });
    socket.on('message', (message, rinfo) => this.onDatagram(message, rinfo));
    socket.once('error', (error) => port.postMessage({ error: error.message }));
    socket.bind(data.port, data.host, () => {
      socket.removeAllListeners('error');
      socket.on('error', () => undefined); // a bound UDP socket only reports transient errors
      port.postMessage({ bound: socket.address().port, reader: 'node' });
    });
    port.on('message', (command: UdpWorkerCommand) => {
      if (command.type === 'limits') {
        this.sink.setLimits(command.allowedSenders, command.maxMessageBytes);
        this.lastSender = '';
      } else if (command.type === 'stop') {
        socket.close(() => port.close());
      }
    });
  }

  private onDatagram(message: Buffer, rinfo: dgram.RemoteInfo): void {
    const sender = normalizeSender(rinfo.address);
    if (sender !== this.lastSender) {
      this.lastSender = sender;
      this.lastAllowed = this.sink.isAllowedText(sender);
    }
    this.sink.take(sender, this.lastAllowed, message, false, Date.now());
    if (this.sink.ring.takeWakeRequest()) this.port.postMessage({ wake: true });
  }
}

/**
 * The batch reader: the thread loops in recvmmsg and never returns to its event loop, so it takes
 * its commands off the port itself between batches.
 */
class BatchReader {
  private slotBytes = 0;
  private slots = new Uint8Array(0);
  private readonly meta = new Int32Array(BATCH * META_STRIDE);
  /** the last sender seen, as family and address words, its text and the answer for it */
  private readonly lastWords = new Int32Array(5);
  private lastSender = '';
  private lastAllowed = false;

  constructor(
    private readonly native: NativeUdp,
    private readonly port: MessagePort,
    private readonly sink: DatagramSink,
  ) {
    this.sizeSlots();
  }

  async listen(data: UdpWorkerData): Promise<void> {
    let fd: number;
    try {
      const host = parseIp(data.host) ? data.host : await resolveHost(data.host, data.ipv6);
      const [opened, bound] = this.native.open(host, data.port, data.ipv6, data.recvBufferSize, WAIT_MS);
      fd = opened;
      this.port.postMessage({ bound, reader: 'batch' });
    } catch (error) {
      return this.port.postMessage({ error: describeFailure(error, data) });
    }
    this.run(fd);
  }

  private run(fd: number): void {
    const { native, meta, sink } = this;
    for (;;) {
      const count = native.receive(fd, this.slots, this.slotBytes, meta);
      const receivedAt = Date.now();
      for (let i = 0; i < count; i++) {
        const row = i * META_STRIDE;
        if (!this.sameSender(row)) this.newSender(row);
        const datagram = this.slots.subarray(i * this.slotBytes, i * this.slotBytes + meta[row]);
        sink.take(this.lastSender, this.lastAllowed, datagram, meta[row + 1] === 1, receivedAt);
      }
      if (sink.ring.takeWakeRequest()) this.port.postMessage({ wake: true });
      const command = receiveMessageOnPort(this.port)?.message as UdpWorkerCommand | undefined;
      if (command?.type === 'stop') break;
      if (command?.type === 'limits') this.setLimits(command);
    }
    native.close(fd);
    this.port.close();
  }

  private setLimits(command: Extract<UdpWorkerCommand, { type: 'limits' }>): void {
    this.sink.setLimits(command.allowedSenders, command.maxMessageBytes);
    this.lastWords[0] = 0; // ask again
    this.sizeSlots();
  }

  /** Slots one byte longer than the longest message allowed, so that a longer one shows as truncated. */
  private sizeSlots(): void {
    const slotBytes = Math.min(this.sink.maxMessageBytes + 1, LARGEST_DATAGRAM);
    if (slotBytes === this.slotBytes) return;
    this.slotBytes = slotBytes;
    this.slots = new Uint8Array(slotBytes * BATCH);
  }

  private sameSender(row: number): boolean {
    const { meta, lastWords } = this;
    for (let i = 0; i < 5; i++) if (meta[row + 2 + i] !== lastWords[i]) return false;
    return true;
  }

  private newSender(row: number): void {
    const { meta } = this;
    for (let i = 0; i < 5; i++) this.lastWords[i] = meta[row + 2 + i];
    const ip = datagramSender(meta, row);
    this.lastSender = ip ? formatIp(ip) : '';
    this.lastAllowed = this.sink.isAllowed(ip);
  }
}

/** A listen host that is a name (`localhost`), resolved as dgram would; the resolver loads only then. */
async function resolveHost(host: string, ipv6: boolean): Promise<string> {
  const { lookup } = await import('node:dns/promises');
  return (await lookup(host, { family: ipv6 ? 6 : 4 })).address;
}

/** A failed bind in dgram's words: `bind EADDRINUSE 127.0.0.1:5514`. */
function describeFailure(error: unknown, data: UdpWorkerData): string {
  const failed = error as Partial<NativeError>;
  if (typeof failed.errno !== 'number' || !failed.syscall) return failed.message ?? String(error);
  return `${failed.syscall} ${getSystemErrorName(failed.errno)} ${data.host}:${data.port}`;
}

/**
 * The listener thread's work once it is told where to listen: `port` brings the `listen` command,
 * then new limits and `stop`.
 */
export function serveListener(port: MessagePort): void {
  const beforeListening = (command: UdpWorkerCommand) => {
    if (command.type === 'limits') return; // the limits come with `listen`
    port.off('message', beforeListening);
    if (command.type !== 'listen') return port.close(); // stopped before it listened
    const sink = new DatagramSink(command.data);
    const native = loadNativeUdp(command.data.reader);
    if (native) void new BatchReader(native, port, sink).listen(command.data);
    else new DgramReader(port, sink).listen(command.data);
  };
  port.on('message', beforeListening);
}
