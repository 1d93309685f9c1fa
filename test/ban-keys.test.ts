/**
 * Promise: a ban never covers an address that must never be banned (Cloudflare's ranges, proxies,
 * the allow-list, reserved ranges). Attacked through `edgeban replay` (lines in, bans out) and by
 * random addresses and trust settings against the policy.
 */
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import fc from 'fast-check';
import { CidrSet, parseCidr } from '../src/address/cidr';
import { formatIp, Ip, ipv4, ipv6, maskIp } from '../src/address/ip';
import { Policy } from '../src/policy/policy';
import { CLOUDFLARE_RANGES, RESERVED_RANGES, Trust } from '../src/policy/trust';
import { makeEvent } from '../src/wordpress/recognise';
import { CLI } from './helpers/daemon';

let dir: string;
beforeAll(() => (dir = mkdtempSync(join(tmpdir(), 'edgeban-keys-'))));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

/** `edgeban replay --json --events` of hard events from these addresses, with this config. */
function replay(config: string, addresses: string[]): { events: Record<string, unknown>[]; bans: Record<string, unknown>[] } {
  const file = join(dir, `c${addresses.length}-${Buffer.from(config).toString('hex').slice(0, 24)}.yaml`);
  writeFileSync(file, config);
  const lines = addresses.map(
    (address, i) => `Mar  9 06:25:${String(10 + i).padStart(2, '0')} web1 wordpress(www.example.com)[1]: Blocked user enumeration attempt from ${address}\n`,
  );
  const run = spawnSync(process.execPath, [CLI, 'replay', '--json', '--events', '-c', file, '-'], { input: lines.join(''), encoding: 'utf8', timeout: 20_000 });
  expect(run.stderr).toBe('');
  const out = run.stdout
    .trim()
    .split('\n')
    .map((line) => JSON.parse(line) as Record<string, unknown>);
  return { events: out.filter((o) => o.type === 'event'), bans: out.filter((o) => o.type === 'ban') };
}

const HARD = 'jails:\n  hard: { events: [hard], maxretry: 1, findtime: 10m, bantime: 1h }\n';

describe('a ban key never covers what must never be banned', () => {
  test('IPv6: an allow-listed or proxy address in the /64 narrows the ban to the one address', () => {
    const config = `${HARD}trust:\n  allow: ["2001:db8:1:2::10/128"]\n  proxies: ["2001:db8:1:3::1/128"]\n`;
    const { bans } = replay(config, ['2001:db8:1:2::11', '2001:db8:1:3::5', '2001:db8:1:4::5']);
    expect(bans.map((ban) => ban.key)).toEqual(['2001:db8:1:2::11/128', '2001:db8:1:3::5/128', '2001:db8:1:4::/64']);
  });

  test('IPv4 /16 keys step down to the widest block that holds no Cloudflare or allow-listed address', () => {
    const config = `${HARD}trust:\n  ipv4Prefix: 16\n  allow: ["198.51.100.7"]\n`;
    const { bans } = replay(config, ['103.21.1.1', '198.51.0.1', '198.51.100.8', '45.10.20.30']);
    // 103.21.0.0/16 holds Cloudflare's 103.21.244.0/22; 198.51.0.0/16 and 198.51.100.0/24 hold 198.51.100.7
    expect(bans.map((ban) => ban.key)).toEqual(['103.21.1.0/24', '198.51.0.0/24', '198.51.100.8/32', '45.10.0.0/16']);
  });

  test('with IP lists, which take no single IPv6 address, such an address is not banned and says why', () => {
    const config = `${HARD}trust:\n  allow: ["2001:db8:1:2::10/128"]\ncloudflare:\n  backend: ip-list\n`;
    const { events, bans } = replay(config, ['2001:db8:1:2::11', '2001:db8:9::1']);
    expect(events.map((event) => event.ignored ?? null)).toEqual(['unbannable', null]);
    expect(bans.map((ban) => ban.key)).toEqual(['2001:db8:9::/64']);
  });

  test('IPv4 written inside IPv6 is reserved, never a key that holds ::1 or the mapped space', () => {
    const { events, bans } = replay(HARD, ['::7f00:1', '::6810:1', '::2', '::ffff:0:1', '64:ff9b::102:304', '2002:c000:204::1', '100::1', 'fe80::1']);
    expect(events.map((event) => event.ignored)).toEqual(Array(8).fill('reserved'));
    expect(bans).toEqual([]);
  });

  test("Teredo's /64 names a relay: its clients are banned one address at a time", () => {
    const { bans } = replay(HARD, ['2001:0:4136:e378:8000:63bf:3fff:fdd2']);
    expect(bans.map((ban) => ban.key)).toEqual(['2001:0:4136:e378:8000:63bf:3fff:fdd2/128']);
  });
});

