/**
 * A UDP listener in its own thread. Node hands JavaScript one datagram at a time (no recvmmsg),
 * and that costs about as much as parsing it; here it costs the main thread nothing. Datagrams
 * from the allowed senders are packed (frame-batch.ts) with their arrival times and posted in
 * batches: whatever arrived in one turn of this thread's event loop, a batch per sender.
 */
import dgram from 'node:dgram';
import { MessagePort, parentPort } from 'node:worker_threads';
import { CidrSet } from '../address/cidr';
import type { UdpBatch, UdpWorkerData, UdpWorkerCommand } from './udp-thread';
import { eachLine, FramePacker, transferables } from './frame-batch';
import { normalizeSender } from './sender';
import { readConfigFile } from '../config/yaml-file';

/**
 * Each batch costs a postMessage (tens of microseconds), and libuv hands over at most 32
 * datagrams a turn of the loop. So while datagrams keep coming, a batch goes out once a
 * millisecond (or when it is full); the first datagram after a quiet millisecond goes at once.
 */
const COALESCE_MS = 1;

/** This thread's socket, its allow-list and the batch being filled. */
class UdpReader {
  private allowed: CidrSet;
  private maxMessageBytes: number;
  /** the last sender asked about, and the answer: datagrams come in runs from one sender */
  private lastSender = '';
  private lastAllowed = false;
  private readonly packer = new FramePacker();
  private batchSender = '';
  private refused = 0;
  private oversize = 0;
  private flushPending = false;
  private lastFlush = 0;
  private readonly flushDue = () => {
    this.flushPending = false; // one flush at a time, whatever onDatagram flushed meanwhile
    this.flush();
  };

  constructor(
    private readonly port: MessagePort,
    data: UdpWorkerData,
  ) {
    this.allowed = new CidrSet(data.allowedSenders);
    this.maxMessageBytes = data.maxMessageBytes;
  }

  listen(data: UdpWorkerData): void {
    const { port } = this;
    const socket = dgram.createSocket({ type: data.ipv6 ? 'udp6' : 'udp4', recvBufferSize: data.recvBufferSize });
    socket.on('message', (message, rinfo) => this.onDatagram(message, rinfo));
    socket.once('error', (error) => port.postMessage({ error: error.message }));
    socket.bind(data.port, data.host, () => {
      socket.removeAllListeners('error');
      socket.on('error', () => undefined); // a bound UDP socket only reports transient errors
      port.postMessage({ bound: socket.address().port });
    });
    port.on('message', (command: UdpWorkerCommand) => {
      if (command.type === 'limits') {
        this.allowed = new CidrSet(command.allowedSenders);
        this.maxMessageBytes = command.maxMessageBytes;
        this.lastSender = '';
      } else if (command.type === 'stop') {
        socket.close(() => port.close());
      }
    });
  }

  private senderAllowed(sender: string): boolean {
    if (sender !== this.lastSender) {
      this.lastSender = sender;
      this.lastAllowed = this.allowed.hasText(sender);
    }
    return this.lastAllowed;
  }

  private flush(): void {
    this.lastFlush = performance.now();
    if (this.packer.size === 0 && this.refused === 0 && this.oversize === 0) return;
    const batch: UdpBatch = { sender: this.batchSender, ...this.packer.take(), refused: this.refused, oversize: this.oversize };
    this.port.postMessage(batch, transferables(batch));
    this.refused = 0;
    this.oversize = 0;
  }

  private scheduleFlush(): void {
    if (this.flushPending) return;
    this.flushPending = true;
    const wait = this.lastFlush + COALESCE_MS - performance.now();
    if (wait <= 0) setImmediate(this.flushDue);
    else setTimeout(this.flushDue, wait);
  }

  private onDatagram(message: Buffer, rinfo: dgram.RemoteInfo): void {
    this.scheduleFlush();
    const sender = normalizeSender(rinfo.address);
    if (!this.senderAllowed(sender)) {
      this.refused++;
      return;
    }
    if (message.length > this.maxMessageBytes) {
      this.oversize++;
      return;
    }
    if (this.packer.size > 0 && sender !== this.batchSender) this.flush();
    this.batchSender = sender;
    const receivedAt = Date.now();
    eachLine(message, (line) => {
      if (!this.packer.fits(line.length)) this.flush();
      this.packer.add(line, receivedAt);
    });
  }
}

/**
 * The thread boots first and binds when told where: it may boot before the config is read, and
 * then read the config file for the main thread.
 */
const port = parentPort!;
const beforeListening = (command: UdpWorkerCommand) => {
  if (command.type === 'read-config') return port.postMessage(readConfigFile(command.file));
  if (command.type === 'limits') return; // the limits come with `listen`
  port.off('message', beforeListening);
  if (command.type === 'listen') new UdpReader(port, command.data).listen(command.data);
  else port.close(); // stopped before it listened
};
port.on('message', beforeListening);
