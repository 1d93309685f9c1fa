/**
 * Wider bans for crowded networks: several keys banned inside one /24 (or /48) become one ban of
 * the network, the narrower ones folded into it; never a network that holds a trusted address.
 */
import fc from 'fast-check';
import { CidrSet, parseCidr } from '../src/address/cidr';
import { buildConfig } from '../src/config/load';
import { Decoder } from '../src/decode/decoder';
import { createEscalation, createPolicy, Pipeline } from '../src/policy/pipeline';
import type { BanOrder } from '../src/policy/policy';
import { Widener } from '../src/policy/widen';
import { makeEvent, WpEvent } from '../src/wordpress/recognise';
import type { FakeCloudflare } from './fake-cloudflare/server';
import { fakeCloudflareEachTest } from './helpers/fake';
import { TestDaemon } from './helpers/in-process';
import { sleep, waitFor } from './helpers/wait';

const WIDEN = { findtime: 600, ipv4: { prefix: 24, after: 5 }, ipv6: { prefix: 48, after: 3 } };
const T = Math.floor(Date.UTC(2026, 0, 1) / 1000);

/** The widener as the pipeline calls it, with the event's address (here the key's own). */
function applyTo(widener: Widener, made: BanOrder): BanOrder[] {
  return widener.apply(made, parseCidr(made.key).ip);
}

function order(key: string, at: number, duration = 3600, action: BanOrder['action'] = 'block'): BanOrder {
  return { key, bits: Number(key.split('/')[1]), jail: 'hard', action, duration, until: at + duration, site: 'www.example.com' };
}

describe('the widener', () => {
  test('the fifth key in one /24 within findtime bans the /24 instead, folding the four, as long as the longest', () => {
    const widener = new Widener(WIDEN, () => false);
    for (let i = 1; i <= 4; i++) expect(applyTo(widener, order(`198.51.100.${i}/32`, T + i, 3600 * i))).toEqual([order(`198.51.100.${i}/32`, T + i, 3600 * i)]);
    const [network] = applyTo(widener, order('198.51.100.5/32', T + 5));
    expect(network).toMatchObject({ key: '198.51.100.0/24', widened: true, action: 'block', until: T + 4 + 4 * 3600 });
    expect(network.folds).toEqual(['198.51.100.1/32', '198.51.100.2/32', '198.51.100.3/32', '198.51.100.4/32']);
    // the attacker's next address in the network is held already
    expect(applyTo(widener, order('198.51.100.6/32', T + 6))).toEqual([]);
  });

  test('keys older than findtime, other networks and other actions do not count together', () => {
    const widener = new Widener(WIDEN, () => false);
    for (let i = 1; i <= 3; i++) applyTo(widener, order(`198.51.100.${i}/32`, T));
    applyTo(widener, order('198.51.100.4/32', T + 601)); // the first three have left the window
    applyTo(widener, order('198.51.101.5/32', T + 602)); // another /24
    applyTo(widener, order('198.51.100.6/32', T + 603, 3600, 'managed_challenge')); // another action
    const fifth = applyTo(widener, order('198.51.100.7/32', T + 604));
    expect(fifth.map((o) => o.key)).toEqual(['198.51.100.7/32']);
  });

  test('a network that holds a never-banned address is never widened to', () => {
    const never = new CidrSet(['198.51.100.200/32', '2001:db8:1::/48']);
    const widener = new Widener(WIDEN, (ip, bits) => never.overlaps(ip, bits));
    for (let i = 1; i <= 10; i++) expect(applyTo(widener, order(`198.51.100.${i}/32`, T + i))).toHaveLength(1);
    for (let i = 1; i <= 5; i++) expect(applyTo(widener, order(`2001:db8:1:${i}::/64`, T + i))[0].key).toBe(`2001:db8:1:${i}::/64`);
    // a neighbouring /48 is widened to after three /64s
    const keys = [1, 2, 3].map((i) => applyTo(widener, order(`2001:db8:2:${i}::/64`, T + i))[0].key);
    expect(keys).toEqual(['2001:db8:2:1::/64', '2001:db8:2:2::/64', '2001:db8:2::/48']);
  });

  test("extended only once the network's ban has less than half a key's ban left", () => {
    const widener = new Widener(WIDEN, () => false);
    for (let i = 1; i <= 5; i++) applyTo(widener, order(`198.51.100.${i}/32`, T + i));
    const network = T + 5 + 3600;
    expect(applyTo(widener, order('198.51.100.9/32', T + 1000))).toEqual([]); // 2,605 s left of 3,600
    const [extended] = applyTo(widener, order('198.51.100.9/32', network - 1000)); // 1,000 s left
    expect(extended).toMatchObject({ key: '198.51.100.0/24', until: network - 1000 + 3600, widened: true });
    expect(extended.folds).toBeUndefined();
  });

  test('covers says what apply would swallow, and only that', () => {
    const widener = new Widener(WIDEN, () => false);
    const coversOrder = (made: BanOrder) => widener.covers(parseCidr(made.key).ip, made.bits, made.action, made.until, made.duration);
    for (let i = 1; i <= 4; i++) expect(coversOrder(order(`198.51.100.${i}/32`, T + i))).toBe(false);
    for (let i = 1; i <= 5; i++) applyTo(widener, order(`198.51.100.${i}/32`, T + i));
    const network = T + 5 + 3600;
    expect(coversOrder(order('198.51.100.9/32', T + 1000))).toBe(true);
    expect(coversOrder(order('198.51.100.9/32', T + 1000, 3600, 'managed_challenge'))).toBe(false); // another action
    expect(coversOrder(order('198.51.101.9/32', T + 1000))).toBe(false); // another network
    expect(coversOrder(order('198.51.100.0/24', T + 1000))).toBe(false); // the network itself is no key inside it
    expect(coversOrder(order('198.51.100.9/32', network - 1000))).toBe(false); // to be extended
    expect(coversOrder(order('198.51.100.9/32', network))).toBe(false); // the network's ban is over
  });

  test('config: prefixes the backend cannot take are refused, false turns it off', () => {
    expect(() => buildConfig({ widen: { ipv4: { prefix: 20, after: 5 } } }, {})).toThrow(/widen\.ipv4\.prefix/);
    expect(() => buildConfig({ widen: { ipv6: { prefix: 40, after: 3 } } }, {})).toThrow(/widen\.ipv6\.prefix/);
    expect(buildConfig({ widen: { ipv4: { prefix: 20, after: 5 } }, cloudflare: { backend: 'ip-list', accountId: 'a'.repeat(32) } }, {}).widen).toMatchObject({
      ipv4: { prefix: 20 },
    });
    expect(buildConfig({ widen: false }, {}).widen).toBe(false);
    expect(buildConfig({}, {}).widen).toMatchObject(WIDEN);
  });
});

