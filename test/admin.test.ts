/** The admin endpoint: health, metrics, bans (pseudonymised unless asked with the token), unban. */
import { execFile } from 'node:child_process';
import { FakeCloudflare } from './fake-cloudflare/server';
import { startFakeCloudflare } from './helpers/fake';
import { CLI, DaemonProcess } from './helpers/daemon';
import { TestDaemon } from './helpers/in-process';
import { freePort } from './helpers/ports';
import { waitFor } from './helpers/wait';

const ADMIN_TOKEN = 'admin-token-0123456789abcdef';
let fake: FakeCloudflare;
let zone: string;
let token: string;
let daemon: TestDaemon;
let admin: string;

beforeEach(async () => {
  ({ fake, zone, token } = await startFakeCloudflare());
  daemon = new TestDaemon({
    admin: { listen: '127.0.0.1:0', token: ADMIN_TOKEN },
    jails: { hard: { events: ['hard'], maxretry: 1, findtime: '10m', bantime: '1h' } },
    cloudflare: { token, apiBase: fake.baseUrl, zoneId: zone },
  });
  await daemon.start();
  admin = `http://127.0.0.1:${daemon.daemon.admin!.port}`;
  daemon.send('Blocked user enumeration attempt from 203.0.113.9');
  daemon.send('Authentication failure for someone from 172.70.131.14');
  await waitFor(() => fake.allRules().length === 1);
});
afterEach(async () => {
  await daemon.stop();
  await fake.stop();
});

const get = (path: string, headers: Record<string, string> = {}) => fetch(`${admin}${path}`, { headers });
const json = async (response: Promise<Response>): Promise<any> => (await response).json();
const unban = (address: string, auth?: string) =>
  fetch(`${admin}/unban`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', ...(auth ? { authorization: `Bearer ${auth}` } : {}) },
    body: JSON.stringify({ address }),
  });

test('/healthz', async () => {
  expect(await (await get('/healthz')).json()).toEqual({ status: 'ok' });
});

test('/metrics carries frames, events, ignored reasons, bans, API calls, queue, tracked keys and the latency histogram', async () => {
  const text = await (await get('/metrics')).text();
  expect(text).toContain('edgeban_frames_total{transport="tcp",outcome="accepted"} 2');
  expect(text).toContain('edgeban_frames_decoded_total{thread="main"} 2');
  expect(text).toContain('edgeban_events_total{kind="user_enumeration"} 1');
  expect(text).toContain('edgeban_events_ignored_total{reason="cloudflare"} 1');
  expect(text).toContain('edgeban_ban_operations_total{backend="access-rules",outcome="banned"} 1');
  expect(text).toMatch(/edgeban_api_responses_total\{status="200"\} \d+/);
  expect(text).toContain('edgeban_queue_depth 0');
  expect(text).toContain('edgeban_tracked_keys 1');
  expect(text).toContain('edgeban_active_bans 1');
  expect(text).toContain('edgeban_ban_latency_seconds_count 1');
  expect(text).not.toContain('203.0.113.9');
});

test('/bans: pseudonymised without the token, plain with it', async () => {
  const anonymous = await json(get('/bans'));
  expect(anonymous.addresses).toBe('pseudonymized');
  expect(anonymous.bans[0].key).toMatch(/^~[0-9a-f]{12}$/);
  expect(JSON.stringify(anonymous)).not.toContain('203.0.113.9');
  const wrong = await json(get('/bans', { authorization: 'Bearer nope' }));
  expect(wrong.addresses).toBe('pseudonymized');
  const plain = await json(get('/bans', { authorization: `Bearer ${ADMIN_TOKEN}` }));
  expect(plain.bans).toEqual([{ key: '203.0.113.9/32', jail: 'hard', action: 'block', until: expect.any(Number), location: `zone:${zone}` }]);
});

