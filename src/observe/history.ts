/** One minute of what the daemon saw and did, for the live page. */
export interface Minute {
  /** unix seconds at the minute's start */
  at: number;
  /** events by class */
  events: Record<string, number>;
  /** events by site; past MAX_SITES sites in a minute, the rest count as `(other)` */
  sites: Record<string, number>;
  banned: number;
  unbanned: number;
  failed: number;
}

const MINUTES = 60;
const MAX_SITES = 50;

/**
 * The last hour, a bucket a minute, in memory and bounded: what the live page draws. Sites are
 * host names, never addresses; no address is kept here.
 */
export class History {
  private readonly minutes: Minute[] = [];

  constructor(private readonly now: () => number = Date.now) {}

  /** An event that arrived at `at` (unix ms): its own time, so the hot path asks no clock. */
  event(site: string | null, cls: string, at: number): void {
    const minute = this.current(at);
    minute.events[cls] = (minute.events[cls] ?? 0) + 1;
    const name = site ?? '(no site)';
    const key = name in minute.sites || Object.keys(minute.sites).length < MAX_SITES ? name : '(other)';
    minute.sites[key] = (minute.sites[key] ?? 0) + 1;
  }

  ban(what: 'banned' | 'unbanned' | 'failed'): void {
    this.current(this.now())[what]++;
  }

  /** The minutes of the last hour that saw anything, oldest first. */
  snapshot(): Minute[] {
    const since = this.minuteOf(this.now()) - (MINUTES - 1) * 60;
    return this.minutes.filter((minute) => minute.at >= since);
  }

  private minuteOf(ms: number): number {
    return Math.floor(ms / 60_000) * 60;
  }

  private current(ms: number): Minute {
    const at = this.minuteOf(ms);
    let last = this.minutes[this.minutes.length - 1];
    // a clock stepped back counts in the newest minute: the buckets stay in order
    if (!last || last.at < at) {
      last = { at, events: {}, sites: {}, banned: 0, unbanned: 0, failed: 0 };
      this.minutes.push(last);
      if (this.minutes.length > MINUTES) this.minutes.shift();
    }
    return last;
  }
}
