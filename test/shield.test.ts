/**
 * The site shield: many addresses trying once each put the site's login paths behind a challenge,
 * one custom rule a zone, extended while the attack goes on, lifted on time, adopted after a
 * restart; anyone else's rule, look-alikes included, is never touched, and a Free zone's five
 * custom rules are never exceeded.
 */
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseIp } from '../src/address/ip';
import { ShieldKeeper, ShieldOutcome } from '../src/bans/shield-keeper';
import { checkCloudflare } from '../src/cloudflare/check';
import { CloudflareClient } from '../src/cloudflare/client';
import { shieldExpression, shieldSite, shieldSites, ShieldRules } from '../src/cloudflare/shield-rules';
import { buildConfig } from '../src/config/load';
import fc from 'fast-check';
import { RecentAttackers } from '../src/policy/recent-attackers';
import { ShieldWatch } from '../src/policy/shield-watch';
import type { WpEvent } from '../src/wordpress/recognise';
import type { FakeCloudflare, FakeOptions } from './fake-cloudflare/server';
import { CLI } from './helpers/daemon';
import { startFakeCloudflare } from './helpers/fake';
import { TestDaemon } from './helpers/in-process';
import { waitFor } from './helpers/wait';

const SHIELD = {
  events: ['hard', 'soft'],
  distinct: 5,
  findtime: 300,
  duration: 1800,
  action: 'managed_challenge' as const,
  paths: ['/wp-login.php', '/xmlrpc.php'],
};

function event(address: string, at: number, site: string | null = 'www.example.com', kind = 'auth_failure'): WpEvent {
  return { kind, class: 'soft', ip: parseIp(address)!, site, at } as WpEvent;
}

describe('counting distinct attackers per site', () => {
  test('the fifth distinct address within findtime raises the shield; repeats and other sites do not count', () => {
    const watch = new ShieldWatch(SHIELD);
    const t = Date.UTC(2026, 0, 1);
    for (let i = 0; i < 4; i++) expect(watch.observe(event(`192.0.2.${i}`, t + i))).toBeNull();
    expect(watch.observe(event('192.0.2.0', t + 10))).toBeNull(); // the same address again
    expect(watch.observe(event('192.0.2.9', t + 11, 'other.example.com'))).toBeNull();
    expect(watch.observe(event('192.0.2.9', t + 12, null))).toBeNull();
    expect(watch.observe(event('192.0.2.4', t + 20))).toEqual({
      site: 'www.example.com',
      action: 'managed_challenge',
      until: Math.floor((t + 20) / 1000) + 1800,
    });
  });

  test('addresses outside findtime do not count; one IPv6 /64 counts once', () => {
    const watch = new ShieldWatch(SHIELD);
    const t = Date.UTC(2026, 0, 1);
    for (let i = 0; i < 4; i++) watch.observe(event(`192.0.2.${i}`, t));
    expect(watch.observe(event('192.0.2.4', t + 301_000))).toBeNull();
    for (let i = 0; i < 10; i++) expect(watch.observe(event(`2001:db8:1:2::${i + 1}`, t + 302_000 + i))).toBeNull();
  });

  test('counted again once half the shield has passed, and extended while the attack keeps its strength', () => {
    const watch = new ShieldWatch(SHIELD);
    const t = Date.UTC(2026, 0, 1);
    for (let i = 0; i < 5; i++) watch.observe(event(`192.0.2.${i}`, t));
    let orders = 0;
    let last = 0;
    // the attack goes on for an hour, a new address every 30 s
    for (let s = 30; s <= 3600; s += 30) {
      const order = watch.observe(event(`198.51.100.${s % 250}`, t + s * 1000));
      if (order) {
        orders++;
        last = order.until;
      }
    }
    // counted again from 900 s (half the shield left): five new addresses at 1,020 s, then 2,040 and 3,060 s
    expect(orders).toBe(3);
    expect(last).toBe(Math.floor(t / 1000) + 3060 + 1800);
  });

  test('the recent attackers are the last `cap` distinct ones, in the order of their last attack, whatever comes', () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 1, max: 40 }),
        // few distinct keys, so that they come back; halves that differ in one only, and the extremes
        fc.array(fc.tuple(fc.constantFrom(0, 1, 0xffffffff), fc.oneof(fc.integer({ min: 0, max: 60 }), fc.constant(0xffffffff))), { maxLength: 2000 }),
        (cap, attacks) => {
          const recent = new RecentAttackers(cap);
          // the model: a Map kept in order of last attack by deleting and setting again
          const model = new Map<string, number>();
          attacks.forEach(([hi, lo], at) => {
            const who = `${hi}:${lo}`;
            recent.record(hi, lo, at);
            model.delete(who);
            model.set(who, at);
            if (model.size > cap) model.delete(model.keys().next().value!);
            expect(recent.size).toBe(model.size);
            expect(recent.oldestAt).toBe(model.values().next().value);
          });
        },
      ),
    );
  });

  test('a hostile Host header never reaches an expression', () => {
    expect(shieldSite('WWW.Example.com:8080')).toBe('www.example.com');
    expect(shieldSite('example.com/blog2/')).toBe('example.com/blog2');
    for (const hostile of ['example.com" or true or "', 'a b', 'example.com/x"y', 'exa$mple.com', '', '-bad.example', 'example.com/../..']) {
      expect(shieldSite(hostile)).toBeNull();
    }
  });

  test('an expression holds as many sites as fit in 4,096 characters, and reads back', () => {
    const sites = Array.from({ length: 100 }, (_, i) => `site${i}.example.com`);
    const { expression, sites: held } = shieldExpression(sites, SHIELD.paths);
    expect(expression.length).toBeLessThanOrEqual(4096);
    expect(held.length).toBeGreaterThan(20);
    expect(held.length).toBeLessThan(100);
    expect(shieldSites(expression, SHIELD.paths)).toEqual(held);
    expect(shieldSites(shieldExpression(['example.com/blog2'], SHIELD.paths).expression, SHIELD.paths)).toEqual(['example.com/blog2']);
  });
});

