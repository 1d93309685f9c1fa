import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import net from 'node:net';
import { Readable, Writable } from 'node:stream';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { buildConfig } from '../src/config/load';
import { DecodeThread } from '../src/decode/decode-thread';
import { openReplayInput, ReplayInput } from '../src/replay/input';
import { replay } from '../src/replay/replay';
import { CLI } from './helpers/daemon';
import { NODE_FLAGS } from '../src/common/node-flags';

const FIXTURES = resolve(__dirname, 'fixtures');

function edgeban(args: string[], input?: string, env: NodeJS.ProcessEnv = {}) {
  return spawnSync(process.execPath, [CLI, ...args], { input, encoding: 'utf8', env: { PATH: process.env.PATH, ...env }, timeout: 20_000 });
}

let dir: string;
beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), 'edgeban-cli-'));
});
afterAll(() => rmSync(dir, { recursive: true, force: true }));

function configFile(text: string): string {
  const file = join(dir, `c${Math.random().toString(36).slice(2)}.yaml`);
  writeFileSync(file, text);
  return file;
}

describe('edgeban replay', () => {
  test('--json --events over the reference sample lines gives the golden output', () => {
    const run = edgeban(['replay', '--json', '--events', join(FIXTURES, 'reference-sample.log')]);
    expect(run.stderr).toBe('');
    expect(run.status).toBe(0);
    expect(run.stdout).toBe(readFileSync(join(FIXTURES, 'reference-sample.golden.jsonl'), 'utf8'));
  });

  test('reads auth.log lines from stdin and prints bans and a summary', () => {
    const lines = [
      'Mar  9 06:25:12 web1 wordpress(www.example.com)[21312]: Blocked user enumeration attempt from 192.0.2.47',
      'Mar  9 06:25:22 web1 wordpress(www.example.com)[21322]: Untrusted X-Forwarded-For header from 172.70.131.14',
      'Mar  9 06:25:23 web1 sshd[1]: Failed password for root from 192.0.2.1 port 22 ssh2',
    ].join('\n');
    const run = edgeban(['replay', '--json', '-'], lines);
    const out = run.stdout
      .trim()
      .split('\n')
      .map((line) => JSON.parse(line));
    expect(out).toEqual([
      { type: 'ban', key: '192.0.2.47/32', jail: 'wordpress-hard', action: 'block', until: expect.any(Number), site: 'www.example.com' },
      { type: 'summary', lines: 3, events: 2, bans: 1, ignored: { cloudflare: 1 }, classes: { hard: 2 } },
    ]);
  });

  test('lines split across reads, and a line longer than many reads (over listen.maxMessageBytes: oversize), are each counted once', () => {
    const attack = (i: number) => `Mar  9 06:25:12 web1 wordpress(www.example.com)[1]: Blocked user enumeration attempt from 45.0.${i >> 8}.${i & 255}`;
    const lines = Array.from({ length: 4000 }, (_, i) => attack(i));
    lines.splice(2000, 0, `Mar  9 06:25:12 web1 wordpress(www.example.com)[1]: ${'x'.repeat(1_000_000)}`);
    // one ban an address, as the jails order them: neither widened into networks nor shielded
    const run = edgeban(['replay', '-c', configFile('widen: false\nshield: false\n'), '--json', '-'], `${lines.join('\r\n')}\r\n${attack(4000)}`);
    const out = run.stdout.trim().split('\n');
    expect(out).toHaveLength(4002);
    expect(JSON.parse(out[4001])).toMatchObject({ type: 'summary', lines: 4002, events: 4001, bans: 4001, ignored: { oversize: 1 } });
    expect(new Set(out.slice(0, 4001).map((line) => JSON.parse(line).key)).size).toBe(4001);
  });

  test('octet-counted frames one a line, and a custom jail file', () => {
    const config = configFile('jails:\n  strict: { events: [auth_failure], maxretry: 2, findtime: 1m, bantime: 2h, action: js_challenge }\n');
    const frame = (s: number) => {
      const msg = `<37>2025-03-09T06:31:0${s}.5+00:00 web1 wp(x)[1] Authentication failure for a from 2001:db8:1:2::9`;
      return `${Buffer.byteLength(msg)} ${msg}`;
    };
    const run = edgeban(['replay', '-c', config, '--json'], `${frame(1)}\n${frame(2)}\n`);
    expect(JSON.parse(run.stdout.split('\n')[0])).toEqual({
      type: 'ban',
      key: '2001:db8:1:2::/64',
      jail: 'strict',
      action: 'js_challenge',
      until: Date.UTC(2025, 2, 9, 8, 31, 2) / 1000,
      site: 'x',
    });
  });
});

