/**
 * A UDP listener in its own thread. Node hands JavaScript one datagram at a time (no recvmmsg),
 * and that costs about as much as parsing it; here it costs the main thread nothing. Datagrams
 * from the allowed senders go, with their arrival times, into the ring the main thread reads
 * (frame-ring.ts); a message crosses only to wake it.
 */
import dgram from 'node:dgram';
import { MessagePort, parentPort } from 'node:worker_threads';
import { CidrSet } from '../address/cidr';
import type { UdpWorkerData, UdpWorkerCommand } from './udp-thread';
import { eachLine } from './frame-batch';
import { RingWriter } from './frame-ring';
import { normalizeSender } from './sender';
import { readConfigFile } from '../config/yaml-file';

/** This thread's socket, its allow-list and its end of the ring. */
class UdpReader {
  private allowed: CidrSet;
  private maxMessageBytes: number;
  /** the last sender asked about, and the answer: datagrams come in runs from one sender */
  private lastSender = '';
  private lastAllowed = false;
  private readonly ring: RingWriter;

  constructor(
    private readonly port: MessagePort,
    data: UdpWorkerData,
  ) {
    this.allowed = new CidrSet(data.allowedSenders);
    this.maxMessageBytes = data.maxMessageBytes;
    this.ring = new RingWriter(data.ring);
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

  private onDatagram(message: Buffer, rinfo: dgram.RemoteInfo): void {
    const sender = normalizeSender(rinfo.address);
    if (!this.senderAllowed(sender)) this.ring.refusedSender();
    else if (message.length > this.maxMessageBytes) this.ring.oversize();
    else this.writeLines(sender, message, Date.now());
    if (this.ring.takeWakeRequest()) this.port.postMessage({ wake: true });
  }

  private writeLines(sender: string, message: Buffer, receivedAt: number): void {
    eachLine(message, (from, to) => this.ring.write(sender, message, receivedAt, from, to));
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
