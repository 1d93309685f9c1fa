/**
 * Active/active: receivers share their windows and bans through a real redis-server (started here
 * on a free loopback port, with persistence off). An attacker split between receivers is counted
 * once and banned once; the server holds no address; a server that writes to disk is refused; a
 * server that dies leaves every receiver banning on its own until it returns.
 */
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import YAML from 'yaml';
import type { FakeCloudflare } from './fake-cloudflare/server';
import { CLI } from './helpers/daemon';
import { startFakeCloudflare } from './helpers/fake';
import { TestDaemon } from './helpers/in-process';
import { findRedisServer, PrivateRedis } from './helpers/redis';
import { sleep, waitFor } from './helpers/wait';

const redisServer = findRedisServer();
if (!redisServer) console.warn('redis-server not found: shared-state tests skipped (apt-get install redis-server; .ci/run does)');
const withRedis = redisServer ? describe : describe.skip;

const SECRET = 'a-secret-of-the-receivers-0123';
const soft = (address: string) => `Authentication failure for admin from ${address}`;

let fake: FakeCloudflare, zone: string, token: string;
let redis: PrivateRedis;
const daemons: TestDaemon[] = [];

beforeEach(async () => {
  ({ fake, zone, token } = await startFakeCloudflare());
  if (redisServer) redis = await new PrivateRedis(redisServer).start();
});
afterEach(async () => {
  await Promise.all(daemons.splice(0).map((daemon) => daemon.stop()));
  await fake.stop();
  await redis?.stop();
});

async function receiver(shared: Record<string, unknown> | null = { url: redis.url, secret: SECRET }): Promise<TestDaemon> {
  const daemon = new TestDaemon({
    jails: { soft: { events: ['soft'], maxretry: 4, findtime: '10m', bantime: '1h', action: 'managed_challenge' } },
    cloudflare: { token, apiBase: fake.baseUrl, zoneId: zone },
    privacy: { logAddresses: 'plain' },
    ...(shared ? { shared } : {}),
  });
  daemons.push(daemon);
  return daemon.start();
}

const banned = (daemon: TestDaemon, address: string) => daemon.logs.filter((line) => line.msg === 'banned' && line.key === `${address}/32`).length;
const eventsSeen = (daemon: TestDaemon) => daemon.logs.filter((line) => line.msg === 'event').length;

/** Sends the attacker's lines to the receivers in turn, each after the one before was counted. */
async function attack(address: string, receivers: TestDaemon[], count: number): Promise<void> {
  for (let n = 0; n < count; n++) {
    const to = receivers[n % receivers.length];
    const seen = eventsSeen(to);
    to.send(soft(address));
    await waitFor(() => eventsSeen(to) > seen, 5000, 'event counted');
    await sleep(20); // the shared window's answer
  }
}