describe('edgeban replay --count', () => {
  test('counts the events the full replay finds, by class and by kind, and decides nothing', () => {
    const full = readFileSync(join(FIXTURES, 'reference-sample.golden.jsonl'), 'utf8')
      .trim()
      .split('\n')
      .map((line) => JSON.parse(line));
    const kinds: Record<string, number> = {};
    for (const line of full) if (line.type === 'event') kinds[line.kind] = (kinds[line.kind] ?? 0) + 1;
    const { lines, events, classes } = full[full.length - 1];
    const run = edgeban(['replay', '--count', '--json', join(FIXTURES, 'reference-sample.log')]);
    expect(run.stderr).toBe('');
    expect(run.status).toBe(0);
    // one line, the summary: no bans and no trust verdicts (cloudflare), which are the policy's
    expect(run.stdout.trim().split('\n')).toHaveLength(1);
    expect(JSON.parse(run.stdout)).toEqual({ type: 'summary', lines, events, ignored: { address_unknown: 2 }, classes, kinds });
  });

  test('text: lines, classes, kinds, and why lines were not events (oversize, repeat)', () => {
    const frame = `<37>2025-03-09T06:31:01.5+00:00 web1 wp(x)[1] Authentication failure for a from 2001:db8:1:2::9`;
    const input = [
      'Mar  9 06:25:12 web1 wordpress(www.example.com)[1]: Blocked user enumeration attempt from 192.0.2.47',
      `Mar  9 06:25:13 web1 wordpress(www.example.com)[1]: ${'x'.repeat(9000)}`,
      'Mar  9 06:25:14 web1 sshd[1]: Failed password for root from 192.0.2.1 port 22 ssh2',
      frame,
      frame,
    ].join('\n');
    const run = edgeban(['replay', '--count', '-'], input);
    expect(run.stdout).toBe(
      [
        '5 lines, 2 events',
        '  class hard: 1',
        '  class soft: 1',
        '  kind auth_failure: 1',
        '  kind user_enumeration: 1',
        '  ignored oversize: 1',
        '  ignored repeat: 1',
        '',
      ].join('\n'),
    );
  });

  test('reads listen.maxMessageBytes from -c FILE, and nothing else: an invalid file is still refused', () => {
    const line = `Mar  9 06:25:12 web1 wordpress(www.example.com)[1]: Authentication failure for ${'x'.repeat(500)} from 192.0.2.47`;
    const small = configFile('listen:\n  maxMessageBytes: 480\n');
    expect(JSON.parse(edgeban(['replay', '--count', '--json', '-c', small, '-'], line).stdout)).toMatchObject({
      lines: 1,
      events: 0,
      ignored: { oversize: 1 },
    });
    expect(JSON.parse(edgeban(['replay', '--count', '--json', '-'], line).stdout)).toMatchObject({ lines: 1, events: 1 });
    const invalid = edgeban(['replay', '--count', '-c', configFile('listen:\n  maxMessageBytes: 1\n'), '-'], line);
    expect(invalid.status).toBe(2);
    expect(invalid.stderr).toContain('listen.maxMessageBytes');
  });

  test('with --events is a usage error', () => {
    const run = edgeban(['replay', '--count', '--events', '-'], '');
    expect(run.status).toBe(2);
    expect(run.stderr).toContain('--count');
  });
});

