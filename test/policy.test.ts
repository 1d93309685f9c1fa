import { buildConfig } from '../src/config/load';
import { createPolicy } from '../src/policy/pipeline';
import { Policy } from '../src/policy/policy';
import { Trust } from '../src/policy/trust';
import { parseIp } from '../src/address/ip';
import { makeEvent, WpEvent } from '../src/wordpress/recognise';
import { setFlagsFromString } from 'node:v8';
import fc from 'fast-check';
import { runInNewContext } from 'node:vm';

setFlagsFromString('--expose-gc');
const gc = runInNewContext('gc') as () => void;

const T0 = Date.UTC(2025, 2, 9, 6);
const MIN = 60_000;

function event(
  address: string,
  at: number,
  kind: WpEvent['kind'] = 'auth_failure',
  cls: WpEvent['class'] = 'soft',
  site: string | null = 'example.com',
): WpEvent {
  return makeEvent({ kind, class: cls, address, site, at });
}
const hard = (address: string, at: number) => event(address, at, 'user_enumeration', 'hard');

function policyWith(document: Record<string, unknown> = {}): Policy {
  return createPolicy(buildConfig(document, {}));
}

describe('trust', () => {
  const trust = new Trust({ cloudflare: ['172.64.0.0/13', '2a06:98c0::/29'], proxies: ['198.51.100.0/28'], allow: ['192.0.2.128/25', '2001:db8:aaaa::/48'] });
  test.each([
    ['172.70.131.14', 'cloudflare'],
    ['2a06:98c0:3600::103', 'cloudflare'],
    ['198.51.100.5', 'proxy'],
    ['192.0.2.200', 'allow'],
    ['2001:db8:aaaa:1::1', 'allow'],
    ['127.0.0.1', 'reserved'],
    ['10.1.2.3', 'reserved'],
    ['172.16.5.4', 'reserved'],
    ['192.168.1.1', 'reserved'],
    ['169.254.1.1', 'reserved'],
    ['100.64.0.1', 'reserved'],
    ['224.0.0.1', 'reserved'],
    ['0.0.0.0', 'reserved'],
    ['255.255.255.255', 'reserved'],
    ['::1', 'reserved'],
    ['::', 'reserved'],
    ['fe80::1', 'reserved'],
    ['fd00::1', 'reserved'],
    ['ff02::1', 'reserved'],
    ['192.0.2.1', null],
    ['198.51.100.23', null],
    ['203.0.113.7', null],
    ['2001:db8::1', null],
    ['8.8.8.8', null],
  ])('%s → %s', (address, reason) => expect(trust.reason(parseIp(address)!)).toBe(reason));

  test('every bundled Cloudflare range is trusted by default', () => {
    const policy = policyWith();
    for (const address of ['173.245.48.1', '104.16.0.1', '104.27.255.255', '131.0.72.9', '2400:cb00::1', '2c0f:f248::1']) {
      expect(policy.decide(hard(address, T0)).ignored).toBe('cloudflare');
    }
  });
});

describe('keys', () => {
  test('IPv4 bans the /32, IPv6 the /64, mapped IPv6 counts as IPv4', () => {
    const policy = policyWith();
    expect(policy.decide(hard('203.0.113.7', T0)).orders[0].key).toBe('203.0.113.7/32');
    expect(policy.decide(hard('2001:db8:1:2:3:4:5:6', T0)).orders[0].key).toBe('2001:db8:1:2::/64');
    expect(policy.decide(hard('::ffff:198.51.100.9', T0)).orders[0].key).toBe('198.51.100.9/32');
  });

  test('two addresses of one /64 are one key', () => {
    const policy = policyWith({ jails: { j: { events: ['soft'], maxretry: 2, findtime: '10m', bantime: '1h' } } });
    expect(policy.decide(event('2001:db8:1:2::a', T0)).orders).toEqual([]);
    expect(policy.decide(event('2001:db8:1:2::b', T0 + 1)).orders).toHaveLength(1);
  });

  test('prefix lengths are configurable', () => {
    const policy = policyWith({ trust: { ipv4Prefix: 24, ipv6Prefix: 48 } });
    expect(policy.decide(hard('203.0.113.7', T0)).orders[0].key).toBe('203.0.113.0/24');
    expect(policy.decide(hard('2001:db8:1:2::1', T0)).orders[0].key).toBe('2001:db8:1::/48');
  });
});

