/**
 * Promise: edgeban never adopts, changes or deletes a Cloudflare rule it did not make. Attacked
 * with rules at the fake Cloudflare that look like edgeban's: its prefix with other words, its
 * exact grammar in a mode it never uses, an `until` it could never have written.
 */
import { FakeCloudflare } from './fake-cloudflare/server';
import { fakeCloudflareEachTest } from './helpers/fake';
import { TestDaemon } from './helpers/in-process';
import { sleep, waitFor } from './helpers/wait';

let fake: FakeCloudflare, zone: string, token: string;
const daemons = fakeCloudflareEachTest(
  (started) => ({ fake, zone, token } = started),
  () => fake,
);
const HARD = { jails: { hard: { events: ['hard'], maxretry: 1, findtime: '10m', bantime: '1h' } } };
const future = () => Math.floor(Date.now() / 1000) + 3600;

async function personMakes(mode: string, value: string, notes: string): Promise<void> {
  const response = await fetch(`${fake.baseUrl}/zones/${zone}/firewall/access_rules/rules`, {
    method: 'POST',
    headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' },
    body: JSON.stringify({ mode, configuration: { target: 'ip', value }, notes }),
  });
  expect(response.status).toBe(200);
}

async function edgeban(): Promise<TestDaemon> {
  const daemon = new TestDaemon({ ...HARD, cloudflare: { token, apiBase: fake.baseUrl, zoneId: zone }, privacy: { logAddresses: 'omit' } });
  daemons.push(daemon);
  return daemon.start();
}

const snapshot = () => fake.allRules().map((rule) => `${rule.id} ${rule.mode} ${rule.configuration.value} ${rule.notes}`);

test('look-alike rules survive a start, a sweep and an attack on their addresses, unchanged', async () => {
  await personMakes('whitelist', '203.0.113.10', 'edgeban manual office allow-list, keep');
  await personMakes('whitelist', '203.0.113.11', `edgeban until=${future()} jail=hard`);
  await personMakes('block', '203.0.113.12', 'edgeban until=0 jail=x');
  await personMakes('block', '203.0.113.13', `edgeban until=1600000000 jail=hard`); // before edgeban existed
  await personMakes('block', '203.0.113.14', ` edgeban until=${future()} jail=hard`);
  await personMakes('block', '203.0.113.15', `edgeban until=${future()} jail=hard trailing`);
  const before = snapshot();
  const d = await edgeban();
  await d.daemon.sweep();
  for (let i = 10; i <= 15; i++) d.send(`Blocked user enumeration attempt from 203.0.113.${i}`);
  await waitFor(() => d.messages().filter((m) => m === 'a rule edgeban did not make covers this address; left alone').length === 6, 5000, 'six foreign');
  await d.daemon.sweep();
  await sleep(200);
  expect(snapshot()).toEqual(before);
  expect(fake.requests.filter((r) => r.method === 'PATCH' || r.method === 'DELETE')).toEqual([]);
});

test("a rule edgeban made in an earlier run is adopted and lifted on time (the grammar's other side)", async () => {
  const until = Math.floor(Date.now() / 1000) + 1;
  await personMakes('block', '203.0.113.20', `edgeban until=${until} jail=hard`);
  await edgeban();
  await waitFor(() => fake.allRules().length === 0, 5000, 'the adopted rule lifted');
});
