import fc from 'fast-check';
import { execFileSync, spawn } from 'node:child_process';
import { closeSync, mkdtempSync, openSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { Writable } from 'node:stream';
import type { PipelineStats } from '../src/decode/line-counter';
import { countLines } from '../src/replay/count';
import { countSegments, lineStartFrom, mergeSegments, segmentsIn, SegmentSource } from '../src/replay/count-segments';

const NOW = Date.UTC(2025, 2, 9, 12);
const MAX_LINE_BYTES = 200;
const sink = () => new Writable({ write: (_chunk, _encoding, done) => done() });

/**
 * Lines whose counts depend on their order, or on where a segment cuts them: possible repeats
 * (sub-second stamps from a small pool, so that the same frame comes again, and time that goes
 * back), lines longer than the limit, empty lines and lines of another program.
 */
const line = fc.oneof(
  fc
    .constantFrom('192.0.2.1', '198.51.100.7', '2001:db8::5')
    .map((ip) => `Mar  9 06:25:12 web1 wordpress(www.example.com)[1]: Authentication failure for admin from ${ip}`),
  fc
    .tuple(fc.constantFrom('06:31:00.412733', '06:31:00.5', '06:30:59.1', '06:33:10.25'), fc.constantFrom('203.0.113.7', '203.0.113.8'))
    .map(([time, ip]) => `<37>2025-03-09T${time}+00:00 web1 wordpress(www.example.com)[4242]: Blocked user enumeration attempt from ${ip}`),
  fc.constant(`Mar  9 06:25:13 web1 wordpress(www.example.com)[1]: ${'x'.repeat(MAX_LINE_BYTES + 50)}`),
  fc.constant(''),
  fc.constant('Mar  9 06:25:14 web1 sshd[1]: Failed password for root from 192.0.2.1 port 22 ssh2'),
);

function plain(stats: PipelineStats): Record<string, unknown> {
  const { lines, events, rejected, kinds, classes } = stats;
  return { lines, events, rejected: rejected.toObject(), kinds: kinds.toObject(), classes: classes.toObject() };
}

/** The counts of one thread reading the file in order (a segment larger than the file). */
async function inOrder(file: string): Promise<Record<string, unknown>> {
  return plain(await countLines(MAX_LINE_BYTES, file, sink(), { json: true, now: NOW, segmentBytes: 1 << 30 }));
}

describe('replay --count on two threads', () => {
  let dir: string;
  beforeAll(() => (dir = mkdtempSync(join(tmpdir(), 'edgeban-count-'))));
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  test('segments counted by two decoders in any split and merged count as one thread in order', async () => {
    const file = join(dir, 'split.log');
    await fc.assert(
      fc.asyncProperty(
        fc.array(line, { maxLength: 60 }),
        fc.boolean(),
        fc.integer({ min: 1, max: 400 }),
        fc.array(fc.boolean(), { minLength: 64, maxLength: 64 }),
        async (lines, finalNewline, segmentBytes, helperTakes) => {
          writeFileSync(file, lines.join('\n') + (finalNewline ? '\n' : ''));
          const expected = await inOrder(file);
          const fd = openSync(file, 'r');
          try {
            const source: SegmentSource = { fd, size: statSync(file).size, segmentBytes, maxLineBytes: MAX_LINE_BYTES, receivedAt: NOW };
            const all = Array.from({ length: segmentsIn(source) }, (_, index) => index);
            // each thread takes its segments in increasing order, as from the shared cursor
            const ofHelper = all.filter((index) => helperTakes[index % helperTakes.length]);
            const ofMain = all.filter((index) => !helperTakes[index % helperTakes.length]);
            const handOut = (list: number[]) => () => list.shift() ?? all.length;
            const merged = mergeSegments([await countSegments(source, handOut(ofHelper)), await countSegments(source, handOut(ofMain))]);
            expect(plain(merged)).toEqual(expected);
          } finally {
            closeSync(fd);
          }
        },
      ),
      { numRuns: 300 },
    );
  });

  test("a line's time is the latest of every earlier segment, whichever thread counted it", async () => {
    const frame = (time: string) => `<37>2025-03-09T${time}+00:00 web1 wordpress(www.example.com)[1]: Blocked user enumeration attempt from 203.0.113.7`;
    // the frame again, stamped as the first: on the clock of the lines in order it comes 70 s later, no repeat
    const lines = [frame('06:31:00.5'), frame('06:32:10.75'), frame('06:31:00.5')];
    const file = join(dir, 'clock.log');
    writeFileSync(file, lines.map((l) => `${l}\n`).join(''));
    const fd = openSync(file, 'r');
    try {
      // a segment a line; the middle one is counted by the other thread
      const source: SegmentSource = { fd, size: statSync(file).size, segmentBytes: lines[0].length + 1, maxLineBytes: MAX_LINE_BYTES, receivedAt: NOW };
      const handOut = (list: number[]) => () => list.shift() ?? Number.MAX_SAFE_INTEGER;
      const merged = mergeSegments([await countSegments(source, handOut([0, 2])), await countSegments(source, handOut([1]))]);
      expect(plain(merged)).toEqual(await inOrder(file));
      expect(merged.events).toBe(3);
    } finally {
      closeSync(fd);
    }
  });

  test('where a segment starts: the next line start, found across many small reads in a line longer than they are', () => {
    const file = join(dir, 'long-lines.log');
    // lines far longer than a probe read, one of them so long that its end lies several reads on
    const lengths = [10, 9_000, 3, 40_000, 1];
    writeFileSync(file, lengths.map((length) => `${'x'.repeat(length)}\n`).join(''));
    const starts = lengths.map((_, i) => lengths.slice(0, i).reduce((sum, length) => sum + length + 1, 0));
    const size = statSync(file).size;
    const fd = openSync(file, 'r');
    try {
      const buffer = Buffer.alloc(1 << 20);
      const expected = (position: number) => (position <= 0 ? 0 : (starts.find((start) => start >= position) ?? size));
      for (const position of [0, 1, 5, 11, 12, 4_000, 9_010, 9_011, 9_012, 9_015, 20_000, 49_015, 49_016, size - 1, size]) {
        expect([position, lineStartFrom(fd, position, size, buffer)]).toEqual([position, expected(position)]);
      }
    } finally {
      closeSync(fd);
    }
  });

  test('through the real helper thread: the same counts as one thread', async () => {
    const file = join(dir, 'threads.log');
    const lines = fc.sample(line, { numRuns: 20_000, seed: 7 });
    writeFileSync(file, `${lines.join('\n')}\n`);
    const twoThreads = await countLines(MAX_LINE_BYTES, file, sink(), { json: true, now: NOW, segmentBytes: 4096 });
    expect(plain(twoThreads)).toEqual(await inOrder(file));
    expect(twoThreads.lines).toBe(lines.length);
  });

  test("a named pipe (zcat into a FIFO, or bash's <(…)) is counted whole, on one thread, opened once", async () => {
    const file = join(dir, 'piped.log');
    const fifo = join(dir, 'fifo');
    const lines = fc.sample(line, { numRuns: 20_000, seed: 3 });
    writeFileSync(file, `${lines.join('\n')}\n`);
    execFileSync('mkfifo', [fifo]);
    const writer = spawn('sh', ['-c', 'cat "$0" > "$1"', file, fifo]);
    const written = new Promise((done) => writer.once('exit', done));
    const counts = await countLines(MAX_LINE_BYTES, fifo, sink(), { json: true, now: NOW, segmentBytes: 1024 });
    expect(await written).toBe(0);
    expect(plain(counts)).toEqual(await inOrder(file));
  });

  test('a helper that dies holding segments leaves them to this thread: the counts come out whole, and the failure is told', async () => {
    const file = join(dir, 'dies.log');
    const lines = fc.sample(line, { numRuns: 50_000, seed: 11 });
    writeFileSync(file, `${lines.join('\n')}\n`);
    const warnings: string[] = [];
    const helperScript = resolve(__dirname, '../dist/test/helpers/count-worker-that-dies.js');
    const counts = await countLines(MAX_LINE_BYTES, file, sink(), { json: true, now: NOW, segmentBytes: 1024, helperScript, warn: (w) => warnings.push(w) });
    expect(plain(counts)).toEqual(await inOrder(file));
    expect(warnings).toHaveLength(1);
    // not a test that passes whatever happens: the helper did take segments before it died
    expect(warnings[0]).toMatch(/died holding [1-3] segments.*counted again/);
  });
});
