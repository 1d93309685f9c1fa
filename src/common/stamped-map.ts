/**
 * A Map bounded to `max` entries, each carrying when it was last used (a stamp the owner keeps in
 * the value). A full map drops the tenth of its entries used longest ago, at once: a lookup costs
 * a plain Map's, with no reordering as an LRU list does on every hit, and the sort that finds the
 * oldest is paid once every `max / 10` insertions.
 */
export class StampedMap<K, V> {
  private readonly entries = new Map<K, V>();

  constructor(
    private readonly max: number,
    private readonly stampOf: (value: V) => number,
  ) {}

  get size(): number {
    return this.entries.size;
  }

  get(key: K): V | undefined {
    return this.entries.get(key);
  }

  set(key: K, value: V): void {
    if (this.entries.size >= this.max && !this.entries.has(key)) this.dropOldest();
    this.entries.set(key, value);
  }

  private dropOldest(): void {
    const byStamp = [...this.entries].sort(([, a], [, b]) => this.stampOf(a) - this.stampOf(b));
    const drop = Math.max(1, Math.ceil(this.max / 10));
    for (let i = 0; i < drop; i++) this.entries.delete(byStamp[i][0]);
  }
}
