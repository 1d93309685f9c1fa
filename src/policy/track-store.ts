import { pairHash as hash, tableSizeFor } from '../common/pair-hash';

/**
 * The window's memory: per key, `width` 32-bit cells in one slab made at full size, bounded by
 * `capacity` keys. A key is 64 bits given as two unsigned 32-bit halves (an IPv4 address, or an
 * IPv6 prefix of at most 64 bits), found through an open-addressing table of typed arrays. The
 * key sits in the slab just before its cells, so a lookup reads the table and the cells it hands
 * back (two cache misses for a key seen a while ago; a key array beside the slab made it four).
 *
 * Nothing here is a JavaScript object per key: with a million keys that would cost a heap object
 * each (GC time, and more memory than the cells), and a Map lookup plus a linked-list LRU costs a
 * few cache misses per event. Eviction is CLOCK: a key seen again since the hand last passed is
 * spared, and a new key starts unmarked, so a flood of one-off addresses evicts its own kind
 * before the addresses that keep coming back.
 */
export class TrackStore {
  /** the slab as signed cells: slot `s` holds its key at [s * stride] and [… + 1], then its `width` cells */
  readonly cells: Int32Array;
  /** the same slab read unsigned, for the key halves */
  private readonly keys: Uint32Array;
  private readonly stride: number;
  /** per slot: 0 free, 1 live, 2 live and seen again since the clock hand passed */
  private readonly state: Uint8Array;
  /** open addressing, linear probing: slot + 1, or 0 for empty; sized to the keys held, at most half full */
  private table: Int32Array;
  /** the table before it last doubled, while its entries move over a few at a time; null once they have */
  private moving: Int32Array | null = null;
  /** the next cell of `moving` to move: every cell before it is empty */
  private movedTo = 0;
  private readonly maxTableSize: number;
  /** the slots freed by delete, a stack of `freeCount`: made at full size too, as a growing list copies itself */
  private readonly free: Int32Array;
  private freeCount = 0;
  private used = 0;
  private live = 0;
  private hand = 0;
  /** prefetch's table cells, one a key */
  private aheadCells = new Int32Array(0);
  /** what prefetch read, kept (and public) so that the compiler cannot leave the reads out */
  fetched = 0;

  /**
   * The slab and the slot arrays are made at full capacity at once. Growing them by doubling
   * stopped the event loop while every key was copied and rehashed, with every ban waiting behind
   * it; made at once, they cost no resident memory until used: the kernel maps a page when it is
   * first written, and slots are taken in order. The table is the exception: it is read at random,
   * and one sized for a million keys spreads a few thousand over every page of 8 MiB, a cache and
   * TLB miss a lookup. It starts small and doubles as keys come, its entries moving to the new
   * table a few cells a call rather than all at once.
   */
  constructor(
    readonly width: number,
    readonly capacity: number,
    firstTableSize = FIRST_TABLE_SIZE,
  ) {
    this.stride = width + KEY_CELLS;
    const slab = new ArrayBuffer(capacity * this.stride * Int32Array.BYTES_PER_ELEMENT);
    this.cells = new Int32Array(slab);
    this.keys = new Uint32Array(slab);
    this.state = new Uint8Array(capacity);
    this.maxTableSize = tableSizeFor(capacity);
    this.table = new Int32Array(Math.min(this.maxTableSize, tableSizeFor(firstTableSize / 2)));
    this.free = new Int32Array(capacity);
  }

  get size(): number {
    return this.live;
  }

  /** the table's cells, and the old table's while its entries move (0 when none do) */
  get tableSizes(): { table: number; moving: number } {
    return { table: this.table.length, moving: this.moving?.length ?? 0 };
  }

  /** Where a key's cells start in `cells`, or -1. The halves are unsigned 32-bit integers. */
  find(hi: number, lo: number): number {
    const slot = this.slotOf(hi, lo);
    return slot < 0 ? -1 : this.cellsOf(slot);
  }

  /**
   * Reads, for `count` keys about to be looked up, their table cells and then their slots (the key
   * and its last cell), and changes nothing. A lookup's two reads depend on each other, and a
   * lookup a time waits for each miss in turn; here the reads of all the keys are independent, so
   * the processor overlaps their misses, and the lookups that follow find them in the cache.
   */
  prefetch(his: Uint32Array, los: Uint32Array, count: number): void {
    if (this.aheadCells.length < count) this.aheadCells = new Int32Array(count);
    const { table, keys, stride, aheadCells } = this;
    const mask = table.length - 1;
    let fetched = 0;
    for (let k = 0; k < count; k++) {
      const index = hash(his[k], los[k]) & mask;
      aheadCells[k] = index;
      fetched ^= table[index];
    }
    for (let k = 0; k < count; k++) {
      const entry = table[aheadCells[k]];
      if (entry !== 0) fetched ^= keys[(entry - 1) * stride] ^ keys[entry * stride - 1];
    }
    this.fetched = fetched;
  }

  /** Where a key's cells start in `cells`, created zeroed when new (evicting when full); marks it seen. */
  row(hi: number, lo: number): number {
    if (this.moving !== null) this.moveSome();
    const { keys, stride, table } = this;
    const mask = table.length - 1;
    for (let i = hash(hi, lo) & mask; ; i = (i + 1) & mask) {
      const entry = table[i];
      if (entry === 0) break;
      const at = (entry - 1) * stride;
      if (keys[at] === hi && keys[at + 1] === lo) {
        this.state[entry - 1] = 2;
        return at + KEY_CELLS;
      }
    }
    const slot = this.moving === null ? -1 : this.slotIn(this.moving, hi, lo);
    if (slot >= 0) {
      this.state[slot] = 2;
      return this.cellsOf(slot);
    }
    return this.cellsOf(this.insert(hi, lo));
  }

