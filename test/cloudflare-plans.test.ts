/**
 * The real Cloudflare on every plan, against the fake: a check that proves it can write and counts
 * what the plan leaves, a daemon that refuses a set-up the plan cannot hold, the account-wide item
 * limit, items deleted by hand, malformed answers, and an outage that holds no ban back.
 */
import { readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import YAML from 'yaml';
import { Ledger, LedgerOutcome } from '../src/bans/ledger';
import { AccessRulesBackend } from '../src/cloudflare/access-rules';
import { checkCloudflare, CheckLine } from '../src/cloudflare/check';
import { CloudflareClient, CloudflareError } from '../src/cloudflare/client';
import { IpListBackend } from '../src/cloudflare/ip-list';
import { buildConfig } from '../src/config/load';
import type { Config } from '../src/config/schema';
import { FakeCloudflare, FakeOptions, Permission } from './fake-cloudflare/server';
import { DaemonProcess } from './helpers/daemon';
import { startFakeCloudflare } from './helpers/fake';
import { waitFor } from './helpers/wait';

let fake: FakeCloudflare, account: string, zone: string, token: string;
async function start(options: FakeOptions = {}): Promise<void> {
  ({ fake, account, zone, token } = await startFakeCloudflare(options));
}
afterEach(() => fake?.stop());

const TWO_ACTIONS = {
  hard: { events: ['hard'], maxretry: 1, findtime: '10m', bantime: '1h', action: 'block' },
  soft: { events: ['soft'], maxretry: 2, findtime: '10m', bantime: '1h', action: 'managed_challenge' },
};

function config(cloudflare: Record<string, unknown> = {}, rest: Record<string, unknown> = {}): Config {
  return buildConfig({ ...rest, cloudflare: { token, apiBase: fake.baseUrl, zoneId: zone, accountId: account, ...cloudflare } }, {});
}

const text = (lines: CheckLine[]) => lines.map((line) => `${line.ok ? (line.warn ? 'WARN' : 'ok') : 'FAIL'}: ${line.text}`).join('\n');
const client = () => new CloudflareClient({ baseUrl: fake.baseUrl, token, requestsPer5Min: 1200, maxAttempts: 2, backoffBaseMs: 10 });

describe('check proves it can write', () => {
  test('access rules: a probe rule for a TEST-NET-1 address is made and deleted, nothing left behind', async () => {
    await start();
    const lines = await checkCloudflare(config());
    expect(text(lines)).toMatch(new RegExp(`ok: zone ${zone}: writable \\(a rule for 192\\.0\\.2\\.\\d+ made and deleted\\)`));
    expect(lines.every((line) => line.ok)).toBe(true);
    expect(fake.allRules()).toEqual([]);
    expect(fake.writes().map((r) => r.method)).toEqual(['POST', 'DELETE']);
  });

  test('a read-only token passes reading, fails writing, and the failure names the permission', async () => {
    await start();
    token = fake.addToken(['zone_firewall_services_read' as Permission]);
    const lines = await checkCloudflare(config());
    expect(text(lines)).toContain(`ok: zone ${zone}: readable`);
    expect(text(lines)).toContain(`FAIL: zone ${zone}: write: the token lacks the permission "Zone → Firewall Services → Edit"`);
    // --no-write: only reading proven, and said so
    const reading = await checkCloudflare(config(), { write: false });
    expect(reading.every((line) => line.ok)).toBe(true);
    expect(text(reading)).toContain('WARN: write access not proven (--no-write): only reading was');
    expect(fake.writes().filter((r) => r.status < 300)).toEqual([]);
  });

  test("ip-list: an item added to edgeban's list and deleted; the probe never touches a list that is not edgeban's", async () => {
    await start();
    const backend = new IpListBackend(client(), { accountId: account, zoneIds: [zone], actions: ['block'], itemLimit: 10_000, pollMs: [5, 20] });
    await backend.prepare();
    await backend.close();
    const lines = await checkCloudflare(config({ backend: 'ip-list' }, { jails: { hard: TWO_ACTIONS.hard } }));
    expect(text(lines)).toMatch(/ok: account \w+ lists: writable \(an item for 192\.0\.2\.\d+ added to edgeban_block and deleted\)/);
    expect(text(lines)).toContain(`ok: zone ${zone} custom rules: writable (a disabled rule made and deleted)`);
    expect(lines.every((line) => line.ok)).toBe(true);
    expect(fake.lists.listsOf(account).map((l) => [l.name, l.items.size])).toEqual([['edgeban_block', 0]]);
    expect(fake.lists.rulesets.get(zone)!.rules.map((r) => r.description)).toEqual(['edgeban block']);
  });

  test('an account-owned token with ip-list: check says what Cloudflare says of such tokens and lists', async () => {
    await start();
    token = fake.addToken(undefined, 'active', true);
    const lines = await checkCloudflare(config({ backend: 'ip-list' }, { jails: { hard: TWO_ACTIONS.hard } }));
    expect(text(lines)).toContain('ok: account token is active');
    expect(text(lines)).toContain('WARN: an account-owned token');
  });
});

describe('a Free plan with backend: ip-list', () => {
  test('check counts the lists the jails need against the plan, before start', async () => {
    await start({ plan: 'free' });
    const lines = await checkCloudflare(config({ backend: 'ip-list' }, { jails: TWO_ACTIONS }));
    expect(text(lines)).toContain(
      'FAIL: lists: the free plan allows 1 custom list(s); the account has 0 and the jails need 2 more, one for each action (block, managed_challenge): give every jail the same action, or set cloudflare.backend: access-rules',
    );
    expect(fake.lists.listsOf(account)).toEqual([]); // the probe made nothing it could not delete
  });

  test("check counts a zone's custom rules against the plan's five", async () => {
    await start({ plan: 'free' });
    fake.lists.putEntrypoint(zone, {
      rules: [1, 2, 3, 4, 5].map((n) => ({ action: 'block', expression: `http.host eq "${n}.example.com"`, description: `mine ${n}` })),
    });
    const lines = await checkCloudflare(config({ backend: 'ip-list' }, { jails: { hard: TWO_ACTIONS.hard } }));
    expect(text(lines)).toContain(`FAIL: zone ${zone} custom rules: the free plan allows 5; the zone has 5 and edgeban needs 1 more (block)`);
  });

  test('the daemon refuses to go on, naming what to change, and exits 2 as for an invalid config', async () => {
    await start({ plan: 'free' });
    const daemon = await DaemonProcess.start({
      listen: { tcp: ['127.0.0.1:0'], udp: [] },
      jails: TWO_ACTIONS,
      cloudflare: { backend: 'ip-list', token, apiBase: fake.baseUrl, zoneId: zone, accountId: account },
    });
    expect(await daemon.exitWithin(10_000)).toBe(2);
    const fatal = daemon.lines.find((line) => line.level === 'fatal');
    expect(String(fatal?.error)).toContain(
      'give every jail the same action, delete a list the account no longer uses, or set cloudflare.backend: access-rules',
    );
  });

  test('the shipped examples/ip-list.yaml passes check on a Free plan and bans', async () => {
    await start({ plan: 'free' });
    const example = YAML.parse(readFileSync(resolve(__dirname, '../examples/ip-list.yaml'), 'utf8'));
    const env = { CLOUDFLARE_API_TOKEN: token, CLOUDFLARE_ACCOUNT_ID: account, CLOUDFLARE_ZONE_ID: zone };
    const cfg = buildConfig({ ...example, cloudflare: { ...example.cloudflare, apiBase: fake.baseUrl } }, env);
    const lines = await checkCloudflare(cfg);
    expect(lines.filter((line) => !line.ok)).toEqual([]);
    {
      const daemon = await DaemonProcess.start(
        { ...example, listen: { tcp: ['127.0.0.1:0'], udp: [] }, cloudflare: { ...example.cloudflare, apiBase: fake.baseUrl } },
        env,
      );
      try {
        await waitFor(() => fake.lists.rulesets.get(zone)?.rules.length === 1, 5000, "edgeban's list and rule made");
        expect(fake.lists.listsOf(account).map((l) => l.name)).toEqual(['edgeban_managed_challenge']);
        expect(fake.lists.rulesets.get(zone)!.rules.map((r) => [r.action, r.expression])).toEqual([
          ['managed_challenge', 'ip.src in $edgeban_managed_challenge'],
        ]);
      } finally {
        await daemon.stop();
      }
    }
  });
});

describe('ip-list limits and drift', () => {
  const ban = (n: number, until = 2e9) => ({ location: `account:${account}`, key: `203.0.113.${n}/32`, jail: 'j', action: 'block' as const, until: until + n });

  test("the item limit counts the account's other lists: room is made with their items in mind", async () => {
    await start({ maxItems: 10 });
    const other = fake.lists.createList(account, { kind: 'ip', name: 'office', description: 'our office' });
    await fetch(`${fake.baseUrl}/accounts/${account}/rules/lists/${other.id}/items`, {
      method: 'POST',
      headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' },
      body: JSON.stringify([1, 2, 3, 4, 5, 6, 7, 8].map((n) => ({ ip: `198.51.100.${n}` }))),
    });
    await waitFor(() => fake.lists.itemCount(account) === 8, 2000, 'the other list filled');
    const backend = new IpListBackend(client(), { accountId: account, zoneIds: [zone], actions: ['block'], itemLimit: 10, pollMs: [5, 20] });
    await backend.listOwned();
    const results = await backend.applyBatch([1, 2, 3, 4].map((n) => ({ type: 'ban' as const, ban: ban(n) })));
    expect(results.filter((r) => r.ok && r.evicted)).toHaveLength(2); // the two closest to expiry
    expect(results.every((r) => r.ok)).toBe(true);
    expect(fake.lists.itemCount(account)).toBe(10);
    expect([...fake.lists.operations.values()].filter((op) => op.status === 'failed')).toEqual([]);
    await backend.close();
  });

  test('IPv4 items read back as a.b.c.d/32 are the same bans: adopted after a restart, and lifted', async () => {
    await start({ ipv4AsPrefix: true });
    const settings = { accountId: account, zoneIds: [zone], actions: ['block' as const], itemLimit: 100, pollMs: [5, 20] as [number, number] };
    const first = new IpListBackend(client(), settings);
    await first.applyBatch([{ type: 'ban', ban: ban(1) }]);
    await first.close();
    expect([...fake.lists.listsOf(account)[0].items.values()].map((i) => i.ip)).toEqual(['203.0.113.1/32']);
    const second = new IpListBackend(client(), settings);
    const owned = await second.listOwned();
    expect(owned.map((b) => b.key)).toEqual(['203.0.113.1/32']);
    expect((await second.applyBatch([{ type: 'unban', ban: owned[0] }]))[0].ok).toBe(true);
    expect(fake.lists.itemCount(account)).toBe(0);
    await second.close();
  });

  test('an item deleted by hand at Cloudflare is forgotten at the next sweep', async () => {
    await start();
    const backend = new IpListBackend(client(), { accountId: account, zoneIds: [zone], actions: ['block'], itemLimit: 100, pollMs: [5, 20] });
    await backend.applyBatch([
      { type: 'ban', ban: ban(1) },
      { type: 'ban', ban: ban(2) },
    ]);
    expect((await backend.listOwned()).length).toBe(2);
    const list = fake.lists.listsOf(account)[0];
    list.items.delete('203.0.113.1');
    expect((await backend.listOwned()).map((b) => b.key)).toEqual(['203.0.113.2/32']);
    expect(backend.size).toBe(1);
    await backend.close();
  });
});

describe('malformed answers are clear errors, retried, never a TypeError', () => {
  test.each([
    ['missing-field', /malformed answer: result\.id: /],
    ['html', /malformed answer: not a JSON object \(text\/html\)/],
    ['truncated', /malformed answer: not a JSON object \(application\/json\)/],
  ] as const)('%s', async (kind, message) => {
    await start();
    const backend = new AccessRulesBackend(client(), { scope: 'zone', zoneId: zone, zones: {} });
    fake.garble(kind, 2); // both of the client's tries
    const failure = await backend.add(ban()).catch((error: unknown) => error);
    expect(failure).toBeInstanceOf(CloudflareError);
    expect((failure as CloudflareError).message).toMatch(message);
    expect((failure as CloudflareError).retryable).toBe(true);
    // and the next try, on a healthy answer, bans
    expect(await backend.add(ban())).toMatch(/^[0-9a-f]{32}$/);
    await backend.close();
  });
  const ban = () => ({ location: `zone:${zone}`, key: '203.0.113.9/32', jail: 'j', action: 'block' as const, until: 2e9 });
});

test('a list write refused while another is pending (429 without Retry-After) is retried with backoff, not paused for a minute', async () => {
  await start({ bulkStepMs: 100 });
  const backend = new IpListBackend(client(), { accountId: account, zoneIds: [zone], actions: ['block'], itemLimit: 100, pollMs: [5, 20] });
  await backend.prepare();
  const list = fake.lists.listsOf(account)[0];
  // someone else's write is pending in the account
  await fetch(`${fake.baseUrl}/accounts/${account}/rules/lists/${list.id}/items`, {
    method: 'POST',
    headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' },
    body: JSON.stringify([{ ip: '198.51.100.1' }]),
  });
  const started = Date.now();
  const patient = new IpListBackend(new CloudflareClient({ baseUrl: fake.baseUrl, token, requestsPer5Min: 1200, maxAttempts: 6, backoffBaseMs: 50 }), {
    accountId: account,
    zoneIds: [zone],
    actions: ['block'],
    itemLimit: 100,
    pollMs: [5, 20],
  });
  const [result] = await patient.applyBatch([
    { type: 'ban', ban: { location: `account:${account}`, key: '203.0.113.1/32', jail: 'j', action: 'block', until: 2e9 } },
  ]);
  expect(result.ok).toBe(true);
  expect(Date.now() - started).toBeLessThan(5000);
  const refused = fake.requests.filter((r) => r.status === 429);
  expect(refused.length).toBeGreaterThan(0);
  await Promise.all([backend.close(), patient.close()]);
});

test('an outage: every ban queued during it lands once it ends, each exactly once, none held back by another', async () => {
  await start();
  const outcomes: LedgerOutcome[] = [];
  const backend = new AccessRulesBackend(client(), { scope: 'zone', zoneId: zone, zones: {} });
  const ledger = new Ledger({ backend, events: { outcome: (what) => outcomes.push(what) }, retryDelayMs: 100, maxRetryDelayMs: 400, maxAttempts: 20 });
  fake.fail({ ms: 1500, status: 503 });
  const now = Math.floor(Date.now() / 1000);
  for (let n = 1; n <= 20; n++)
    ledger.ban({ key: `203.0.113.${n}/32`, bits: 32, jail: 'j', action: 'block', duration: 3600, until: now + 3600, site: 'www.example.com' });
  await waitFor(() => outcomes.filter((o) => o === 'banned').length === 20, 15_000, 'all twenty banned');
  expect(fake.allRules()).toHaveLength(20);
  const created = fake.requests.filter((r) => r.method === 'POST' && r.status === 200);
  expect(created).toHaveLength(20);
  expect(outcomes).not.toContain('failed');
  await ledger.stop(100);
});
