/**
 * Datagrams from the UDP listener thread to the main thread through memory both share: one writer
 * (the listener), one reader (the main thread). A postMessage a batch cost the listener more than
 * its own work on the datagrams, and each one woke the main thread, which took a core from the
 * listener on two; here the listener writes each frame where the main thread will read it, and
 * the main thread reads on its own clock while datagrams flow (udp-thread.ts). A message crosses
 * only to wake a reader that went to sleep.
 *
 * Records follow each other, each at a multiple of 4 bytes, never split at the end (numbers little-endian):
 *   frame:  int32 length ≥ 0, float64 arrival time (ms), the bytes
 *   sender: int32 SENDER, int32 its length, the sender's address as ASCII (the frames after it are its)
 *   wrap:   int32 WRAP, the next record is at 0
 * The positions live in `control`: the writer publishes WRITE after a record is whole, the reader
 * READ after it is done with the bytes before it; the writer never writes past READ, and never
 * catches up with it (equal positions mean empty).
 */

import type { Frames } from './frame-batch';

const WRITE = 0;
const READ = 1;
/** 1 while the reader waits for a wake message instead of reading on its own clock */
const ASLEEP = 2;
/** datagrams the writer refused (sender not allowed), too long, or found no room for; the reader takes them */
const REFUSED = 3;
const OVERSIZE = 4;
const FULL = 5;
const CONTROL_SLOTS = 6;

const SENDER = -1;
const WRAP = -2;
const FRAME_HEADER = 12;

function aligned(size: number): number {
  return (size + 3) & ~3;
}

/** The memory of a ring, created by the reader and handed to the writer's thread. */
export interface RingMemory {
  control: SharedArrayBuffer;
  data: SharedArrayBuffer;
}

/** A ring whose reader sleeps until the first frame. */
export function createRingMemory(bytes: number): RingMemory {
  const control = new SharedArrayBuffer(CONTROL_SLOTS * 4);
  new Int32Array(control)[ASLEEP] = 1;
  return { control, data: new SharedArrayBuffer(aligned(bytes)) };
}

/** The listener's end. */
export class RingWriter {
  private readonly control: Int32Array<SharedArrayBuffer>;
  private readonly bytes: Uint8Array<SharedArrayBuffer>;
  private readonly view: DataView<SharedArrayBuffer>;
  /** where the next record goes; published as WRITE once it is whole */
  private at: number;
  private sender = '';

  constructor(memory: RingMemory) {
    this.control = new Int32Array(memory.control);
    this.bytes = new Uint8Array(memory.data);
    this.view = new DataView(memory.data);
    this.at = Atomics.load(this.control, WRITE); // a restarted listener goes on where the last one stopped
  }

  /**
   * Writes one frame from `sender`; false when there is no room (the reader is behind by the whole
   * ring), counted as full.
   */
  write(sender: string, frame: Uint8Array, receivedAt: number, from = 0, to = frame.length): boolean {
    if (sender !== this.sender && !this.writeSender(sender)) return this.refuse(FULL);
    const length = to - from;
    const at = this.reserve(aligned(FRAME_HEADER + length));
    if (at < 0) return this.refuse(FULL);
    this.view.setInt32(at, length, true);
    this.view.setFloat64(at + 4, receivedAt, true);
    this.bytes.set(from === 0 && to === frame.length ? frame : frame.subarray(from, to), at + FRAME_HEADER);
    this.publish(at + aligned(FRAME_HEADER + length));
    return true;
  }

  refusedSender(): void {
    Atomics.add(this.control, REFUSED, 1);
  }

  oversize(): void {
    Atomics.add(this.control, OVERSIZE, 1);
  }

  /**
   * Whether the reader asked to be woken; it asks once, so true goes to one caller, which then
   * wakes it (a message to the main thread).
   */
  takeWakeRequest(): boolean {
    return Atomics.load(this.control, ASLEEP) === 1 && Atomics.compareExchange(this.control, ASLEEP, 1, 0) === 1;
  }

  private refuse(slot: number): false {
    Atomics.add(this.control, slot, 1);
    return false;
  }