describe('replay of a line without end', () => {
  afterEach(() => jest.restoreAllMocks());

  test('holds no more than a line may be: 640 MiB without LF, then an attack, is one oversize line and one ban', async () => {
    // Memory figures would count garbage the GC has not met yet; what matters is that the line's
    // pieces are never joined, so the test watches the joins (and sends one piece, 10,000 times).
    const joins = jest.spyOn(Buffer, 'concat');
    const piece = Buffer.alloc(65_536, 120);
    let sent = 0;
    const input = new Readable({
      read() {
        if (sent++ < 10_000) this.push(piece);
        else {
          this.push(`\nMar  9 06:25:12 web1 wordpress(www.example.com)[1]: Blocked user enumeration attempt from 192.0.2.1\n`);
          this.push(null);
        }
      },
    });
    let printed = '';
    const output = new Writable({ write: (chunk: Buffer, _encoding, done) => ((printed += chunk.toString()), done()) });
    const stats = await replay(() => buildConfig({}, {}), input, output, { json: true, events: false });
    expect(stats).toMatchObject({ lines: 2, events: 1, bans: 1 });
    expect(stats.rejected.get('oversize')).toBe(1);
    expect(printed).toContain('"key":"192.0.2.1/32"');
    const largestJoin = Math.max(0, ...joins.mock.results.map((result) => (result.value as Buffer).length));
    expect(largestJoin).toBeLessThan(1 << 20); // joining the line would take 640 MiB
  }, 20_000);
});

describe('replay of a file, its reads and answers written again', () => {
  test('prints what the same lines give through a stream, byte for byte', async () => {
    // IPv6 and IPv4 events, sites, rejected lines and lines of every length: a cell left over from
    // an earlier read or answer, in buffers that go round between the threads, would show
    const lines = Array.from({ length: 60_000 }, (_, i) => {
      const address = i % 3 === 0 ? `2001:db8:${(i >> 4).toString(16)}::${(i & 15).toString(16)}` : `203.0.${(i >> 6) & 255}.${i & 63}`;
      const time = `Mar ${String(9 + (i >> 14)).padStart(2, ' ')} 06:${String((i >> 8) % 60).padStart(2, '0')}:${String(i % 60).padStart(2, '0')}`;
      if (i % 7 === 3) return `${time} web1 sshd[1]: ${'x'.repeat(i % 300)}`;
      return `${time} web1 wordpress(site${i % 5}.example)[1]: Authentication failure for ${'u'.repeat(i % 40)} from ${address}`;
    });
    const text = `${lines.join('\n')}\n`;
    const file = join(dir, 'equal.log');
    writeFileSync(file, text);
    const run = async (input: ReplayInput) => {
      let printed = '';
      const output = new Writable({ write: (chunk: Buffer, _encoding, done) => ((printed += chunk.toString()), done()) });
      await replay(() => buildConfig({}, {}), input, output, { json: true, events: true });
      return printed;
    };
    const fromFile = await run(openReplayInput(file));
    expect(Buffer.byteLength(text)).toBeGreaterThan(6 << 20);
    expect(fromFile).toBe(await run(Readable.from([Buffer.from(text)])));
    expect(fromFile).toContain('"type":"ban"');
  }, 60_000);
});

describe('replay whose decode thread dies', () => {
  afterEach(() => jest.restoreAllMocks());

  test('stops with an error rather than print counts short of the chunks the thread held', async () => {
    const submit = DecodeThread.prototype.submit;
    let submitted = 0;
    jest.spyOn(DecodeThread.prototype, 'submit').mockImplementation(function (this: DecodeThread, ...args) {
      submit.apply(this, args);
      // the chunk just handed over dies with the thread
      if (++submitted === 2) void (this as unknown as { worker: { terminate(): Promise<number> } }).worker.terminate();
    });
    const line = 'Mar  9 06:25:12 web1 wordpress(www.example.com)[1]: Blocked user enumeration attempt from 192.0.2.1\n';
    const input = Readable.from(Array.from({ length: 5 }, () => Buffer.from(line.repeat(2000))));
    const output = new Writable({ write: (_chunk, _encoding, done) => done() });
    await expect(replay(() => buildConfig({}, {}), input, output, { json: true, events: false })).rejects.toThrow(/decode thread stopped/);
    expect(submitted).toBeGreaterThanOrEqual(2);
  }, 20_000);
});

