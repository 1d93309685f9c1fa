/**
 * A separate sender process for the ingest benchmarks: writes COUNT RSYSLOG_ForwardFormat frames
 * (soft events from distinct addresses) to edgeban over tcp, tls or udp, then prints JSON with what
 * it sent and how long it took. Loopback only.
 *   node dist/bench/sender.js <tcp|tls|udp> <port> <count> [connections] [udp rate per second]
 */
import dgram from 'node:dgram';
import net from 'node:net';
import tls from 'node:tls';

const [transport, portText, countText, connectionsText = '1', rateText = '0'] = process.argv.slice(2);
const port = Number(portText);
const count = Number(countText);
const connections = Number(connectionsText);
const rate = Number(rateText);

function message(i: number): string {
  const stamp = `2025-03-09T06:31:${String(Math.floor(i / 1e6) % 60).padStart(2, '0')}.${String(i % 1e6).padStart(6, '0')}+00:00`;
  return `<37>${stamp} web1 wordpress(www.example.com)[4242] Authentication failure for admin from 198.${18 + ((i >> 16) & 1)}.${(i >> 8) & 255}.${i & 255}`;
}

function octetCounted(i: number): Buffer {
  const body = Buffer.from(message(i));
  return Buffer.concat([Buffer.from(`${body.length} `), body]);
}

async function stream(socket: net.Socket, from: number, to: number): Promise<void> {
  const BLOCK = 1000;
  for (let i = from; i < to; i += BLOCK) {
    const frames: Buffer[] = [];
    for (let j = i; j < Math.min(to, i + BLOCK); j++) frames.push(octetCounted(j));
    if (!socket.write(Buffer.concat(frames))) await new Promise((resolve) => socket.once('drain', resolve));
  }
  await new Promise<void>((resolve) => socket.end(() => resolve()));
}

async function streams(): Promise<void> {
  const per = Math.ceil(count / connections);
  await Promise.all(
    Array.from({ length: connections }, async (_, c) => {
      const socket =
        transport === 'tls'
          ? tls.connect({ port, host: '127.0.0.1', rejectUnauthorized: false })
          : net.connect({ port, host: '127.0.0.1' });
      await new Promise((resolve) => socket.once(transport === 'tls' ? 'secureConnect' : 'connect', resolve));
      await stream(socket, c * per, Math.min(count, (c + 1) * per));
    }),
  );
}

async function datagrams(): Promise<void> {
  const socket = dgram.createSocket('udp4');
  const payloads = Array.from({ length: Math.min(count, 100_000) }, (_, i) => Buffer.from(message(i)));
  const started = performance.now();
  let inFlight = 0;
  for (let i = 0; i < count; i++) {
    if (rate > 0) {
      const due = started + (i / rate) * 1000;
      while (performance.now() < due) await new Promise((resolve) => setImmediate(resolve));
    }
    inFlight++;
    socket.send(i < payloads.length ? payloads[i] : Buffer.from(message(i)), port, '127.0.0.1', () => inFlight--);
    if (inFlight > 2000) await new Promise((resolve) => setImmediate(resolve));
  }
  while (inFlight > 0) await new Promise((resolve) => setImmediate(resolve));
  socket.close();
}

async function main(): Promise<void> {
  const started = performance.now();
  await (transport === 'udp' ? datagrams() : streams());
  const seconds = (performance.now() - started) / 1000;
  process.stdout.write(`${JSON.stringify({ sent: count, seconds: Number(seconds.toFixed(3)), perSecond: Math.round(count / seconds) })}\n`);
}

void main();
