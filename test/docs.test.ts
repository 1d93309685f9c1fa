/** The README and docs/ are part of the product: they must stand alone and agree with the code. */
import { spawnSync } from 'node:child_process';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import YAML from 'yaml';
import { renderBenchmarks } from '../bench/report';
import { buildConfig } from '../src/config/load';
import { EVENT_KINDS } from '../src/wordpress/catalogue';

const ROOT = resolve(__dirname, '..');
const DOCS = join(ROOT, 'docs');
const pages = [
  'README.md',
  ...readdirSync(DOCS)
    .filter((name) => name.endsWith('.md'))
    .map((name) => join('docs', name)),
];
const read = (file: string) => readFileSync(join(ROOT, file), 'utf8');

test('the README is the front door: short', () => {
  expect(Buffer.byteLength(read('README.md'))).toBeLessThanOrEqual(12 * 1024);
});

test.each(pages)('every relative link of %s leads to a file of the repository', (page) => {
  const links = [...read(page).matchAll(/\]\(([^)#\s]+)(#[^)]*)?\)/g)].map((match) => match[1]).filter((link) => !/^[a-z]+:/.test(link));
  expect(links.filter((link) => !existsSync(resolve(ROOT, dirname(page), link)))).toEqual([]);
});

test('no file of the repository points outside it', () => {
  // git grep exits 1 when nothing matches: that is the answer wanted
  const grep = spawnSync(
    'git',
    ['grep', '-nE', String.raw`\.\./shared|shared/(DESIGN|reference|hooks)|syslog-wire\.md|cloudflare-api\.md|§[0-9]`, '--', '.', ':!test/docs.test.ts'],
    {
      cwd: ROOT,
      encoding: 'utf8',
    },
  );
  expect(grep.stdout).toBe('');
  expect(grep.status).toBe(1);
});

test('the messages page lists every kind the recogniser gives', () => {
  const page = read('docs/wp-fail2ban-messages.md');
  expect(EVENT_KINDS.filter((kind) => !page.includes(`\`${kind}\``))).toEqual([]);
});

test('the configuration page shows the embedded default as it is', () => {
  const block = /```yaml\n([\s\S]*?)```/.exec(read('docs/configuration.md'))![1];
  expect(buildConfig(YAML.parse(block), {})).toEqual(buildConfig({}, {}));
});

test('docs/benchmarks.md is the one bench/report.ts writes from bench/latest.json', () => {
  expect(read('docs/benchmarks.md')).toBe(renderBenchmarks(JSON.parse(read('bench/latest.json'))));
});
