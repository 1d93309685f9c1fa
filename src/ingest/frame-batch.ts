import { skipDigits, SP } from '../bytes';

/**
 * Frames on their way between threads: their bytes one after another in one buffer, each frame's
 * [start, end) in `bounds`, and its arrival time in `times`. Only what was packed crosses
 * (right-sized copies, transferred, not cloned). Replay's input crosses as chunks of a file
 * instead (`LineChunk`).
 */
export interface FrameBatch {
  bytes: Uint8Array<ArrayBuffer>;
  bounds: Uint32Array<ArrayBuffer>;
  times: Float64Array<ArrayBuffer>;
}

/** The buffers a batch is made of, for postMessage's transfer list. */
export function transferables(batch: FrameBatch): ArrayBuffer[] {
  return [batch.bytes.buffer, batch.bounds.buffer, batch.times.buffer];
}

export class FramePacker {
  private bytes: Uint8Array<ArrayBuffer>;
  private length = 0;
  private readonly bounds: Uint32Array<ArrayBuffer>;
  private readonly times: Float64Array<ArrayBuffer>;
  private count = 0;

  constructor(
    bytes = 256 * 1024,
    readonly maxFrames = 1024,
  ) {
    this.bytes = new Uint8Array(bytes);
    this.bounds = new Uint32Array(maxFrames * 2);
    this.times = new Float64Array(maxFrames);
  }

  get size(): number {
    return this.count;
  }

  /** Whether `frameLength` more bytes fit; an empty packer takes a frame of any size. */
  fits(frameLength: number): boolean {
    return this.count === 0 || (this.count < this.maxFrames && this.length + frameLength <= this.bytes.length);
  }

  add(frame: Uint8Array, receivedAt: number): void {
    if (frame.length > this.bytes.length) this.bytes = new Uint8Array(frame.length);
    this.bytes.set(frame, this.length);
    this.bounds[this.count * 2] = this.length;
    this.length += frame.length;
    this.bounds[this.count * 2 + 1] = this.length;
    this.times[this.count++] = receivedAt;
  }

  /** The frames packed so far, and an empty packer. */
  take(): FrameBatch {
    const batch = { bytes: this.bytes.slice(0, this.length), bounds: this.bounds.slice(0, this.count * 2), times: this.times.slice(0, this.count) };
    this.length = 0;
    this.count = 0;
    return batch;
  }
}

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
 * count is left out too.
 */
export function lineBounds({ chunk, maxLineBytes }: LineChunk): number[] {
  const bytes = Buffer.from(chunk.buffer, chunk.byteOffset, chunk.byteLength);
  const bounds: number[] = [];
  for (let start = 0; start < bytes.length; ) {
    let end = bytes.indexOf(10, start);
    const next = end < 0 ? bytes.length : end + 1;
    if (end < 0) end = bytes.length;
    if (end > start && bytes[end - 1] === 13) end--;
    if (end - start > maxLineBytes) bounds.push(-1, -1);
    else bounds.push(frameStart(bytes, start, end), end);
    start = next;
  }
  return bounds;
}

/** A frame written as `LEN <PRI>…` (octet-counted) on a line of its own: where the frame starts. */
function frameStart(bytes: Uint8Array, start: number, end: number): number {
  const i = skipDigits(bytes, start, Math.min(end, start + 10));
  return i > start && i + 1 < end && bytes[i] === SP && bytes[i + 1] === 60 /* < */ ? i + 1 : start;
}
