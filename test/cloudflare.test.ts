/** edgeban's access-rules backend against the fake Cloudflare API on loopback. */
import { buildConfig } from '../src/config/load';
import { FakeCloudflare } from './fake-cloudflare/server';
import { fakeCloudflareEachTest } from './helpers/fake';
import { TestDaemon } from './helpers/in-process';
import { sleep, waitFor } from './helpers/wait';

let fake: FakeCloudflare, account: string, zone: string, token: string;
const daemons = fakeCloudflareEachTest(
  (started) => ({ fake, account, zone, token } = started),
  () => fake,
);

async function edgeban(document: Record<string, unknown> = {}): Promise<TestDaemon> {
  const daemon = new TestDaemon({ ...document, cloudflare: { token, apiBase: fake.baseUrl, zoneId: zone, ...(document.cloudflare as object) } });
  daemons.push(daemon);
  return daemon.start();
}

const SHORT = {
  jails: {
    hard: { events: ['hard'], maxretry: 1, findtime: '10m', bantime: '2s' },
    soft: { events: ['soft'], maxretry: 3, findtime: '10m', bantime: '1h', action: 'managed_challenge' },
  },
};
const LONG = { jails: { hard: { events: ['hard'], maxretry: 1, findtime: '10m', bantime: '1h' } } };
const rulesIn = (location: string) => fake.rules.get(location) ?? [];

test('a hard event bans: target, mode and notes exactly; the rule is deleted when the ban expires', async () => {
  const d = await edgeban(SHORT);
  const before = Math.floor(Date.now() / 1000);
  d.send('Blocked user enumeration attempt from 203.0.113.7');
  await waitFor(() => rulesIn(`zone:${zone}`).length === 1, 5000, 'the rule');
  const [rule] = rulesIn(`zone:${zone}`);
  expect(rule.configuration).toEqual({ target: 'ip', value: '203.0.113.7' });
  expect(rule.mode).toBe('block');
  const until = Number(/^edgeban until=(\d+) jail=hard$/.exec(rule.notes)?.[1]);
  expect(until - before).toBeGreaterThanOrEqual(1);
  expect(until - before).toBeLessThanOrEqual(3);
  await waitFor(() => rulesIn(`zone:${zone}`).length === 0, 5000, 'the unban');
  expect(Date.now() / 1000).toBeGreaterThanOrEqual(until);
  expect(fake.writes().map((r) => r.method)).toEqual(['POST', 'DELETE']);
  expect(fake.writes()[1].body).toEqual({ cascade: 'none' });
});

test('the soft jail bans on its maxretry-th event, with its action', async () => {
  const d = await edgeban(SHORT);
  d.send('Authentication failure for admin from 198.51.100.23');
  d.send('Authentication failure for root from 198.51.100.23');
  await sleep(300);
  expect(fake.allRules()).toHaveLength(0);
  d.send('Authentication failure for bob from 198.51.100.23');
  await waitFor(() => fake.allRules().length === 1);
  expect(fake.allRules()[0]).toMatchObject({ mode: 'managed_challenge', configuration: { target: 'ip', value: '198.51.100.23' } });
});

test('IPv6 is banned as its /64 with target ip_range', async () => {
  const d = await edgeban(SHORT);
  d.send('Blocked user enumeration attempt from 2001:db8:1:2:3:4:5:6');
  await waitFor(() => fake.allRules().length === 1);
  expect(fake.allRules()[0].configuration).toEqual({ target: 'ip_range', value: '2001:db8:1:2::/64' });
});

test('the zone is chosen per site by longest suffix, else the default zone', async () => {
  const shop = fake.addZone('shop.example.org', account);
  const org = fake.addZone('example.org', account);
  const d = await edgeban({ ...SHORT, cloudflare: { zones: { 'example.org': org, 'shop.example.org': shop } } });
  d.send('Blocked user enumeration attempt from 192.0.2.1', 'www.shop.example.org');
  d.send('Blocked user enumeration attempt from 192.0.2.2', 'blog.example.org/sub');
  d.send('Blocked user enumeration attempt from 192.0.2.3', 'www.example.com');
  await waitFor(() => fake.allRules().length === 3);
  expect(rulesIn(`zone:${shop}`).map((r) => r.configuration.value)).toEqual(['192.0.2.1']);
  expect(rulesIn(`zone:${org}`).map((r) => r.configuration.value)).toEqual(['192.0.2.2']);
  expect(rulesIn(`zone:${zone}`).map((r) => r.configuration.value)).toEqual(['192.0.2.3']);
});

test('account scope', async () => {
  const d = await edgeban({ ...SHORT, cloudflare: { scope: 'account', accountId: account } });
  d.send('Blocked user enumeration attempt from 192.0.2.8');
  await waitFor(() => rulesIn(`account:${account}`).length === 1);
  await waitFor(() => rulesIn(`account:${account}`).length === 0, 5000, 'the unban');
});

