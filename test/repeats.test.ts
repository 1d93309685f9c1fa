import { RepeatFilter } from '../src/syslog/repeats';
import { buildConfig } from '../src/config/load';
import { createPolicy, Pipeline } from '../src/pipeline';

const T0 = Date.UTC(2025, 2, 9, 6);
const LINE = '<37>2025-03-09T06:31:00.412733+00:00 web1 wordpress(x)[1]: Authentication failure for a from 203.0.113.7';

describe('RepeatFilter', () => {
  test('an identical sub-second frame within 60 s is a repeat; after 60 s it is new again', () => {
    const filter = new RepeatFilter();
    expect(filter.isRepeat('a', true, T0)).toBe(false);
    expect(filter.isRepeat('a', true, T0 + 59_000)).toBe(true);
    expect(filter.isRepeat('a', true, T0 + 61_000)).toBe(false);
  });

  test('frames with second-resolution timestamps are never suppressed', () => {
    const filter = new RepeatFilter();
    expect(filter.isRepeat('b', false, T0)).toBe(false);
    expect(filter.isRepeat('b', false, T0)).toBe(false);
  });

  test('in the pipeline, rsyslog resending after a reconnect counts once', () => {
    const config = buildConfig({ jails: { j: { events: ['soft'], maxretry: 2, findtime: '10m', bantime: '1h' } } }, {});
    const pipeline = new Pipeline(createPolicy(config), 'arrival');
    expect(pipeline.handle(LINE, T0)).toMatchObject({ type: 'event', orders: [] });
    expect(pipeline.handle(LINE, T0 + 1000)).toEqual({ type: 'rejected', reason: 'repeat' });
    const second = LINE.replace('.412733', '.999999');
    expect(pipeline.handle(second, T0 + 2000)).toMatchObject({ type: 'event', orders: [{ jail: 'j' }] });
  });

  test('over UDP (mayRepeat false) identical frames are all counted: rsyslog never resends a datagram', () => {
    const config = buildConfig({ jails: { j: { events: ['soft'], maxretry: 2, findtime: '10m', bantime: '1h' } } }, {});
    const pipeline = new Pipeline(createPolicy(config), 'arrival');
    expect(pipeline.handle(LINE, T0, false)).toMatchObject({ type: 'event', orders: [] });
    expect(pipeline.handle(LINE, T0 + 1000, false)).toMatchObject({ type: 'event', orders: [{ jail: 'j' }] });
  });
});

describe('RepeatFilter fingerprints', () => {
  test('100,000 near-identical frames are all new, and all of them are repeats the second time', () => {
    const filter = new RepeatFilter();
    const frame = (i: number) => LINE.replace('412733', String(i).padStart(6, '0'));
    let repeats = 0;
    for (let i = 0; i < 100_000; i++) if (filter.isRepeat(frame(i), true, T0 + i / 10)) repeats++;
    expect(repeats).toBe(0);
    for (let i = 0; i < 100_000; i++) if (filter.isRepeat(frame(i), true, T0 + 20_000)) repeats++;
    expect(repeats).toBe(100_000);
  });
});

describe('RepeatFilter bounds', () => {
  test('a flood of distinct frames keeps at most two generations', () => {
    const filter = new RepeatFilter(1000);
    for (let i = 0; i < 50_000; i++) filter.isRepeat(`frame ${i}`, true, T0 + i);
    expect(filter.size).toBeLessThanOrEqual(2000);
    // the most recent frames are still recognised
    expect(filter.isRepeat('frame 49999', true, T0 + 50_000)).toBe(true);
  });

  test('after two quiet windows everything is forgotten', () => {
    const filter = new RepeatFilter();
    filter.isRepeat('x', true, T0);
    filter.purgeStale(T0 + 130_000);
    expect(filter.size).toBe(0);
  });
});
