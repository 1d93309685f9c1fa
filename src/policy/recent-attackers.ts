import { pairHash, tableSizeFor } from '../common/pair-hash';

/** Room for this many attackers first; the arrays double up to the cap as more come. */
const FIRST_ROOM = 16;

/**
 * One site's most recent distinct attackers, at most `cap`, in the order of their last attack:
 * a list linked through typed arrays, found through an open-addressing table of the same. An
 * attacker is a 64-bit key given as two unsigned 32-bit halves. A repeat costs a lookup and a few
 * writes, a new attacker past the cap takes the oldest one's slot, and nothing is allocated.
 * (A Map kept in order by deleting and setting each attacker again rehashed every few events; a
 * Map beside the list still cost the most of deciding an event, and boxed each IPv4 key above
 * V8's small integers as a heap number.)
 */
export class RecentAttackers {
  private count = 0;
  /** per slot: its key's halves, when it last attacked (ms), and its neighbours towards the newest and the oldest (-1: none) */
  private his = new Uint32Array(0);
  private los = new Uint32Array(0);
  private times = new Float64Array(0);
  private newer = new Int32Array(0);
  private older = new Int32Array(0);
  /** linear probing: slot + 1, or 0 for empty; at least twice the slots' room */
  private table = new Int32Array(0);
  private oldestSlot = -1;
  private newestSlot = -1;

  constructor(private readonly cap: number) {}

  get size(): number {
    return this.count;
  }

  /** When the oldest attacker kept last attacked (ms); NaN while there is none. */
  get oldestAt(): number {
    return this.oldestSlot < 0 ? NaN : this.times[this.oldestSlot];
  }

  record(hi: number, lo: number, at: number): void {
    const index = this.count === 0 ? -1 : this.indexOf(hi, lo);
    let slot: number;
    if (index >= 0) {
      slot = this.table[index] - 1;
      this.unlink(slot);
    } else {
      slot = this.count < this.cap ? this.claim() : this.recycleOldest();
      this.his[slot] = hi;
      this.los[slot] = lo;
      this.place(slot);
    }
    this.times[slot] = at;
    this.append(slot);
  }

  /** A slot never used: they are taken in order, 0 up, until the cap. */
  private claim(): number {
    const slot = this.count++;
    if (slot >= this.times.length) this.grow(Math.min(this.cap, Math.max(FIRST_ROOM, this.times.length * 2)));
    return slot;
  }

  private recycleOldest(): number {
    const slot = this.oldestSlot;
    this.unlink(slot);
    this.removeAt(this.indexOf(this.his[slot], this.los[slot]));
    return slot;
  }

  private grow(room: number): void {
    const grown = <T extends Uint32Array | Int32Array | Float64Array>(old: T, made: T): T => (made.set(old), made);
    this.his = grown(this.his, new Uint32Array(room));
    this.los = grown(this.los, new Uint32Array(room));
    this.times = grown(this.times, new Float64Array(room));
    this.newer = grown(this.newer, new Int32Array(room));
    this.older = grown(this.older, new Int32Array(room));
    this.table = new Int32Array(tableSizeFor(room));
    for (let slot = 0; slot < this.count - 1; slot++) this.place(slot); // the slot being claimed is placed by record
  }

  /** The table index holding this key, or -1. */
  private indexOf(hi: number, lo: number): number {
    const { table, his, los } = this;
    const mask = table.length - 1;
    for (let i = pairHash(hi, lo) & mask; ; i = (i + 1) & mask) {
      const entry = table[i];
      if (entry === 0) return -1;
      if (his[entry - 1] === hi && los[entry - 1] === lo) return i;
    }
  }

  private place(slot: number): void {
    const { table } = this;
    const mask = table.length - 1;
    let i = pairHash(this.his[slot], this.los[slot]) & mask;
    while (table[i] !== 0) i = (i + 1) & mask;
    table[i] = slot + 1;
  }

  /** Empties a table cell and shifts back the entries after it that would no longer be found. */
  private removeAt(index: number): void {
    const { table } = this;
    const mask = table.length - 1;
    let hole = index;
    table[hole] = 0;
    for (let i = (hole + 1) & mask; table[i] !== 0; i = (i + 1) & mask) {
      const slot = table[i] - 1;
      const home = pairHash(this.his[slot], this.los[slot]) & mask;
      // The entry may move into the hole unless its home lies cyclically in (hole, i].
      const stays = hole < i ? home > hole && home <= i : home > hole || home <= i;
      if (stays) continue;
      table[hole] = table[i];
      table[i] = 0;
      hole = i;
    }
  }

  /**
   * Takes a slot out of the age list. The ends are written whichever slot it is: an attacker seen
   * again while still the newest took a way the compiled code had never seen taken, and threw it away.
   */
  private unlink(slot: number): void {
    const newer = this.newer[slot];
    const older = this.older[slot];
    if (older >= 0) this.newer[older] = newer;
    if (newer >= 0) this.older[newer] = older;
    this.oldestSlot = older >= 0 ? this.oldestSlot : newer;
    this.newestSlot = newer >= 0 ? this.newestSlot : older;
  }

  private append(slot: number): void {
    this.older[slot] = this.newestSlot;
    this.newer[slot] = -1;
    if (this.newestSlot >= 0) this.newer[this.newestSlot] = slot;
    else this.oldestSlot = slot;
    this.newestSlot = slot;
  }
}
