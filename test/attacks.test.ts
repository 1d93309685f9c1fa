/**
 * The promises, attacked as an attacker would: frames on a socket, rules and failures at the fake
 * Cloudflare, requests to the admin port, configs and lines through the command line.
 */
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import http from 'node:http';
import net from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { FakeCloudflare } from './fake-cloudflare/server';
import { fakeCloudflareEachTest } from './helpers/fake';
import { CLI, DaemonProcess } from './helpers/daemon';
import { TestDaemon } from './helpers/in-process';
import { sleep, waitFor } from './helpers/wait';
import { octetCounted } from './helpers/wire';

let fake: FakeCloudflare, zone: string, token: string;
const daemons = fakeCloudflareEachTest(
  (started) => ({ fake, zone, token } = started),
  () => fake,
);
const HARD = { jails: { hard: { events: ['hard'], maxretry: 1, findtime: '10m', bantime: '1h' } } };
const line = (text: string, address: string) => `<37>2026-01-01T00:00:00.000001+00:00 web1 wordpress(www.example.com)[1]: ${text} from ${address}`;

async function edgeban(document: Record<string, unknown> = HARD): Promise<TestDaemon> {
  const daemon = new TestDaemon({ ...document, cloudflare: { token, apiBase: fake.baseUrl, zoneId: zone, ...(document.cloudflare as object) } });
  daemons.push(daemon);
  return daemon.start();
}

function connect(daemon: TestDaemon): Promise<net.Socket> {
  const port = daemon.daemon.bound.find((b) => b.transport === 'tcp')!.port;
  return new Promise((resolve, reject) => {
    const socket = net.connect({ host: '127.0.0.1', port }, () => resolve(socket));
    socket.once('error', reject);
  });
}

describe('a ban that never reaches Cloudflare frees its key', () => {
  test('after a refused call, the next attack from the address orders the ban again', async () => {
    const d = await edgeban();
    fake.fail({ count: 1, status: 403 });
    d.send('Blocked user enumeration attempt from 203.0.113.30');
    await waitFor(() => d.messages().includes('ban failed'), 5000, 'the failed ban');
    expect(fake.allRules()).toHaveLength(0);
    d.send('Blocked user enumeration attempt from 203.0.113.30');
    await waitFor(() => fake.allRules().length === 1, 5000, 'the ban ordered again');
  });
});

describe('framing cannot be turned against the stream', () => {
  test('an octet count over maxMessageBytes closes the connection instead of hiding the frames after it', async () => {
    const d = await edgeban();
    const socket = await connect(d);
    const closed = new Promise<void>((resolve) => socket.once('close', () => resolve()));
    socket.on('error', () => undefined);
    socket.write(`999999999 ${octetCounted(line('Blocked user enumeration attempt', '203.0.113.40'))}`);
    await closed;
    expect(d.daemon.view.ingestOutcomes.get('tcp:length_over_limit')).toBe(1);
    const again = await connect(d); // rsyslog reconnects, on a frame boundary
    again.write(octetCounted(line('Blocked user enumeration attempt', '203.0.113.41')));
    await waitFor(() => fake.allRules().length === 1, 5000, 'the ban after reconnecting');
    expect(fake.allRules()[0].configuration.value).toBe('203.0.113.41');
    again.destroy();
  });

  test('a raw LF inside a counted frame makes two lines: each address stays with its own message', async () => {
    const d = await edgeban({ jails: { soft: { events: ['soft'], maxretry: 1, findtime: '10m', bantime: '1h' } } });
    const socket = await connect(d);
    // a user enumeration (hard: not counted by this jail) glued to a failed login from another address
    socket.write(octetCounted(`${line('Blocked user enumeration attempt', '203.0.113.50')}\n${line('Authentication failure for x', '203.0.113.51')}`));
    await waitFor(() => fake.allRules().length === 1, 5000, 'one ban');
    await sleep(100);
    expect(fake.allRules().map((rule) => rule.configuration.value)).toEqual(['203.0.113.51']);
    expect(d.daemon.pipeline.stats.events).toBe(2);
    socket.destroy();
  });
});

