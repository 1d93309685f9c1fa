/**
 * A UDP listener in its own thread. Node hands JavaScript one datagram at a time (no recvmmsg),
 * and that costs about as much as parsing it; here it costs the main thread nothing. Datagrams
 * from the allowed senders are packed (frame-batch.ts) with their arrival times and posted in
 * batches: whatever arrived in one turn of this thread's event loop, a batch per sender.
 */
import dgram from 'node:dgram';
import { parentPort, workerData } from 'node:worker_threads';
import { CidrSet } from '../address/cidr';
import type { UdpBatch, UdpWorkerData, UdpWorkerCommand } from './udp-thread';
import { FramePacker, transferables } from './frame-batch';
import { normalizeSender } from './sender';

const port = parentPort!;
const data = workerData as UdpWorkerData;
let allowed = new CidrSet(data.allowedSenders);
let maxMessageBytes = data.maxMessageBytes;

let lastSender = '';
let lastAllowed = false;

function senderAllowed(sender: string): boolean {
  if (sender !== lastSender) {
    lastSender = sender;
    lastAllowed = allowed.hasText(sender);
  }
  return lastAllowed;
}

const packer = new FramePacker();
let batchSender = '';
let refused = 0;
let oversize = 0;
let flushPending = false;
let lastFlush = 0;

/**
 * Each batch costs a postMessage (tens of microseconds), and libuv hands over at most 32
 * datagrams a turn of the loop. So while datagrams keep coming, a batch goes out once a
 * millisecond (or when it is full); the first datagram after a quiet millisecond goes at once.
 */
const COALESCE_MS = 1;

function flush(): void {
  lastFlush = performance.now();
  if (packer.size === 0 && refused === 0 && oversize === 0) return;
  const batch: UdpBatch = { sender: batchSender, ...packer.take(), refused, oversize };
  port.postMessage(batch, transferables(batch));
  refused = 0;
  oversize = 0;
}

/** The flush that is due: one at a time, whatever onDatagram flushed meanwhile. */
function flushDue(): void {
  flushPending = false;
  flush();
}

function scheduleFlush(): void {
  if (flushPending) return;
  flushPending = true;
  const wait = lastFlush + COALESCE_MS - performance.now();
  if (wait <= 0) setImmediate(flushDue);
  else setTimeout(flushDue, wait);
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
  if (packer.size > 0 && (sender !== batchSender || !packer.fits(message.length))) flush();
  batchSender = sender;
  packer.add(message, Date.now());
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
