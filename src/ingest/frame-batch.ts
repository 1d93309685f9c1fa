/**
 * Frames: their bytes, each frame's [start, end) in `bounds`, and its arrival time in `times`.
 * Read where they lie (datagrams in the UDP ring, frame-ring.ts), they are valid only during the
 * call they are handed to.
 */
export interface Frames {
  bytes: Uint8Array;
  bounds: Uint32Array;
  times: Float64Array;
}

/**
 * Frames on their way between threads: their bytes one after another in a buffer of their own.
 * Only what was packed crosses (right-sized copies, transferred, not cloned). Replay's input
 * crosses as chunks of a file instead (decode/line-chunk.ts).
 */
export interface FrameBatch extends Frames {
  bytes: Uint8Array<ArrayBuffer>;
  bounds: Uint32Array<ArrayBuffer>;
  times: Float64Array<ArrayBuffer>;
}

/** The buffers a batch is made of, for postMessage's transfer list. */
export function transferables(batch: FrameBatch): ArrayBuffer[] {
  return [batch.bytes.buffer, batch.bounds.buffer, batch.times.buffer];
}

const LF = 10;

/**
 * The lines of a frame or datagram, each as its [from, to) in `frame`. A raw LF before its end
 * means two messages glued together (rsyslog escapes an LF inside a message as #012), and reading
 * them as one would take the second one's address for the first one's event: each line becomes a
 * frame of its own, decoded alone. A trailing LF, as RFC 5424 templates end, is part of the frame.
 */
export function eachLine(frame: Uint8Array, each: (from: number, to: number) => void): void {
  let lf = frame.indexOf(LF);
  if (lf < 0 || lf === frame.length - 1) return each(0, frame.length);
  let start = 0;
  while (lf >= 0) {
    if (lf > start) each(start, lf);
    start = lf + 1;
    lf = frame.indexOf(LF, start);
  }
  if (start < frame.length) each(start, frame.length);
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