describe('the admin endpoint lets in no one who should not be there', () => {
  const request = (port: number, options: http.RequestOptions, body?: string) =>
    new Promise<{ status: number; text: string }>((resolve, reject) => {
      const req = http.request({ host: '127.0.0.1', port, ...options }, (res) => {
        let text = '';
        res.on('data', (chunk) => (text += chunk));
        res.on('end', () => resolve({ status: res.statusCode!, text }));
      });
      req.on('error', reject);
      req.end(body);
    });

  test('a request under another Host name (DNS rebinding) is refused; the known names pass', async () => {
    const d = await edgeban({ ...HARD, admin: { listen: '127.0.0.1:0', hostNames: ['edgeban.internal'] } });
    const port = d.daemon.admin!.port;
    expect((await request(port, { path: '/status', headers: { host: `rebind.attacker.example:${port}` } })).status).toBe(421);
    expect((await request(port, { path: '/bans', headers: {}, setHost: false })).status).toBe(400); // Node's own answer to HTTP/1.1 without Host
    for (const host of [`127.0.0.1:${port}`, `localhost:${port}`, `edgeban.internal:${port}`]) {
      expect([(await request(port, { path: '/status', headers: { host } })).status, host]).toEqual([200, host]);
    }
  });

  test('an oversize body is 413, not 500', async () => {
    const admin = 'admin-token-0123456789abcdef';
    const d = await edgeban({ ...HARD, admin: { listen: '127.0.0.1:0', token: admin } });
    const answer = await request(d.daemon.admin!.port, { method: 'POST', path: '/unban', headers: { authorization: `Bearer ${admin}` } }, 'x'.repeat(100_000));
    expect(answer.status).toBe(413);
  });

  test('/bans without the token pseudonymises even when the log shows plain addresses', async () => {
    const d = await edgeban({ ...HARD, privacy: { logAddresses: 'plain' } });
    d.send('Blocked user enumeration attempt from 203.0.113.60');
    await waitFor(() => fake.allRules().length === 1);
    const answer = await request(d.daemon.admin!.port, { path: '/bans' });
    expect(answer.text).not.toContain('203.0.113.60');
    expect(JSON.parse(answer.text)).toMatchObject({ addresses: 'pseudonymized', bans: [{ key: expect.stringMatching(/^~[0-9a-f]{12}$/) }] });
  });

  test('an admin endpoint or UDP listener beyond loopback is warned about at start', async () => {
    // bound on every interface for the warning only: nothing is sent to it
    const d = await edgeban({ ...HARD, listen: { tcp: ['127.0.0.1:0'], udp: ['0.0.0.0:0'] }, admin: { listen: '0.0.0.0:0' } });
    const warnings = d.logs.filter((l) => l.level === 'warn').map((l) => String(l.msg));
    expect(warnings.some((m) => m.startsWith("UDP listens beyond loopback: a datagram's source address can be forged"))).toBe(true);
    expect(warnings.some((m) => m.startsWith('the admin endpoint listens beyond loopback'))).toBe(true);
  });

  test("UDP read through Node's dgram (the batch reader turned off, or not built) is warned about at start, and only then", async () => {
    const cases: [NodeJS.ProcessEnv, boolean][] = [
      [{ EDGEBAN_UDP_READER: 'node' }, true],
      [{}, process.platform !== 'linux'], // npm install builds the batch reader on Linux
    ];
    for (const [env, warned] of cases) {
      const daemon = await DaemonProcess.start({ listen: { udp: ['127.0.0.1:0'], tcp: [] } }, env);
      await daemon.stop();
      const warning = daemon.lines.find((line) => line.level === 'warn' && line.msg.startsWith("UDP is read through Node's dgram"));
      expect([env, warning !== undefined]).toEqual([env, warned]);
    }
  });
});

describe('configs and lines through the command line', () => {
  let dir: string;
  beforeAll(() => (dir = mkdtempSync(join(tmpdir(), 'edgeban-attacks-'))));
  afterAll(() => rmSync(dir, { recursive: true, force: true }));
  const run = (args: string[], config?: string, input?: string) => {
    const file = join(dir, 'c.yaml');
    if (config !== undefined) writeFileSync(file, config);
    return spawnSync(process.execPath, [CLI, ...args, ...(config !== undefined ? ['-c', file] : [])], {
      input,
      encoding: 'utf8',
      env: { PATH: process.env.PATH },
      timeout: 20_000,
    });
  };

  test('a bantime past a year is refused, naming the key', () => {
    const answer = run(['check'], 'jails:\n  j: { events: [hard], maxretry: 1, findtime: 10m, bantime: 99999999w }\n');
    expect(answer.status).toBe(2);
    expect(answer.stderr).toContain('jails.j.bantime: "99999999w" is longer than a year');
  });

  test('a prefix error names the values allowed', () => {
    const answer = run(['check'], 'trust:\n  ipv4Prefix: 20\n');
    expect(answer.status).toBe(2);
    expect(answer.stderr).toContain('trust.ipv4Prefix: must be one of 16, 24, 32');
  });

  test('check says plainly what an empty jails, no token and a clear-text API mean', () => {
    const empty = run(['check'], 'jails: {}\n');
    expect(empty.status).toBe(1);
    expect(empty.stdout).toContain('FAIL: jails is empty: no event is ever counted, nothing is ever banned');
    expect(empty.stdout).toContain('WARN: no Cloudflare token');
    const clear = run(['check'], 'cloudflare:\n  token: abcdefabcdefabcdef\n  apiBase: http://api.example.com/client/v4\n');
    expect(clear.status).toBe(1);
    expect(clear.stdout).toContain('plain HTTP: the token would cross the network in clear text');
  });

  test("other plugins' lines and successful logins are never counted, even by a jail of class info", () => {
    expect(run(['check'], 'jails:\n  j: { events: [unrecognized], maxretry: 1, findtime: 10m, bantime: 1h }\n').status).toBe(2);
    const lines = [
      'Mar  9 06:25:12 web1 wordpress(www.example.com)[1]: Accepted password for admin from 203.0.113.70',
      'Mar  9 06:25:13 web1 wordpress(www.example.com)[1]: (other-plugin) Something happened from 203.0.113.71',
      'Mar  9 06:25:14 web1 wordpress(www.example.com)[1]: Hello world from 203.0.113.72',
    ];
    const answer = run(
      ['replay', '--json', '--events', '-'],
      'jails:\n  j: { events: [info], maxretry: 1, findtime: 10m, bantime: 1h }\n',
      `${lines.join('\n')}\n`,
    );
    expect(answer.stderr).toBe('');
    const out = answer.stdout
      .trim()
      .split('\n')
      .map((text) => JSON.parse(text));
    expect(out.filter((o) => o.type === 'event').map((o) => [o.kind, o.ignored])).toEqual([
      ['auth_success', 'never_counted'],
      ['plugin_message', 'never_counted'],
      ['unrecognized', 'never_counted'],
    ]);
    expect(out.filter((o) => o.type === 'ban')).toEqual([]);
  });
});
