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
  /**
   * Per key a row of `stride` doubles: its key's halves, its CLOCK state, then its `width` cells,
   * so that the probe's last look and the policy's reads share a cache line or two (with 50,000
   * keys, separate arrays cost a cache miss each). The cells of row `r` (what slot answers) are
   * cells[r … r + width); state: 0 free, 1 live, 2 live and seen again since the hand passed.
   */
  cells: Float64Array;
  private readonly stride: number;
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
    this.stride = width + HEADER;
    const slots = Math.min(capacity, 1024);
    this.cells = new Float64Array(slots * this.stride);
    this.table = new Int32Array(tableSizeFor(slots));
  }

  get size(): number {
    return this.live;
  }

  /** Where the cells of a key start in `cells`, or -1. */
  find(hi: number, lo: number): number {
    const index = this.indexOf(hi, lo);
    return index < 0 ? -1 : this.rowOf(this.table[index] - 1);
  }

  /** Where the cells of a key start in `cells`, created zeroed when new (evicting when full); marks it seen. */
  slot(hi: number, lo: number): number {
    const mask = this.table.length - 1;
    const cells = this.cells;
    for (let i = hash(hi, lo) & mask; ; i = (i + 1) & mask) {
      const entry = this.table[i];
      if (entry === 0) break;
      const row = (entry - 1) * this.stride + HEADER;
      if (cells[row + HI] === hi && cells[row + LO] === lo) {
        cells[row + STATE] = 2;
        return row;
      }
    }
    return this.rowOf(this.insert(hi, lo));
  }

  delete(hi: number, lo: number): void {
    const index = this.indexOf(hi, lo);
    if (index < 0) return;
    const slot = this.table[index] - 1;
    this.removeAt(index);
    this.cells[this.rowOf(slot) + STATE] = 0;
    this.free.push(slot);
    this.live--;
  }

  /** Calls `visit` with every live key's cells and its key; `visit` may delete that key. */
  forEach(visit: (row: number, hi: number, lo: number) => void): void {
    for (let slot = 0; slot < this.used; slot++) {
      const row = this.rowOf(slot);
      if (this.cells[row + STATE] !== 0) visit(row, this.cells[row + HI], this.cells[row + LO]);
    }
  }

  private rowOf(slot: number): number {
    return slot * this.stride + HEADER;
  }

  private insert(hi: number, lo: number): number {
    let slot: number;
    if (this.free.length > 0) slot = this.free.pop()!;
    else if (this.used < this.capacity) slot = this.grow();
    else slot = this.evict();
    const row = this.rowOf(slot);
    this.cells[row + HI] = hi;
    this.cells[row + LO] = lo;
    this.cells[row + STATE] = 1;
    this.cells.fill(0, row, row + this.width);
    this.place(slot);
    this.live++;
    return slot;
  }

  private indexOf(hi: number, lo: number): number {
    const mask = this.table.length - 1;
    for (let i = hash(hi, lo) & mask; ; i = (i + 1) & mask) {
      const entry = this.table[i];
      if (entry === 0) return -1;
      const row = this.rowOf(entry - 1);
      if (this.cells[row + HI] === hi && this.cells[row + LO] === lo) return i;
    }
  }

  private homeOf(slot: number): number {
    const row = this.rowOf(slot);
    return hash(this.cells[row + HI], this.cells[row + LO]) & (this.table.length - 1);
  }

  private place(slot: number): void {
    const mask = this.table.length - 1;
    let i = this.homeOf(slot);
    while (this.table[i] !== 0) i = (i + 1) & mask;
    this.table[i] = slot + 1;
  }

  /** Empties a table cell and shifts back the entries after it that would no longer be found. */
  private removeAt(index: number): void {
    const mask = this.table.length - 1;
    let hole = index;
    this.table[hole] = 0;
    for (let i = (hole + 1) & mask; this.table[i] !== 0; i = (i + 1) & mask) {
      const home = this.homeOf(this.table[i] - 1);
      // The entry may move into the hole unless its home lies cyclically in (hole, i].
      const stays = hole < i ? home > hole && home <= i : home > hole || home <= i;
      if (stays) continue;
      this.table[hole] = this.table[i];
      this.table[i] = 0;
      hole = i;
    }
  }

  /** The next never-used slot, growing the rows (and rehashing the table) as needed. */
  private grow(): number {
    const slot = this.used++;
    if (slot * this.stride === this.cells.length) {
      const slots = Math.min(this.capacity, slot * 2);
      const bigger = new Float64Array(slots * this.stride);
      bigger.set(this.cells);
      this.cells = bigger;
      this.table = new Int32Array(tableSizeFor(slots));
      for (let s = 0; s < slot; s++) if (this.cells[this.rowOf(s) + STATE] !== 0) this.place(s);
    }
    return slot;
  }

  /** CLOCK: clears marks until it finds an unmarked key, and frees that key's slot. */
  private evict(): number {
    for (;;) {
      const slot = this.hand;
      this.hand = slot + 1 === this.used ? 0 : slot + 1;
      const row = this.rowOf(slot);
      if (this.cells[row + STATE] === 2) {
        this.cells[row + STATE] = 1;
        continue;
      }
      this.removeAt(this.indexOf(this.cells[row + HI], this.cells[row + LO]));
      this.live--;
      return slot;
    }
  }
}

/** A row's header, before its cells: the key's halves and the CLOCK state, at these offsets from the cells. */
const HEADER = 3;
const HI = -3;
const LO = -2;
const STATE = -1;

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