describe('the policy asks the widener before it makes an order', () => {
  const T0 = Date.UTC(2026, 0, 1);
  const hard = (address: string, at: number) => makeEvent({ kind: 'user_enumeration', class: 'hard', address, site: 'www.example.com', at });

  test('a key inside a banned network is banned without an order, and stays banned', () => {
    const config = buildConfig({}, {});
    const policy = createPolicy(config);
    const pipeline = new Pipeline(policy, new Decoder('arrival'), createEscalation(config, policy));
    const keys = (address: string, at: number) => {
      const outcome = pipeline.account({ type: 'event', event: hard(address, at) });
      return outcome.type === 'event' ? outcome.orders.map((each) => each.key) : [];
    };
    for (let i = 1; i <= 4; i++) expect(keys(`198.51.100.${i}`, T0 + i * 1000)).toEqual([`198.51.100.${i}/32`]);
    expect(keys('198.51.100.5', T0 + 5000)).toEqual(['198.51.100.0/24']);
    // the network holds the sixth: the jail bans its key, and no order is made to be swallowed
    expect(policy.decide(hard('198.51.100.6', T0 + 6000), pipeline.escalation.widen)).toMatchObject({ ignored: null, orders: [] });
    // banned: asked again without the widener, the jail orders nothing
    expect(policy.decide(hard('198.51.100.6', T0 + 7000))).toMatchObject({ ignored: null, orders: [] });
    // a key outside the network is ordered
    expect(policy.decide(hard('198.51.101.6', T0 + 8000), pipeline.escalation.widen).orders.map((each) => each.key)).toEqual(['198.51.101.6/32']);
  });

  test('property: the same orders as deciding first and widening after, event by event', () => {
    const jails = {
      hard: { events: ['hard'], maxretry: 1, findtime: 600, bantime: 900, action: 'block' },
      soft: { events: ['soft'], maxretry: 2, findtime: 600, bantime: 1200, action: 'block' },
      challenge: { events: ['soft'], maxretry: 3, findtime: 600, bantime: 600, action: 'managed_challenge' },
    };
    const config = buildConfig({ jails, widen: { ipv4: { prefix: 24, after: 3 }, ipv6: { prefix: 48, after: 2 } }, trust: { maxTracked: 1000 } }, {});
    const address = fc.oneof(
      fc.tuple(fc.integer({ min: 0, max: 2 }), fc.integer({ min: 1, max: 12 })).map(([net, host]) => `198.51.${100 + net}.${host}`),
      fc.tuple(fc.integer({ min: 0, max: 1 }), fc.integer({ min: 1, max: 6 })).map(([net, sub]) => `2001:db8:${net}:${sub}::1`),
    );
    const step = fc.record({ address, hard: fc.boolean(), gap: fc.integer({ min: 0, max: 400 }) });
    fc.assert(
      fc.property(fc.array(step, { minLength: 1, maxLength: 150 }), (steps) => {
        const policy = createPolicy(config);
        const pipeline = new Pipeline(policy, new Decoder('arrival'), createEscalation(config, policy));
        const reference = createPolicy(config);
        const referenceWidener = createEscalation(config, reference).widen!;
        let at = T0;
        for (const { address: text, hard: isHard, gap } of steps) {
          at += gap * 1000;
          const event: WpEvent = makeEvent({
            kind: isHard ? 'user_enumeration' : 'auth_failure',
            class: isHard ? 'hard' : 'soft',
            address: text,
            site: 'a.example',
            at,
          });
          const outcome = pipeline.account({ type: 'event', event });
          const expected = reference.decide(event).orders.flatMap((made) => referenceWidener.apply(made, event.ip));
          expect(outcome.type === 'event' ? outcome.orders : []).toEqual(expected);
        }
      }),
      { numRuns: 300 },
    );
  });
});

