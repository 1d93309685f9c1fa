/** The ip-list backend against the fake Cloudflare: lists, custom rules, bulk operations. */
import { FakeCloudflare } from './fake-cloudflare/server';
import { DaemonProcess } from './helpers/daemon';
import { fakeCloudflareEachTest, startFakeCloudflare } from './helpers/fake';
import { TestDaemon } from './helpers/in-process';
import { sleep, waitFor } from './helpers/wait';
import { octetCounted } from './helpers/wire';
import net from 'node:net';

let fake: FakeCloudflare, account: string, zone: string, token: string;
const daemons = fakeCloudflareEachTest(
  (started) => ({ fake, account, zone, token } = started),
  () => fake,
);

const JAILS = {
  hard: { events: ['user_enumeration'], maxretry: 1, findtime: '10m', bantime: '1h', action: 'block' },
  soft: { events: ['soft'], maxretry: 2, findtime: '10m', bantime: '1h', action: 'managed_challenge' },
};

async function edgeban(document: Record<string, unknown> = {}, tokenOverride = token): Promise<TestDaemon> {
  const d = new TestDaemon({
    jails: JAILS,
    ...document,
    cloudflare: { backend: 'ip-list', token: tokenOverride, apiBase: fake.baseUrl, zoneId: zone, accountId: account, ...(document.cloudflare as object) },
  });
  daemons.push(d);
  return d.start();
}

const list = (name: string) => fake.lists.listsOf(account).find((l) => l.name === name);
const items = (name: string) => [...(list(name)?.items.values() ?? [])].map((i) => i.ip).sort();

/** Makes a list as a person (or an earlier edgeban, with its description) would. */
const makeList = (name: string, description?: string) =>
  fetch(`${fake.baseUrl}/accounts/${account}/rules/lists`, {
    method: 'POST',
    headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' },
    body: JSON.stringify({ kind: 'ip', name, description }),
  });
const EDGEBAN_DESCRIPTION = 'Managed by edgeban: its bans, with their expiry in each comment. Do not edit.';

test('at start: one list per action, one custom rule per list, other rules untouched', async () => {
  // an earlier edgeban's list; the zone has a rule of its own, a stale edgeban rule with the wrong
  // action, and someone's rule on edgeban's list under a description of their own
  fake.lists.listsOf(account); // the account exists
  await makeList('edgeban_block', EDGEBAN_DESCRIPTION);
  fake.lists.putEntrypoint(zone, {
    rules: [
      { action: 'log', expression: 'http.host eq "example.com"', description: 'mine' },
      { action: 'challenge', expression: 'ip.src in $edgeban_block', description: 'edgeban block', enabled: false },
      { action: 'log', expression: 'ip.src in $edgeban_block', description: 'watching edgeban' },
    ],
  });
  await edgeban();
  expect(
    fake.lists
      .listsOf(account)
      .map((l) => l.name)
      .sort(),
  ).toEqual(['edgeban_block', 'edgeban_managed_challenge']);
  expect(list('edgeban_managed_challenge')!.description).toContain('edgeban');
  const rules = fake.lists.getEntrypoint(zone).rules.map((r) => [r.action, r.expression, r.enabled]);
  expect(rules).toEqual([
    ['log', 'http.host eq "example.com"', true],
    ['block', 'ip.src in $edgeban_block', true],
    ['log', 'ip.src in $edgeban_block', true],
    ['managed_challenge', 'ip.src in $edgeban_managed_challenge', true],
  ]);
});

test("a list of edgeban's name that edgeban did not make is never used: no ban goes out, and the log says what to do", async () => {
  await makeList('edgeban_block', 'the office allow-list, keep');
  const d = await edgeban();
  d.send('Blocked user enumeration attempt from 203.0.113.7');
  await waitFor(() => d.logs.some((line) => String(line.error ?? line.detail ?? '').includes('a list named edgeban_block exists that edgeban did not make')));
  expect([...list('edgeban_block')!.items.values()]).toEqual([]);
  expect(list('edgeban_block')!.description).toBe('the office allow-list, keep');
});

test('a zone with no entry point yet gets one; a second start changes nothing', async () => {
  await edgeban();
  expect(fake.lists.getEntrypoint(zone).rules).toHaveLength(2);
  const version = fake.lists.getEntrypoint(zone).version;
  await edgeban();
  expect(fake.lists.getEntrypoint(zone).version).toBe(version);
  expect(fake.lists.listsOf(account)).toHaveLength(2);
});

test('bans are batched into bulk operations with the edgeban comment; IPv6 as /64', async () => {
  const d = await edgeban();
  const before = fake.requests.length;
  for (let i = 1; i <= 60; i++) d.send(`Blocked user enumeration attempt from 203.0.113.${i}`);
  d.send('Blocked user enumeration attempt from 2001:db8:1:2::99');
  d.send('Authentication failure for a from 198.51.100.4');
  d.send('Authentication failure for b from 198.51.100.4');
  await waitFor(() => items('edgeban_block').length === 61 && items('edgeban_managed_challenge').length === 1, 10_000, 'all items');
  expect(items('edgeban_block')).toContain('2001:db8:1:2::/64');
  expect(items('edgeban_block')).toContain('203.0.113.1');
  expect(items('edgeban_managed_challenge')).toEqual(['198.51.100.4']);
  const comment = [...list('edgeban_block')!.items.values()][0].comment;
  expect(comment).toMatch(/^edgeban until=\d{10} jail=hard$/);
  const calls = fake.requests.length - before;
  expect(calls).toBeLessThan(25); // 62 bans, a handful of bulk writes and polls
});

