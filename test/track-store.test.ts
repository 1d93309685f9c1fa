import { spawnSync } from 'node:child_process';
import { resolve } from 'node:path';
import fc from 'fast-check';
import { TrackStore } from '../src/policy/track-store';

const key = (n: number): [number, number] => [n % 7 === 0 ? 0xffffffff : n >>> 3, Math.imul(n, 2654435761) >>> 0];

describe('TrackStore', () => {
  test('a new key has zeroed cells; a known key keeps its row and cells', () => {
    const store = new TrackStore(3, 10);
    const a = store.row(1, 2);
    store.cells[a + 1] = 42;
    expect(store.row(1, 2)).toBe(a);
    expect(store.cells[a + 1]).toBe(42);
    const b = store.row(1, 3);
    expect(b).not.toBe(a);
    expect([...store.cells.subarray(b, b + 3)]).toEqual([0, 0, 0]);
    expect(store.size).toBe(2);
  });

  test('the slab never grows: it is made once, so no insert copies it on the event loop', () => {
    const store = new TrackStore(2, 300_000);
    const { cells } = store;
    for (let n = 0; n < 300_000; n++) store.row(...key(n));
    expect(store.cells).toBe(cells);
    expect(store.size).toBe(300_000);
  });

  test('the table doubles with the keys, its entries moving a few a call, never all at once', () => {
    const store = new TrackStore(1, 100_000, 16);
    const sizes: { table: number; moving: number }[] = [];
    for (let n = 0; n < 100_000; n++) {
      store.row(...key(n));
      const now = store.tableSizes;
      if (sizes.length === 0 || now.table !== sizes[sizes.length - 1].table) sizes.push(now);
    }
    // the call that doubled the table left the old one's entries to later calls
    expect(sizes.slice(1).every(({ table, moving }) => moving === table / 2)).toBe(true);
    expect(sizes[sizes.length - 1].table).toBe(262_144);
    for (let n = 0; n < 100_000; n += 997) expect(store.find(...key(n))).toBeGreaterThanOrEqual(0);
  });

  test('made at full size, it costs resident memory only as keys come', () => {
    const script = `
      const { TrackStore } = require(${JSON.stringify(resolve(__dirname, '../dist/src/policy/track-store.js'))});
      const rss = () => process.memoryUsage().rss;
      const before = rss();
      const store = new TrackStore(6, 1_000_000);
      const empty = rss() - before;
      for (let n = 0; n < 10_000; n++) store.row(0xffffffff, n);
      console.log(JSON.stringify({ empty, tenThousand: rss() - before }));`;
    const run = spawnSync(process.execPath, ['-e', script], { encoding: 'utf8' });
    const { empty, tenThousand } = JSON.parse(run.stdout) as { empty: number; tenThousand: number };
    // a million keys' arrays are 45 MB: made, they must not be resident; 10,000 keys touch a fraction
    expect(empty).toBeLessThan(4 << 20);
    expect(tenThousand).toBeLessThan(16 << 20);
  });

  test('a deleted key comes back with zeroed cells', () => {
    const store = new TrackStore(2, 10);
    const a = store.row(5, 6);
    store.cells[a] = 7;
    store.delete(5, 6);
    expect(store.find(5, 6)).toBe(-1);
    expect(store.cells[store.row(5, 6)]).toBe(0);
  });

  test('at capacity a flood of one-off keys evicts its own kind, not the keys seen again', () => {
    const store = new TrackStore(1, 1000);
    for (let n = 0; n < 100; n++) store.row(...key(n));
    for (let n = 0; n < 100; n++) store.row(...key(n)); // seen again
    for (let n = 1000; n < 50_000; n++) {
      store.row(...key(n));
      if (n % 500 === 0) for (let k = 0; k < 100; k++) store.row(...key(k)); // they keep coming
    }
    expect(store.size).toBe(1000);
    for (let n = 0; n < 100; n++) expect(store.find(...key(n))).toBeGreaterThanOrEqual(0);
  });

  test('agrees with a Map under random inserts, deletes and evictions (back-shifts, the clock, the table doubling)', () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 1, max: 300 }),
        fc.array(fc.tuple(fc.boolean(), fc.integer({ min: 0, max: 2000 })), { minLength: 100, maxLength: 3000, size: 'max' }),
        fc.constantFrom(16, 64, 4096),
        (capacity, ops, firstTableSize) => {
          const store = new TrackStore(2, capacity, firstTableSize);
          const model = new Map<number, number>(); // n → the value written into its first cell
          for (const [remove, n] of ops) {
            // fetching ahead, for keys that may or may not be there, changes nothing
            store.prefetch(Uint32Array.of(key(n)[0], key(n + 1)[0]), Uint32Array.of(key(n)[1], key(n + 1)[1]), 2);
            if (remove) {
              store.delete(...key(n));
              model.delete(n);
              continue;
            }
            const row = store.row(...key(n));
            const expected = model.get(n);
            if (expected !== undefined) expect(store.cells[row]).toBe(expected);
            else expect(store.cells[row]).toBe(0);
            store.cells[row] = n + 1;
            model.set(n, n + 1);
            // evicted keys leave the model too
            if (model.size > store.size) for (const m of [...model.keys()]) if (store.find(...key(m)) < 0) model.delete(m);
          }
          expect(store.size).toBe(model.size);
          expect(store.size).toBeLessThanOrEqual(capacity);
          for (const [n, value] of model) expect(store.cells[store.find(...key(n))]).toBe(value);
          let visited = 0;
          store.forEachFrom(0, capacity, () => visited++);
          expect(visited).toBe(store.size);
        },
      ),
      { numRuns: 100 },
    );
  });
});
