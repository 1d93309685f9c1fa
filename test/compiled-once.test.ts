import { spawn, spawnSync } from 'node:child_process';
import dgram from 'node:dgram';
import net from 'node:net';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import YAML from 'yaml';
import { waitFor } from './helpers/wait';
import { octetCounted } from './helpers/wire';

/**
 * The scanner's optimised code is compiled for the one kind of byte array it meets. Should a
 * Buffer reach it beside plain Uint8Arrays (a read of a file is a Buffer, a line carried over
 * between reads was joined into a Uint8Array), V8 throws the code of every scanning function away
 * and compiles it again: that cost `replay --count` a tenth of its time on a million lines.
 * V8 says so when asked (--trace-deopt): a bailout for a "wrong map".
 */
const CLI = resolve(__dirname, '../dist/src/cli.js');
const SCANNERS = [
  'decodeLine',
  'scan',
  'scan3164',
  'parseBsdTimestamp',
  'recogniseIn',
  'classify',
  'parseIpIn',
  'bytesAt',
  'indexIn',
  'lastIndexIn',
  'siteOfTag',
];

/** Some 3 MiB of lines (three reads of replay's input, lines cut between them), of several kinds. */
function lines(): string {
  const kinds = [
    (ip: string) => `Mar  9 06:00:01 web1 wordpress(www.example.com)[26621]: Blocked user enumeration attempt from ${ip}`,
    (ip: string) => `Mar  9 06:00:02 web1 wordpress(shop.example.org)[29831]: Spam comment 1234 from ${ip}`,
    (ip: string) => `<37>2025-03-09T06:00:03.25+00:00 web1 wordpress(blog.example.net)[23836]: Authentication failure for admin from ${ip}`,
    (ip: string) => `Mar  9 06:00:04 web1 wp(example.com/blog2)[8087]: XML-RPC authentication failure for editor from ${ip}`,
  ];
  const out: string[] = [];
  for (let i = 0; out.length < 34_000; i++) {
    const ip = i % 5 === 0 ? `2001:db8::${(i % 4093).toString(16)}` : `203.0.${i % 251}.${i % 199}`;
    out.push(kinds[i % kinds.length](ip));
  }
  return `${out.join('\n')}\n`;
}

test('replay --count compiles its scanner once: no function of it is thrown away for another kind of array', () => {
  const dir = mkdtempSync(join(tmpdir(), 'edgeban-compiled-'));
  try {
    const file = join(dir, 'auth.log');
    writeFileSync(file, lines());
    const run = spawnSync(process.execPath, ['--trace-deopt', CLI, 'replay', '--count', file], { encoding: 'utf8', maxBuffer: 64 << 20 });
    expect(run.status).toBe(0);
    expect(run.stdout).toMatch(/34000 lines, 34000 events/);
    expect(wrongMaps(run.stdout).filter((name) => SCANNERS.includes(name))).toEqual([]);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}, 30_000);

/** Every (function, reason) pair V8 names in --trace-deopt's output that threw a function's optimised code away for a wrong map. */
function wrongMaps(trace: string): string[] {
  return [...trace.matchAll(/reason: wrong map\).*?<JSFunction (\S+) /g)].map((match) => match[1]);
}

test('the daemon decodes datagrams (where the UDP thread wrote them) and stream frames with the same compiled code', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'edgeban-compiled-'));
  const file = join(dir, 'edgeban.yaml');
  writeFileSync(file, YAML.stringify({ listen: { udp: ['127.0.0.1:0'], tcp: ['127.0.0.1:0'] }, admin: { enabled: false } }));
  const child = spawn(process.execPath, ['--trace-deopt', CLI, 'run', '-c', file], { env: { PATH: process.env.PATH }, stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  child.stdout.setEncoding('utf8').on('data', (chunk: string) => (out += chunk));
  const exited = new Promise((done) => child.on('exit', done));
  try {
    await waitFor(() => out.includes('"edgeban listening"'), 10_000);
    const listening = JSON.parse(out.split('\n').find((line) => line.includes('"edgeban listening"'))!) as { listening: string[] };
    const port = (transport: string) =>
      Number(
        listening.listening
          .find((url) => url.startsWith(transport))!
          .split(':')
          .pop(),
      );
    const stream = net.connect(port('tcp'), '127.0.0.1');
    const socket = dgram.createSocket('udp4');
    const line = (i: number) =>
      `<37>2025-03-09T06:31:00.${String(i).padStart(6, '0')}+00:00 web1 wordpress(www.example.com)[4242]: Authentication failure for admin from 198.51.100.${i % 250}`;
    // in turns, so that each path is optimised before the other comes back to it
    for (let turn = 0; turn < 6; turn++) {
      for (let i = 0; i < 3000; i++) socket.send(line(turn * 10_000 + i), port('udp'), '127.0.0.1');
      await new Promise((done) => setTimeout(done, 300));
      stream.write(Buffer.concat(Array.from({ length: 3000 }, (_, i) => octetCounted(line(turn * 10_000 + 5000 + i)))));
      await new Promise((done) => setTimeout(done, 300));
    }
    socket.close();
    stream.destroy();
    child.kill('SIGTERM');
    await exited;
    expect(wrongMaps(out).filter((name) => ['decodeHere', 'decodeFrame', ...SCANNERS].includes(name))).toEqual([]);
  } finally {
    child.kill('SIGKILL');
    rmSync(dir, { recursive: true, force: true });
  }
}, 30_000);

