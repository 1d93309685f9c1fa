import { frameFingerprint, RepeatFilter } from '../src/syslog/repeats';
import { buildConfig } from '../src/config/load';
import { Decoder } from '../src/decode/decoder';
import { createPolicy, Pipeline } from '../src/policy/pipeline';

const T0 = Date.UTC(2025, 2, 9, 6);

/** Whether the filter has seen this frame's text within the window (and remembers it). */
function repeated(filter: RepeatFilter, text: string, now: number): boolean {
  return filter.seen(frameFingerprint(Buffer.from(text)), now);
}
const LINE = '<37>2025-03-09T06:31:00.412733+00:00 web1 wordpress(x)[1]: Authentication failure for a from 203.0.113.7';

describe('RepeatFilter', () => {
  test('an identical sub-second frame within 60 s is a repeat; after 60 s it is new again', () => {
    const filter = new RepeatFilter();
    expect(repeated(filter, 'a', T0)).toBe(false);
    expect(repeated(filter, 'a', T0 + 59_000)).toBe(true);
    expect(repeated(filter, 'a', T0 + 61_000)).toBe(false);
  });

  test('in the pipeline, frames with second-resolution timestamps are never suppressed', () => {
    const config = buildConfig({ jails: { j: { events: ['soft'], maxretry: 2, findtime: '10m', bantime: '1h' } } }, {});
    const pipeline = new Pipeline(createPolicy(config), new Decoder('arrival'));
    const line = '<37>Mar  9 06:31:00 web1 wordpress(x)[1]: Authentication failure for a from 203.0.113.7';
    expect(pipeline.handle(line, T0)).toMatchObject({ type: 'event', orders: [] });
    expect(pipeline.handle(line, T0 + 1000)).toMatchObject({ type: 'event', orders: [{ jail: 'j' }] });
  });

  test('in the pipeline, rsyslog resending after a reconnect counts once', () => {
    const config = buildConfig({ jails: { j: { events: ['soft'], maxretry: 2, findtime: '10m', bantime: '1h' } } }, {});
    const pipeline = new Pipeline(createPolicy(config), new Decoder('arrival'));
    expect(pipeline.handle(LINE, T0)).toMatchObject({ type: 'event', orders: [] });
    expect(pipeline.handle(LINE, T0 + 1000)).toEqual({ type: 'rejected', reason: 'repeat' });
    const second = LINE.replace('.412733', '.999999');
    expect(pipeline.handle(second, T0 + 2000)).toMatchObject({ type: 'event', orders: [{ jail: 'j' }] });
  });

  test('over UDP (mayRepeat false) identical frames are all counted: rsyslog never resends a datagram', () => {
    const config = buildConfig({ jails: { j: { events: ['soft'], maxretry: 2, findtime: '10m', bantime: '1h' } } }, {});
    const pipeline = new Pipeline(createPolicy(config), new Decoder('arrival'));
    expect(pipeline.handle(LINE, T0, false)).toMatchObject({ type: 'event', orders: [] });
    expect(pipeline.handle(LINE, T0 + 1000, false)).toMatchObject({ type: 'event', orders: [{ jail: 'j' }] });
  });
});

describe('RepeatFilter fingerprints', () => {
  test('100,000 near-identical frames are all new, and all of them are repeats the second time', () => {
    const filter = new RepeatFilter();
    const frame = (i: number) => LINE.replace('412733', String(i).padStart(6, '0'));
    let repeats = 0;
    for (let i = 0; i < 100_000; i++) if (repeated(filter, frame(i), T0 + i / 10)) repeats++;
    expect(repeats).toBe(0);
    for (let i = 0; i < 100_000; i++) if (repeated(filter, frame(i), T0 + 20_000)) repeats++;
    expect(repeats).toBe(100_000);
  });
});

describe('RepeatFilter bounds', () => {
  test('a flood of distinct frames keeps at most two generations', () => {
    const filter = new RepeatFilter(1000);
    for (let i = 0; i < 50_000; i++) repeated(filter, `frame ${i}`, T0 + i);
    expect(filter.size).toBeLessThanOrEqual(2000);
    // the most recent frames are still recognised
    expect(repeated(filter, 'frame 49999', T0 + 50_000)).toBe(true);
  });

  test('after two quiet windows everything is forgotten', () => {
    const filter = new RepeatFilter();
    repeated(filter, 'x', T0);
    filter.purgeStale(T0 + 130_000);
    expect(filter.size).toBe(0);
  });
});
