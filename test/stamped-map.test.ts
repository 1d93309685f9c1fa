/** The bounded map the shield and the widener keep their sites and networks in: never past its bound, the latest kept. */
import fc from 'fast-check';
import { StampedMap } from '../src/common/stamped-map';

test('never holds more than its bound, and a full map gives up the entries used longest ago', () => {
  fc.assert(
    fc.property(fc.integer({ min: 1, max: 50 }), fc.array(fc.integer({ min: 0, max: 200 }), { maxLength: 3000 }), (max, keys) => {
      const map = new StampedMap<number, { used: number }>(max, (value) => value.used);
      const lastUse = new Map<number, number>();
      keys.forEach((key, used) => {
        const value = map.get(key);
        if (value) value.used = used;
        else map.set(key, { used });
        lastUse.set(key, used);
        expect(map.size).toBeLessThanOrEqual(max);
        expect(map.get(key)?.used).toBe(used);
      });
      // what is kept is never older than what was dropped: the most recently used keys, as many as are held
      const newest = [...lastUse].sort(([, a], [, b]) => b - a).slice(0, map.size);
      for (const [key] of newest) expect(map.get(key)).toBeDefined();
    }),
  );
});

test('a full map evicts a tenth at once, not one entry an insertion', () => {
  const map = new StampedMap<number, number>(100, (value) => value);
  for (let i = 0; i < 100; i++) map.set(i, i);
  map.set(100, 100);
  expect(map.size).toBe(91);
  expect(map.get(9)).toBeUndefined();
  expect(map.get(10)).toBe(10);
});
