/**
 * RFC 6587 stream framing, decided per frame as rsyslog's own receiver does: a frame that starts
 * with a digit is octet-counted (`LEN SP MSG`), anything else runs to LF or NUL. Frames may be
 * split across reads or packed within one. Memory per connection is bounded by maxMessageBytes:
 * an oversized delimited frame is skipped up to the next terminator and counted, never buffered.
 * An octet count over maxMessageBytes ends the stream (`length_over_limit`): skipping the bytes it
 * announces would let one lying count hide up to a gigabyte of the frames after it.
 */

export type FramerEvent = 'oversize' | 'framing_error' | 'length_over_limit';

export interface FramerSink {
  /** A complete frame; `frame` is only valid during the call (it may share the read buffer). */
  frame(frame: Buffer): void;
  problem(kind: FramerEvent): void;
}

const LF = 10;
const CR = 13;
const NUL = 0;
const SPACE = 32;
const DIGIT_0 = 48;
const DIGIT_9 = 57;
/** Enough digits for any length we would accept; more is a framing error (RFC 6587 sets no bound). */
const MAX_LENGTH_DIGITS = 9;

const enum Mode {
  /** between frames */
  Start,
  /** reading the length of an octet-counted frame */
  Length,
  /** reading the body of an octet-counted frame */
  Counted,
  /** reading a frame up to LF or NUL */
  Delimited,
  /** discarding up to the next LF or NUL */
  SkipDelimited,
  /** the stream cannot be trusted any more: everything is discarded until it closes */
  Closed,
}

export class StreamFramer {
  private mode = Mode.Start;
  private length = 0;
  private lengthDigits = 0;
  /** Part of a frame that a read cut off; never longer than maxMessageBytes. */
  private carry: Buffer | null = null;

  constructor(
    private readonly maxMessageBytes: number,
    private readonly sink: FramerSink,
  ) {}

  push(chunk: Buffer): void {
    let pos = 0;
    const end = chunk.length;
    while (pos < end) {
      switch (this.mode) {
        case Mode.Start:
          pos = this.start(chunk, pos);
          break;
        case Mode.Length:
          pos = this.readLength(chunk, pos);
          break;
        case Mode.Counted:
          pos = this.readCounted(chunk, pos);
          break;
        case Mode.Delimited:
          pos = this.readDelimited(chunk, pos);
          break;
        case Mode.Closed:
          return;
        case Mode.SkipDelimited: {
          const stop = findTerminator(chunk, pos);
          if (stop < 0) return;
          pos = stop + 1;
          this.mode = Mode.Start;
          break;
        }
      }
    }
  }

  /** Bytes held for an unfinished frame (for tests and metrics). */
  get buffered(): number {
    return this.carry ? this.carry.length : 0;
  }

  private start(chunk: Buffer, pos: number): number {
    const c = chunk[pos];
    // Stray separators between frames: LF, CR, NUL, and the space some devices put after LF.
    if (c === LF || c === CR || c === NUL || c === SPACE) return pos + 1;
    if (c > DIGIT_0 && c <= DIGIT_9) {
      this.mode = Mode.Length;
      this.length = 0;
      this.lengthDigits = 0;
      return pos;
    }
    this.mode = Mode.Delimited;
    return pos;
  }

  private readLength(chunk: Buffer, pos: number): number {
    const end = chunk.length;
    while (pos < end) {
      const c = chunk[pos];
      if (c >= DIGIT_0 && c <= DIGIT_9) {
        this.length = this.length * 10 + (c - DIGIT_0);
        if (++this.lengthDigits > MAX_LENGTH_DIGITS) return this.framingError(pos);
        pos++;
        continue;
      }
      if (c !== SPACE) return this.framingError(pos);
      pos++;
      if (this.length > this.maxMessageBytes) {
        this.mode = Mode.Closed;
        this.carry = null;
        this.sink.problem('length_over_limit');
      } else {
        this.mode = Mode.Counted;
      }
      return pos;
    }
    return pos;
  }

  private framingError(pos: number): number {
    this.sink.problem('framing_error');
    this.mode = Mode.SkipDelimited;
    return pos;
  }

  private readCounted(chunk: Buffer, pos: number): number {
    const have = this.buffered;
    const need = this.length - have;
    const available = chunk.length - pos;
    if (available < need) {
      this.keep(chunk.subarray(pos));
      return chunk.length;
    }
    this.emit(chunk.subarray(pos, pos + need));
    this.mode = Mode.Start;
    return pos + need;
  }

  private readDelimited(chunk: Buffer, pos: number): number {
    const stop = findTerminator(chunk, pos);
    if (stop < 0) {
      if (this.buffered + chunk.length - pos > this.maxMessageBytes) {
        this.carry = null;
        this.sink.problem('oversize');
        this.mode = Mode.SkipDelimited;
      } else {
        this.keep(chunk.subarray(pos));
      }
      return chunk.length;
    }
    let frameEnd = stop;
    if (frameEnd > pos && chunk[frameEnd - 1] === CR) frameEnd--;
    if (this.buffered + frameEnd - pos > this.maxMessageBytes) {
      this.carry = null;
      this.sink.problem('oversize');
    } else {
      this.emit(chunk.subarray(pos, frameEnd));
    }
    this.mode = Mode.Start;
    return stop + 1;
  }

  private keep(part: Buffer): void {
    // Copy: the read buffer may be reused by the caller once push() returns.
    this.carry = this.carry ? Buffer.concat([this.carry, part]) : Buffer.from(part);
  }

  private emit(tail: Buffer): void {
    if (this.carry) {
      const whole = Buffer.concat([this.carry, tail]);
      this.carry = null;
      this.sink.frame(whole);
    } else {
      this.sink.frame(tail);
    }
  }
}

function findTerminator(chunk: Buffer, from: number): number {
  const lf = chunk.indexOf(LF, from);
  // NUL is rare; only look for it before the next LF.
  const nul = chunk.subarray(from, lf < 0 ? chunk.length : lf).indexOf(NUL);
  return nul >= 0 ? from + nul : lf;
}
