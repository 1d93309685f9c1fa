import { AnswerPool, newArrays } from '../src/decode/answer-pool';
import { decodeBatch, readDecoded } from '../src/decode/decode-thread';
import { addressWordAt, familyAt, EVENT_STRIDE, SiteNumbers } from '../src/decode/event-codec';
import { LineChunk, lineBounds } from '../src/decode/line-chunk';
import { FrameBatch, FramePacker } from '../src/ingest/frame-batch';
import { Decoded, Decoder } from '../src/decode/decoder';

function packed(frames: Buffer[]): FrameBatch {
  const packer = new FramePacker();
  for (const frame of frames) packer.add(frame, 0);
  return packer.take();
}

const chunk = (text: string | Buffer, maxLineBytes = Infinity): LineChunk => ({ chunk: new Uint8Array(Buffer.from(text)), receivedAt: 7, maxLineBytes });

/** The lines lineBounds finds, as text; null for a line too long. */
function lines(lineChunk: LineChunk): (string | null)[] {
  const bounds = lineBounds(lineChunk);
  const bytes = Buffer.from(lineChunk.chunk.buffer, lineChunk.chunk.byteOffset, lineChunk.chunk.byteLength);
  const texts: (string | null)[] = [];
  for (let i = 0; i < bounds.length; i += 2) texts.push(bounds[i] < 0 ? null : bytes.toString('utf8', bounds[i], bounds[i + 1]));
  return texts;
}

describe('lineBounds (replay input)', () => {
  test('splits at LF and CR LF, keeps empty lines and a last line without LF, skips octet counts', () => {
    expect(lines(chunk('a\r\nb\n\n12 <37>x\n123abc\n5 \nlast'))).toEqual(['a', 'b', '', '<37>x', '123abc', '5 ', 'last']);
  });

  test('a chunk of many short lines has them all (the bounds outgrow their first guess)', () => {
    const many = Array.from({ length: 5000 }, (_, i) => String(i % 10));
    expect(lines(chunk(`${many.join('\n')}\n`))).toEqual(many);
    expect(lines(chunk('\n'.repeat(3000)))).toEqual(Array<string>(3000).fill(''));
  });

  test('a chunk ending in LF has no empty line after it; an empty chunk has no line', () => {
    expect(lines(chunk('one\ntwo\n'))).toEqual(['one', 'two']);
    expect(lines(chunk(''))).toEqual([]);
  });

  test('a line longer than maxLineBytes (CR and LF not counted, UTF-8 bytes counted) is null in its place', () => {
    expect(lines(chunk('12345\r\n123456\n1234\n12345678', 5))).toEqual(['12345', null, '1234', null]);
    expect(lines(chunk('äöü\r\näöüx\n12345\n', 6))).toEqual(['äöü', null, '12345']);
  });

  test('a chunk that is a view into a larger buffer gives only its own lines, at their places in the view', () => {
    const whole = Buffer.from('skip\nmine\nmine too\nskip');
    const view = new Uint8Array(whole.buffer, whole.byteOffset + 5, 14);
    expect([...lineBounds({ chunk: view, receivedAt: 0, maxLineBytes: 100 })]).toEqual([0, 4, 5, 13]);
    expect(lines({ chunk: view, receivedAt: 0, maxLineBytes: 100 })).toEqual(['mine', 'mine too']);
  });

  test('a CR alone inside a line stays in it; a sequence cut by the line end stays in its line', () => {
    expect(lines(chunk('a\rb\nü\rx\n'))).toEqual(['a\rb', 'ü\rx']);
    const cut = Buffer.concat([Buffer.from([0x61, 0xe2, 0x82]), Buffer.from('\nz\n')]);
    expect([...lineBounds(chunk(cut))]).toEqual([0, 3, 4, 5]);
  });
});

describe('the sites table across threads', () => {
  test('a full table starts again between batches, and both sides stay in step', () => {
    const decoder = new Decoder('arrival');
    const sites = new SiteNumbers(2);
    const table: string[] = [];
    const seen: (string | null)[] = [];
    const line = (site: string) => Buffer.from(`<37>Mar  9 06:31:00 web1 wordpress(${site})[1]: Authentication failure for x from 203.0.113.7`);
    for (const names of [['a.example', 'b.example', 'c.example'], ['d.example', 'a.example'], ['e.example'], ['a.example', 'e.example']]) {
      const answer = decodeBatch(decoder, { ...packed(names.map(line)), mayRepeat: false }, sites);
      readDecoded(answer, table, (decoded: Decoded) => seen.push(decoded.type === 'event' ? decoded.event.site : null));
      expect(table.length).toBeLessThanOrEqual(3); // two, and what the batch that filled it added
    }
    expect(seen).toEqual(['a.example', 'b.example', 'c.example', 'd.example', 'a.example', 'e.example', 'a.example', 'e.example']);
  });
});

