/**
 * The window's memory: per key, `width` unboxed doubles in one growing slab, bounded by
 * `capacity` keys. A key is 64 bits given as two unsigned 32-bit halves (an IPv4 address, or an
 * IPv6 prefix of at most 64 bits), found through an open-addressing table of typed arrays.
 *
 * Nothing here is a JavaScript object per key: with a million keys that would cost a heap object
 * each (GC time, and more memory than the cells), and a Map lookup plus a linked-list LRU costs a
 * few cache misses per event. Eviction is CLOCK: a key seen again since the hand last passed is
 * spared, and a new key starts unmarked, so a flood of one-off addresses evicts its own kind
 * before the addresses that keep coming back.
 */
export class TrackStore {
  /** the doubles: slot `s` owns cells[s * width … s * width + width) */
  cells: Float64Array;
  private keyHi: Uint32Array;
  private keyLo: Uint32Array;
  /** per slot: 0 free, 1 live, 2 live and seen again since the clock hand passed */
  private state: Uint8Array;
  /** open addressing, linear probing: slot + 1, or 0 for empty */
  private table: Int32Array;
  private free: number[] = [];
  private used = 0;
  private live = 0;
  private hand = 0;

  constructor(
    readonly width: number,
    readonly capacity: number,
  ) {
    const slots = Math.min(capacity, 1024);
    this.cells = new Float64Array(slots * width);
    this.keyHi = new Uint32Array(slots);
    this.keyLo = new Uint32Array(slots);
    this.state = new Uint8Array(slots);
    this.table = new Int32Array(tableSizeFor(slots));
  }

  get size(): number {
    return this.live;
  }

  /** The slot of a key, or -1. */
  find(hi: number, lo: number): number {
    const index = this.indexOf(hi, lo);
    return index < 0 ? -1 : this.table[index] - 1;
  }

  /** The slot of a key, created with zeroed cells when new (evicting when full); marks it seen. */
  slot(hi: number, lo: number): number {
    const mask = this.table.length - 1;
    for (let i = hash(hi, lo) & mask; ; i = (i + 1) & mask) {
      const entry = this.table[i];
      if (entry === 0) break;
      const slot = entry - 1;
      if (this.keyHi[slot] === hi && this.keyLo[slot] === lo) {
        this.state[slot] = 2;
        return slot;
      }
    }
    return this.insert(hi, lo);
  }

  delete(hi: number, lo: number): void {
    const index = this.indexOf(hi, lo);
    if (index < 0) return;
    const slot = this.table[index] - 1;
    this.removeAt(index);
    this.state[slot] = 0;
    this.free.push(slot);
    this.live--;
  }

  /** Calls `visit` with every live slot and its key; `visit` may delete that key. */
  forEach(visit: (slot: number, hi: number, lo: number) => void): void {
    for (let slot = 0; slot < this.used; slot++) if (this.state[slot] !== 0) visit(slot, this.keyHi[slot], this.keyLo[slot]);
  }

  private insert(hi: number, lo: number): number {
    let slot: number;
    if (this.free.length > 0) slot = this.free.pop()!;
    else if (this.used < this.capacity) slot = this.grow();
    else slot = this.evict();
    this.keyHi[slot] = hi;
    this.keyLo[slot] = lo;
    this.state[slot] = 1;
    this.cells.fill(0, slot * this.width, slot * this.width + this.width);
    this.place(slot);
    this.live++;
    return slot;
  }

  private indexOf(hi: number, lo: number): number {
    const mask = this.table.length - 1;
    for (let i = hash(hi, lo) & mask; ; i = (i + 1) & mask) {
      const entry = this.table[i];
      if (entry === 0) return -1;
      if (this.keyHi[entry - 1] === hi && this.keyLo[entry - 1] === lo) return i;
    }
  }

  private place(slot: number): void {
    const mask = this.table.length - 1;
    let i = hash(this.keyHi[slot], this.keyLo[slot]) & mask;
    while (this.table[i] !== 0) i = (i + 1) & mask;
    this.table[i] = slot + 1;
  }

  /** Empties a table cell and shifts back the entries after it that would no longer be found. */
  private removeAt(index: number): void {
    const mask = this.table.length - 1;
    let hole = index;
    this.table[hole] = 0;
    for (let i = (hole + 1) & mask; this.table[i] !== 0; i = (i + 1) & mask) {
      const slot = this.table[i] - 1;
      const home = hash(this.keyHi[slot], this.keyLo[slot]) & mask;
      // The entry may move into the hole unless its home lies cyclically in (hole, i].
      const stays = hole < i ? home > hole && home <= i : home > hole || home <= i;
      if (stays) continue;
      this.table[hole] = this.table[i];
      this.table[i] = 0;
      hole = i;
    }
  }

  /** The next never-used slot, growing the arrays (and rehashing the table) as needed. */
  private grow(): number {
    const slot = this.used++;
    if (slot === this.state.length) {
      const slots = Math.min(this.capacity, this.state.length * 2);
      this.cells = resized(this.cells, slots * this.width);
      this.keyHi = resized(this.keyHi, slots);
      this.keyLo = resized(this.keyLo, slots);
      this.state = resized(this.state, slots);
      this.table = new Int32Array(tableSizeFor(slots));
      for (let s = 0; s < slot; s++) if (this.state[s] !== 0) this.place(s);
    }
    return slot;
  }

  /** CLOCK: clears marks until it finds an unmarked key, and frees that key's slot. */
  private evict(): number {
    for (;;) {
      const slot = this.hand;
      this.hand = slot + 1 === this.used ? 0 : slot + 1;
      if (this.state[slot] === 2) {
        this.state[slot] = 1;
        continue;
      }
      this.removeAt(this.indexOf(this.keyHi[slot], this.keyLo[slot]));
      this.live--;
      return slot;
    }
  }
}

/** A power of two at least twice the slots: the table stays at most half full. */
function tableSizeFor(slots: number): number {
  let size = 16;
  while (size < slots * 2) size *= 2;
  return size;
}

/** Held once: under jest's sandbox a global `Math` lookup per call made the hash loops 100× slower. */
const imul = Math.imul;

function hash(hi: number, lo: number): number {
  let h = imul(lo ^ imul(hi, 0x9e3779b1), 0x85ebca6b);
  h ^= h >>> 13;
  h = imul(h, 0xc2b2ae35);
  return h ^ (h >>> 16);
}

type Growable = Float64Array | Uint32Array | Uint8Array;

function resized<T extends Growable>(array: T, length: number): T {
  const bigger = new (array.constructor as new (length: number) => T)(length);
  bigger.set(array as never);
  return bigger;
}
