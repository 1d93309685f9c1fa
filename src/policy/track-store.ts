/**
 * The window's memory: per key, `width` unboxed doubles in one growing slab, found through a Map
 * and bounded by `capacity` keys, the least recently used evicted first.
 *
 * Written for the hot path rather than taken from lru-cache: with a million keys a per-key array
 * costs a heap object each (GC time and ~40% more memory), and lru-cache's get (options
 * destructuring, diagnostics) cost more than the rest of the policy together.
 */
export class TrackStore<K> {
  /** the doubles: key slot `s` owns cells[s * width … s * width + width) */
  cells: Float64Array;
  private readonly slots = new Map<K, number>();
  private keys: K[] = [];
  /** recency list through slots: head is the most recent, tail the least */
  private newer: Int32Array;
  private older: Int32Array;
  private head = -1;
  private tail = -1;
  private readonly free: number[] = [];
  private used = 0;

  constructor(
    readonly width: number,
    readonly capacity: number,
  ) {
    const initial = Math.min(capacity, 1024);
    this.cells = new Float64Array(initial * width);
    this.newer = new Int32Array(initial);
    this.older = new Int32Array(initial);
  }

  get size(): number {
    return this.slots.size;
  }

  /**
   * The slot of `key`'s cells, which are zero for a new key, and marks it the most recently used.
   * A new key past capacity takes the least recently used key's slot.
   */
  slot(key: K): number {
    let slot = this.slots.get(key);
    if (slot !== undefined) {
      if (slot !== this.head) {
        this.unlink(slot);
        this.linkHead(slot);
      }
      return slot;
    }
    slot = this.free.pop() ?? (this.used < this.capacity ? this.grow() : this.evictTail());
    this.slots.set(key, slot);
    this.keys[slot] = key;
    this.cells.fill(0, slot * this.width, slot * this.width + this.width);
    this.linkHead(slot);
    return slot;
  }

  has(key: K): boolean {
    return this.slots.has(key);
  }

  delete(key: K): void {
    const slot = this.slots.get(key);
    if (slot === undefined) return;
    this.slots.delete(key);
    this.unlink(slot);
    this.free.push(slot);
  }

  /** [key, slot] pairs; deleting the current key while iterating is allowed. */
  entries(): IterableIterator<[K, number]> {
    return this.slots.entries();
  }

  private grow(): number {
    const slot = this.used++;
    if (slot === this.newer.length) {
      const length = Math.min(this.capacity, this.newer.length * 2);
      const cells = new Float64Array(length * this.width);
      cells.set(this.cells);
      this.cells = cells;
      this.newer = copyInto(new Int32Array(length), this.newer);
      this.older = copyInto(new Int32Array(length), this.older);
    }
    return slot;
  }

  private evictTail(): number {
    const slot = this.tail;
    this.slots.delete(this.keys[slot]);
    this.unlink(slot);
    return slot;
  }

  private linkHead(slot: number): void {
    this.newer[slot] = -1;
    this.older[slot] = this.head;
    if (this.head >= 0) this.newer[this.head] = slot;
    this.head = slot;
    if (this.tail < 0) this.tail = slot;
  }

  private unlink(slot: number): void {
    const newer = this.newer[slot];
    const older = this.older[slot];
    if (newer >= 0) this.older[newer] = older;
    else this.head = older;
    if (older >= 0) this.newer[older] = newer;
    else this.tail = newer;
  }
}

function copyInto(target: Int32Array, source: Int32Array): Int32Array {
  target.set(source);
  return target;
}