describe('the look-ahead (the policy fetches windows before the events come)', () => {
  test('hears of every event once, in order, before it is read, a few hundred at a time; rejected lines are no rows', () => {
    const decoder = new Decoder('arrival');
    const frames = Array.from({ length: 700 }, (_, i) =>
      Buffer.from(i % 5 === 4 ? 'garbage' : `<37>Mar  9 06:31:00 web1 wordpress(a.example)[1]: Authentication failure for x from 10.0.${i >> 8}.${i & 255}`),
    );
    const answer = decodeBatch(decoder, { ...packed(frames), mayRepeat: false }, new SiteNumbers());
    const told: number[] = [];
    const runs: number[] = [];
    let toldUpTo = 0;
    const read: number[] = [];
    readDecoded(
      answer,
      [],
      (decoded: Decoded) => {
        if (decoded.type !== 'event' || decoded.event.ip.family !== 4) return;
        expect(told.length).toBeGreaterThan(read.length); // told before read
        read.push(decoded.event.ip.v4);
      },
      (numbers, from, to) => {
        expect(from).toBe(toldUpTo); // no row twice, none left out
        toldUpTo = to;
        runs.push((to - from) / EVENT_STRIDE);
        for (let at = from; at < to; at += EVENT_STRIDE) if (familyAt(numbers, at) === 4) told.push(addressWordAt(numbers, at, 0));
      },
    );
    expect(read).toHaveLength(560);
    expect(told).toEqual(read);
    expect(runs).toEqual([256, 256, 48]);
  });
});

describe('answers written again (AnswerPool)', () => {
  const frames = Array.from({ length: 300 }, (_, i) =>
    Buffer.from(
      [
        `<37>2025-03-09T06:31:00.${100 + i}Z web1 wordpress(a.example)[1]: Authentication failure for x from 2001:db8::${i.toString(16)}`,
        `<37>Mar  9 06:31:00 web1 wordpress(b.example)[1]: Authentication failure for x from 10.0.${i >> 8}.${i & 255}`,
        'garbage',
      ][i % 3],
    ),
  );
  const decodeAll = (pool?: AnswerPool) => decodeBatch(new Decoder('message'), { ...packed(frames), mayRepeat: true }, new SiteNumbers(), pool);
  const read = (answer: ReturnType<typeof decodeAll>) => {
    const decoded: unknown[] = [];
    readDecoded(answer, [], (line) => decoded.push(structuredClone(line)));
    return decoded;
  };

  test('an answer written over another, garbage in every cell, is the answer fresh arrays hold', () => {
    const fresh = decodeAll();
    const spare = newArrays(1000);
    spare.codes.fill(0xff);
    for (const array of [spare.fingerprints, spare.repeatAts, spare.numbers]) array.fill(-123.5);
    const pool = new AnswerPool();
    pool.give([spare]);
    const again = decodeAll(pool);
    expect(again.numbers.buffer).toBe(spare.numbers.buffer); // written again, not made anew
    expect(again.codes.length).toBe(frames.length);
    for (const field of ['codes', 'fingerprints', 'repeatAts'] as const) expect([...again[field]]).toEqual([...fresh[field]]);
    // the rows in use: one an event (the arrays have room for a row a line)
    const rows = fresh.codes.filter((code) => code === 0).length * EVENT_STRIDE;
    expect([...again.numbers.subarray(0, rows)]).toEqual([...fresh.numbers.subarray(0, rows)]);
    expect(read(again)).toEqual(read(fresh));
  });

  test('an answer handed back as the views it came in is kept whole; a spare too small is passed over', () => {
    const pool = new AnswerPool();
    const first = decodeAll(pool);
    pool.give([newArrays(10), first]); // the small one is taken first, and dropped
    const second = decodeAll(pool);
    expect(second.numbers.buffer).toBe(first.numbers.buffer);
    expect(read(second)).toEqual(read(decodeAll()));
  });
});