describe('property: for random addresses and trust settings, no ban key overlaps a never-banned range', () => {
  const v4 = fc.integer({ min: 0, max: 2 ** 32 - 1 }).map((value): Ip => ipv4(value));
  const v6Groups = fc.array(fc.integer({ min: 0, max: 0xffff }), { minLength: 8, maxLength: 8 });
  // global unicast, documentation, Teredo, IPv4-compatible and embedded forms
  const v6 = fc.oneof(
    v6Groups.map((g): Ip => ipv6([0x2000 | (g[0] & 0x1fff), ...g.slice(1)])),
    v6Groups.map((g): Ip => ipv6([0x2001, 0xdb8, ...g.slice(2)])),
    v6Groups.map((g): Ip => ipv6([0x2001, 0, ...g.slice(2)])),
    v6Groups.map((g): Ip => ipv6([0, 0, 0, 0, 0, 0, g[6], g[7]])),
    v6Groups.map((g): Ip => ipv6([0x64, 0xff9b, 0, 0, 0, 0, g[6], g[7]])),
    v6Groups.map((g): Ip => ipv6([0x2002, ...g.slice(1)])),
  );
  const address = fc.oneof(v4, v6);
  /** a trusted range near the address: the same address, or one in its /64 or /24, at some prefix length */
  const near = (ip: Ip) =>
    fc.record({ offset: fc.integer({ min: 0, max: 255 }), bits: fc.integer({ min: 0, max: 128 }) }).map(({ offset, bits }) => {
      const neighbour: Ip = ip.family === 4 ? ipv4((ip.v4 & ~255) | offset) : ipv6([...ip.v6.slice(0, 7), offset]);
      const length = Math.min(bits, ip.family === 4 ? 32 : 128);
      return `${formatIp(maskIp(neighbour, length))}/${length}`;
    });
  const scenario = address.chain((ip) =>
    fc.record({
      ip: fc.constant(ip),
      allow: fc.array(near(ip), { maxLength: 3 }),
      proxies: fc.array(near(ip), { maxLength: 3 }),
      ipv4Prefix: fc.constantFrom(16, 24, 32),
      ipv6Prefix: fc.constantFrom(32, 48, 64),
      singleIpv6: fc.boolean(),
    }),
  );

  test('for both backends (single IPv6 addresses or not)', () => {
    fc.assert(
      fc.property(scenario, ({ ip, allow, proxies, ipv4Prefix, ipv6Prefix, singleIpv6 }) => {
        const trust = new Trust({ cloudflare: CLOUDFLARE_RANGES, proxies, allow });
        const jails = { hard: { events: ['hard'], maxretry: 1, findtime: 600, bantime: 3600, action: 'block' as const } };
        const policy = new Policy({ jails, trust, ipv4Prefix, ipv6Prefix, singleIpv6, maxTracked: 100 });
        const decision = policy.decide(makeEvent({ kind: 'user_enumeration', class: 'hard', address: formatIp(ip), site: null, at: 1e12 }));
        const never = [...CLOUDFLARE_RANGES, ...RESERVED_RANGES, ...allow, ...proxies];
        for (const order of decision.orders) {
          const key = parseCidr(order.key);
          expect(new CidrSet([order.key]).has(ip)).toBe(true); // the key holds the client
          for (const range of never) expect([order.key, range, overlaps(key, parseCidr(range))]).toEqual([order.key, range, false]);
          if (ip.family === 6 && !singleIpv6) expect(key.bits).toBeLessThanOrEqual(64);
        }
      }),
      { numRuns: 2000 },
    );
  });
});

/** Two CIDR ranges overlap when the wider one holds the narrower one's network. */
function overlaps(a: { ip: Ip; bits: number }, b: { ip: Ip; bits: number }): boolean {
  if (a.ip.family !== b.ip.family) return false;
  const [wide, narrow] = a.bits <= b.bits ? [a, b] : [b, a];
  return new CidrSet([`${formatIp(maskIp(wide.ip, wide.bits))}/${wide.bits}`]).has(narrow.ip);
}