describe('replay shows what a shield would do', () => {
  test('--json prints the shield line when it would go up, and the text form a line too', () => {
    const dir = mkdtempSync(join(tmpdir(), 'edgeban-shield-'));
    const config = join(dir, 'edgeban.yaml');
    writeFileSync(config, 'shield: { distinct: 5, findtime: 5m, duration: 30m }\n');
    const lines = Array.from(
      { length: 6 },
      (_, i) => `Mar  9 06:25:1${i} web1 wordpress(www.example.com)[1]: Authentication failure for admin from 198.51.100.${i + 1}`,
    ).join('\n');
    const run = (json: boolean) =>
      spawnSync(process.execPath, [CLI, 'replay', '-c', config, ...(json ? ['--json'] : []), '-'], { input: lines, encoding: 'utf8' });
    const [json, text] = [run(true), run(false)];
    rmSync(dir, { recursive: true, force: true });
    expect(json.status).toBe(0);
    const shields = json.stdout
      .trim()
      .split('\n')
      .map((line) => JSON.parse(line))
      .filter((line) => line.type === 'shield');
    expect(shields).toEqual([{ type: 'shield', site: 'www.example.com', action: 'managed_challenge', until: expect.any(Number) }]);
    expect(text.stdout).toMatch(/^shield www\.example\.com action=managed_challenge until \d{4}-/m);
  });
});

