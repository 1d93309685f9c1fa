/**
 * Frames on their way between threads: packed one after another as `u32 length (LE), bytes` in
 * one buffer, with their arrival times beside them. Only what was packed crosses (right-sized
 * copies, transferred, not cloned).
 */
export interface FrameBatch {
  bytes: Uint8Array<ArrayBuffer>;
  times: Float64Array<ArrayBuffer>;
}

export class FramePacker {
  private bytes: Uint8Array<ArrayBuffer>;
  private view: DataView;
  private length = 0;
  private readonly times: Float64Array<ArrayBuffer>;
  private count = 0;

  constructor(
    bytes = 256 * 1024,
    readonly maxFrames = 1024,
  ) {
    this.bytes = new Uint8Array(bytes);
    this.view = new DataView(this.bytes.buffer);
    this.times = new Float64Array(maxFrames);
  }

  get size(): number {
    return this.count;
  }

  /** Whether `frameLength` more bytes fit; an empty packer takes a frame of any size. */
  fits(frameLength: number): boolean {
    return this.count === 0 || (this.count < this.maxFrames && this.length + 4 + frameLength <= this.bytes.length);
  }

  add(frame: Uint8Array, receivedAt: number): void {
    if (4 + frame.length > this.bytes.length) {
      this.bytes = new Uint8Array(4 + frame.length);
      this.view = new DataView(this.bytes.buffer);
    }
    this.view.setUint32(this.length, frame.length, true);
    this.bytes.set(frame, this.length + 4);
    this.length += 4 + frame.length;
    this.times[this.count++] = receivedAt;
  }

  /** The frames packed so far, and an empty packer. */
  take(): FrameBatch {
    const batch = { bytes: this.bytes.slice(0, this.length), times: this.times.slice(0, this.count) };
    this.length = 0;
    this.count = 0;
    return batch;
  }
}

/** Calls `each` with every frame of a batch, in order; the Buffer is only valid during the call. */
export function forEachFrame(batch: FrameBatch, each: (frame: Buffer, receivedAt: number, index: number) => void): void {
  const { bytes, times } = batch;
  const buffer = Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  let offset = 0;
  for (let i = 0; i < times.length; i++) {
    const length = buffer.readUInt32LE(offset);
    each(buffer.subarray(offset + 4, offset + 4 + length), times[i], i);
    offset += 4 + length;
  }
}
