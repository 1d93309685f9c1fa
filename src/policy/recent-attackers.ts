/** Room for this many attackers first; the arrays double up to the cap as more come. */
const FIRST_ROOM = 16;

/**
 * One site's most recent distinct attackers, at most `cap`, in the order of their last attack:
 * a list linked through typed arrays and found through a Map. A repeat costs a lookup and a few
 * writes, a new attacker past the cap takes the oldest one's slot. (A Map kept in order by
 * deleting and setting each attacker again rehashes every few events as deleted entries pile up,
 * which made it the costliest step of deciding an event.)
 */
export class RecentAttackers {
  private readonly slots = new Map<number | string, number>();
  private keys: (number | string)[] = [];
  /** per slot: when it last attacked (ms) and its neighbours towards the newest and the oldest; -1 is none */
  private times = new Float64Array(0);
  private newer = new Int32Array(0);
  private older = new Int32Array(0);
  private oldestSlot = -1;
  private newestSlot = -1;

  constructor(private readonly cap: number) {}

  get size(): number {
    return this.slots.size;
  }

  /** When the oldest attacker kept last attacked (ms); NaN while there is none. */
  get oldestAt(): number {
    return this.oldestSlot < 0 ? NaN : this.times[this.oldestSlot];
  }

  record(who: number | string, at: number): void {
    let slot = this.slots.get(who);
    if (slot === undefined) {
      slot = this.slots.size < this.cap ? this.claim() : this.recycleOldest();
      this.slots.set(who, slot);
      this.keys[slot] = who;
    } else {
      this.unlink(slot);
    }
    this.times[slot] = at;
    this.append(slot);
  }

  /** A slot never used: they are taken in order, 0 up, until the cap. */
  private claim(): number {
    const slot = this.slots.size;
    if (slot >= this.times.length) this.grow(Math.min(this.cap, Math.max(FIRST_ROOM, this.times.length * 2)));
    return slot;
  }

  private recycleOldest(): number {
    const slot = this.oldestSlot;
    this.unlink(slot);
    this.slots.delete(this.keys[slot]);
    return slot;
  }

  private grow(room: number): void {
    const times = new Float64Array(room);
    const newer = new Int32Array(room);
    const older = new Int32Array(room);
    times.set(this.times);
    newer.set(this.newer);
    older.set(this.older);
    [this.times, this.newer, this.older] = [times, newer, older];
  }

  private unlink(slot: number): void {
    const newer = this.newer[slot];
    const older = this.older[slot];
    if (older >= 0) this.newer[older] = newer;
    else this.oldestSlot = newer;
    if (newer >= 0) this.older[newer] = older;
    else this.newestSlot = older;
  }

  private append(slot: number): void {
    this.older[slot] = this.newestSlot;
    this.newer[slot] = -1;
    if (this.newestSlot >= 0) this.newer[this.newestSlot] = slot;
    else this.oldestSlot = slot;
    this.newestSlot = slot;
  }
}
