import fc from 'fast-check';
import { Ip, ipv4, ipv6 } from '../src/address/ip';
import { LINE_REJECTIONS } from '../src/decode/decoder';
import { applySites, EVENT_STRIDE, packEvent, rejectionCode, rejectionOfCode, SiteNumbers, unpackEvent } from '../src/decode/event-codec';
import { EVENT_CLASSES, EVENT_KINDS } from '../src/wordpress/catalogue';
import type { WpEvent } from '../src/wordpress/recognise';

const ip: fc.Arbitrary<Ip> = fc.oneof(
  fc.integer({ min: 0, max: 2 ** 32 - 1 }).map(ipv4),
  fc.array(fc.integer({ min: 0, max: 0xffff }), { minLength: 8, maxLength: 8 }).map(ipv6),
);
const event: fc.Arbitrary<WpEvent> = fc.record({
  kind: fc.constantFrom(...EVENT_KINDS),
  class: fc.constantFrom(...EVENT_CLASSES),
  ip,
  site: fc.option(fc.string({ maxLength: 40 }), { nil: null }),
  at: fc.integer({ min: 0, max: 2 ** 47 }),
});

test('an event packed and unpacked is the same event, in a row among others', () => {
  fc.assert(
    fc.property(fc.array(event, { minLength: 1, maxLength: 20 }), (events) => {
      const numbers = new Float64Array(events.length * EVENT_STRIDE);
      const numbering = new SiteNumbers();
      events.forEach((each, row) => packEvent(numbers, row * EVENT_STRIDE, each, numbering.numberOf(each.site)));
      const sites: string[] = [];
      applySites(sites, numbering.take());
      expect(events.map((_, row) => unpackEvent(numbers, row * EVENT_STRIDE, sites))).toEqual(events);
    }),
  );
});

test('every rejection has its own code, and the code gives it back', () => {
  const codes = LINE_REJECTIONS.map(rejectionCode);
  expect(new Set(codes).size).toBe(LINE_REJECTIONS.length);
  expect(codes).not.toContain(0); // 0 means an event
  expect(codes.every((code) => code < 256)).toBe(true); // one byte
  expect(codes.map(rejectionOfCode)).toEqual(LINE_REJECTIONS);
});

test('a full sites table is emptied between batches, and the other side follows', () => {
  const numbering = new SiteNumbers(2);
  const sites: string[] = [];
  expect([numbering.numberOf('a'), numbering.numberOf('b')]).toEqual([0, 1]);
  applySites(sites, numbering.take());
  expect(numbering.numberOf('c')).toBe(0);
  applySites(sites, numbering.take());
  expect(sites).toEqual(['c']);
});
