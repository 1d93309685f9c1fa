/** Addresses in log lines follow privacy.logAddresses; usernames and message text never appear. */
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
  // the event's address and the ban's key (/32) differ as texts, but each is stable in the run
  const keys = daemon.logs.filter((l) => l.key).map((l) => l.key);
  expect(new Set(keys).size).toBe(1);
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
