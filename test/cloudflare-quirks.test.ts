/**
 * The real API's quirks, each shown by the fake in a mode of its own, and edgeban right for each:
 * a per_page cap, rules inherited from the account in a zone's listing, the account edit's
 * required configuration, an entry point whose last rule was deleted, IPv6 values after a 10009.
 */
import { FakeCloudflare, FakeOptions } from './fake-cloudflare/server';
import { startFakeCloudflare } from './helpers/fake';
import { TestDaemon } from './helpers/in-process';
import { sleep, waitFor } from './helpers/wait';

let fake: FakeCloudflare, account: string, zone: string, token: string;
const daemons: TestDaemon[] = [];
async function fakeWith(options: FakeOptions): Promise<void> {
  ({ fake, account, zone, token } = await startFakeCloudflare(options));
}
afterEach(async () => {
  await Promise.all(daemons.splice(0).map((daemon) => daemon.stop()));
  await fake.stop();
});

async function edgeban(document: Record<string, unknown> = {}): Promise<TestDaemon> {
  const jails = { hard: { events: ['hard'], maxretry: 1, findtime: '10m', bantime: '1h' } };
  const daemon = new TestDaemon({
    jails,
    ...document,
    cloudflare: { token, apiBase: fake.baseUrl, zoneId: zone, accountId: account, ...(document.cloudflare as object) },
  });
  daemons.push(daemon);
  return daemon.start();
}

async function makeRule(location: string, value: string, notes: string, target = 'ip'): Promise<void> {
  const response = await fetch(`${fake.baseUrl}/${location}/firewall/access_rules/rules`, {
    method: 'POST',
    headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' },
    body: JSON.stringify({ mode: 'block', configuration: { target, value }, notes }),
  });
  expect(response.status).toBe(200);
}

const expired = 'edgeban until=1750000000 jail=hard';

test('listing pages by total_pages, not by a short page: every expired rule is found and deleted', async () => {
  await fakeWith({ perPageCap: 25 });
  for (let i = 0; i < 60; i++) await makeRule(`zones/${zone}`, `203.0.113.${i}`, expired);
  await edgeban();
  await waitFor(() => fake.allRules().length === 0, 10_000, 'all 60 deleted');
});

test("rules a zone's listing inherits from the account are left to the account", async () => {
  await fakeWith({ inheritAccountRules: true });
  await makeRule(`accounts/${account}`, '203.0.113.70', expired); // an account-level rule of an edgeban in account scope
  await makeRule(`zones/${zone}`, '203.0.113.71', expired);
  await edgeban(); // zone scope
  await waitFor(() => fake.allRules().length === 1, 5000, "the zone's own rule deleted");
  await sleep(200);
  const left = fake.allRules().map((rule) => `${(rule.scope as { type: string }).type} ${rule.configuration.value}`);
  expect(left).toEqual(['account 203.0.113.70']);
  expect(fake.requests.filter((r) => r.method === 'DELETE').map((r) => r.path)).toEqual([expect.stringContaining(`/zones/${zone}/`)]);
});

test('an account-scope ban that is extended sends its configuration with mode and notes', async () => {
  await fakeWith({});
  const d = await edgeban({
    cloudflare: { scope: 'account' },
    jails: { hard: { events: ['hard'], maxretry: 1, findtime: '10m', bantime: '1h', increment: { factor: 2, max: '1d' } } },
  });
  d.send('Blocked user enumeration attempt from 203.0.113.80');
  await waitFor(() => d.messages().includes('banned'));
  d.daemon.pipeline.policy.release('203.0.113.80/32', 'hard'); // as after an operator's unban elsewhere: the next attack orders a longer ban
  d.send('Blocked user enumeration attempt from 203.0.113.80');
  await waitFor(() => d.messages().includes('extended'), 5000, 'the extension');
  const patch = fake.requests.find((r) => r.method === 'PATCH')!;
  expect(patch.status).toBe(200);
  expect(patch.body).toMatchObject({ mode: 'block', configuration: { target: 'ip', value: '203.0.113.80' } });
});

test('an entry point whose last rule was deleted (no rules field) gets edgeban rules, not a TypeError', async () => {
  await fakeWith({});
  fake.lists.putEntrypoint(zone, { rules: [] });
  const d = await edgeban({ cloudflare: { backend: 'ip-list' } });
  d.send('Blocked user enumeration attempt from 203.0.113.90');
  await waitFor(() => fake.lists.getEntrypoint(zone).rules.length === 1, 5000, "edgeban's rule");
  expect(d.logs.filter((l) => String(l.error ?? '').includes('Cannot read'))).toEqual([]);
});

test('after a duplicate (10009), an IPv6 rule stored in another spelling is found and adopted', async () => {
  await fakeWith({});
  // an earlier edgeban's rule, its value in upper case with the zero groups written out
  await makeRule(`zones/${zone}`, '2001:DB8:0:0:0:0:0:77', 'edgeban until=1750000000 jail=hard', 'ip6');
  const d = await edgeban({ trust: { ipv6Prefix: 64, allow: ['2001:db8::1/128'] } }); // the allow-listed neighbour narrows the key to the one address
  await waitFor(() => fake.allRules().length === 0, 5000, 'the expired rule deleted at start');
  await makeRule(`zones/${zone}`, '2001:DB8:0:0:0:0:0:77', 'edgeban until=1750000000 jail=hard', 'ip6'); // made again behind edgeban's back
  d.send('Blocked user enumeration attempt from 2001:db8::77');
  await waitFor(() => d.messages().includes('banned'), 5000, 'the adopted ban');
  expect(fake.allRules()).toHaveLength(1);
  expect(fake.allRules()[0].notes).toMatch(/^edgeban until=\d{10} jail=hard$/);
});