describe('shield rules at the fake Cloudflare', () => {
  let fake: FakeCloudflare, zone: string, token: string;
  const outcomes: { what: ShieldOutcome; sites: string[]; until: number; detail?: string }[] = [];
  const keepers: ShieldKeeper[] = [];
  async function start(options: FakeOptions = {}): Promise<void> {
    ({ fake, zone, token } = await startFakeCloudflare(options));
  }
  afterEach(async () => {
    for (const keeper of keepers.splice(0)) keeper.stop();
    outcomes.splice(0);
    await fake?.stop();
  });
  function keeper(): ShieldKeeper {
    const client = new CloudflareClient({ baseUrl: fake.baseUrl, token, requestsPer5Min: 1200, maxAttempts: 2, backoffBaseMs: 10 });
    const made = new ShieldKeeper({
      backend: new ShieldRules(client, { zoneId: zone, zones: { 'example.com': zone }, paths: SHIELD.paths }),
      events: { outcome: (what, _zone, sites, until, detail) => outcomes.push({ what, sites, until, detail }) },
    });
    keepers.push(made);
    return made;
  }
  const rules = () => fake.lists.rulesets.get(zone)?.rules ?? [];
  const now = () => Math.floor(Date.now() / 1000);
  const LOOK_ALIKES = [
    { action: 'managed_challenge', expression: 'http.request.uri.path eq "/a"', description: 'edgeban shield until=1999999999 ' },
    { action: 'managed_challenge', expression: 'http.request.uri.path eq "/b"', description: 'Edgeban shield until=1999999999' },
    { action: 'skip', expression: 'http.request.uri.path eq "/c"', description: 'edgeban shield until=1999999999' },
    { action: 'block', expression: 'http.request.uri.path eq "/d"', description: 'edgeban shield until=1000000000' },
  ];

  test('raised as one rule, sites of the zone share it, extended, and lifted on time; look-alike rules untouched', async () => {
    await start();
    fake.lists.putEntrypoint(zone, { rules: LOOK_ALIKES });
    const foreign = JSON.stringify(rules());
    const shields = keeper();
    const until = now() + 60;
    shields.raise({ site: 'www.example.com', action: 'managed_challenge', until });
    await waitFor(() => outcomes.some((o) => o.what === 'raised'));
    await shields.settled();
    const ours = () =>
      rules().filter(
        (rule) =>
          rule.description.startsWith('edgeban shield until=') && !LOOK_ALIKES.some((l) => l.description === rule.description && l.action === rule.action),
      );
    expect(ours()).toHaveLength(1);
    expect(ours()[0]).toMatchObject({
      action: 'managed_challenge',
      expression: '(http.host eq "www.example.com" and http.request.uri.path in {"/wp-login.php" "/xmlrpc.php"})',
      description: `edgeban shield until=${until}`,
    });
    // a second site of the zone joins the same rule; a sub-directory site names its paths
    shields.raise({ site: 'example.com/blog2', action: 'managed_challenge', until: now() + 2 });
    await waitFor(() => ours()[0]?.expression.includes('blog2'));
    expect(ours()).toHaveLength(1);
    expect(ours()[0].expression).toContain('(http.host eq "example.com" and http.request.uri.path in {"/blog2/wp-login.php" "/blog2/xmlrpc.php"})');
    // the sub-directory's shield ends first: it leaves the expression, on time
    await waitFor(() => !ours()[0]?.expression.includes('blog2'), 5000);
    await waitFor(() => outcomes.some((o) => o.what === 'narrowed')); // the fake changes before its answer arrives
    // extended
    shields.raise({ site: 'www.example.com', action: 'managed_challenge', until: now() + 3 });
    const later = now() + 90;
    shields.raise({ site: 'www.example.com', action: 'managed_challenge', until: later });
    await waitFor(() => ours()[0]?.description === `edgeban shield until=${later}`);
    await waitFor(() => outcomes.some((o) => o.what === 'extended'));
    // nothing of anyone else's was changed
    expect(JSON.stringify(rules().filter((rule) => LOOK_ALIKES.some((l) => l.description === rule.description && l.action === rule.action)))).toBe(foreign);
    expect(fake.writes().filter((r) => r.method === 'DELETE')).toEqual([]);
  });

  test('the last site lifted deletes the rule; after a restart the rule is adopted and lifted when its description says', async () => {
    await start();
    const first = keeper();
    first.raise({ site: 'www.example.com', action: 'managed_challenge', until: now() + 3 });
    await waitFor(() => rules().length === 1);
    first.stop(); // the process dies with the shield up
    const second = keeper();
    second.sweep('managed_challenge');
    await waitFor(() => outcomes.some((o) => o.what === 'adopted'));
    expect(second.active()).toEqual([{ zone, site: 'www.example.com', until: expect.any(Number), action: 'managed_challenge' }]);
    await waitFor(() => rules().length === 0, 6000);
    await waitFor(() => outcomes.some((o) => o.what === 'lifted'));
    expect(outcomes.find((o) => o.what === 'lifted')).toMatchObject({ sites: ['www.example.com'] });
    expect(second.active()).toEqual([]);
  });

  test('a Free zone with five custom rules: the shield is refused and said so, no rule of anyone else deleted', async () => {
    await start({ plan: 'free' });
    const five = Array.from({ length: 5 }, (_, i) => ({ action: 'block', expression: `http.request.uri.path eq "/x${i}"`, description: `site rule ${i}` }));
    fake.lists.putEntrypoint(zone, { rules: five });
    const shields = keeper();
    shields.raise({ site: 'www.example.com', action: 'managed_challenge', until: now() + 60 });
    await waitFor(() => outcomes.some((o) => o.what === 'refused'));
    expect(outcomes.find((o) => o.what === 'refused')!.detail).toMatch(/maximum number of rules/);
    expect(rules().map((rule) => rule.description)).toEqual(five.map((rule) => rule.description));
    expect(fake.writes().filter((r) => r.method === 'DELETE' || r.method === 'PUT')).toEqual([]);
  });

  test('check proves the shield can be written, and names the permission when it cannot', async () => {
    await start();
    fake.lists.putEntrypoint(zone, { rules: [] });
    const config = (shield: unknown, withToken: string) => buildConfig({ shield, cloudflare: { token: withToken, apiBase: fake.baseUrl, zoneId: zone } }, {});
    const text = async (shield: unknown, withToken: string) =>
      (await checkCloudflare(config(shield, withToken))).map((l) => `${l.ok ? 'ok' : 'FAIL'}: ${l.text}`).join('\n');
    expect(await text({}, token)).toContain(
      `ok: zone ${zone} custom rules (site shield; shield: false turns it off): writable (a disabled rule made and deleted)`,
    );
    const noWaf = fake.addToken(['zone_firewall_services', 'zone_read']);
    expect(await text({}, noWaf)).toContain(
      `FAIL: zone ${zone} custom rules (site shield; shield: false turns it off): write: the token lacks the permission "Zone → Zone WAF → Edit"`,
    );
    expect(await text(false, noWaf)).not.toMatch(/FAIL|site shield/);
    expect(rules()).toEqual([]);
  });

  test('a daemon under a low-and-slow attack raises the shield, shows it in /status, and keeps banning the loudest address', async () => {
    await start();
    const daemon = await new TestDaemon({
      cloudflare: { token, apiBase: fake.baseUrl, zoneId: zone, zones: { 'example.com': zone } },
      shield: { distinct: 20, findtime: '5m', duration: '30m' },
      jails: { 'wordpress-soft': { events: ['soft'], maxretry: 3, findtime: '10m', bantime: '1h' } },
    }).start();
    try {
      for (let i = 1; i <= 20; i++) daemon.send(`Authentication failure for admin from 198.51.${100 + (i % 2)}.${i}`);
      for (let i = 0; i < 3; i++) daemon.send('Authentication failure for admin from 203.0.113.77');
      await waitFor(() => rules().some((rule) => /^edgeban shield until=\d+$/.test(rule.description)));
      await waitFor(() => fake.allRules().length === 1);
      expect(fake.allRules()[0].configuration.value).toBe('203.0.113.77');
      const status = daemon.daemon.view.status() as { shields: { site: string }[] };
      expect(status.shields.map((s) => s.site)).toEqual(['www.example.com']);
      const expression = rules()[0].expression;
      expect(expression).not.toMatch(/\d+\.\d+\.\d+\.\d+|admin/);
    } finally {
      await daemon.stop();
    }
  });
});