test("a duplicate (10009) of edgeban's own rule is adopted; someone else's rule is left alone", async () => {
  const ownRule = await fetch(`${fake.baseUrl}/zones/${zone}/firewall/access_rules/rules`, {
    method: 'POST',
    headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' },
    body: JSON.stringify({ mode: 'block', configuration: { target: 'ip', value: '203.0.113.50' }, notes: 'edgeban until=1 jail=old' }),
  }).then((r) => r.json() as Promise<{ result: { id: string } }>);
  await fetch(`${fake.baseUrl}/zones/${zone}/firewall/access_rules/rules`, {
    method: 'POST',
    headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' },
    body: JSON.stringify({ mode: 'whitelist', configuration: { target: 'ip', value: '203.0.113.51' }, notes: 'our office' }),
  });
  fake.requests.length = 0;
  // expired edgeban rules are deleted by the start-up sweep, so make this one live again first
  fake.allRules().find((r) => r.id === ownRule.result.id)!.notes = `edgeban until=${Math.floor(Date.now() / 1000) + 3600} jail=old`;
  const d = await edgeban(SHORT);
  d.send('Blocked user enumeration attempt from 203.0.113.50');
  d.send('Blocked user enumeration attempt from 203.0.113.51');
  await waitFor(() => d.messages().includes('a rule edgeban did not make covers this address; left alone'));
  await sleep(2500); // past the 2 s ban
  const values = fake.allRules().map((r) => `${r.configuration.value} ${r.notes}`);
  expect(values).toContain('203.0.113.51 our office');
  // edgeban's own rule was adopted at start (live until +1h), so the short ban did not shorten it
  expect(fake.allRules().filter((r) => r.configuration.value === '203.0.113.50')).toHaveLength(1);
});

test('a 10009 while the ledger does not know the rule: adopted with PATCH, one rule', async () => {
  const d = await edgeban(SHORT);
  // created behind edgeban's back after its start-up sweep
  fake.allRules(); // none yet
  await fetch(`${fake.baseUrl}/zones/${zone}/firewall/access_rules/rules`, {
    method: 'POST',
    headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' },
    body: JSON.stringify({ mode: 'block', configuration: { target: 'ip', value: '203.0.113.60' }, notes: 'edgeban until=1750000000 jail=hard' }),
  });
  d.send('Blocked user enumeration attempt from 203.0.113.60');
  await waitFor(() => d.messages().includes('banned'));
  const rules = fake.allRules().filter((r) => r.configuration.value === '203.0.113.60');
  expect(rules).toHaveLength(1);
  expect(rules[0].notes).toMatch(/^edgeban until=\d{10} jail=hard$/);
  expect(fake.requests.map((r) => r.method)).toEqual(expect.arrayContaining(['POST', 'GET', 'PATCH']));
  await waitFor(() => fake.allRules().length === 0, 5000, 'the unban of the adopted rule');
});

test('Cloudflare answers 500 for a while: every ban ordered meanwhile arrives, none twice', async () => {
  const d = await edgeban(LONG);
  fake.fail({ ms: 1500, status: 500 });
  for (let i = 1; i <= 5; i++) d.send(`Blocked user enumeration attempt from 192.0.2.${i}`);
  await waitFor(() => fake.allRules().length === 5, 20_000, 'all five bans');
  await sleep(200);
  const created = fake.requests
    .filter((r) => r.method === 'POST' && r.status === 200)
    .map((r) => (r.body as { configuration: { value: string } }).configuration.value);
  expect(created.sort()).toEqual(['192.0.2.1', '192.0.2.2', '192.0.2.3', '192.0.2.4', '192.0.2.5']);
  expect(fake.requests.some((r) => r.status === 500)).toBe(true);
});

test('429 with Retry-After: edgeban waits that long and sends nothing meanwhile', async () => {
  const d = await edgeban(LONG);
  fake.exhaustRateLimit(2000);
  d.send('Blocked user enumeration attempt from 192.0.2.77');
  await waitFor(() => fake.requests.some((r) => r.status === 429));
  const limitedAt = fake.requests.find((r) => r.status === 429)!.at;
  await waitFor(() => fake.allRules().length === 1, 10_000, 'the ban after the pause');
  const after = fake.requests.filter((r) => r.at > limitedAt);
  expect(after.length).toBeGreaterThan(0);
  // Retry-After was 2 s: nothing may arrive before it has passed
  expect(Math.min(...after.map((r) => r.at)) - limitedAt).toBeGreaterThanOrEqual(1900);
  expect(d.messages()).toContain('Cloudflare answered 429: pausing every call');
});

test('the token never appears in a log line', async () => {
  const d = await edgeban(LONG);
  fake.fail({ count: 3, status: 500 });
  d.send('Blocked user enumeration attempt from 192.0.2.99');
  await waitFor(() => fake.allRules().length === 1, 10_000);
  expect(d.raw).not.toContain(token);
  expect(d.raw).not.toContain('192.0.2.99');
});

