import { decodeBatch, readDecoded, SiteNumbers } from '../src/ingest/decode-thread';
import { FrameBatch, FramePacker, forEachFrame, forEachFrameText, linesBatch } from '../src/ingest/frame-batch';
import { Decoded, Decoder } from '../src/pipeline';

function texts(batch: FrameBatch): string[] {
  const out: string[] = [];
  forEachFrameText(batch, (text) => out.push(text));
  return out;
}

function packed(frames: Buffer[]): FrameBatch {
  const packer = new FramePacker();
  for (const frame of frames) packer.add(frame, 0);
  return packer.take();
}

describe('linesBatch (replay input)', () => {
  test('splits at LF and CR LF, keeps empty lines and a last line without LF, skips octet counts', () => {
    const bytes = new Uint8Array(Buffer.from('a\r\nb\n\n12 <37>x\n123abc\n5 \nlast'));
    expect(texts(linesBatch(bytes, 7).batch)).toEqual(['a', 'b', '', '<37>x', '123abc', '5 ', 'last']);
    expect([...linesBatch(bytes, 7).batch.times]).toEqual([7, 7, 7, 7, 7, 7, 7]);
  });

  test('a chunk ending in LF has no empty line after it; an empty chunk has no line', () => {
    expect(texts(linesBatch(new Uint8Array(Buffer.from('one\ntwo\n')), 0).batch)).toEqual(['one', 'two']);
    expect(texts(linesBatch(new Uint8Array(0), 0).batch)).toEqual([]);
  });

  test('many lines grow the bounds', () => {
    const lines = Array.from({ length: 10_000 }, (_, i) => `line ${i}`);
    expect(texts(linesBatch(new Uint8Array(Buffer.from(lines.join('\n'))), 0).batch)).toEqual(lines);
  });

  test('a line longer than maxLineBytes (CR and LF not counted) is left out and counted', () => {
    const lines = linesBatch(new Uint8Array(Buffer.from('12345\r\n123456\n1234\n12345678')), 0, 5);
    expect(texts(lines.batch)).toEqual(['12345', '1234']);
    expect(lines.oversize).toBe(2);
  });
});

describe('forEachFrameText', () => {
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
    expect(texts(batch)).toEqual(byFrame(batch));
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
