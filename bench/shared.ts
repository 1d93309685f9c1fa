/**
 * High availability, measured: what `shared` costs (events a second and ban latency, each beside
 * the same daemon without it, in one run), and how long a standby takes to ban after the primary
 * is killed (a real rsyslogd with the failover rule). A redis-server on a free loopback port, the
 * fake Cloudflare, everything on loopback. Prints JSON; a part whose program is missing says so.
 */
import { ChildProcess, execFileSync, spawn } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import net from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import YAML from 'yaml';
import { buildConfig } from '../src/config/load';
import { Daemon } from '../src/daemon';
import { FakeCloudflare } from '../test/fake-cloudflare/server';
import { CLI } from '../test/helpers/daemon';
import { findRedisServer, PrivateRedis } from '../test/helpers/redis';
import { findRsyslogd, PrivateRsyslog, ruleFor } from '../test/helpers/rsyslog';
import { octetCounted } from '../test/helpers/wire';
import { discardingLogger } from './quiet-log';
import { NODE_FLAGS } from '../src/common/node-flags';

const EVENTS = 50_000;
const BANS = 300;
const SECRET = 'bench-secret-0123456789';
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

function percentile(sorted: number[], p: number): number {
  return Number(sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))].toFixed(3));
}

const frame = (text: string) => octetCounted(`<37>${new Date().toISOString()} web1 wordpress(www.example.com)[1]: ${text}`);

async function daemonOn(fake: FakeCloudflare, zone: string, token: string, shared: { url: string } | null): Promise<Daemon> {
  const config = buildConfig(
    {
      listen: { tcp: ['127.0.0.1:0'], udp: [] },
      admin: { enabled: false },
      // one ban an address: the figure is the path of a ban, not the shield's or widening's answer
      shield: false,
      widen: false,
      jails: {
        hard: { events: ['hard'], maxretry: 1, findtime: '10m', bantime: '1h' },
        soft: { events: ['soft'], maxretry: 5, findtime: '10m', bantime: '1h' },
      },
      cloudflare: { token, apiBase: fake.baseUrl, zoneId: zone },
      ...(shared ? { shared: { url: shared.url, secret: SECRET } } : {}),
    },
    {},
  );
  const daemon = new Daemon({ config, log: discardingLogger('warn') });
  await daemon.start();
  await daemon.startupSweep;
  return daemon;
}

async function connectTo(daemon: Daemon): Promise<net.Socket> {
  const socket = net.connect({ port: daemon.bound.find((b) => b.transport === 'tcp')!.port, host: '127.0.0.1' });
  await new Promise((resolve) => socket.once('connect', resolve));
  return socket;
}

/** Soft events from distinct addresses as fast as TCP takes them; events a second until every one was counted (there, when shared). */
async function throughput(daemon: Daemon): Promise<number> {
  const socket = await connectTo(daemon);
  const counted = () => (daemon.shared ? daemon.shared.counted.get('shared') + daemon.shared.counted.get('local') : daemon.pipeline.stats.events);
  const chunks: Buffer[] = [];
  for (let i = 0; i < EVENTS; i += 1000) {
    const frames = [];
    for (let j = i; j < i + 1000; j++) frames.push(frame(`Authentication failure for admin from 203.${j >> 16}.${(j >> 8) & 255}.${j & 255}`));
    chunks.push(Buffer.concat(frames));
  }
  const started = performance.now();
  for (const chunk of chunks) if (!socket.write(chunk)) await new Promise((resolve) => socket.once('drain', resolve));
  while (counted() < EVENTS && performance.now() - started < 60_000) await sleep(5);
  const seconds = (performance.now() - started) / 1000;
  socket.destroy();
  return Math.round(EVENTS / seconds);
}

/** From a deciding frame leaving the client to the ban's request at the fake Cloudflare. */
async function banLatency(daemon: Daemon, fake: FakeCloudflare, third: number): Promise<{ p50: number; p99: number }> {
  const socket = await connectTo(daemon);
  const sentAt = new Map<string, number>();
  const from = fake.requests.length;
  for (let i = 0; i < BANS; i++) {
    const address = `198.51.${third + (i >> 8)}.${i & 255}`;
    sentAt.set(address, performance.now());
    socket.write(frame(`Blocked user enumeration attempt from ${address}`));
    await sleep(5);
  }
  const deadline = Date.now() + 10_000;
  while (fake.requests.slice(from).filter((r) => r.method === 'POST').length < BANS && Date.now() < deadline) await sleep(10);
  const latencies = fake.requests
    .slice(from)
    .filter((r) => r.method === 'POST')
    .map((r) => r.hr - (sentAt.get((r.body as { configuration?: { value?: string } }).configuration?.value ?? '') ?? NaN))
    .filter(Number.isFinite)
    .sort((a, b) => a - b);
  socket.destroy();
  return { p50: percentile(latencies, 50), p99: percentile(latencies, 99) };
}

