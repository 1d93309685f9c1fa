/** Counts by name; the admin endpoint and `replay`'s summary read them. One lookup an add. */
export class Tally {
  private readonly cells = new Map<string, { n: number }>();
  private readonly pairNames = new Map<string, Map<string, string>>();

  add(name: string, by = 1): void {
    const cell = this.cells.get(name);
    if (cell) cell.n += by;
    else this.cells.set(name, { n: by });
  }

  /** Adds to `first:second`, a name built once per pair rather than once per add (a frame's outcome). */
  addPair(first: string, second: string, by = 1): void {
    let names = this.pairNames.get(first);
    if (!names) this.pairNames.set(first, (names = new Map()));
    let name = names.get(second);
    if (name === undefined) names.set(second, (name = `${first}:${second}`));
    this.add(name, by);
  }

  get(name: string): number {
    return this.cells.get(name)?.n ?? 0;
  }

  /** [name, count] pairs in the order the names first came */
  entries(): [string, number][] {
    return [...this.cells].map(([name, cell]) => [name, cell.n]);
  }

  /** By name, in code-unit order: localeCompare's first call loads a collator, a visible share of a short replay. */
  toObject(): Record<string, number> {
    return Object.fromEntries(this.entries().sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)));
  }
}