describe('edgeban replay of a file that is not there', () => {
  test('says so in one line and exits 1', () => {
    const run = edgeban(['replay', join(dir, 'no-such.log')]);
    expect(run.status).toBe(1);
    expect(run.stderr).toMatch(/^edgeban: ENOENT: no such file or directory, open '.*no-such\.log'\n$/);
  });
});

describe('edgeban replay into a reader that stops early', () => {
  test('`| head` ends it quietly with status 0, not an EPIPE stack trace', () => {
    const input = join(dir, 'many-bans.log');
    const lines = Array.from(
      { length: 20_000 },
      (_, i) => `Mar  9 06:25:12 web1 wordpress(a.example)[1]: Blocked user enumeration attempt from 198.51.${i >> 8}.${i & 255}`,
    );
    writeFileSync(input, `${lines.join('\n')}\n`);
    const script = `"${process.execPath}" "${CLI}" replay --json "${input}" 2>"${input}.err" | head -n 1 >/dev/null; echo "\${PIPESTATUS[0]}"`;
    const run = spawnSync('bash', ['-c', script], { encoding: 'utf8', timeout: 20_000 });
    expect(readFileSync(`${input}.err`, 'utf8')).toBe('');
    expect(run.stdout.trim()).toBe('0');
  });
});

describe('exit codes and config errors', () => {
  test('check: the embedded default is valid', () => {
    const run = edgeban(['check']);
    expect(run.status).toBe(0);
  });

  test.each([
    ['listen:\n  udp: ["localhost"]\n', 'listen.udp[0]'],
    ['listen:\n  allowedSenders: ["10.0.0.0/33"]\n', 'listen.allowedSenders[0]'],
    ['jails:\n  j: { events: [nonsense], maxretry: 1, findtime: 1m, bantime: 1h }\n', 'jails.j.events[0]'],
    ['jails:\n  j: { events: [hard], maxretry: 1, findtime: 1 minute, bantime: 1h }\n', 'jails.j.findtime'],
    ['jails:\n  j: { events: [hard], maxretry: 1, findtime: 1m, bantime: 1h, action: ban }\n', 'jails.j.action'],
    ['trust:\n  ipv6Prefix: 200\n', 'trust.ipv6Prefix'],
    ['trust:\n  proxy: []\n', 'trust.proxy'],
    ['cloudflare:\n  token: file:/nonexistent/token\n', 'cloudflare.token'],
    ['listen: [\n', 'not valid YAML'],
  ])('%j is refused with exit 2, naming %s', (yaml, key) => {
    const run = edgeban(['check', '-c', configFile(yaml)]);
    expect(run.status).toBe(2);
    expect(run.stderr).toContain(key);
    expect(run.stderr.trim().split('\n')).toHaveLength(1);
  });

  test.each([
    ['listen: [\n', 'not valid YAML'],
    ['trust:\n  ipv6Prefix: 200\n', 'trust.ipv6Prefix'],
    [null, 'cannot read'],
  ])('run, whose UDP thread reads the file while the schema loads, refuses %j as check does', (yaml, words) => {
    const file = yaml === null ? join(dir, 'no-such.yaml') : configFile(yaml);
    const run = edgeban(['run', '-c', file]);
    expect(run.status).toBe(2);
    expect(run.stderr).toContain(words);
    expect(run.stderr).toBe(edgeban(['check', '-c', file]).stderr);
  });

  test('env: and file: references are resolved', () => {
    const tokenFile = join(dir, 'token');
    writeFileSync(tokenFile, 'secret-token\n');
    const config = buildConfig({ cloudflare: { token: `file:${tokenFile}`, zoneId: 'env:MY_ZONE', accountId: 'env:UNSET_VARIABLE' } }, { MY_ZONE: 'abc' });
    expect(config.cloudflare).toMatchObject({ token: 'secret-token', zoneId: 'abc' });
    expect(config.cloudflare.accountId).toBeUndefined();
    expect(buildConfig({}, { CLOUDFLARE_API_TOKEN: 't', CLOUDFLARE_ZONE_ID: 'z' }).cloudflare).toMatchObject({ token: 't', zoneId: 'z' });
  });

  test('check with a token but an API that does not answer: config ok, then a clear failure', () => {
    // port 9 on loopback is closed: nothing leaves the machine
    const run = edgeban(['check'], undefined, {
      CLOUDFLARE_API_TOKEN: 'x'.repeat(40),
      CLOUDFLARE_ZONE_ID: 'z',
      CLOUDFLARE_API_BASE: 'http://127.0.0.1:9/client/v4',
    });
    expect(run.stdout).toContain('ok: config (embedded default) is valid');
    expect(run.stdout).toContain('FAIL: token: Cloudflare did not answer well');
    expect(run.status).toBe(1);
  });

  test('unknown command and unknown option are usage errors', () => {
    expect(edgeban(['frobnicate']).status).toBe(2);
    expect(edgeban(['replay', '--bogus']).status).toBe(2);
    expect(edgeban([]).status).toBe(2);
  });

  test('run exits 1 with a clear message when its port is taken', async () => {
    const blocker = net.createServer();
    await new Promise<void>((done) => blocker.listen(0, '127.0.0.1', done));
    const port = (blocker.address() as net.AddressInfo).port;
    const run = edgeban(['run', '-c', configFile(`listen:\n  tcp: ["127.0.0.1:${port}"]\n  udp: []\n`)]);
    blocker.close();
    expect(run.status).toBe(1);
    expect(run.stdout).toContain('EADDRINUSE');
  });
});