  delete(hi: number, lo: number): void {
    const slot = this.unplace(hi, lo);
    if (slot < 0) return;
    this.state[slot] = 0;
    this.free[this.freeCount++] = slot;
    this.live--;
  }

  /**
   * Calls `visit` with where each live key's cells start, and the key, for the slots [from, from +
   * count): a pass over a million keys in slices, so that none holds the event loop for long.
   * `visit` may delete that key. Returns where the next slice starts, 0 after the last.
   */
  forEachFrom(from: number, count: number, visit: (row: number, hi: number, lo: number) => void): number {
    const end = Math.min(this.used, from + count);
    for (let slot = from; slot < end; slot++) if (this.state[slot] !== 0) visit(this.cellsOf(slot), this.hiOf(slot), this.loOf(slot));
    return end >= this.used ? 0 : end;
  }

  private cellsOf(slot: number): number {
    return slot * this.stride + KEY_CELLS;
  }

  private hiOf(slot: number): number {
    return this.keys[slot * this.stride];
  }

  private loOf(slot: number): number {
    return this.keys[slot * this.stride + 1];
  }

  private insert(hi: number, lo: number): number {
    let slot: number;
    if (this.freeCount > 0) slot = this.free[--this.freeCount];
    else if (this.used < this.capacity) slot = this.used++;
    else slot = this.evict();
    const at = slot * this.stride;
    this.keys[at] = hi;
    this.keys[at + 1] = lo;
    this.state[slot] = 1;
    this.cells.fill(0, at + KEY_CELLS, at + this.stride);
    this.live++;
    // both sides read on every insert: a field first read on the table's first doubling, by code
    // compiled before it, threw that code away (and so for `moving` below)
    const tableFull = this.live * 2 > this.table.length;
    const mayGrow = this.table.length < this.maxTableSize;
    if (tableFull && mayGrow) this.grow();
    this.place(this.table, slot);
    return slot;
  }

  /** A key's slot, wherever its entry is, or -1. */
  private slotOf(hi: number, lo: number): number {
    const slot = this.slotIn(this.table, hi, lo);
    return slot >= 0 || this.moving === null ? slot : this.slotIn(this.moving, hi, lo);
  }

  /** Removes a key's entry from whichever table holds it; returns its slot, or -1 when neither does. */
  private unplace(hi: number, lo: number): number {
    let table = this.table;
    let index = this.indexIn(table, hi, lo);
    if (index < 0 && this.moving !== null) index = this.indexIn((table = this.moving), hi, lo);
    if (index < 0) return -1;
    const slot = table[index] - 1;
    this.removeAt(table, index);
    return slot;
  }

  private slotIn(table: Int32Array, hi: number, lo: number): number {
    const index = this.indexIn(table, hi, lo);
    return index < 0 ? -1 : table[index] - 1;
  }

  private indexIn(table: Int32Array, hi: number, lo: number): number {
    const mask = table.length - 1;
    for (let i = hash(hi, lo) & mask; ; i = (i + 1) & mask) {
      const entry = table[i];
      if (entry === 0) return -1;
      if (this.hiOf(entry - 1) === hi && this.loOf(entry - 1) === lo) return i;
    }
  }

  private place(table: Int32Array, slot: number): void {
    const mask = table.length - 1;
    let i = hash(this.hiOf(slot), this.loOf(slot)) & mask;
    while (table[i] !== 0) i = (i + 1) & mask;
    table[i] = slot + 1;
  }

  /** Doubles the table; the entries of the old one move over in later calls (moveSome). */
  private grow(): void {
    // Every insert comes through row, which moves MOVE_CELLS first, and the next doubling needs
    // as many inserts as half the old table's cells: the old table has always moved by then. This
    // guards that, should another way to insert ever skip the moving.
    while (this.moving !== null) this.moveSome();
    this.moving = this.table;
    this.movedTo = 0;
    this.table = new Int32Array(this.table.length * 2);
  }

  /**
   * Moves the entries of the next few cells of the old table into the new one. A cell's entry
   * leaves by the same back-shift a delete uses, so the old table stays a table of the keys still
   * in it; entries shift only into cells at or after the one moved, never behind it.
   */
  private moveSome(): void {
    const moving = this.moving!;
    const end = Math.min(moving.length, this.movedTo + MOVE_CELLS);
    for (; this.movedTo < end; this.movedTo++) {
      while (moving[this.movedTo] !== 0) {
        const slot = moving[this.movedTo] - 1;
        this.removeAt(moving, this.movedTo);
        this.place(this.table, slot);
      }
    }
    this.moving = this.movedTo === moving.length ? null : moving;
  }

  /** Empties a table cell and shifts back the entries after it that would no longer be found. */
  private removeAt(table: Int32Array, index: number): void {
    const mask = table.length - 1;
    let hole = index;
    table[hole] = 0;
    for (let i = (hole + 1) & mask; table[i] !== 0; i = (i + 1) & mask) {
      const slot = table[i] - 1;
      const home = hash(this.hiOf(slot), this.loOf(slot)) & mask;
      // The entry may move into the hole unless its home lies cyclically in (hole, i].
      const stays = hole < i ? home > hole && home <= i : home > hole || home <= i;
      if (stays) continue;
      table[hole] = table[i];
      table[i] = 0;
      hole = i;
    }
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
      this.unplace(this.hiOf(slot), this.loOf(slot));
      this.live--;
      return slot;
    }
  }
}

/** The table's first size (cells), before it doubles with the keys: 16 KiB. */
const FIRST_TABLE_SIZE = 4096;
/** Cells of the old table moved a call while the table doubles. */
const MOVE_CELLS = 8;

/** a key's two halves, before its cells */
const KEY_CELLS = 2;