  private writeSender(sender: string): boolean {
    const length = sender.length;
    const at = this.reserve(aligned(8 + length));
    if (at < 0) return false;
    this.view.setInt32(at, SENDER, true);
    this.view.setInt32(at + 4, length, true);
    for (let i = 0; i < length; i++) this.bytes[at + 8 + i] = sender.charCodeAt(i) & 0x7f;
    this.publish(at + aligned(8 + length));
    this.sender = sender;
    return true;
  }

  /** Where a record of `size` bytes goes, wrapping to the start if it must; -1 when there is no room. */
  private reserve(size: number): number {
    const read = Atomics.load(this.control, READ);
    const at = this.at;
    if (read > at) return at + size < read ? at : -1;
    // room for the record and, after it, a wrap mark
    if (at + size + 4 <= this.bytes.length) return at;
    if (size >= read) return -1;
    this.view.setInt32(at, WRAP, true);
    return 0;
  }

  private publish(next: number): void {
    this.at = next;
    Atomics.store(this.control, WRITE, next);
  }
}

/** Frames of one sender as they lie in the ring: valid only during the call they are handed to. */
export interface RingFrames extends Frames {
  sender: string;
}

/** What the writer dropped since the last take. */
export interface RingDrops {
  refused: number;
  oversize: number;
  full: number;
}

/** The main thread's end. */
export class RingReader {
  private readonly control: Int32Array<SharedArrayBuffer>;
  private readonly bytes: Uint8Array<SharedArrayBuffer>;
  private readonly view: DataView<SharedArrayBuffer>;
  private readonly bounds: Uint32Array;
  private readonly times: Float64Array;
  private sender = '';

  constructor(
    readonly memory: RingMemory,
    /** at most this many frames a read, so that one read holds the event loop briefly */
    readonly maxFrames = 2048,
  ) {
    this.control = new Int32Array(memory.control);
    this.bytes = new Uint8Array(memory.data);
    this.view = new DataView(memory.data);
    this.bounds = new Uint32Array(maxFrames * 2);
    this.times = new Float64Array(maxFrames);
  }

  /** Whether frames wait. */
  get pending(): boolean {
    return Atomics.load(this.control, READ) !== Atomics.load(this.control, WRITE);
  }

  /**
   * Hands the waiting frames (at most maxFrames) to `each`, one call a run from one sender, and
   * frees their place; returns how many frames it handed.
   */
  read(each: (frames: RingFrames) => void): number {
    const write = Atomics.load(this.control, WRITE);
    let at = Atomics.load(this.control, READ);
    let count = 0;
    let total = 0;
    while (at !== write && total + count < this.maxFrames) {
      const tag = this.view.getInt32(at, true);
      if (tag === WRAP) {
        at = 0;
        continue;
      }
      if (tag === SENDER) {
        total += this.hand(count, each);
        count = 0;
        this.sender = this.senderAt(at);
        at += aligned(8 + this.view.getInt32(at + 4, true));
        continue;
      }
      this.bounds[count * 2] = at + FRAME_HEADER;
      this.bounds[count * 2 + 1] = at + FRAME_HEADER + tag;
      this.times[count++] = this.view.getFloat64(at + 4, true);
      at += aligned(FRAME_HEADER + tag);
    }
    total += this.hand(count, each);
    Atomics.store(this.control, READ, at);
    return total;
  }

  /** Asks the writer for a wake message; false when frames came meanwhile (read them instead). */
  sleep(): boolean {
    Atomics.store(this.control, ASLEEP, 1);
    if (!this.pending) return true;
    // frames came before the writer could see the request: take it back unless the writer took it
    return Atomics.compareExchange(this.control, ASLEEP, 1, 0) !== 1;
  }

  takeDrops(): RingDrops {
    const { control } = this;
    return { refused: Atomics.exchange(control, REFUSED, 0), oversize: Atomics.exchange(control, OVERSIZE, 0), full: Atomics.exchange(control, FULL, 0) };
  }

  private hand(count: number, each: (frames: RingFrames) => void): number {
    if (count > 0) each({ sender: this.sender, bytes: this.bytes, bounds: this.bounds.subarray(0, count * 2), times: this.times.subarray(0, count) });
    return count;
  }

  private senderAt(at: number): string {
    const length = this.view.getInt32(at + 4, true);
    let text = '';
    for (let i = 0; i < length; i++) text += String.fromCharCode(this.bytes[at + 8 + i]);
    return text;
  }
}
