/** Longest delay setTimeout takes (about 24.8 days); later deadlines are re-armed on wake-up. */
const MAX_TIMEOUT_MS = 2 ** 31 - 1;

/**
 * One timer for any number of deadlines: a binary min-heap on time, with a single setTimeout
 * armed for the earliest. Entries are not removed when they change; `due` decides on wake-up.
 */
export class TimerHeap<T> {
  private readonly heap: { at: number; item: T }[] = [];
  private timer: NodeJS.Timeout | null = null;
  private armedFor = Infinity;
  private stopped = false;

  /** `fire` gets every item whose time (ms) has come. */
  constructor(
    private readonly fire: (item: T) => void,
    private readonly now: () => number = Date.now,
  ) {}

  get size(): number {
    return this.heap.length;
  }

  push(at: number, item: T): void {
    this.heap.push({ at, item });
    this.up(this.heap.length - 1);
    this.arm();
  }

  stop(): void {
    this.stopped = true;
    if (this.timer) clearTimeout(this.timer);
    this.timer = null;
  }

  private arm(): void {
    if (this.stopped || this.heap.length === 0) return;
    const next = this.heap[0].at;
    if (this.timer && next >= this.armedFor) return;
    if (this.timer) clearTimeout(this.timer);
    this.armedFor = next;
    this.timer = setTimeout(() => this.wake(), Math.min(MAX_TIMEOUT_MS, Math.max(0, next - this.now())));
    this.timer.unref();
  }

  private wake(): void {
    this.timer = null;
    this.armedFor = Infinity;
    const now = this.now();
    while (this.heap.length > 0 && this.heap[0].at <= now) this.fire(this.pop().item);
    this.arm();
  }

  private pop(): { at: number; item: T } {
    const top = this.heap[0];
    const last = this.heap.pop()!;
    if (this.heap.length > 0) {
      this.heap[0] = last;
      this.down(0);
    }
    return top;
  }

  private up(i: number): void {
    const heap = this.heap;
    while (i > 0) {
      const parent = (i - 1) >> 1;
      if (heap[parent].at <= heap[i].at) break;
      [heap[parent], heap[i]] = [heap[i], heap[parent]];
      i = parent;
    }
  }

  private down(i: number): void {
    const heap = this.heap;
    for (;;) {
      const left = 2 * i + 1;
      const right = left + 1;
      let least = i;
      if (left < heap.length && heap[left].at < heap[least].at) least = left;
      if (right < heap.length && heap[right].at < heap[least].at) least = right;
      if (least === i) return;
      [heap[least], heap[i]] = [heap[i], heap[least]];
      i = least;
    }
  }
}
