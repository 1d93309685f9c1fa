import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { prettyLine } from '../src/observe/log';
import { CLI } from './helpers/daemon';

test('a JSON log line for a person: time, level, message, then the fields', () => {
  const json = '{"level":"warn","time":"2026-12-03T12:03:04.567Z","name":"edgeban","key":"~3f9a0c1d2b4e","jail":"hard","msg":"banned"}';
  expect(prettyLine(json)).toBe('12:03:04.567  WARN   banned  key=~3f9a0c1d2b4e  jail=hard\n');
  expect(prettyLine('not json\n')).toBe('not json\n');
});

/** The first line `edgeban run` writes with these arguments, then the process is stopped. */
function firstLine(args: string[]): Promise<{ line: string; code: number | null }> {
  return new Promise((resolve) => {
    const child = spawn(process.execPath, [CLI, 'run', ...args], { env: { PATH: process.env.PATH }, stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    const done = (code: number | null) => resolve({ line: out.split('\n')[0], code });
    child.stdout.on('data', (chunk) => {
      out += chunk;
      if (out.includes('\n')) child.kill('SIGTERM');
    });
    child.stderr.on('data', (chunk) => (out += chunk));
    child.on('exit', done);
  });
}

test('--log-format pretty and json; anything else is a usage error', async () => {
  // free ports: the embedded default's listeners could collide with another test's daemon
  const dir = mkdtempSync(join(tmpdir(), 'edgeban-log-'));
  const file = join(dir, 'c.yaml');
  writeFileSync(file, 'listen:\n  tcp: ["127.0.0.1:0"]\n  udp: []\nadmin:\n  listen: "127.0.0.1:0"\n');
  const config = ['-c', file];
  const pretty = await firstLine([...config, '--log-format', 'pretty']);
  const json = await firstLine([...config, '--log-format', 'json']);
  rmSync(dir, { recursive: true, force: true });
  expect(pretty.line).toMatch(/^\d\d:\d\d:\d\d\.\d{3} {2}INFO {3}edgeban listening {2}listening=/);
  expect(JSON.parse(json.line)).toMatchObject({ level: 'info', msg: 'edgeban listening' });
  const wrong = await firstLine(['--log-format', 'yaml']);
  expect([wrong.code, wrong.line]).toEqual([2, 'edgeban: --log-format takes json or pretty']);
}, 20_000);
