import fc from 'fast-check';
import { FramerEvent, StreamFramer } from '../src/ingest/framer';
import { octetCounted } from './helpers/wire';

function collect(max = 8192) {
  const frames: string[] = [];
  const problems: FramerEvent[] = [];
  const framer = new StreamFramer(max, { frame: (f) => frames.push(f.toString('utf8')), problem: (p) => problems.push(p) });
  return { framer, frames, problems };
}

/** Cuts a buffer at the given offsets and pushes the pieces one by one. */
function pushSplit(framer: StreamFramer, stream: Buffer, cuts: number[]) {
  const points = [...new Set(cuts.map((c) => c % (stream.length + 1)))].sort((a, b) => a - b);
  let last = 0;
  for (const point of [...points, stream.length]) {
    framer.push(stream.subarray(last, point));
    last = point;
  }
}

const message = fc
  .string({ minLength: 1, maxLength: 200, unit: fc.constantFrom(...'abc <>[]():0123456789 éü€'.split('')) })
  .map((text) => `<37>2025-03-09T06:31:00.1+00:00 web1 wordpress(x)[1]: ${text}`);

describe('StreamFramer', () => {
  test('octet-counted frames back to back, as rsyslog sends them', () => {
    const { framer, frames } = collect();
    framer.push(Buffer.concat([octetCounted('<37>one from 2001:db8::1'), octetCounted('<37>two')]));
    expect(frames).toEqual(['<37>one from 2001:db8::1', '<37>two']);
  });

  test('LF, CR LF and NUL trailers, and the stray space after LF', () => {
    const { framer, frames } = collect();
    framer.push(Buffer.from('<37>a\n<37>b\r\n <37>c\0<37>d\n'));
    expect(frames).toEqual(['<37>a', '<37>b', '<37>c', '<37>d']);
  });

  test('framing is decided per frame: both kinds in one stream', () => {
    const { framer, frames } = collect();
    framer.push(Buffer.concat([octetCounted('<37>x\n'), Buffer.from('<37>y\n'), octetCounted('<37>z')]));
    expect(frames).toEqual(['<37>x\n', '<37>y', '<37>z']);
  });

  test('an octet count over the limit ends the stream: what it announces could hide the frames after it', () => {
    const { framer, frames, problems } = collect(480);
    const big = `<37>${'A'.repeat(5000)}`;
    pushSplit(framer, Buffer.concat([octetCounted(big), octetCounted('<37>after')]), [100, 2000, 4000]);
    expect(problems).toEqual(['length_over_limit']);
    expect(frames).toEqual([]);
    expect(framer.buffered).toBe(0);
    framer.push(octetCounted('<37>later'));
    expect(frames).toEqual([]); // nothing more is read from this stream
  });

  test('an oversized LF frame is dropped without buffering it and the next one is kept', () => {
    const { framer, frames, problems } = collect(480);
    for (let i = 0; i < 100; i++) framer.push(Buffer.from('B'.repeat(1000)));
    expect(framer.buffered).toBeLessThanOrEqual(480);
    framer.push(Buffer.from('\n<37>next\n'));
    expect(problems).toEqual(['oversize']);
    expect(frames).toEqual(['<37>next']);
  });

  test('a length with too many digits or no space is a framing error, then LF resync', () => {
    const { framer, frames, problems } = collect();
    framer.push(Buffer.from('99999999999999 junk\n12x junk\n<37>ok\n'));
    expect(problems).toEqual(['framing_error', 'framing_error']);
    expect(frames).toEqual(['<37>ok']);
  });

  test('property: any split of a valid stream gives the same frames', () => {
    fc.assert(
      fc.property(fc.array(fc.tuple(message, fc.boolean()), { minLength: 1, maxLength: 20 }), fc.array(fc.nat(), { maxLength: 30 }), (messages, cuts) => {
        const stream = Buffer.concat(messages.map(([m, counted]) => (counted ? octetCounted(m) : Buffer.from(`${m}\n`))));
        const { framer, frames, problems } = collect();
        pushSplit(framer, stream, cuts);
        expect(problems).toEqual([]);
        expect(frames).toEqual(messages.map(([m]) => m));
      }),
      { numRuns: 500 },
    );
  });

  test('property: arbitrary bytes never throw and never buffer past the limit', () => {
    fc.assert(
      fc.property(fc.array(fc.uint8Array({ maxLength: 600 }), { maxLength: 20 }), (chunks) => {
        const { framer } = collect(480);
        for (const chunk of chunks) {
          framer.push(Buffer.from(chunk));
          expect(framer.buffered).toBeLessThanOrEqual(480);
        }
      }),
      { numRuns: 1000 },
    );
  });
});
