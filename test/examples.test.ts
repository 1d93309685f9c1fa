/** The examples are part of the product: they must validate and agree with the code. */
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import YAML from 'yaml';
import { buildConfig } from '../src/config/load';
import { CLOUDFLARE_RANGES } from '../src/policy/trust';

const EXAMPLES = resolve(__dirname, '../examples');
const read = (file: string) => readFileSync(join(EXAMPLES, file), 'utf8');

test.each(['single-site.yaml', 'multisite.yaml', 'ip-list.yaml'])('%s is a valid config', (file) => {
  const dir = mkdtempSync(join(tmpdir(), 'edgeban-example-'));
  const secret = join(dir, 'secret');
  writeFileSync(secret, 'x'.repeat(40));
  try {
    const text = read(file).replace(/file:\/etc\/edgeban\/[\w-]+/g, `file:${secret}`);
    const config = buildConfig(YAML.parse(text), { CLOUDFLARE_API_TOKEN: 't', CLOUDFLARE_ZONE_ID: 'z', CLOUDFLARE_ACCOUNT_ID: 'a' });
    expect(Object.keys(config.jails).length).toBeGreaterThan(0);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('the systemd unit keeps its hardening', () => {
  const unit = read('edgeban.service');
  for (const line of [
    'DynamicUser=yes',
    'ProtectSystem=strict',
    'ReadOnlyPaths=/',
    'LimitCORE=0',
    'MemorySwapMax=0',
    'CapabilityBoundingSet=',
    'NoNewPrivileges=yes',
    'ExecReload=/bin/kill -HUP $MAINPID',
  ]) {
    expect(unit.split('\n')).toContain(line);
  }
});

const systemdAnalyze = spawnSync('sh', ['-c', 'command -v systemd-analyze'], { encoding: 'utf8' }).stdout.trim();
(systemdAnalyze ? test : test.skip)('systemd-analyze verify accepts the unit', () => {
  const run = spawnSync(systemdAnalyze, ['verify', join(EXAMPLES, 'edgeban.service')], { encoding: 'utf8' });
  expect(run.stderr.split('\n').filter((line) => line.includes('edgeban.service'))).toEqual([]);
  expect(run.status).toBe(0);
});

test('the nginx and Apache snippets trust exactly the Cloudflare ranges edgeban bundles', () => {
  const nginx = [...read('nginx-real-ip.conf').matchAll(/^set_real_ip_from (\S+);/gm)].map((m) => m[1]);
  expect(nginx.sort()).toEqual([...CLOUDFLARE_RANGES].sort());
  const apache = read('apache-remoteip.conf')
    .split('\n')
    .filter((line) => line.startsWith('RemoteIPTrustedProxy '))
    .flatMap((line) => line.split(/\s+/).slice(1));
  expect(apache.sort()).toEqual([...CLOUDFLARE_RANGES].sort());
  expect(read('nginx-real-ip.conf')).toContain('real_ip_header CF-Connecting-IP;');
  expect(read('apache-remoteip.conf')).toContain('RemoteIPHeader CF-Connecting-IP');
});
