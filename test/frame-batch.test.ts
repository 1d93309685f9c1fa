import { decodeBatch, readDecoded, SiteNumbers } from '../src/ingest/decode-thread';
import { FrameBatch, FramePacker, forEachFrame, frameTexts, LineChunk, lineTexts } from '../src/ingest/frame-batch';
import { Decoded, Decoder } from '../src/pipeline';

function packed(frames: Buffer[]): FrameBatch {
  const packer = new FramePacker();
  for (const frame of frames) packer.add(frame, 0);
  return packer.take();
}

const chunk = (text: string | Buffer, maxLineBytes = Infinity): LineChunk => ({ chunk: new Uint8Array(Buffer.from(text)), receivedAt: 7, maxLineBytes });

describe('lineTexts (replay input)', () => {
  test('splits at LF and CR LF, keeps empty lines and a last line without LF, skips octet counts', () => {
    expect(lineTexts(chunk('a\r\nb\n\n12 <37>x\n123abc\n5 \nlast'))).toEqual(['a', 'b', '', '<37>x', '123abc', '5 ', 'last']);
  });

  test('a chunk ending in LF has no empty line after it; an empty chunk has no line', () => {
    expect(lineTexts(chunk('one\ntwo\n'))).toEqual(['one', 'two']);
    expect(lineTexts(chunk(''))).toEqual([]);
  });

  test('a line longer than maxLineBytes (CR and LF not counted, UTF-8 bytes counted) is null in its place', () => {
    expect(lineTexts(chunk('12345\r\n123456\n1234\n12345678', 5))).toEqual(['12345', null, '1234', null]);
    expect(lineTexts(chunk('äöü\r\näöüx\n12345\n', 6))).toEqual(['äöü', null, '12345']);
  });

  test('a chunk that is a view into a larger buffer gives only its own lines', () => {
    const whole = Buffer.from('skip\nmine\nmine too\nskip');
    const view = new Uint8Array(whole.buffer, whole.byteOffset + 5, 14);
    expect(lineTexts({ chunk: view, receivedAt: 0, maxLineBytes: 100 })).toEqual(['mine', 'mine too']);
  });

  test.each([
    ['ASCII', ['plain', '12 <37>counted', 'text']],
    ['UTF-8', ['plain', 'Grüße aus Köln 🎉', '5 <37>ä', 'after']],
    ['invalid bytes', [Buffer.from('a'), Buffer.from([0x66, 0xff, 0x67]), Buffer.from('b')]],
    ['a sequence cut by the line end', [Buffer.from([0x61, 0xe2, 0x82]), Buffer.from('z'), Buffer.from([0xc3, 0x0d])]],
    ['a CR alone inside a line', ['a\rb', 'ü\rx']],
  ])('gives each line the text decoding its bytes alone would (%s)', (_name, lines) => {
    const bytes = lines.map((line) => Buffer.from(line));
    const alone = bytes.map((line) => {
      const end = line.length > 0 && line[line.length - 1] === 13 ? line.length - 1 : line.length;
      const text = line.toString('utf8', 0, end);
      const counted = /^\d{1,10} </.exec(text);
      return counted ? text.slice(counted[0].length - 1) : text;
    });
    const joined = Buffer.concat(bytes.flatMap((line) => [line, Buffer.from('\n')]));
    expect(lineTexts(chunk(joined))).toEqual(alone);
  });
});

describe('frameTexts', () => {
  const byFrame = (batch: FrameBatch) => {
    const out: string[] = [];
    forEachFrame(batch, (frame) => out.push(frame.toString('utf8')));
    return out;
  };

  test.each([
    ['ASCII', [Buffer.from('plain'), Buffer.from('text')]],
    ['UTF-8', [Buffer.from('plain'), Buffer.from('Grüße aus Köln 🎉'), Buffer.from('after')]],
    ['invalid bytes, one a frame', [Buffer.from('a'), Buffer.from([0x66, 0xff, 0x67]), Buffer.from('b')]],
    ['a sequence cut short', [Buffer.from([0x61, 0xe2, 0x82]), Buffer.from('z')]],
    ['a sequence cut by the frame bound', [Buffer.from([0x61, 0xc3]), Buffer.from([0xa4, 0x62])]],
  ])('gives each frame the text decoding it alone would (%s)', (_name, frames) => {
    const batch = packed(frames);
    expect(frameTexts(batch)).toEqual(byFrame(batch));
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
