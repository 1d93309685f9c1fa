import fc from 'fast-check';
import { Readable } from 'node:stream';
import { closeSync, mkdtempSync, openSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { FileReads, rampUp, READ_BYTES, readsInPlace, wholeLines } from '../src/replay/input';

/** An unpooled copy: Node copies a buffer of its small-buffer pool rather than hand it over. */
function ownCopy(bytes: Uint8Array): Buffer {
  const copy = Buffer.allocUnsafeSlow(bytes.length);
  copy.set(bytes);
  return copy;
}

/** The reads of `text` cut at `cuts`, each its own buffer or (`shared`) all views of one buffer, as a pipe may give. */
function reads(text: string, cuts: number[], shared: boolean): Buffer[] {
  const whole = ownCopy(Buffer.from(text));
  const at = [...new Set(cuts.map((cut) => cut % (whole.length + 1)))].sort((a, b) => a - b);
  const bounds = [0, ...at, whole.length];
  const pieces: Buffer[] = [];
  for (let i = 0; i + 1 < bounds.length; i++) {
    if (bounds[i] === bounds[i + 1]) continue;
    const piece = whole.subarray(bounds[i], bounds[i + 1]);
    pieces.push(shared ? piece : ownCopy(piece));
  }
  return pieces;
}

describe('wholeLines (replay input)', () => {
  test('gives every line whole, in order, in chunks that may be handed to another thread', async () => {
    const line = fc.stringMatching(/^[a-z0-9 .:()[\]-]{0,40}$/);
    await fc.assert(
      fc.asyncProperty(fc.array(line, { maxLength: 30 }), fc.array(fc.nat(), { maxLength: 12 }), fc.boolean(), async (lines, cuts, shared) => {
        const text = lines.map((l) => `${l}\n`).join('');
        const handedOver: Uint8Array[] = [];
        for await (const chunk of wholeLines(Readable.from(reads(text, cuts, shared)), 1000, () => undefined)) {
          // as the decode thread takes it: a chunk that shared its buffer with what wholeLines keeps would take that along
          handedOver.push(structuredClone(chunk, { transfer: [chunk.buffer] }));
        }
        expect(Buffer.concat(handedOver).toString()).toBe(text);
      }),
      { numRuns: 300 },
    );
  });

  test('ramped up, the first chunk comes in small pieces of whole lines, each its own to hand over', async () => {
    const line = fc.stringMatching(/^[a-z0-9 .:()[\]-]{0,40}$/);
    await fc.assert(
      fc.asyncProperty(
        fc.array(line, { maxLength: 60 }),
        fc.array(fc.nat(), { maxLength: 4 }),
        fc.array(fc.nat({ max: 200 }), { maxLength: 4 }),
        async (lines, cuts, sizes) => {
          const text = lines.map((l) => `${l}\n`).join('');
          const handedOver: Uint8Array[] = [];
          for await (const chunk of rampUp(
            wholeLines(Readable.from(reads(text, cuts, false)), 1000, () => undefined),
            sizes,
          )) {
            expect(chunk[chunk.length - 1]).toBe(10);
            handedOver.push(structuredClone(chunk, { transfer: [chunk.buffer] }));
          }
          expect(Buffer.concat(handedOver).toString()).toBe(text);
        },
      ),
      { numRuns: 300 },
    );
  });

  test('read in place, every line comes whole though each read overwrites the one before, long lines included', async () => {
    const line = fc.stringMatching(/^[a-z0-9 .:()[\]-]{0,40}$/);
    await fc.assert(
      fc.asyncProperty(fc.array(line, { maxLength: 30 }), fc.array(fc.nat(), { maxLength: 12 }), async (lines, cuts) => {
        const text = lines.map((l) => `${l}\n`).join('');
        const scratch = Buffer.alloc(text.length + 1);
        async function* overwriting(): AsyncGenerator<Buffer> {
          for (const piece of reads(text, cuts, false)) {
            scratch.fill(0x23); // what a line kept from the last read would now read as
            piece.copy(scratch);
            yield scratch.subarray(0, piece.length);
          }
        }
        const seen: string[] = [];
        for await (const chunk of wholeLines(overwriting(), 1000, () => undefined, true)) seen.push(Buffer.from(chunk).toString());
        expect(seen.join('')).toBe(text);
      }),
      { numRuns: 300 },
    );
  });

  test('a file read in place: lines across mebibyte reads, and one longer than a read, come whole', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'edgeban-inplace-'));
    try {
      const file = join(dir, 'auth.log');
      const long = Array.from({ length: 2_500_000 }, (_, i) => String.fromCharCode(97 + ((i * 7) % 26))).join(''); // no two reads alike
      const text = Array.from({ length: 40_000 }, (_, i) => `line ${i} ${'y'.repeat(i % 97)}\n`).join('') + `${long}\nlast\n`;
      writeFileSync(file, text);
      const seen: string[] = [];
      const fd = openSync(file, 'r');
      try {
        for await (const chunk of wholeLines(readsInPlace(fd, Buffer.allocUnsafeSlow(READ_BYTES)), 3_000_000, () => undefined, true))
          seen.push(Buffer.from(chunk).toString());
      } finally {
        closeSync(fd);
      }
      expect(seen.join('')).toBe(text);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

describe('FileReads (replay of a file)', () => {
  test('reads the file whole, in order, into the buffers handed back', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'edgeban-reads-'));
    try {
      const file = join(dir, 'input');
      const bytes = Buffer.alloc(5 * READ_BYTES + 12_345);
      for (let i = 0; i < bytes.length; i++) bytes[i] = (i * 7919) & 255;
      writeFileSync(file, bytes);
      const reads = new FileReads(file);
      const buffers = new Set<ArrayBuffer>();
      const got: Buffer[] = [];
      for await (const read of reads) {
        buffers.add(read.buffer as ArrayBuffer);
        got.push(Buffer.from(read)); // a copy: the buffer is read into again
        reads.recycle(read.buffer as ArrayBuffer);
        reads.recycle(new ArrayBuffer(100)); // another size: not read into
      }
      expect(Buffer.concat(got).equals(bytes)).toBe(true);
      expect(buffers.size).toBe(1);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  test('a file that is not there fails at the first read', async () => {
    const iterator = new FileReads(join(tmpdir(), 'edgeban-no-such-file'))[Symbol.asyncIterator]();
    await expect(iterator.next()).rejects.toThrow(/ENOENT/);
  });
});
