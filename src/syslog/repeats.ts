const WINDOW_MS = 60_000;
/** Held once: under jest's sandbox a global `Math` lookup per call made the hash loops 100× slower. */
const imul = Math.imul;

/**
 * rsyslog delivers at least once and repeats messages after a reconnect. A frame identical to one
 * seen in the last 60 seconds is a repeat when it carries a sub-second timestamp: two real events
 * with the same microsecond, address and text are not plausible, while second-resolution
 * timestamps can legitimately repeat.
 *
 * Frames are remembered by a 53-bit fingerprint (two independent hashes of the text) in two
 * generations of fixed-size typed-array tables, rotated every 60 s, so every frame is remembered
 * for at least 60 s. Keeping the frames themselves in a Map cost more than parsing them: a string
 * hashed and retained per frame, promoted to the old generation and collected later. When a
 * generation fills up (a flood) it rotates early: memory stays fixed, and the cost is that a repeat
 * older than the flood can slip through and count twice. Two different frames sharing a
 * fingerprint (about one in 2^53 per pair) would drop one of them.
 */
export class RepeatFilter {
  private current: Generation;
  private previous: Generation;
  private rotatedAt = -Infinity;

  constructor(private readonly maxPerGeneration = 100_000) {
    this.current = new Generation(maxPerGeneration);
    this.previous = new Generation(maxPerGeneration);
  }

  /** True when a frame with this fingerprint (frameFingerprint) was already seen within the window. */
  seen(fingerprint: number, now: number): boolean {
    this.rotate(now);
    const hi = Math.floor(fingerprint / 2 ** 32);
    const lo = fingerprint % 2 ** 32 || 1; // lo 0 marks an empty cell
    const age = this.current.age(hi, lo, now, this.previous);
    if (age >= 0 && age <= WINDOW_MS) return true;
    if (this.current.size >= this.maxPerGeneration) this.shift(now);
    this.current.add(hi, lo, now);
    return false;
  }

  purgeStale(now: number): void {
    this.rotate(now);
  }

  get size(): number {
    return this.current.size + this.previous.size;
  }

  private rotate(now: number): void {
    if (now - this.rotatedAt < WINDOW_MS) return;
    // Both generations are older than the window once two periods have passed.
    if (now - this.rotatedAt >= 2 * WINDOW_MS) this.current.clear();
    this.shift(now);
  }

  private shift(now: number): void {
    const emptied = this.previous;
    emptied.clear();
    this.previous = this.current;
    this.current = emptied;
    this.rotatedAt = now;
  }
}

/**
 * An open-addressing set of fingerprints with the time each was first seen, at most half full.
 * A cell is four 32-bit words in one array, [hi, lo, time, unused], so a probe reads one cache line
 * rather than one in each of three arrays. The time is unix ms modulo 2^32: entries live two
 * minutes at most, and differences taken modulo 2^32 stay right for 49 days.
 */
class Generation {
  size = 0;
  private readonly cells: Uint32Array;
  private readonly mask: number;

  constructor(capacity: number) {
    let length = 16;
    while (length < capacity * 2) length *= 2;
    this.cells = new Uint32Array(length * 4);
    this.mask = length - 1;
  }

  /** How long ago (ms) the fingerprint was seen here or in `other`, or -1. */
  age(hi: number, lo: number, now: number, other: Generation): number {
    const here = this.find(hi, lo);
    if (here >= 0) return ((now >>> 0) - this.cells[here + 2]) >>> 0;
    const there = other.find(hi, lo);
    return there >= 0 ? ((now >>> 0) - other.cells[there + 2]) >>> 0 : -1;
  }

  add(hi: number, lo: number, now: number): void {
    const { cells, mask } = this;
    let i = lo & mask; // lo is the well-mixed half
    while (cells[i * 4 + 1] !== 0) {
      if (cells[i * 4] === hi && cells[i * 4 + 1] === lo) return;
      i = (i + 1) & mask;
    }
    cells[i * 4] = hi;
    cells[i * 4 + 1] = lo;
    cells[i * 4 + 2] = now >>> 0;
    this.size++;
  }

  clear(): void {
    if (this.size === 0) return;
    this.cells.fill(0);
    this.size = 0;
  }

  /** The index of the fingerprint's cell, or -1. */
  private find(hi: number, lo: number): number {
    const { cells, mask } = this;
    for (let i = lo & mask; cells[i * 4 + 1] !== 0; i = (i + 1) & mask) {
      if (cells[i * 4] === hi && cells[i * 4 + 1] === lo) return i * 4;
    }
    return -1;
  }
}

/**
 * A 53-bit fingerprint of a frame's bytes[start, end) as one number, so that it can be computed
 * where the frame is parsed (the decode thread) and looked up where the window is (the main
 * thread): two independent 32-bit hashes in one pass (FNV-1a style, and a multiply-rotate with a
 * murmur3 finish), the first cut to its top 21 bits.
 */
export function frameFingerprint(bytes: Uint8Array, start = 0, end = bytes.length): number {
  let a = 0x811c9dc5;
  let b = end - start;
  const quads = start + ((end - start) & ~3);
  for (let i = start; i < quads; i += 4) {
    // four bytes a step: a quarter of the multiplications
    const c = bytes[i] | (bytes[i + 1] << 8) | (bytes[i + 2] << 16) | (bytes[i + 3] << 24);
    a = imul(a ^ c, 0x01000193);
    b = imul(b ^ c, 0x5bd1e995);
    b = (b << 13) | (b >>> 19);
  }
  for (let i = quads; i < end; i++) {
    a = imul(a ^ bytes[i], 0x01000193);
    b = imul(b ^ bytes[i], 0x5bd1e995);
  }
  a ^= a >>> 15; // FNV's low bits only see the low bits of each step
  b = imul(b ^ (b >>> 16), 0x85ebca6b);
  b = imul(b ^ (b >>> 13), 0xc2b2ae35);
  return (a >>> 11) * 2 ** 32 + ((b ^ (b >>> 16)) >>> 0);
}