withRedis('two receivers sharing windows through redis-server', () => {
  test("one attacker's soft events split between two receivers reach maxretry once in total, and are banned once", async () => {
    const [a, b] = [await receiver(), await receiver()];
    await waitFor(() => a.daemon.shared!.up && b.daemon.shared!.up, 5000, 'both joined');
    await attack('203.0.113.50', [a, b], 4);
    await waitFor(() => banned(a, '203.0.113.50') + banned(b, '203.0.113.50') === 1, 5000, 'one ban');
    // more attempts while banned order nothing more, on either receiver
    await attack('203.0.113.50', [a, b], 4);
    await sleep(300);
    expect(banned(a, '203.0.113.50') + banned(b, '203.0.113.50')).toBe(1);
    expect(fake.allRules().filter((rule) => rule.configuration.value === '203.0.113.50')).toHaveLength(1);
    expect(a.daemon.shared!.counted.get('local') + b.daemon.shared!.counted.get('local')).toBe(0);
  });

  test('without shared state, the same split attack bans no one: each receiver saw only half', async () => {
    const [a, b] = [await receiver(null), await receiver(null)];
    await attack('203.0.113.51', [a, b], 6);
    await sleep(300);
    expect(banned(a, '203.0.113.51') + banned(b, '203.0.113.51')).toBe(0);
  });

  test('the server holds no address: keys and values are keyed hashes, times and random members, each with a TTL', async () => {
    const [a, b] = [await receiver(), await receiver()];
    await waitFor(() => a.daemon.shared!.up && b.daemon.shared!.up, 5000, 'both joined');
    await attack('203.0.113.52', [a, b], 4); // banned: a marker
    await attack('2001:db8:5:6::7', [a, b], 2); // counting: a window
    const dump = await redis.dump();
    expect(dump.split('\n')).toHaveLength(2);
    for (const text of ['203.0.113.52', '203.0.113', '2001:db8', 'cb00:7134', Buffer.from([203, 0, 113, 52]).toString('hex')]) expect(dump).not.toContain(text);
    expect(dump).toMatch(/^edgeban:[wb]:soft:[A-Za-z0-9_-]{22} /m);
    const ttls = await redis.call(async (client) => Promise.all((await client.keys('*')).map((key) => client.pTTL(key))));
    expect(ttls.every((ttl) => ttl > 0)).toBe(true);
  });

  test('the server dies mid-run: both receivers say so once and ban on their own; when it returns they share again', async () => {
    const [a, b] = [await receiver(), await receiver()];
    await waitFor(() => a.daemon.shared!.up && b.daemon.shared!.up, 5000, 'both joined');
    const port = redis.port;
    await redis.stop();
    await waitFor(() => !a.daemon.shared!.up && !b.daemon.shared!.up, 5000, 'both noticed');
    await attack('203.0.113.53', [a], 4);
    await attack('203.0.113.54', [b], 4);
    await waitFor(() => banned(a, '203.0.113.53') === 1 && banned(b, '203.0.113.54') === 1, 5000, 'each banned locally');
    for (const daemon of [a, b]) expect(daemon.messages().filter((msg) => msg.startsWith('shared state unreachable'))).toHaveLength(1);

    redis = await new PrivateRedis(redisServer!).start(port);
    await waitFor(() => a.daemon.shared!.up && b.daemon.shared!.up, 10_000, 'both back');
    await attack('203.0.113.55', [a, b], 4);
    await waitFor(() => banned(a, '203.0.113.55') + banned(b, '203.0.113.55') === 1, 5000, 'shared again');
  }, 30_000);
});

withRedis('a shared server that could write an address to disk', () => {
  /** `edgeban run` on a config with `shared`: its exit code (null: still running after 3 s, then stopped) and its log. */
  function exitOf(shared: Record<string, unknown>): { code: number | null; log: string } {
    const dir = mkdtempSync(join(tmpdir(), 'edgeban-shared-'));
    const file = join(dir, 'edgeban.yaml');
    writeFileSync(file, YAML.stringify({ listen: { tcp: ['127.0.0.1:0'], udp: [] }, admin: { listen: '127.0.0.1:0' }, shared }));
    const run = spawnSync(process.execPath, [CLI, 'run', '-c', file], { encoding: 'utf8', timeout: 3000, env: { PATH: process.env.PATH } });
    rmSync(dir, { recursive: true, force: true });
    return { code: run.error ? null : run.status, log: run.stdout };
  }

  test('a server that saves to disk is refused, naming what to change, with exit 2', async () => {
    const saving = await new PrivateRedis(redisServer!, true).start();
    try {
      const { code, log } = exitOf({ url: saving.url, secret: SECRET });
      expect(code).toBe(2);
      expect(log).toContain(`writes its data to disk (save \\"3600 1\\", appendonly yes): run it with --save '' --appendonly no`);
    } finally {
      await saving.stop();
    }
  });

  test('where CONFIG is not allowed, it is refused unless the config says persistence is off', async () => {
    await redis.call((client) => client.sendCommand(['ACL', 'SETUSER', 'default', '-config']));
    const { code, log } = exitOf({ url: redis.url, secret: SECRET });
    expect(code).toBe(2);
    expect(log).toContain('set shared.persistence: off');
    expect(exitOf({ url: redis.url, secret: SECRET, persistence: 'off' }).code).toBeNull();
  });
});