async function sharedCost(redisServer: string): Promise<Record<string, unknown>> {
  const redis = await new PrivateRedis(redisServer).start();
  const fake = new FakeCloudflare();
  const zone = fake.addZone('example.com');
  const token = fake.addToken();
  await fake.start();
  const figures: Record<string, Record<string, unknown>> = {};
  try {
    for (const [name, shared, third] of [
      ['local', null, 100],
      ['shared', redis, 120],
    ] as const) {
      const daemon = await daemonOn(fake, zone, token, shared);
      figures[name] = { eventsPerSecond: await throughput(daemon), banLatencyMs: await banLatency(daemon, fake, third) };
      await daemon.stop(100);
    }
  } finally {
    await fake.stop();
    await redis.stop();
  }
  const ratio = Number(figures.shared.eventsPerSecond) / Number(figures.local.eventsPerSecond);
  return { ...figures, sharedShareOfLocalRate: Number(ratio.toFixed(3)), events: EVENTS, bans: BANS };
}

/** A primary `edgeban run` killed with SIGKILL; ms until the standby's first ban reaches the fake Cloudflare. */
async function failover(rsyslogd: string): Promise<Record<string, unknown>> {
  const fake = new FakeCloudflare();
  const zone = fake.addZone('example.com');
  const token = fake.addToken();
  await fake.start();
  const dir = mkdtempSync(join(tmpdir(), 'edgeban-bench-'));
  const file = join(dir, 'primary.yaml');
  const primaryPort = await new Promise<number>((resolve) => {
    const probe = net.createServer().listen(0, '127.0.0.1', () => {
      const { port } = probe.address() as net.AddressInfo;
      probe.close(() => resolve(port));
    });
  });
  writeFileSync(
    file,
    YAML.stringify({
      listen: { tcp: [`127.0.0.1:${primaryPort}`], udp: [] },
      admin: { enabled: false },
      cloudflare: { token, apiBase: fake.baseUrl, zoneId: zone },
    }),
  );
  const primary: ChildProcess = spawn(process.execPath, [...NODE_FLAGS, CLI, 'run', '-c', file], { stdio: 'ignore' });
  // everything set up after the primary is inside the try: a failure there must not leave it running
  let standby: Daemon | null = null;
  let rsyslog: PrivateRsyslog | null = null;
  try {
    standby = await daemonOn(fake, zone, token, null);
    rsyslog = new PrivateRsyslog(
      rsyslogd,
      ruleFor('30-edgeban-failover.conf', primaryPort, {
        'edgeban-primary.example.net': '127.0.0.1',
        'edgeban-standby.example.net" port="5514"': `127.0.0.1" port="${standby.bound.find((b) => b.transport === 'tcp')!.port}"`,
      }),
    );
    await rsyslog.start();
    const bans = () => fake.requests.filter((r) => r.method === 'POST').length;
    // the primary bans first: it is up and rsyslog is connected to it
    for (let n = 0; bans() === 0 && n < 200; n++) {
      rsyslog.log('wordpress(www.example.com)', `Blocked user enumeration attempt from 203.0.113.${n % 250}`);
      await sleep(50);
    }
    const before = bans();
    const killedAt = performance.now();
    primary.kill('SIGKILL');
    let n = 0;
    while (bans() === before && performance.now() - killedAt < 30_000) {
      rsyslog.log('wordpress(www.example.com)', `Blocked user enumeration attempt from 198.51.100.${n++ % 250}`);
      await sleep(20);
    }
    return { failoverMs: Math.round(performance.now() - killedAt), linesSentMeanwhile: n, lineEveryMs: 20 };
  } finally {
    primary.kill('SIGKILL');
    await rsyslog?.stop();
    await standby?.stop(100);
    await fake.stop();
    rmSync(dir, { recursive: true, force: true });
  }
}

if (require.main === module) {
  void (async () => {
    const redisServer = findRedisServer();
    const rsyslogd = findRsyslogd();
    execFileSync(process.execPath, ['-e', '0']); // warm the page cache for the child processes
    const result = {
      shared: redisServer ? await sharedCost(redisServer) : { skipped: 'redis-server not installed' },
      failover: rsyslogd ? await failover(rsyslogd) : { skipped: 'rsyslogd not installed' },
    };
    console.log(JSON.stringify({ highAvailability: result }, null, 2));
  })();
}