test('the dry run logs the shield it would raise, and sends nothing', async () => {
  const daemon = await new TestDaemon({ shield: { distinct: 5, findtime: '5m', duration: '30m' } }).start();
  try {
    for (let i = 1; i <= 5; i++) daemon.send(`Authentication failure for admin from 198.51.100.${i}`);
    await waitFor(() => daemon.messages().includes('shield raised (dry run: not sent to Cloudflare)'));
    const line = daemon.logs.find((l) => l.msg === 'shield raised (dry run: not sent to Cloudflare)')!;
    expect(line).toMatchObject({ sites: ['www.example.com'] });
    expect(JSON.stringify(line)).not.toMatch(/198\.51\.100/);
  } finally {
    await daemon.stop();
  }
});

test('a reload that changes widen keeps the attackers the shield has counted', async () => {
  const shield = { distinct: 5, findtime: '5m', duration: '30m' };
  const daemon = await new TestDaemon({ shield }).start();
  try {
    for (let i = 1; i <= 4; i++) daemon.send(`Authentication failure for admin from 198.51.100.${i}`);
    await waitFor(() => daemon.logs.filter((l) => l.msg === 'event').length === 4);
    const base = { listen: { tcp: ['127.0.0.1:0'], udp: [] }, admin: { listen: '127.0.0.1:0' }, shield };
    expect(daemon.daemon.reload(buildConfig({ ...base, widen: { findtime: '5m' } }, {})).applied).toEqual(['widen']);
    daemon.send('Authentication failure for admin from 198.51.100.5');
    await waitFor(() => daemon.messages().includes('shield raised (dry run: not sent to Cloudflare)'));
  } finally {
    await daemon.stop();
  }
});

test('shield config: clear errors, and false turns it off', () => {
  expect(() => buildConfig({ shield: { paths: ['wp-login.php'] } }, {})).toThrow(/shield\.paths\[0\]: must start with \//);
  expect(() => buildConfig({ shield: { action: 'allow' } }, {})).toThrow(/shield\.action/);
  expect(buildConfig({ shield: false }, {}).shield).toBe(false);
  expect(buildConfig({}, {}).shield).toMatchObject({ distinct: 50, findtime: 300, duration: 1800, action: 'managed_challenge' });
});