describe.each(['access-rules', 'ip-list'] as const)('widening at the fake Cloudflare with %s', (backend) => {
  let fake: FakeCloudflare, account: string, zone: string, token: string;
  const daemons = fakeCloudflareEachTest(
    (started) => ({ fake, account, zone, token } = started),
    () => fake,
  );
  const JAILS = { hard: { events: ['user_enumeration'], maxretry: 1, findtime: '10m', bantime: '1h', action: 'block' } };

  async function edgeban(trust: Record<string, unknown> = {}): Promise<TestDaemon> {
    const d = new TestDaemon({
      jails: JAILS,
      trust,
      widen: { findtime: '10m', ipv4: { prefix: 24, after: 5 }, ipv6: { prefix: 48, after: 3 } },
      cloudflare: { backend, token, apiBase: fake.baseUrl, zoneId: zone, accountId: account },
    });
    daemons.push(d);
    return d.start();
  }
  /** what is banned at the fake, as CIDRs or addresses the way the backend writes them */
  function banned(): string[] {
    if (backend === 'access-rules')
      return fake
        .allRules()
        .map((rule) => rule.configuration.value)
        .sort();
    const list = fake.lists.listsOf(account).find((l) => l.name === 'edgeban_block');
    return [...(list?.items.values() ?? [])].map((item) => item.ip).sort();
  }

  test('five addresses in one /24 end as one rule for the /24; the four before it are folded', async () => {
    const d = await edgeban();
    for (let i = 1; i <= 4; i++) d.send(`Blocked user enumeration attempt from 198.51.100.${i}`);
    await waitFor(() => banned().length === 4, 5000, 'four single bans');
    d.send('Blocked user enumeration attempt from 198.51.100.5');
    await waitFor(() => banned().length === 1 && banned()[0] === '198.51.100.0/24', 8000, 'the /24 alone');
    d.send('Blocked user enumeration attempt from 198.51.100.6'); // held by the /24: nothing new
    await waitFor(() => d.logs.filter((l) => l.msg === 'event').length === 6);
    await sleep(200);
    expect(banned()).toEqual(['198.51.100.0/24']);
    await waitFor(() => d.messages().filter((m) => m.startsWith('folded into the ban of its network')).length === 4);
  });

  test('no wider ban over a trusted address: the /24 holding an allow-listed address stays banned address by address', async () => {
    const d = await edgeban({ allow: ['198.51.100.200'] });
    for (let i = 1; i <= 6; i++) d.send(`Blocked user enumeration attempt from 198.51.100.${i}`);
    await waitFor(() => banned().length === 6, 5000, 'six single bans');
    await sleep(200);
    expect(banned()).toEqual([1, 2, 3, 4, 5, 6].map((i) => `198.51.100.${i}`).sort());
  });

  test('three /64s in one IPv6 /48 end as one ban of the /48', async () => {
    const d = await edgeban();
    for (let i = 1; i <= 3; i++) d.send(`Blocked user enumeration attempt from 2001:db8:7:${i}::1`);
    await waitFor(() => banned().length === 1 && banned()[0] === '2001:db8:7::/48', 8000, 'the /48 alone');
  });
});