/** Every function V8 threw optimised code away for, for any reason, as --trace-deopt names them. */
function deopts(trace: string): string[] {
  return [...trace.matchAll(/\[bailout \(kind: deopt-\w+, reason: [^)]*\): begin\. deoptimizing \S+ <JSFunction (\S+) /g)].map((match) => match[1]);
}

test('a log across days and months keeps the scanner compiled: a new day takes the way the last one took', () => {
  const dir = mkdtempSync(join(tmpdir(), 'edgeban-compiled-'));
  try {
    // a month's first days (one digit), then the tenth on, then the next month and year; the
    // year written out, so that no date is in the future whenever the test runs
    const days = [
      'Jan  8 06:00:00 2025',
      'Jan  9 06:00:00 2025',
      'Jan 10 06:00:00 2025',
      'Jan 31 06:00:00 2025',
      'Feb  1 06:00:00 2025',
      'Jan  1 06:00:00 2026',
    ];
    const out: string[] = [];
    for (const day of days) {
      for (let i = 0; i < 7000; i++) out.push(`${day} web1 wordpress(www.example.com)[1]: Blocked user enumeration attempt from 203.0.${i % 251}.7`);
    }
    const file = join(dir, 'days.log');
    writeFileSync(file, `${out.join('\n')}\n`);
    const run = spawnSync(process.execPath, ['--trace-deopt', CLI, 'replay', '--count', file], { encoding: 'utf8', maxBuffer: 64 << 20 });
    expect(run.status).toBe(0);
    expect(run.stdout).toMatch(/42000 lines, 42000 events/);
    expect(deopts(run.stdout).filter((name) => [...SCANNERS, 'decodeEach', 'findLines'].includes(name))).toEqual([]);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}, 30_000);

test('the widener keeps its compiled code when IPv6 networks are banned beside IPv4 ones', () => {
  const dir = mkdtempSync(join(tmpdir(), 'edgeban-compiled-'));
  try {
    const clock = (second: number) =>
      [6 + Math.floor(second / 3600), Math.floor(second / 60) % 60, second % 60].map((n) => String(n).padStart(2, '0')).join(':');
    const out: string[] = [];
    for (let i = 0; i < 40_000; i++) {
      // every fourth attacker an IPv6 /64 (a key), sixteen in each /48 (a network); the others IPv4
      const n = i >> 2;
      const address = i % 4 === 3 ? `2001:db8:${(n >> 4).toString(16)}:${(n & 15).toString(16)}::1` : `203.0.${(i >> 4) & 255}.${i & 15}`;
      out.push(`Mar  9 ${clock(i >> 3)} web1 wordpress(www.example.com)[1]: Blocked user enumeration attempt from ${address}`);
    }
    const file = join(dir, 'networks.log');
    writeFileSync(file, `${out.join('\n')}\n`);
    const run = spawnSync(process.execPath, ['--trace-deopt', CLI, 'replay', file], { encoding: 'utf8', maxBuffer: 64 << 20 });
    expect(run.status).toBe(0);
    expect(run.stdout).toMatch(/^ban 2001:db8:\w+::\/48 /m);
    expect(run.stdout).toMatch(/^ban 203\.0\.\d+\.0\/24 /m);
    expect(wrongMaps(run.stdout).filter((name) => ['decide', 'hit', 'apply', 'covers', 'networkId'].includes(name))).toEqual([]);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}, 30_000);