test('without a token: dry run through the same ledger, nothing sent', async () => {
  const d = new TestDaemon({ ...SHORT, cloudflare: { apiBase: fake.baseUrl, zoneId: zone } });
  daemons.push(d);
  await d.start();
  d.send('Blocked user enumeration attempt from 192.0.2.41');
  await waitFor(() => d.messages().includes('banned (dry run: not sent to Cloudflare)'));
  await waitFor(() => d.messages().includes('unbanned (dry run: not sent to Cloudflare)'), 5000);
  expect(fake.requests).toEqual([]);
});

test("a ban refused for a missing permission is logged with Cloudflare's code, not retried, and without the token", async () => {
  const weak = fake.addToken(['zone_read']);
  const d = new TestDaemon({ ...LONG, cloudflare: { token: weak, apiBase: fake.baseUrl, zoneId: zone } });
  daemons.push(d);
  await d.start();
  d.send('Blocked user enumeration attempt from 192.0.2.98');
  await waitFor(() => d.messages().includes('ban failed'));
  const line = d.logs.find((l) => l.msg === 'ban failed')!;
  expect(String(line.detail)).toContain('10000 Authentication error');
  await sleep(300);
  expect(fake.requests.filter((r) => r.method === 'POST')).toHaveLength(1);
  expect(d.raw).not.toContain(weak);
});

describe('trust.cloudflareRanges: refresh', () => {
  test('ranges from GET /ips are added to the bundled ones', async () => {
    fake.ips.ipv4_cidrs.push('198.18.0.0/15'); // pretend Cloudflare announced a new range
    const d = new TestDaemon({ ...LONG, trust: { cloudflareRanges: 'refresh' }, cloudflare: { token, apiBase: fake.baseUrl, zoneId: zone } });
    daemons.push(d);
    await d.start();
    await d.daemon.rangesRefresh;
    d.send('Blocked user enumeration attempt from 198.18.0.9');
    d.send('Blocked user enumeration attempt from 172.70.131.14');
    await waitFor(() => d.logs.filter((l) => l.msg === 'event').length === 2);
    expect(d.logs.filter((l) => l.msg === 'event').map((l) => l.ignored)).toEqual(['cloudflare', 'cloudflare']);
    expect(fake.requests.some((r) => r.path.endsWith('/ips'))).toBe(true);
  });

  test('when GET /ips fails, the bundled list stays', async () => {
    fake.fail({ count: 1, status: 503 });
    const d = new TestDaemon({ ...LONG, trust: { cloudflareRanges: 'refresh' }, cloudflare: { token, apiBase: fake.baseUrl, zoneId: zone } });
    daemons.push(d);
    await d.start();
    await d.daemon.rangesRefresh;
    expect(d.messages()).toContain('cannot refresh Cloudflare ranges; keeping the bundled list');
    d.send('Blocked user enumeration attempt from 172.70.131.14');
    await waitFor(() => d.logs.some((l) => l.msg === 'event'));
    expect(d.logs.find((l) => l.msg === 'event')!.ignored).toBe('cloudflare');
  });
  test('a reload that changes trust keeps the ranges fetched, and one that asks for refresh starts it', async () => {
    fake.ips.ipv4_cidrs.push('45.10.0.0/16'); // pretend Cloudflare announced a new range
    const cloudflare = { token, apiBase: fake.baseUrl, zoneId: zone };
    const d = new TestDaemon({ ...LONG, cloudflare });
    daemons.push(d);
    await d.start();
    const reload = (trust: Record<string, unknown>) =>
      d.daemon.reload(
        buildConfig({ listen: { tcp: ['127.0.0.1:0'], udp: [] }, admin: { listen: '127.0.0.1:0' }, ...LONG, widen: false, shield: false, trust, cloudflare }),
      );
    expect(reload({ cloudflareRanges: 'refresh' }).applied).toEqual(['trust']);
    await d.daemon.rangesRefresh;
    expect(fake.requests.filter((r) => r.path.endsWith('/ips'))).toHaveLength(1);
    reload({ cloudflareRanges: 'refresh', allow: ['192.0.2.0/24'] }); // trust changes: the policy is rebuilt
    d.send('Blocked user enumeration attempt from 45.10.0.9');
    await waitFor(() => d.logs.some((l) => l.msg === 'event'));
    expect(d.logs.find((l) => l.msg === 'event')!.ignored).toBe('cloudflare');
    expect(fake.requests.filter((r) => r.path.endsWith('/ips'))).toHaveLength(1); // no second fetch for the same mode
  });
});

test('stopping while a ban waits for the request budget does not linger', async () => {
  const d = await edgeban({ ...LONG, cloudflare: { requestsPer5Min: 2 } }); // the start-up sweep takes one
  d.send('Blocked user enumeration attempt from 192.0.2.31');
  d.send('Blocked user enumeration attempt from 192.0.2.32'); // waits up to 5 minutes for the budget
  await waitFor(() => d.messages().includes('client-side request budget reached: waiting'));
  const started = Date.now();
  await d.stop(100);
  expect(Date.now() - started).toBeLessThan(2000);
  expect(fake.allRules()).toHaveLength(1);
});