test('POST /unban needs the token; with it the rule is deleted and the address can be banned again', async () => {
  expect((await unban('203.0.113.9')).status).toBe(401);
  expect((await unban('203.0.113.9', 'wrong-token-wrong-token')).status).toBe(401);
  expect(fake.allRules()).toHaveLength(1);
  expect((await unban('not-an-address', ADMIN_TOKEN)).status).toBe(400);
  const response = await unban('203.0.113.9', ADMIN_TOKEN);
  expect(await response.json()).toEqual({ lifted: ['203.0.113.9/32'] });
  await waitFor(() => fake.allRules().length === 0);
  daemon.send('Blocked user enumeration attempt from 203.0.113.9');
  await waitFor(() => fake.allRules().length === 1);
});

test('unknown paths are 404', async () => {
  expect((await get('/nope')).status).toBe(404);
});

describe('edgeban status and edgeban unban', () => {
  const cli = (args: string[], env: NodeJS.ProcessEnv) =>
    new Promise<{ status: number; stdout: string; stderr: string }>((resolve) =>
      execFile(process.execPath, [CLI, ...args], { encoding: 'utf8', env: { PATH: process.env.PATH, ...env }, timeout: 20_000 }, (error, stdout, stderr) =>
        resolve({ status: error ? Number(error.code) : 0, stdout, stderr }),
      ),
    );

  test('status and unban talk to the running daemon', async () => {
    const port = await freePort();
    const config = `admin:\n  listen: "127.0.0.1:${port}"\n`;
    const file = require('node:path').join(require('node:os').tmpdir(), `edgeban-admin-${port}.yaml`);
    require('node:fs').writeFileSync(file, config);
    const env = { EDGEBAN_ADMIN_TOKEN: ADMIN_TOKEN };
    const running = await DaemonProcess.start({ listen: { tcp: ['127.0.0.1:0'], udp: [] }, admin: { listen: `127.0.0.1:${port}` } }, env);
    try {
      const status = await cli(['status', '--json', '-c', file], env);
      expect(status.status).toBe(0);
      expect(JSON.parse(status.stdout)).toMatchObject({ backend: 'dry-run', activeBans: 0 });
      // for a person by default, as fail2ban-client status: aligned lines, each jail with its bans
      const human = await cli(['status', '-c', file], env);
      expect(human.stdout).toMatch(/^uptime: +\d/m);
      expect(human.stdout).toMatch(/^backend: +dry-run$/m);
      expect(human.stdout).toMatch(/^API budget: +no calls \(dry run\)$/m);
      expect(human.stdout).toMatch(/^jails: +wordpress-hard: 0 active, wordpress-soft: 0 active$/m);
      const jail = await cli(['status', 'wordpress-soft', '-c', file], env);
      expect(jail.stdout).toMatch(/^bans after: +5 within 10m, for 1h, action managed_challenge$/m);
      expect((await cli(['status', 'nope', '-c', file], env)).stdout).toContain('no jail named nope');
      const unbanned = await cli(['unban', '-c', file, '192.0.2.1'], env);
      expect(JSON.parse(unbanned.stdout)).toEqual({ lifted: [] });
      const refused = await cli(['unban', '-c', file, '192.0.2.1'], {});
      expect(refused.status).toBe(1);
    } finally {
      await running.stop();
      require('node:fs').rmSync(file);
    }
    const down = await cli(['status', '-c', file.replace('.yaml', '-missing.yaml')], env);
    expect(down.status).toBe(2);
  });
});

test('the human status names the API budget and the last Cloudflare errors, newest first', () => {
  const { statusText } = require('../src/observe/status-text') as typeof import('../src/observe/status-text');
  const text = statusText({
    uptimeSeconds: 61,
    apiBudget: { used: 12, limit: 1000, cloudflareRemaining: 1188 },
    recentApiErrors: [
      { at: 1_700_000_000, outcome: 'retry', jail: 'hard', error: 'POST /x: HTTP 503' },
      { at: 1_700_000_060, outcome: 'failed', jail: 'soft', error: 'POST /x: HTTP 400, 10001 invalid' },
    ],
  });
  expect(text).toMatch(/^API budget: +12 of 1000 calls in the last 5 minutes \(Cloudflare says 1188 left\)$/m);
  expect(text).toMatch(/^recent API errors: +22:14:20 failed \(soft\): POST \/x: HTTP 400, 10001 invalid\n +22:13:20 retry \(hard\): POST \/x: HTTP 503$/m);
});
