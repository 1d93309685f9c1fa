/**
 * A separate sender process for the ingest benchmarks: writes COUNT RSYSLOG_ForwardFormat frames
 * (soft events from distinct addresses) to edgeban over tcp, tls or udp, then prints JSON with what
 * it sent and how long it took. Every frame is built before the first is sent, so the sender's own
 * string work is not what is measured; it prints `ready` then. Loopback only.
 *   node dist/bench/sender.js <tcp|tls|udp> <port> <count> [connections] [udp rate per second]
 * Datagrams go out through bench/udp-sender.c, compiled here, as rsyslog sends them (one send a
 * datagram, in C); without a C compiler, through Node's dgram, which costs the shared cores more.
 * Its JSON says which (`udpSender`) and the CPU the sending took (`cpuSeconds`).
 */
import { ChildProcessByStdio, spawn, spawnSync } from 'node:child_process';
import dgram from 'node:dgram';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import net from 'node:net';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import type { Readable } from 'node:stream';
import tls from 'node:tls';
import { senderProcess, SenderReport } from './sender-process';
import { octetCounted } from '../test/helpers/wire';

const [transport, portText, countText, connectionsText = '1', rateText = '0'] = process.argv.slice(2);
const port = Number(portText);
const count = Number(countText);
const connections = Number(connectionsText);
const rate = Number(rateText);

function message(i: number): string {
  const stamp = `2025-03-09T06:31:${String(Math.floor(i / 1e6) % 60).padStart(2, '0')}.${String(i % 1e6).padStart(6, '0')}+00:00`;
  return `<37>${stamp} web1 wordpress(www.example.com)[4242] Authentication failure for admin from 45.${18 + ((i >> 16) & 1)}.${(i >> 8) & 255}.${i & 255}`;
}

/** Frames from..to as octet-counted blocks of a thousand, built ahead. */
function blocks(from: number, to: number): Buffer[] {
  const BLOCK = 1000;
  const built: Buffer[] = [];
  for (let i = from; i < to; i += BLOCK) {
    const frames: Buffer[] = [];
    for (let j = i; j < Math.min(to, i + BLOCK); j++) frames.push(octetCounted(message(j)));
    built.push(Buffer.concat(frames));
  }
  return built;
}

async function stream(socket: net.Socket, built: Buffer[]): Promise<void> {
  for (const block of built) {
    if (!socket.write(block)) await new Promise((resolve) => socket.once('drain', resolve));
  }
  await new Promise<void>((resolve) => socket.end(() => resolve()));
}

async function streams(ready: () => void): Promise<void> {
  const per = Math.ceil(count / connections);
  const work = Array.from({ length: connections }, (_, c) => blocks(c * per, Math.min(count, (c + 1) * per)));
  const sockets = await Promise.all(
    work.map(async () => {
      const socket = transport === 'tls' ? tls.connect({ port, host: '127.0.0.1', rejectUnauthorized: false }) : net.connect({ port, host: '127.0.0.1' });
      await new Promise((resolve) => socket.once(transport === 'tls' ? 'secureConnect' : 'connect', resolve));
      return socket;
    }),
  );
  ready();
  await Promise.all(sockets.map((socket, c) => stream(socket, work[c])));
}

/** What the sending cost, and how datagrams went out. */
type Sent = Required<Pick<SenderReport, 'cpuSeconds'>> & Pick<SenderReport, 'udpSender'>;

/**
 * Datagrams, through the C sender where a compiler builds it, else through Node. A load stopped
 * early (the latency benchmark stops it once its bans are in) stops the C sender too: left alone it
 * would go on sending into the next benchmark, and its files would stay.
 */
async function datagrams(ready: () => void): Promise<Sent> {
  const payloads = Array.from({ length: count }, (_, i) => Buffer.from(message(i)));
  const dir = mkdtempSync(join(tmpdir(), 'edgeban-sender-'));
  let sending: ChildProcessByStdio<null, Readable, null> | undefined;
  process.once('SIGTERM', () => {
    sending?.kill('SIGKILL');
    rmSync(dir, { recursive: true, force: true });
    process.exit(143);
  });
  try {
    const binary = join(dir, 'udp-sender');
    const source = resolve(__dirname, '../../bench/udp-sender.c');
    const built = spawnSync('cc', ['-O2', '-o', binary, source], { stdio: 'ignore' });
    if (built.error || built.status !== 0) return { ...(await datagramsFromNode(payloads, ready)), udpSender: 'node' };
    const file = join(dir, 'datagrams');
    writeFileSync(file, Buffer.concat(payloads.flatMap((payload) => [lengthPrefix(payload.length), payload])));
    sending = spawn(binary, [file, String(port), String(rate)], { stdio: ['ignore', 'pipe', 'inherit'] });
    return { ...(await datagramsFromC(sending, ready)), udpSender: 'c' };
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

function lengthPrefix(length: number): Buffer {
  const prefix = Buffer.alloc(4);
  prefix.writeUInt32BE(length);
  return prefix;
}

async function datagramsFromC(sending: ChildProcessByStdio<null, Readable, null>, ready: () => void): Promise<Sent> {
  const child = senderProcess(sending, 'udp-sender');
  void child.ready.then(ready);
  return { cpuSeconds: (await child.done).cpuSeconds! };
}

/**
 * At a set rate, sends what is due every millisecond and sleeps in between (a busy-waiting sender
 * would take the core the daemon needs on a two-core machine, which rsyslog does not do).
 */
async function datagramsFromNode(payloads: Buffer[], ready: () => void): Promise<Sent> {
  const socket = dgram.createSocket('udp4');
  await new Promise<void>((done) => socket.connect(port, '127.0.0.1', done));
  const cpu = process.cpuUsage();
  ready();
  const started = performance.now();
  let i = 0;
  while (i < count) {
    const due = rate > 0 ? Math.min(count, Math.floor(((performance.now() - started) * rate) / 1000)) : count;
    while (i < due) socket.send(payloads[i++]);
    await new Promise((resolve) => (rate > 0 ? setTimeout(resolve, 1) : setImmediate(resolve)));
  }
  await new Promise<void>((done) => socket.close(done));
  const { user, system } = process.cpuUsage(cpu);
  return { cpuSeconds: (user + system) / 1e6 };
}

async function main(): Promise<void> {
  let started = 0;
  const ready = () => {
    process.stdout.write('ready\n');
    started = performance.now();
  };
  const how = transport === 'udp' ? await datagrams(ready) : (await streams(ready), {});
  const seconds = (performance.now() - started) / 1000;
  process.stdout.write(`${JSON.stringify({ sent: count, seconds: Number(seconds.toFixed(3)), perSecond: Math.round(count / seconds), ...how })}\n`);
}

void main();
