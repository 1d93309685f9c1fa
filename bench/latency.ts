/**
 * Ban latency: from the deciding frame leaving a TCP client on loopback to the ban request
 * reaching the fake Cloudflare API, with the real daemon, client and access-rules backend in one
 * process (one clock). Also API calls per ban. Prints JSON.
 */
import net from 'node:net';
import { Writable } from 'node:stream';
import { buildConfig } from '../src/config/load';
import { Daemon } from '../src/daemon';
import { createLogger } from '../src/observe/log';
import { FakeCloudflare } from '../test/fake-cloudflare/server';

const BANS = Number(process.env.BENCH_BANS ?? 300);

function percentile(sorted: number[], p: number): number {
  return Number(sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))].toFixed(3));
}

function frame(address: string): Buffer {
  const body = Buffer.from(`<37>${new Date().toISOString()} web1 wordpress(www.example.com)[1]: Blocked user enumeration attempt from ${address}`);
  return Buffer.concat([Buffer.from(`${body.length} `), body]);
}

export async function benchLatency(): Promise<Record<string, unknown>> {
  const fake = new FakeCloudflare();
  const zone = fake.addZone('example.com');
  const token = fake.addToken();
  await fake.start();
  const config = buildConfig({ listen: { tcp: ['127.0.0.1:0'], udp: [] }, cloudflare: { token, apiBase: fake.baseUrl, zoneId: zone } }, {});
  const daemon = new Daemon({ config, log: createLogger('warn', new Writable({ write: (_c, _e, done) => done() })) });
  await daemon.start();
  await daemon.startupSweep;
  const port = daemon.bound[0].port;
  const socket = net.connect({ port, host: '127.0.0.1' });
  await new Promise((resolve) => socket.once('connect', resolve));
  const startRequests = fake.requests.length;
  const sentAt = new Map<string, number>();
  for (let i = 0; i < BANS; i++) {
    const address = `198.51.${100 + (i >> 8)}.${i & 255}`;
    sentAt.set(address, performance.now());
    socket.write(frame(address));
    await new Promise((resolve) => setTimeout(resolve, 5));
  }
  const deadline = Date.now() + 10_000;
  while (fake.allRules().length < BANS && Date.now() < deadline) await new Promise((resolve) => setTimeout(resolve, 10));
  const latencies: number[] = [];
  for (const request of fake.requests.slice(startRequests)) {
    const value = (request.body as { configuration?: { value?: string } } | undefined)?.configuration?.value;
    const sent = value ? sentAt.get(value) : undefined;
    if (request.method === 'POST' && sent !== undefined) latencies.push(request.hr - sent);
  }
  latencies.sort((a, b) => a - b);
  const calls = fake.requests.length - startRequests;
  socket.destroy();
  await daemon.stop(100);
  await fake.stop();
  return {
    bans: fake.allRules().length,
    latencyMs: { p50: percentile(latencies, 50), p99: percentile(latencies, 99), max: percentile(latencies, 100) },
    apiCallsPerBan: Number((calls / BANS).toFixed(3)),
  };
}

if (require.main === module) void benchLatency().then((result) => console.log(JSON.stringify({ latency: result }, null, 2)));