describe('jails', () => {
  test('the default hard jail bans on the first hard event, with block for 1h', () => {
    const decision = policyWith().decide(hard('203.0.113.7', T0));
    expect(decision.orders).toEqual([
      { key: '203.0.113.7/32', bits: 32, jail: 'wordpress-hard', action: 'block', duration: 3600, until: T0 / 1000 + 3600, site: 'example.com' },
    ]);
  });

  test('the default soft jail orders a managed challenge on the 5th soft event within 10 minutes', () => {
    const policy = policyWith();
    for (let i = 0; i < 4; i++) expect(policy.decide(event('203.0.113.7', T0 + i * MIN)).orders).toEqual([]);
    expect(policy.decide(event('203.0.113.7', T0 + 4 * MIN)).orders).toMatchObject([{ jail: 'wordpress-soft', action: 'managed_challenge' }]);
  });

  test('hits older than findtime slide out of the window', () => {
    const policy = policyWith();
    for (let i = 0; i < 4; i++) policy.decide(event('203.0.113.7', T0 + i * MIN));
    // the 5th hit comes 10.5 minutes after the first, which has slid out: 4 in the window
    expect(policy.decide(event('203.0.113.7', T0 + 10.5 * MIN)).orders).toEqual([]);
    expect(policy.decide(event('203.0.113.7', T0 + 10.6 * MIN)).orders).toHaveLength(1);
  });

  test('events select by class or by kind; info and extra are not counted by the defaults', () => {
    const policy = policyWith({
      jails: { comments: { events: ['comment_attempt', 'spam_comment'], maxretry: 1, findtime: '1h', bantime: '1d', action: 'challenge' } },
    });
    expect(policy.decide(event('203.0.113.7', T0, 'comment_attempt', 'soft')).orders).toMatchObject([
      { jail: 'comments', action: 'challenge', duration: 86400 },
    ]);
    expect(policy.decide(event('203.0.113.8', T0, 'auth_failure', 'soft')).orders).toEqual([]);
    expect(policyWith().decide(event('203.0.113.9', T0, 'auth_success', 'info')).orders).toEqual([]);
    expect(policyWith().decide(event('203.0.113.9', T0, 'comment', 'extra')).orders).toEqual([]);
  });

  test('a banned key is not ordered again while the ban lasts, and is after it ends', () => {
    const policy = policyWith();
    expect(policy.decide(hard('203.0.113.7', T0)).orders).toHaveLength(1);
    expect(policy.decide(hard('203.0.113.7', T0 + 30 * MIN)).orders).toEqual([]);
    expect(policy.decide(hard('203.0.113.7', T0 + 61 * MIN)).orders).toHaveLength(1);
  });

  test('increment: each repeat ban lasts factor times longer, up to max', () => {
    const policy = policyWith({ jails: { j: { events: ['hard'], maxretry: 1, findtime: '10m', bantime: '1h', increment: { factor: 4, max: '10h' } } } });
    let at = T0;
    const durations: number[] = [];
    for (let i = 0; i < 4; i++) {
      const [order] = policy.decide(hard('203.0.113.7', at)).orders;
      durations.push(order.duration);
      at = (order.until + 1) * 1000;
    }
    expect(durations).toEqual([3600, 4 * 3600, 10 * 3600, 10 * 3600]);
  });

  test('an operator unban (forget) lets the key be ordered again at once', () => {
    const policy = policyWith();
    policy.decide(hard('203.0.113.7', T0));
    policy.forget(parseIp('203.0.113.7')!);
    expect(policy.decide(hard('203.0.113.7', T0 + 1)).orders).toHaveLength(1);
  });
});