test('bans are lifted on time', async () => {
  const d = await edgeban({ jails: { hard: { ...JAILS.hard, bantime: '2s' } } });
  d.send('Blocked user enumeration attempt from 203.0.113.5');
  await waitFor(() => items('edgeban_block').length === 1);
  await waitFor(() => items('edgeban_block').length === 0, 6000, 'the unban');
});

test('a failed bulk operation is retried and the bans arrive once', async () => {
  fake.lists.failNextBulk = 1;
  const d = await edgeban();
  d.send('Blocked user enumeration attempt from 203.0.113.6');
  d.send('Blocked user enumeration attempt from 203.0.113.7');
  await waitFor(() => items('edgeban_block').length === 2, 15_000, 'the retried operation');
  expect(d.messages()).toContain('Cloudflare call failed; will retry');
  expect(fake.lists.listsOf(account).flatMap((l) => [...l.items.values()])).toHaveLength(2);
});

test('when the list is full, the bans closest to expiry leave first', async () => {
  const d = await edgeban({
    cloudflare: { listItemLimit: 5 },
    jails: {
      short: { events: ['user_enumeration'], maxretry: 1, findtime: '10m', bantime: '10m', action: 'block' },
      long: { events: ['blocked_user'], maxretry: 1, findtime: '10m', bantime: '1h', action: 'block' },
    },
  });
  for (let i = 1; i <= 3; i++) d.send(`Blocked user enumeration attempt from 192.0.2.${i}`);
  await waitFor(() => items('edgeban_block').length === 3);
  for (let i = 11; i <= 15; i++) d.send(`Blocked authentication attempt for x from 192.0.2.${i}`);
  await waitFor(() => d.messages().filter((m) => m.startsWith('the IP list is full')).length === 3, 10_000, 'three evictions');
  await waitFor(() => items('edgeban_block').length === 5);
  expect(items('edgeban_block')).toEqual(['192.0.2.11', '192.0.2.12', '192.0.2.13', '192.0.2.14', '192.0.2.15']);
});

test('restart: live items adopted from their comments, expired ones removed, foreign items untouched', async () => {
  const first = await edgeban();
  const now = Math.floor(Date.now() / 1000);
  const blockList = list('edgeban_block')!;
  await first.stop();
  const put = (ip: string, comment: string) =>
    blockList.items.set(ip, { id: Math.random().toString(16).slice(2).padEnd(32, '0').slice(0, 32), ip, comment, created_on: '', modified_on: '' });
  put('203.0.113.70', `edgeban until=${now + 2} jail=hard`);
  put('203.0.113.71', `edgeban until=${now - 60} jail=hard`);
  put('203.0.113.72', 'added by hand');
  const second = await edgeban();
  await waitFor(() => !items('edgeban_block').includes('203.0.113.71'), 5000, 'the expired item removed');
  expect(items('edgeban_block')).toEqual(['203.0.113.70', '203.0.113.72']);
  expect(second.messages()).toContain('adopted');
  await waitFor(() => items('edgeban_block').length === 1, 6000, 'the adopted ban lifted');
  expect(items('edgeban_block')).toEqual(['203.0.113.72']);
});

test('a token without list permission: the log names it', async () => {
  const weak = fake.addToken(['zone_firewall_services', 'zone_waf']);
  const d = await edgeban({}, weak);
  await waitFor(() => d.logs.some((l) => String(l.error ?? '').includes('Account → Account Filter Lists → Edit')));
});

test('killed with SIGKILL while a bulk operation is pending: after a restart the bans are adopted', async () => {
  await fake.stop();
  ({ fake, account, zone, token } = await startFakeCloudflare({ bulkStepMs: 700 }));
  const config = {
    listen: { tcp: ['127.0.0.1:0'], udp: [] },
    jails: { hard: { ...JAILS.hard, bantime: '1h' } },
    cloudflare: { backend: 'ip-list', token, apiBase: fake.baseUrl, zoneId: zone, accountId: account },
  };
  const first = await DaemonProcess.start(config);
  const socket = net.connect({ port: first.port('tcp'), host: '127.0.0.1' });
  try {
    await new Promise((resolve) => socket.once('connect', resolve));
    socket.write(octetCounted(`<37>${new Date().toISOString()} web1 wp(x)[1]: Blocked user enumeration attempt from 203.0.113.80`));
    await waitFor(
      () => fake.requests.some((r) => r.method === 'POST' && r.path.endsWith('/items')),
      5000,
      `the bulk write; log: ${JSON.stringify(first.lines)} stderr: ${first.stderr} requests: ${fake.requests.map((r) => r.method + ' ' + r.path + ' ' + r.status).join(', ')}`,
    );
  } finally {
    await first.stop('SIGKILL');
    socket.destroy();
  }
  expect(items('edgeban_block')).toEqual([]); // still pending
  await sleep(1600);
  expect(items('edgeban_block')).toEqual(['203.0.113.80']);
  const second = await DaemonProcess.start(config);
  try {
    await second.waitForLog((l) => l.msg === 'adopted');
  } finally {
    await second.stop();
  }
});
