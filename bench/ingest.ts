/**
 * Ingest: messages per second into the running daemon from a separate sender process, with
 * recognition and counting on: TCP octet-counted (one and several connections), TLS, and UDP at a
 * set rate with its loss. Also cold start: process start to listening. Loopback only. Prints JSON.
 */
import { spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { buildConfig } from '../src/config/load';
import { Daemon } from '../src/daemon';
import { makePki } from '../test/helpers/certs';
import { discardingLogger } from './quiet-log';
import { runSender, SenderReport } from './sender-process';
import { NODE_FLAGS } from '../src/common/node-flags';

const ROOT = resolve(__dirname, '../..');
const CLI = join(ROOT, 'dist/src/cli.js');
const FLOOR = join(ROOT, 'dist/bench/udp-floor.js');

async function measure(
  transport: 'tcp' | 'tls' | 'udp',
  count: number,
  connections = 1,
  udpRate = 0,
  listen: Record<string, unknown> = {},
): Promise<Record<string, unknown>> {
  const config = buildConfig({ listen: { udp: [], tcp: [], ...listen, maxConnections: 64 }, admin: { enabled: false } }, {});
  const daemon = new Daemon({ config, log: discardingLogger('error') });
  await daemon.start();
  const port = daemon.bound.find((b) => b.transport === transport)!.port;
  const stats = daemon.pipeline.stats;
  const kernelBefore = receiveBufferErrors();
  const sender = runSender([transport, String(port), String(count), String(connections), String(udpRate)]);
  await sender.ready;
  const started = performance.now();
  let sent: Awaited<typeof sender.done> | null = null;
  void sender.done.then((s) => (sent = s));
  // done when every message is counted, or (UDP) a second after the sender finished; the rate is
  // taken up to the last message counted
  let quietSince = 0;
  let lastCount = 0;
  let lastCountAt = started;
  for (;;) {
    await new Promise((r) => setTimeout(r, 5));
    if (stats.lines > lastCount) {
      lastCount = stats.lines;
      lastCountAt = performance.now();
    }
    if (stats.lines >= count) break;
    if (sent) {
      quietSince ||= performance.now();
      if (transport === 'udp' && performance.now() - quietSince > 1000) break;
      if (performance.now() - quietSince > 10_000) break;
    }
  }
  const seconds = (lastCountAt - started) / 1000;
  await sender.done;
  const received = stats.lines;
  const ringDropped = daemon.view.ingestOutcomes.get('udp:overrun');
  await daemon.stop(100);
  const result: Record<string, unknown> = {
    transport,
    connections,
    messages: count,
    received,
    lost: count - received,
    messagesPerSecond: Math.round(received / seconds),
    events: stats.events,
  };
  if (transport === 'udp') {
    const report = sent as SenderReport | null;
    result.offeredPerSecond = report?.perSecond;
    result.udpSender = report?.udpSender;
    result.udpReader = daemon.bound.find((bound) => bound.transport === 'udp')?.reader;
    result.senderCpuSeconds = report?.cpuSeconds;
    result.lossPercent = percentOf(count - received, count);
    Object.assign(result, kernelDropsSince(kernelBefore, count), { ringDroppedPercent: percentOf(ringDropped, count) });
  }
  return result;
}

function percentOf(part: number, whole: number): number {
  return Number(((part / whole) * 100).toFixed(3));
}

/**
 * The kernel's count of UDP datagrams dropped because a socket's receive buffer was full
 * (RcvbufErrors in /proc/net/snmp, all of the host's UDP sockets: on this loopback run, the
 * benchmark's own), or null where there is no such file.
 */
function receiveBufferErrors(): number | null {
  try {
    const [names, values] = readFileSync('/proc/net/snmp', 'utf8')
      .split('\n')
      .filter((line) => line.startsWith('Udp:'))
      .map((line) => line.split(/\s+/));
    const value = Number(values[names.indexOf('RcvbufErrors')]);
    return Number.isFinite(value) ? value : null;
  } catch {
    return null;
  }
}

/** The part of `count` datagrams the kernel dropped since `before` (a reader that did not keep up), where it tells. */
function kernelDropsSince(before: number | null, count: number): Record<string, number> {
  const after = receiveBufferErrors();
  return before === null || after === null ? {} : { kernelDroppedPercent: percentOf(after - before, count) };
}

/**
 * The same datagrams at the same rate to a process that only counts them (bench/udp-floor.ts):
 * what Node's dgram itself keeps on this machine, beside the sender, measured in the same round.
 */
async function udpFloor(rate: number, count: number): Promise<Record<string, unknown>> {
  const floor = spawn(process.execPath, [...NODE_FLAGS, FLOOR], { stdio: ['pipe', 'pipe', 'inherit'] });
  let out = '';
  let closed = false;
  floor.stdout.on('data', (chunk) => (out += chunk));
  floor.stdout.on('close', () => (closed = true));
  const answer = async () => {
    while (!out.includes('\n')) {
      if (closed) throw new Error('the floor process ended without answering');
      await new Promise((r) => setTimeout(r, 5));
    }
    const line = out.slice(0, out.indexOf('\n'));
    out = out.slice(line.length + 1);
    return JSON.parse(line) as Record<string, number>;
  };
  const { port } = await answer();
  const kernelBefore = receiveBufferErrors();
  const sender = runSender(['udp', String(port), String(count), '1', String(rate)]);
  await sender.ready;
  const sent = await sender.done;
  await new Promise((r) => setTimeout(r, 1000)); // what the socket still holds
  floor.stdin.end();
  const { received } = await answer();
  await new Promise((done) => floor.once('exit', done));
  return {
    messages: count,
    received,
    offeredPerSecond: sent.perSecond,
    senderCpuSeconds: sent.cpuSeconds,
    lossPercent: percentOf(count - received, count),
    ...kernelDropsSince(kernelBefore, count),
  };
}

/** Process start to the "edgeban listening" line, median of five. */
async function coldStart(): Promise<Record<string, unknown>> {
  const dir = mkdtempSync(join(tmpdir(), 'edgeban-cold-'));
  const file = join(dir, 'edgeban.yaml');
  writeFileSync(file, 'listen:\n  udp: ["127.0.0.1:0"]\n  tcp: ["127.0.0.1:0"]\nadmin:\n  listen: "127.0.0.1:0"\n');
  const times: number[] = [];
  for (let i = 0; i < 5; i++) {
    const started = performance.now();
    const child = spawn(process.execPath, [...NODE_FLAGS, CLI, 'run', '-c', file], { stdio: ['ignore', 'pipe', 'ignore'], env: { PATH: process.env.PATH } });
    await new Promise<void>((done) => {
      let out = '';
      child.stdout.on('data', (chunk) => {
        out += chunk;
        if (out.includes('"edgeban listening"')) {
          times.push(performance.now() - started);
          done();
        }
      });
    });
    child.kill('SIGTERM');
    await new Promise((done) => child.on('exit', done));
  }
  rmSync(dir, { recursive: true, force: true });
  times.sort((a, b) => a - b);
  return { medianMs: Math.round(times[2]), minMs: Math.round(times[0]), maxMs: Math.round(times[4]) };
}

/** The figures that also run alone (BENCH_INGEST_ONLY=tcp1|udp|storm; udp brings its floor), with counts BENCH_TCP_COUNT / BENCH_UDP_COUNT may change. */
const tcp1 = () => measure('tcp', Number(process.env.BENCH_TCP_COUNT ?? 1_000_000), 1, 0, { tcp: ['127.0.0.1:0'] });
/** `count` datagrams offered at `rate` a second to a daemon listening on UDP only. */
const udpAt = (rate: number, count = 300_000) => measure('udp', count, 1, rate, { udp: ['127.0.0.1:0'] });
const udp150k = () => udpAt(150_000, Number(process.env.BENCH_UDP_COUNT ?? 300_000));
/**
 * 900,000 messages over 131,072 addresses: from the 524,288th on, every message is a fifth strike
 * and orders a ban, so the last 2.5 s are a ban storm.
 */
const udpStorm = () => udpAt(150_000, 900_000);

export async function benchIngest(): Promise<Record<string, unknown>> {
  const pki = makePki();
  try {
    const tlsListen = { tls: [{ address: '127.0.0.1:0', cert: pki.serverCert, key: pki.serverKey }] };
    return {
      tcp1: await tcp1(),
      tcp4: await measure('tcp', 1_000_000, 4, 0, { tcp: ['127.0.0.1:0'] }),
      tls1: await measure('tls', 500_000, 1, 0, tlsListen),
      // the capacity curve below the aim: what two cores shared with the sender keep up with
      udp50k: await udpAt(50_000),
      udp100k: await udpAt(100_000),
      udp150kFloor: await udpFloor(150_000, 300_000),
      udp150k: await udp150k(),
      udp150kBanStorm: await udpStorm(),
      coldStart: await coldStart(),
    };
  } finally {
    pki.remove();
  }
}

async function only(name: string): Promise<Record<string, unknown>> {
  if (name === 'tcp1') return { tcp1: await tcp1() };
  if (name === 'udp') return { udp150kFloor: await udpFloor(150_000, 300_000), udp150k: await udp150k() };
  if (name === 'storm') return { udp150kBanStorm: await udpStorm() };
  throw new Error(`unknown BENCH_INGEST_ONLY=${name}`);
}

if (require.main === module && process.env.BENCH_INGEST_ONLY)
  void only(process.env.BENCH_INGEST_ONLY).then((result) => console.log(JSON.stringify({ ingest: result }, null, 2)));
else if (require.main === module) void benchIngest().then((result) => console.log(JSON.stringify({ ingest: result }, null, 2)));
