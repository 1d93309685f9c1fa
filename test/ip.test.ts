import fc from 'fast-check';
import ipaddr from 'ipaddr.js';
import { formatIp, maskIp, parseIp, prefixKey } from '../src/address/ip';
import { EVENT_STRIDE, packEvent, ReusedEvent, unpackEvent } from '../src/decode/event-codec';
import { EVENT_CLASSES, EVENT_KINDS } from '../src/wordpress/catalogue';
import { CidrSet, parseCidr } from '../src/address/cidr';

/** ipaddr.js is the reference the hand-written hot-path parser must agree with. */
function reference(text: string): string | null {
  if (ipaddr.IPv4.isValidFourPartDecimal(text)) return ipaddr.IPv4.parse(text).toString();
  if (!ipaddr.IPv6.isValid(text) || text.includes('%')) return null;
  const v6 = ipaddr.IPv6.parse(text);
  return v6.isIPv4MappedAddress() ? v6.toIPv4Address().toString() : v6.toRFC5952String();
}

describe('parseIp / formatIp', () => {
  test.each([
    ['2001:db8::1', '2001:db8::1'],
    ['2001:DB8:0:0:0:0:0:1', '2001:db8::1'],
    ['::', '::'],
    ['::1', '::1'],
    ['1::', '1::'],
    ['2001:db8:0:0:1:0:0:1', '2001:db8::1:0:0:1'],
    ['2001:0:0:1:0:0:0:1', '2001:0:0:1::1'],
    ['2001:db8:1:2:3:4:5:6', '2001:db8:1:2:3:4:5:6'],
    ['::ffff:192.0.2.1', '192.0.2.1'],
    ['::ffff:c000:201', '192.0.2.1'],
    ['64:ff9b::192.0.2.1', '64:ff9b::c000:201'],
  ])('%s → %s', (text, canonical) => expect(formatIp(parseIp(text)!)).toBe(canonical));

  test.each([':', ':::', '1:2:3:4:5:6:7:8:9', '1::2::3', '12345::', '1:2:3:4:5:6:7:', 'g::1', '1.2.3', '01.2.3.4', '256.1.1.1', '::1%lo', ' 1.2.3.4'])(
    '%s is refused',
    (text) => expect(parseIp(text)).toBeNull(),
  );

  test('property: agrees with ipaddr.js on generated IPv6 texts', () => {
    const group = fc.integer({ min: 0, max: 0xffff }).map((g) => g.toString(16));
    const v6 = fc
      .tuple(fc.array(group, { minLength: 8, maxLength: 8 }), fc.integer({ min: -1, max: 7 }), fc.integer({ min: 0, max: 8 }))
      .map(([groups, at, drop]) => {
        if (at < 0) return groups.join(':');
        const kept = groups.slice(0, at).concat(groups.slice(Math.min(8, at + drop)));
        return `${kept.slice(0, at).join(':')}::${kept.slice(at).join(':')}`;
      });
    fc.assert(
      fc.property(v6, (text) => expect(parseIp(text) && formatIp(parseIp(text)!)).toBe(reference(text))),
      { numRuns: 5000 },
    );
  });

  test('property: agrees with ipaddr.js on arbitrary short strings', () => {
    const chars = fc.string({ maxLength: 20, unit: fc.constantFrom(...'0123456789abcdefABCDEFg:.%'.split('')) });
    fc.assert(
      fc.property(chars, (text) => expect(parseIp(text) && formatIp(parseIp(text)!)).toBe(reference(text))),
      { numRuns: 20000 },
    );
  });

  test('prefix keys', () => {
    expect(prefixKey(parseIp('203.0.113.77')!, 24)).toBe('203.0.113.0/24');
    expect(prefixKey(parseIp('2001:db8:1:2:ffff::1')!, 64)).toBe('2001:db8:1:2::/64');
    expect(prefixKey(parseIp('2001:db8:1:2:ffff::1')!, 48)).toBe('2001:db8:1::/48');
  });
});

test('addresses of both families have the same fields in the same order, wherever they are made (one hidden class for V8)', () => {
  const fieldsOf = (ip: unknown) => Object.keys(ip as object).join(',');
  const v4 = parseIp('203.0.113.7')!;
  const v6 = parseIp('2001:db8::7')!;
  const numbers = new Float64Array(2 * EVENT_STRIDE);
  packEvent(numbers, 0, { kind: EVENT_KINDS[0], class: EVENT_CLASSES[0], ip: v4, site: 'a', at: 0 }, 0);
  packEvent(numbers, EVENT_STRIDE, { kind: EVENT_KINDS[0], class: EVENT_CLASSES[0], ip: v6, site: 'a', at: 0 }, 0);
  const reused = new ReusedEvent();
  const made = [
    v4,
    v6,
    parseIp('::ffff:203.0.113.7')!,
    maskIp(v4, 24),
    maskIp(v6, 64),
    parseCidr('198.51.100.0/24').ip,
    unpackEvent(numbers, 0, ['a']).ip,
    unpackEvent(numbers, EVENT_STRIDE, ['a']).ip,
    (reused.unpack(numbers, 0, ['a'], undefined) as { event: { ip: unknown } }).event.ip,
    (reused.unpack(numbers, EVENT_STRIDE, ['a'], undefined) as { event: { ip: unknown } }).event.ip,
  ];
  expect(new Set(made.map(fieldsOf))).toEqual(new Set(['family,v4,v6']));
});

