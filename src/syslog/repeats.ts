import { LRUCache } from 'lru-cache';

const WINDOW_MS = 60_000;

/**
 * rsyslog delivers at least once and repeats messages after a reconnect. A frame identical to one
 * seen in the last 60 seconds is a repeat when it carries a sub-second timestamp: two real events
 * with the same microsecond, address and text are not plausible, while second-resolution
 * timestamps can legitimately repeat.
 */
export class RepeatFilter {
  private now = 0;
  private readonly seen: LRUCache<string, true>;

  constructor(maxEntries = 200_000) {
    this.seen = new LRUCache({ max: maxEntries, ttl: WINDOW_MS, ttlAutopurge: false, ttlResolution: 0, perf: { now: () => this.now } });
  }

  /** True when this message text was already seen within the window. */
  isRepeat(text: string, subSecond: boolean, now: number): boolean {
    if (!subSecond) return false;
    if (now > this.now) this.now = now;
    if (this.seen.has(text)) return true;
    this.seen.set(text, true);
    return false;
  }

  purgeStale(now: number): void {
    if (now > this.now) this.now = now;
    this.seen.purgeStale();
  }
}
