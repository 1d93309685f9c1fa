/** Addresses in log lines follow privacy.logAddresses; usernames and message text never appear. */
import { buildConfig } from '../src/config/load';
import { FakeCloudflare } from './fake-cloudflare/server';
import { startFakeCloudflare } from './helpers/fake';
import { TestDaemon } from './helpers/in-process';
import { waitFor } from './helpers/wait';

const ADDRESS = '203.0.113.77';
const USERNAME = 'VerySecretUser';

async function logFor(mode: 'pseudonymize' | 'omit' | 'plain'): Promise<TestDaemon> {
  const daemon = new TestDaemon({ privacy: { logAddresses: mode }, jails: { j: { events: ['soft'], maxretry: 1, findtime: '1m', bantime: '1s' } } });
  await daemon.start();
  daemon.send(`Authentication failure for ${USERNAME} from ${ADDRESS}`);
  await waitFor(() => daemon.messages().some((m) => m.startsWith('unbanned')), 5000, 'ban and unban');
  await daemon.stop();
  return daemon;
}

test('pseudonymize (default): a keyed hash, stable within the run, never the address', async () => {
  const daemon = await logFor('pseudonymize');
  expect(daemon.raw).not.toContain(ADDRESS);
  const shown = daemon.logs.filter((l) => l.address || l.key).map((l) => String(l.address ?? l.key));
  expect(shown.length).toBeGreaterThanOrEqual(3);
  for (const value of shown) expect(value).toMatch(/^~[0-9a-f]{12}$/);
  // one client, one pseudonym: its event lines and its ban lines (key /32) show the same one
  expect(new Set(shown).size).toBe(1);
});

test('pseudonyms differ between runs (the key is random per start)', async () => {
  const first = await logFor('pseudonymize');
  const second = await logFor('pseudonymize');
  const key = (d: TestDaemon) => d.logs.find((l) => l.key)!.key;
  expect(key(first)).not.toBe(key(second));
});

test('omit: no address at all', async () => {
  const daemon = await logFor('omit');
  expect(daemon.raw).not.toContain(ADDRESS);
  expect(daemon.logs.filter((l) => l.key).every((l) => l.key === '-')).toBe(true);
});

test('plain: the address, and a warning at start', async () => {
  const daemon = await logFor('plain');
  expect(daemon.raw).toContain(`${ADDRESS}/32`);
  expect(daemon.logs.some((l) => l.level === 'warn' && String(l.msg).includes('"plain"'))).toBe(true);
});

test.each(['pseudonymize', 'omit', 'plain'] as const)('%s: never the username or the message text', async (mode) => {
  const daemon = await logFor(mode);
  expect(daemon.raw).not.toContain(USERNAME);
  expect(daemon.raw).not.toContain('Authentication failure for');
});

describe('a whole attack in omit and pseudonymize modes: no address anywhere in the output', () => {
  let fake: FakeCloudflare, zone: string, token: string;
  beforeEach(async () => ({ fake, zone, token } = await startFakeCloudflare()));
  afterEach(() => fake.stop());
  const ADMIN = 'admin-token-0123456789abcdef';
  const ATTACKERS = ['203.0.113.80', '203.0.113.81', '2001:db8:5:6::7', '198.51.100.90'];
  const FOREIGN = '203.0.113.82';

  test.each(['omit', 'pseudonymize'] as const)('%s', async (mode) => {
    // someone's rule for an address that attacks, in edgeban's own words but another mode
    await fetch(`${fake.baseUrl}/zones/${zone}/firewall/access_rules/rules`, {
      method: 'POST',
      headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' },
      body: JSON.stringify({ mode: 'whitelist', configuration: { target: 'ip', value: FOREIGN }, notes: 'edgeban manual office allow-list, keep' }),
    });
    const document = {
      privacy: { logAddresses: mode },
      admin: { listen: '127.0.0.1:0', token: ADMIN },
      jails: { j: { events: ['hard', 'soft'], maxretry: 1, findtime: '1m', bantime: '3s' } },
      cloudflare: { token, apiBase: fake.baseUrl, zoneId: zone },
    };
    const daemon = new TestDaemon(document);
    await daemon.start();
    try {
      fake.fail({ count: 1, status: 503 }); // an API error: retried
      for (const address of [...ATTACKERS, FOREIGN]) daemon.send(`Blocked user enumeration attempt from ${address}`);
      daemon.send(`Untrusted X-Forwarded-For header from 172.70.131.14`); // an edge address: a warning about the site
      await waitFor(() => daemon.messages().filter((m) => m === 'banned').length === ATTACKERS.length, 10_000, 'the bans').catch((error) => {
        throw new Error(`${error.message}: ${JSON.stringify(daemon.logs.slice(-20))}`);
      });
      // an operator's unban, a reload, and the bans' expiry
      await fetch(`http://127.0.0.1:${daemon.daemon.admin!.port}/unban`, {
        method: 'POST',
        headers: { authorization: `Bearer ${ADMIN}`, 'content-type': 'application/json' },
        body: JSON.stringify({ address: ATTACKERS[0] }),
      });
      daemon.daemon.reload(buildConfig({ ...document, listen: { tcp: ['127.0.0.1:0'], udp: [] }, trust: { allow: ['192.0.2.0/24'] } }, {}));
      await waitFor(() => daemon.messages().filter((m) => m === 'unbanned').length >= ATTACKERS.length, 10_000, 'the unbans');
      expect(daemon.messages()).toContain('a rule edgeban did not make covers this address; left alone');
    } finally {
      await daemon.stop();
    }
    for (const address of [...ATTACKERS, FOREIGN, '172.70.131.14', '2001:db8:5:6::/64'])
      expect([address, daemon.raw.includes(address)]).toEqual([address, false]);
    // no dotted quad at all but the listeners' own loopback address
    expect(daemon.raw.match(/\b\d{1,3}\.\d{1,3}\.\d{1,3}\.\d{1,3}\b/g)?.filter((quad) => quad !== '127.0.0.1') ?? []).toEqual([]);
  });
});