describe('CIDR', () => {
  test('parse and membership', () => {
    expect(parseCidr('10.0.0.0/8').bits).toBe(8);
    expect(() => parseCidr('10.0.0.0/33')).toThrow();
    expect(() => parseCidr('10.0.0.0/')).toThrow();
    const set = new CidrSet(['10.0.0.0/8', '2001:db8::/33', '192.0.2.1']);
    expect(set.hasText('10.200.1.1')).toBe(true);
    expect(set.hasText('11.0.0.1')).toBe(false);
    expect(set.hasText('2001:db8:7fff::1')).toBe(true);
    expect(set.hasText('2001:db8:8000::1')).toBe(false);
    expect(set.hasText('192.0.2.1')).toBe(true);
    expect(set.hasText('192.0.2.2')).toBe(false);
    expect(new CidrSet(['0.0.0.0/0']).hasText('8.8.8.8')).toBe(true);
    expect(new CidrSet(['::/0']).hasText('8.8.8.8')).toBe(false);
  });
});

describe('CidrSet', () => {
  /** For ranges and probes of one family, CidrSet.has answers as ipaddr.js does, the ranges' own bases probed too. */
  function membershipAgrees(address: fc.Arbitrary<string>, maxBits: number, maxRanges: number): void {
    fc.assert(
      fc.property(
        fc.array(fc.tuple(address, fc.integer({ min: 0, max: maxBits })), { maxLength: maxRanges }),
        fc.array(address, { maxLength: 20 }),
        (ranges, probes) => {
          const set = new CidrSet(ranges.map(([base, bits]) => `${base}/${bits}`));
          for (const probe of [...probes, ...ranges.map(([base]) => base)]) {
            const expected = ranges.some(([base, bits]) => ipaddr.parse(probe).match(ipaddr.parse(base), bits));
            expect(set.hasText(probe)).toBe(expected);
          }
        },
      ),
      { numRuns: 3000 },
    );
  }

  test('IPv4 membership agrees with ipaddr.js for any prefix length, short ones included', () => {
    const octet = fc.integer({ min: 0, max: 255 });
    membershipAgrees(
      fc.tuple(octet, octet, octet, octet).map((parts) => parts.join('.')),
      32,
      6,
    );
  });

  test('IPv6 membership agrees with ipaddr.js, ranges wider and narrower than /32 side by side', () => {
    // few distinct groups, so that ranges and probes share their first 32 bits and neighbour each other
    const group = fc.constantFrom(0, 1, 2, 0xdb8, 0xdb9, 0xffff);
    const v6 = fc
      .tuple(fc.constantFrom(0x2001, 0x2002, 0x2400), fc.array(group, { minLength: 7, maxLength: 7 }))
      .map(([first, rest]) => [first, ...rest].map((g) => g.toString(16)).join(':'));
    membershipAgrees(v6, 128, 8);
  });

  test('a block overlaps the set when it holds a range or lies in one, by ipaddr.js, both families', () => {
    const octet = fc.integer({ min: 0, max: 255 });
    const group = fc.constantFrom(0, 1, 0x2001, 0xdb8, 0xffff);
    const v4 = fc.tuple(octet, octet, octet, octet).map((parts) => parts.join('.'));
    // a first group that is never 0: no IPv4-mapped address, which parses as IPv4
    const v6 = fc
      .tuple(fc.constantFrom(0x2001, 0x2400, 0xfe80), fc.array(group, { minLength: 7, maxLength: 7 }))
      .map(([first, rest]) => [first, ...rest].map((g) => g.toString(16)).join(':'));
    const block = fc.oneof(fc.tuple(v4, fc.integer({ min: 0, max: 32 })), fc.tuple(v6, fc.integer({ min: 0, max: 128 })));
    const holds = ([a, aBits]: [string, number], [b, bBits]: [string, number]) => {
      const [x, y] = [ipaddr.parse(a), ipaddr.parse(b)];
      return x.kind() === y.kind() && x.match(y, Math.min(aBits, bBits));
    };
    fc.assert(
      fc.property(fc.array(block, { maxLength: 6 }), fc.array(block, { maxLength: 10 }), (ranges, probes) => {
        const set = new CidrSet(ranges.map(([base, bits]) => `${base}/${bits}`));
        for (const probe of [...probes, ...ranges]) {
          expect(set.overlaps(parseIp(probe[0])!, probe[1])).toBe(ranges.some((range) => holds(probe, range)));
        }
      }),
      { numRuns: 2000 },
    );
  });
});
