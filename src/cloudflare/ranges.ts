import { describeError } from '../common/errors';
import { CLOUDFLARE_RANGES } from '../policy/trust';
import { fetchCloudflareRanges } from './ips';

/** Once a day is Cloudflare's own advice for GET /ips; the ranges change a few times a year. */
const REFRESH_INTERVAL_MS = 24 * 3600_000;

/** A refresh's outcome; a failed one keeps the bundled list and whatever an earlier refresh fetched. */
export type RangesRefreshed = { ok: true; fetched: number } | { ok: false; error: string; keptFetched: boolean };

/**
 * Cloudflare's edge ranges as trust sees them: the bundled list, united with the last answer of
 * GET /ips once `cloudflareRanges: refresh` has fetched one. An address in either is never
 * banned, so a range Cloudflare drops stays trusted until a restart, and a new one is trusted
 * from the next refresh on. The last answer outlives a reload.
 */
export class CloudflareRanges {
  private fetched: readonly string[] = [];
  private timer: NodeJS.Timeout | null = null;
  /** the refresh under way, if any (tests wait for it) */
  pending: Promise<void> = Promise.resolve();

  constructor(
    private apiBase: string,
    /** told after every refresh; on success, `current()` holds the new ranges */
    private readonly refreshed: (result: RangesRefreshed) => void,
  ) {}

  current(): string[] {
    return this.fetched.length ? [...new Set([...CLOUDFLARE_RANGES, ...this.fetched])] : [...CLOUDFLARE_RANGES];
  }

  /** Refreshes now and then daily while `refresh` is asked; stops refreshing when it no longer is. */
  follow(mode: 'bundled' | 'refresh', apiBase = this.apiBase): void {
    this.apiBase = apiBase;
    if (mode === 'bundled') return this.stop();
    if (this.timer) return;
    this.timer = setInterval(() => void this.refresh(), REFRESH_INTERVAL_MS);
    this.timer.unref();
    this.pending = this.refresh();
  }

  stop(): void {
    if (this.timer) clearInterval(this.timer);
    this.timer = null;
  }

  private async refresh(): Promise<void> {
    try {
      this.fetched = await fetchCloudflareRanges(this.apiBase);
      this.refreshed({ ok: true, fetched: this.fetched.length });
    } catch (error) {
      this.refreshed({ ok: false, error: describeError(error), keptFetched: this.fetched.length > 0 });
    }
  }
}