describe('package entry points', () => {
  const pkg = JSON.parse(readFileSync(resolve(__dirname, '../package.json'), 'utf8'));

  test('bin, main and the start script name files the build produces', () => {
    const root = resolve(__dirname, '..');
    expect(resolve(root, pkg.bin.edgeban)).toBe(CLI);
    expect(pkg.scripts.start).toBe(`node ${NODE_FLAGS.join(' ')} ${pkg.bin.edgeban} run`);
    expect(() => readFileSync(resolve(root, pkg.main))).not.toThrow();
  });

  test('the CLI file starts with a shebang, so the installed bin runs', () => {
    expect(readFileSync(CLI, 'utf8').startsWith(`#!/usr/bin/env -S node ${NODE_FLAGS.join(' ')}\n`)).toBe(true);
  });
});

describe('start-up cost', () => {
  test("the config and the Cloudflare answers load zod's Zod 3 API only, not Zod 4's core, and config errors read in English", () => {
    const script = `
      const dist = ${JSON.stringify(resolve(__dirname, '../dist/src'))};
      const { buildConfig } = require(dist + '/config/load.js');
      require(dist + '/cloudflare/answers.js');
      let message = '';
      try { buildConfig({ listen: { udp: 5 } }, {}); } catch (error) { message = error.message; }
      const zod = Object.keys(require.cache).filter((file) => /node_modules.zod/.test(file));
      console.log(JSON.stringify({ message, v3: zod.some((file) => /zod.v3/.test(file)), v4: zod.filter((file) => /zod.v4/.test(file)) }));`;
    const run = spawnSync(process.execPath, ['-e', script], { encoding: 'utf8' });
    expect(run.stderr).toBe('');
    expect(JSON.parse(run.stdout)).toEqual({ message: 'listen.udp: Expected array, received number', v3: true, v4: [] });
  });
});
