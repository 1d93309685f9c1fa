/**
 * A UDP listener in its own thread. Node hands JavaScript one datagram at a time (no recvmmsg),
 * and that costs about as much as parsing it; here it costs the main thread nothing. Datagrams
 * from the allowed senders are packed (`u32 length, bytes`, little-endian) with their arrival
 * times and posted in batches: whatever arrived in one turn of this thread's event loop, a batch
 * per sender.
 */
import dgram from 'node:dgram';
import { parentPort, workerData } from 'node:worker_threads';
import { CidrSet } from '../address/cidr';
import { parseIp } from '../address/ip';
import type { UdpBatch, UdpWorkerData, UdpWorkerCommand } from './udp-thread';
import { normalizeSender } from './sender';

const MAX_BATCH = 1024;
const port = parentPort!;
const data = workerData as UdpWorkerData;
let allowed = new CidrSet(data.allowedSenders);
let maxMessageBytes = data.maxMessageBytes;

let lastSender = '';
let lastAllowed = false;

function senderAllowed(sender: string): boolean {
  if (sender !== lastSender) {
    const ip = parseIp(sender);
    lastSender = sender;
    lastAllowed = ip !== null && allowed.has(ip);
  }
  return lastAllowed;
}

let bytes = new Uint8Array(256 * 1024);
let view = new DataView(bytes.buffer);
let length = 0;
const times = new Float64Array(MAX_BATCH);
let count = 0;
let batchSender = '';
let refused = 0;
let oversize = 0;
let flushScheduled = false;

function flush(): void {
  flushScheduled = false;
  if (count === 0 && refused === 0 && oversize === 0) return;
  // right-sized copies, transferred: only what arrived crosses the thread boundary
  const batch: UdpBatch = { sender: batchSender, bytes: bytes.slice(0, length), times: times.slice(0, count), refused, oversize };
  port.postMessage(batch, [batch.bytes.buffer, batch.times.buffer]);
  length = 0;
  count = 0;
  refused = 0;
  oversize = 0;
}

function scheduleFlush(): void {
  if (flushScheduled) return;
  flushScheduled = true;
  setImmediate(flush);
}

function onDatagram(message: Buffer, rinfo: dgram.RemoteInfo): void {
  scheduleFlush();
  const sender = normalizeSender(rinfo.address);
  if (!senderAllowed(sender)) {
    refused++;
    return;
  }
  if (message.length > maxMessageBytes) {
    oversize++;
    return;
  }
  if (count > 0 && (sender !== batchSender || count === MAX_BATCH || length + 4 + message.length > bytes.length)) flush();
  if (4 + message.length > bytes.length) {
    bytes = new Uint8Array(4 + message.length);
    view = new DataView(bytes.buffer);
  }
  batchSender = sender;
  view.setUint32(length, message.length, true);
  bytes.set(message, length + 4);
  length += 4 + message.length;
  times[count++] = Date.now();
}

const socket = dgram.createSocket({ type: data.ipv6 ? 'udp6' : 'udp4', recvBufferSize: data.recvBufferSize });
socket.on('message', onDatagram);
socket.once('error', (error) => port.postMessage({ error: error.message }));
socket.bind(data.port, data.host, () => {
  socket.removeAllListeners('error');
  socket.on('error', () => undefined); // a bound UDP socket only reports transient errors
  port.postMessage({ bound: socket.address().port });
});

port.on('message', (command: UdpWorkerCommand) => {
  if (command.type === 'limits') {
    allowed = new CidrSet(command.allowedSenders);
    maxMessageBytes = command.maxMessageBytes;
    lastSender = '';
  } else if (command.type === 'stop') {
    socket.close(() => port.close());
  }
});