describe('the window kept in 32-bit cells', () => {
  /** The window as plain millisecond times per jail and key: what the cells must agree with. */
  function modelOrders(jails: Record<string, { maxretry: number; findtime: number; bantime: number }>, events: [number, number][]): string[] {
    const hits = new Map<string, number[]>();
    const bannedUntil = new Map<string, number>();
    const orders: string[] = [];
    for (const [address, at] of events) {
      for (const [name, { maxretry, findtime, bantime }] of Object.entries(jails)) {
        const id = `${name} ${address}`;
        if ((bannedUntil.get(id) ?? 0) > at) continue;
        const kept = (hits.get(id) ?? []).filter((time) => time > at - findtime * 1000);
        if (kept.length + 1 < maxretry) {
          hits.set(id, [...kept, at]);
          continue;
        }
        hits.set(id, []);
        bannedUntil.set(id, Math.floor((at + bantime * 1000) / 1000) * 1000);
        orders.push(`${id} ${at}`);
      }
    }
    return orders;
  }

  test('orders exactly the bans plain millisecond times would, over random gaps from 1 ms to days', () => {
    // findtimes of seconds against gaps of milliseconds put hits on the window's edge, where a unit too coarse shows
    const findtime = fc.oneof({ arbitrary: fc.integer({ min: 1, max: 2 }), weight: 3 }, fc.integer({ min: 1, max: 12 * 86_400 }));
    const gap = fc.oneof(
      { arbitrary: fc.constantFrom(0, 1, 999, 1000, 1001), weight: 4 },
      fc.integer({ min: 0, max: 2000 }),
      fc.integer({ min: 0, max: 15 * MIN }),
      fc.integer({ min: 0, max: 20 * 86_400_000 }),
    );
    fc.assert(
      fc.property(
        fc.array(fc.tuple(fc.integer({ min: 1, max: 6 }), findtime), { minLength: 1, maxLength: 3 }),
        fc.array(fc.tuple(fc.integer({ min: 0, max: 2 }), gap), { minLength: 1, maxLength: 200 }),
        (jailShapes, steps) => {
          const jails = Object.fromEntries(
            jailShapes.map(([maxretry, findtime], i) => [`j${i}`, { events: ['soft'], maxretry, findtime, bantime: 1 + ((findtime * 7) % 86_400) }]),
          );
          const policy = policyWith({ jails });
          let at = T0;
          const events = steps.map(([address, step]): [number, number] => [address, (at += step)]);
          const orders = events.flatMap(([address, time]) =>
            policy.decide(event(`203.0.113.${address}`, time)).orders.map((order) => `${order.jail} ${address} ${time}`),
          );
          expect(orders).toEqual(modelOrders(jails, events));
        },
      ),
      { numRuns: 300 },
    );
  });

  test('a findtime of weeks keeps hits to the second and still counts them', () => {
    const policy = policyWith({ jails: { slow: { events: ['soft'], maxretry: 3, findtime: '30d', bantime: '1d' } } });
    const DAY = 86_400_000;
    expect(policy.decide(event('203.0.113.7', T0)).orders).toEqual([]);
    expect(policy.decide(event('203.0.113.7', T0 + 14 * DAY)).orders).toEqual([]);
    expect(policy.decide(event('203.0.113.7', T0 + 29 * DAY)).orders).toHaveLength(1);
    expect(policy.decide(event('203.0.113.8', T0)).orders).toEqual([]);
    expect(policy.decide(event('203.0.113.8', T0 + 20 * DAY)).orders).toEqual([]);
    // the first hit has left the 30 days: two in the window
    expect(policy.decide(event('203.0.113.8', T0 + 31 * DAY)).orders).toEqual([]);
  });

  test('a ban a year long, the longest taken, holds to its end', () => {
    const policy = policyWith({ jails: { j: { events: ['hard'], maxretry: 1, findtime: '10m', bantime: '366d' } } });
    const [order] = policy.decide(hard('203.0.113.7', T0)).orders;
    expect(policy.decide(hard('203.0.113.7', order.until * 1000 - 1)).orders).toEqual([]);
    expect(policy.decide(hard('203.0.113.7', order.until * 1000)).orders).toHaveLength(1);
  });
});

