import { plainBytes, skipDigits, SP } from '../common/bytes';

/**
 * Replay's input: a chunk of a file, whole lines (LF or CR LF; the last may lack its LF), all
 * taken to arrive at `receivedAt`. It is split into lines where it is decoded (`lineBounds`).
 */
export interface LineChunk {
  chunk: Uint8Array<ArrayBuffer>;
  receivedAt: number;
  /** a longer line is not decoded: it answers `oversize` in its place (lineBounds marks it with -1) */
  maxLineBytes: number;
}

/**
 * Where the lines of a chunk are, in order: [start, end) pairs, CR and LF left out, start -1 for a
 * line longer than `maxLineBytes`. A line may be a raw octet-counted frame (`LEN <PRI>…`): its
 * count is left out too. Written into a typed array, grown by doubling: pushing a million pairs
 * onto a plain array cost four times the search for the line ends.
 */
export function lineBounds({ chunk, maxLineBytes }: LineChunk): Int32Array<ArrayBuffer> {
  // room for lines of 64 bytes on average: replay's typical lines fit at once
  const found = { bounds: new Int32Array((chunk.length >> 5) + 16) };
  const bytes = Buffer.from(chunk.buffer, chunk.byteOffset, chunk.byteLength); // for its native indexOf
  const count = findLines(bytes, plainBytes(chunk), maxLineBytes, found);
  return found.bounds.subarray(0, count);
}

/**
 * The loop of lineBounds, a function of its own: V8 compiles a long first loop while it runs, and
 * code before or after such a loop, run once a chunk, was compiled blind and thrown away at every
 * exit. `bytes` and `plain` are the chunk, as a Buffer and as a plain array. Returns the cells
 * written; `found.bounds` is replaced when it grows.
 */
function findLines(bytes: Buffer, plain: Uint8Array, maxLineBytes: number, found: { bounds: Int32Array<ArrayBuffer> }): number {
  // nothing read before the loop (see decodeInto in decode-thread.ts)
  let count = 0;
  for (let start = 0; start < bytes.length;) {
    let end = bytes.indexOf(10, start);
    const next = end < 0 ? bytes.length : end + 1;
    if (end < 0) end = bytes.length;
    if (end > start && bytes[end - 1] === 13) end--;
    if (count + 2 > found.bounds.length) found.bounds = grown(found.bounds);
    const tooLong = end - start > maxLineBytes;
    found.bounds[count++] = tooLong ? -1 : frameStart(plain, start, end);
    found.bounds[count++] = tooLong ? -1 : end;
    start = next;
  }
  return count;
}

function grown(bounds: Int32Array<ArrayBuffer>): Int32Array<ArrayBuffer> {
  const larger = new Int32Array(bounds.length * 2);
  larger.set(bounds);
  return larger;
}

/** A frame written as `LEN <PRI>…` (octet-counted) on a line of its own: where the frame starts. */
function frameStart(bytes: Uint8Array, start: number, end: number): number {
  // a line of a log file starts with a letter: skipDigits is left to lines that have digits to skip,
  // so that its compiled code is made with them (compiled on lines without, it was thrown away)
  if (!(bytes[start] >= 48 && bytes[start] <= 57)) return start;
  const i = skipDigits(bytes, start, Math.min(end, start + 10));
  return i > start && i + 1 < end && bytes[i] === SP && bytes[i + 1] === 60 /* < */ ? i + 1 : start;
}
