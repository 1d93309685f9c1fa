/**
 * Ban latency: from the deciding frame leaving a TCP client on loopback to the ban request
 * reaching the fake Cloudflare API, with the real daemon, client and access-rules backend in one
 * process (one clock), after WARM_UP_BANS (the first of them reported apart). Also API calls per
 * ban. Prints JSON.
 */
import net from 'node:net';
import { buildConfig } from '../src/config/load';
import { Daemon } from '../src/daemon';
import { attackFrame } from './corpus';
import { discardingLogger } from './quiet-log';
import { FakeCloudflare } from '../test/fake-cloudflare/server';
import { runSender } from './sender-process';

const BANS = Number(process.env.BENCH_BANS ?? 300);
/**
 * The first bans after start run cold code (the main thread's decoder, the ban path, the API
 * client's first POSTs) and take several times as long as the rest. They are sent first
 * and reported apart (`firstBanMs`), so that p50 and p99 describe a daemon that has been running.
 */
const WARM_UP_BANS = 20;
const BACKGROUND_RATE = 50_000;

function percentile(sorted: number[], p: number): number {
  return Number(sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))].toFixed(3));
}

/** `background`: a separate process floods the daemon with soft events over UDP meanwhile. */
export async function benchLatency(background = false): Promise<Record<string, unknown>> {
  const fake = new FakeCloudflare();
  const zone = fake.addZone('example.com');
  const token = fake.addToken();
  await fake.start();
  const config = buildConfig(
    {
      listen: { tcp: ['127.0.0.1:0'], udp: background ? ['127.0.0.1:0'] : [] },
      admin: { enabled: false },
      // one ban an address: the figure is the path of a ban, not the shield's or widening's answer
      shield: false,
      widen: false,
      cloudflare: { token, apiBase: fake.baseUrl, zoneId: zone },
    },
    {},
  );
  const daemon = new Daemon({ config, log: discardingLogger('warn') });
  await daemon.start();
  await daemon.startupSweep;
  const port = daemon.bound.find((b) => b.transport === 'tcp')!.port;
  const udpPort = daemon.bound.find((b) => b.transport === 'udp')?.port;
  const load = background ? runSender(['udp', String(udpPort), String(BACKGROUND_RATE * 20), '1', String(BACKGROUND_RATE)]) : null;
  if (load) {
    // the sender builds its datagrams first: the bans start once it sends, and the load has settled
    await load.ready;
    await new Promise((r) => setTimeout(r, 1000));
  }
  const linesBefore = daemon.pipeline.stats.lines;
  const bansStarted = performance.now();
  const socket = net.connect({ port, host: '127.0.0.1' });
  await new Promise((resolve) => socket.once('connect', resolve));
  const startRequests = fake.requests.length;
  const sentAt = new Map<string, number>();
  for (let i = 0; i < WARM_UP_BANS + BANS; i++) {
    const address = `198.51.${100 + (i >> 8)}.${i & 255}`;
    sentAt.set(address, performance.now());
    socket.write(attackFrame(address));
    await new Promise((resolve) => setTimeout(resolve, 5));
  }
  const deadline = Date.now() + 10_000;
  while (fake.allRules().length < WARM_UP_BANS + BANS && Date.now() < deadline) await new Promise((resolve) => setTimeout(resolve, 10));
  const inOrder: number[] = [];
  for (const request of fake.requests.slice(startRequests)) {
    const value = (request.body as { configuration?: { value?: string } } | undefined)?.configuration?.value;
    const sent = value ? sentAt.get(value) : undefined;
    if (request.method === 'POST' && sent !== undefined) inOrder.push(request.hr - sent);
  }
  const firstBanMs = Number(inOrder[0].toFixed(3));
  const latencies = inOrder.slice(WARM_UP_BANS).sort((a, b) => a - b);
  const calls = fake.requests.length - startRequests;
  socket.destroy();
  const backgroundPerSecond = Math.round((daemon.pipeline.stats.lines - linesBefore) / ((performance.now() - bansStarted) / 1000));
  load?.kill();
  load?.done.catch(() => undefined); // killed on purpose
  await daemon.stop(100);
  await fake.stop();
  return {
    bans: fake.allRules().length,
    latencyMs: { p50: percentile(latencies, 50), p99: percentile(latencies, 99), max: percentile(latencies, 100) },
    firstBanMs,
    apiCallsPerBan: Number((calls / (WARM_UP_BANS + BANS)).toFixed(3)),
    ...(background
      ? { backgroundLoad: `UDP soft events offered at ${BACKGROUND_RATE}/s from a separate process`, backgroundHandledPerSecond: backgroundPerSecond }
      : {}),
  };
}

if (require.main === module) {
  void (async () => console.log(JSON.stringify({ latency: { idle: await benchLatency(false), underLoad: await benchLatency(true) } }, null, 2)))();
}