describe('misconfigured senders', () => {
  test('a Cloudflare address warns once per site per hour', () => {
    const policy = policyWith();
    const warn = (site: string, at: number) => policy.decide(event('172.70.131.14', at, 'untrusted_proxy_header', 'hard', site)).warnMisconfigured;
    expect(warn('a.example', T0)).toBe(true);
    expect(warn('a.example', T0 + 10 * MIN)).toBe(false);
    expect(warn('b.example', T0 + 10 * MIN)).toBe(true);
    expect(warn('a.example', T0 + 61 * MIN)).toBe(true);
  });

  test('allow-listed and reserved addresses do not warn', () => {
    const policy = policyWith({ trust: { allow: ['203.0.113.0/24'] } });
    expect(policy.decide(hard('203.0.113.7', T0))).toEqual({ ignored: 'allow', orders: [], warnMisconfigured: false });
    expect(policy.decide(hard('10.0.0.1', T0))).toEqual({ ignored: 'reserved', orders: [], warnMisconfigured: false });
  });
});

describe('bounded memory', () => {
  test('2,000,000 distinct IPv6 /64s: tracked entries never pass the cap, heap growth stays bounded', () => {
    const cap = 100_000;
    const policy = policyWith({ trust: { maxTracked: cap } });
    // the window's cells are typed arrays outside the JS heap, made at full size with the policy: count both
    const used = () => process.memoryUsage().heapUsed + process.memoryUsage().arrayBuffers;
    gc();
    const before = used();
    let peak = 0;
    for (let i = 0; i < 2_000_000; i++) {
      const a = (i >>> 16) & 0xffff;
      const b = i & 0xffff;
      policy.decide(event(`2001:db8:${a.toString(16)}:${b.toString(16)}::1`, T0 + i));
      if ((i & 0xffff) === 0) peak = Math.max(peak, policy.tracked);
    }
    peak = Math.max(peak, policy.tracked);
    expect(peak).toBeLessThanOrEqual(cap);
    expect(policy.tracked).toBe(cap);
    gc();
    const growth = used() - before;
    // 100,000 windows cost well under 64 MiB; 2,000,000 unbounded would cost far more
    expect(growth).toBeLessThan(64 * 1024 * 1024);
  });
});

describe('purging the window in slices', () => {
  test('a slice at a time drops every expired key by the end of a pass, keeps the live ones, and never visits all at once', () => {
    const policy = policyWith({ trust: { maxTracked: 10_000 } });
    const soft = (address: string, at: number) => event(address, at, 'auth_failure', 'soft');
    for (let i = 0; i < 6_000; i++) policy.decide(soft(`198.51.${i >> 8}.${i & 255}`, T0));
    for (let i = 0; i < 3_000; i++) policy.decide(soft(`203.0.${i >> 8}.${i & 255}`, T0 + 30 * MIN));
    expect(policy.tracked).toBe(9_000);
    const now = T0 + 35 * MIN; // the first 6,000 are past their findtime, the last 3,000 are not
    policy.purgeStale(now, 1 / 4);
    const afterOne = policy.tracked;
    expect(afterOne).toBeGreaterThan(3_000); // one slice is not a whole pass
    expect(afterOne).toBeLessThan(9_000);
    for (let slice = 1; slice < 4; slice++) policy.purgeStale(now, 1 / 4);
    expect(policy.tracked).toBe(3_000);
    policy.purgeStale(now + 60 * MIN);
    expect(policy.tracked).toBe(0);
  });
});
