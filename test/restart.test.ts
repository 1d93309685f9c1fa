/**
 * No disk, yet restart-safe: the daemon is killed with SIGKILL while bans are live and started
 * again; every live ban is adopted and lifted on time, expired ones are deleted at start.
 */
import { execFile } from 'node:child_process';
import { rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { FakeCloudflare } from './fake-cloudflare/server';
import { startFakeCloudflare } from './helpers/fake';
import { CLI, DaemonProcess } from './helpers/daemon';
import { sleep, waitFor } from './helpers/wait';
import { octetCounted } from './helpers/wire';
import net from 'node:net';

let fake: FakeCloudflare;
let token: string;
let zone: string;
beforeEach(async () => {
  ({ fake, zone, token } = await startFakeCloudflare());
});
afterEach(() => fake.stop());

const config = () => ({
  listen: { tcp: ['127.0.0.1:0'], udp: [] },
  jails: {
    short: { events: ['user_enumeration'], maxretry: 1, findtime: '10m', bantime: '2s' },
    long: { events: ['blocked_user'], maxretry: 1, findtime: '10m', bantime: '5s' },
  },
  cloudflare: { token, apiBase: fake.baseUrl, zoneId: zone },
});

async function send(port: number, texts: string[]): Promise<void> {
  const socket = net.connect({ port, host: '127.0.0.1' });
  await new Promise((resolve) => socket.once('connect', resolve));
  for (const text of texts) socket.write(octetCounted(`<37>${new Date().toISOString()} web1 wordpress(www.example.com)[1]: ${text}`));
  await new Promise<void>((resolve) => socket.end(() => resolve()));
}

test('SIGKILL with live bans, restart: expired deleted at start, live adopted and lifted on time', async () => {
  const first = await DaemonProcess.start(config());
  await send(first.port('tcp'), ['Blocked user enumeration attempt from 203.0.113.1', 'Blocked authentication attempt for admin from 203.0.113.2']);
  await waitFor(() => fake.allRules().length === 2, 5000, 'two rules');
  const longUntil = Number(/until=(\d+)/.exec(fake.allRules().find((r) => r.configuration.value === '203.0.113.2')!.notes)![1]);
  await first.stop('SIGKILL');
  await sleep(2500); // the short ban expires while edgeban is down
  expect(fake.allRules()).toHaveLength(2);

  const second = await DaemonProcess.start(config());
  try {
    await waitFor(() => fake.allRules().length === 1, 5000, 'the expired rule deleted at start');
    expect(fake.allRules()[0].configuration.value).toBe('203.0.113.2');
    await second.waitForLog((line) => line.msg === 'adopted');
    await waitFor(() => fake.allRules().length === 0, 8000, 'the adopted ban lifted');
    expect(Date.now() / 1000).toBeGreaterThanOrEqual(longUntil);
    expect(Date.now() / 1000).toBeLessThan(longUntil + 3);
  } finally {
    await second.stop();
  }
});

test('SIGTERM lets queued bans go out and does not lift bans', async () => {
  const daemon = await DaemonProcess.start({ ...config(), jails: { long: { events: ['hard'], maxretry: 1, findtime: '10m', bantime: '1h' } } });
  fake.slowDown(300);
  await send(daemon.port('tcp'), ['Blocked user enumeration attempt from 203.0.113.3', 'Blocked user enumeration attempt from 203.0.113.4']);
  await daemon.waitForLog((line) => line.msg === 'event' && line.kind === 'user_enumeration');
  expect(await daemon.stop('SIGTERM')).toBe(0);
  expect(
    fake
      .allRules()
      .map((r) => r.configuration.value)
      .sort(),
  ).toEqual(['203.0.113.3', '203.0.113.4']);
  expect(fake.requests.filter((r) => r.method === 'DELETE')).toHaveLength(0);
});

/** `edgeban check` asynchronously: the fake answers from this very process. */
function check(env: NodeJS.ProcessEnv, args: string[] = []): Promise<{ status: number; stdout: string }> {
  return new Promise((resolve) => {
    execFile(
      process.execPath,
      [CLI, 'check', ...args],
      { encoding: 'utf8', env: { PATH: process.env.PATH, CLOUDFLARE_API_BASE: fake.baseUrl, ...env }, timeout: 20_000 },
      (error, stdout) => resolve({ status: error ? Number(error.code) : 0, stdout }),
    );
  });
}

describe('edgeban check', () => {
  test('a good token and zone', async () => {
    const run = await check({ CLOUDFLARE_API_TOKEN: token, CLOUDFLARE_ZONE_ID: zone });
    expect(run.stdout).toContain('ok: token is active');
    expect(run.stdout).toContain(`ok: zone ${zone}: readable`);
    expect(run.status).toBe(0);
  });

  test('a bad token', async () => {
    const run = await check({ CLOUDFLARE_API_TOKEN: 'x'.repeat(40), CLOUDFLARE_ZONE_ID: zone });
    expect(run.stdout).toContain('FAIL: token: the token is invalid, revoked or expired (9109)');
    expect(run.status).toBe(1);
  });

  test('a token without the permission names the permission', async () => {
    const run = await check({ CLOUDFLARE_API_TOKEN: fake.addToken(['zone_read']), CLOUDFLARE_ZONE_ID: zone });
    expect(run.stdout).toContain('the token lacks the permission "Zone → Firewall Services → Edit"');
    expect(run.status).toBe(1);
  });

  test('an unknown zone', async () => {
    const run = await check({ CLOUDFLARE_API_TOKEN: token, CLOUDFLARE_ZONE_ID: '0'.repeat(32) });
    expect(run.stdout).toContain('unknown to Cloudflare');
    expect(run.status).toBe(1);
  });
});

describe('edgeban check with the ip-list backend', () => {
  test('lists readable, no custom rules yet: ok; a token without Zone WAF: named', async () => {
    const file = join(tmpdir(), `edgeban-iplist-${process.pid}.yaml`);
    writeFileSync(file, 'cloudflare:\n  backend: ip-list\n');
    const env = { CLOUDFLARE_API_TOKEN: token, CLOUDFLARE_ZONE_ID: zone, CLOUDFLARE_ACCOUNT_ID: [...fake.accounts][0] };
    try {
      const run = await check(env, ['-c', file]);
      expect(run.stdout).toContain('lists: readable');
      expect(run.stdout).toContain('custom rules: none yet (edgeban creates them)');
      expect(run.status).toBe(0);
      const denied = await check({ ...env, CLOUDFLARE_API_TOKEN: fake.addToken(['account_filter_lists']) }, ['-c', file]);
      expect(denied.stdout).toContain('the token lacks the permission "Zone → Zone WAF → Edit"');
      expect(denied.status).toBe(1);
    } finally {
      rmSync(file);
    }
  });
});
