import { asError, isRetryable } from '../common/errors';
import type { BanAction } from '../config/schema';
import type { ShieldOrder } from '../policy/shield-watch';
import type { ShieldBackend, ShieldRule } from './backend';

export type ShieldOutcome = 'raised' | 'extended' | 'narrowed' | 'lifted' | 'adopted' | 'no_zone' | 'full' | 'retry' | 'refused';

export interface ShieldEvents {
  outcome(what: ShieldOutcome, zone: string, sites: string[], until: number, detail?: string): void;
}

/** One zone's shield: what edgeban wants there, and what it last wrote. */
interface ZoneShield {
  /** site → until (unix seconds) */
  sites: Map<string, number>;
  action: BanAction;
  ruleId?: string;
  /** what the rule said after edgeban's last write or read: anything else there was written by another receiver */
  written?: { until: number; sites: string };
  running: boolean;
  again: boolean;
  timer?: NodeJS.Timeout;
  /** failed tries in a row */
  failures: number;
}

export interface ShieldKeeperOptions {
  backend: ShieldBackend;
  events: ShieldEvents;
  now?: () => number;
  /** first wait after a failure; doubles each time up to maxRetryDelayMs */
  retryDelayMs?: number;
  maxRetryDelayMs?: number;
}

const sameSites = (sites: Iterable<string>) => [...sites].sort().join(' ');

/**
 * The site shields, in memory only: per zone the shielded sites and their expiry, made true at
 * Cloudflare as one custom rule a zone. Each change reads the rule first, so that a shield another
 * receiver raised or extended is kept (its sites take the rule's `until`, which is never earlier
 * than theirs), and a shield adopted after a restart lasts as long as its rule says. The rule is
 * rewritten when a site is added or extended, when one expires (it leaves the expression), and
 * deleted with the last.
 */
export class ShieldKeeper {
  private readonly zones = new Map<string, ZoneShield>();
  private readonly now: () => number;
  private stopped = false;

  constructor(private readonly options: ShieldKeeperOptions) {
    this.now = options.now ?? Date.now;
  }

  raise(order: ShieldOrder): void {
    const place = this.options.backend.place(order.site);
    if (!place) return this.options.events.outcome('no_zone', '', [order.site], order.until);
    const zone = this.zoneState(place.zone, order.action);
    zone.action = order.action;
    zone.sites.set(place.site, Math.max(zone.sites.get(place.site) ?? 0, order.until));
    this.sync(place.zone);
  }

  /** Reads every zone's rule: adopts shields after a restart or from another receiver, lifts what expired unseen. */
  sweep(action: BanAction): void {
    for (const zone of this.options.backend.zones()) {
      this.zoneState(zone, action);
      this.sync(zone);
    }
  }

  /** The shields up now, by zone and site. */
  active(): { zone: string; site: string; until: number; action: BanAction }[] {
    const now = this.now() / 1000;
    return [...this.zones.entries()].flatMap(([zone, state]) =>
      [...state.sites.entries()].filter(([, until]) => until > now).map(([site, until]) => ({ zone, site, until, action: state.action })),
    );
  }

  /** Resolves when no zone has a write under way (tests). */
  async settled(): Promise<void> {
    while ([...this.zones.values()].some((zone) => zone.running)) await new Promise((resolve) => setTimeout(resolve, 10));
  }

  stop(): void {
    this.stopped = true;
    for (const zone of this.zones.values()) clearTimeout(zone.timer);
  }

  private zoneState(zone: string, action: BanAction): ZoneShield {
    let state = this.zones.get(zone);
    if (!state) this.zones.set(zone, (state = { sites: new Map(), action, running: false, again: false, failures: 0 }));
    return state;
  }

  /** One pass at a time a zone; a change during a pass makes another. */
  private sync(zone: string): void {
    const state = this.zones.get(zone)!;
    if (this.stopped) return;
    if (state.running) {
      state.again = true;
      return;
    }
    state.running = true;
    clearTimeout(state.timer);
    void this.passes(zone, state);
  }

  private async passes(zone: string, state: ZoneShield): Promise<void> {
    try {
      do {
        state.again = false;
        await this.pass(zone, state);
        state.failures = 0;
      } while (state.again && !this.stopped);
      this.scheduleExpiry(zone, state);
    } catch (error) {
      this.failed(zone, state, asError(error));
    } finally {
      state.running = false;
    }
  }

  private async pass(zone: string, state: ZoneShield): Promise<void> {
    const remote = await this.options.backend.read(zone);
    const adopted = this.merge(state, remote);
    const now = this.now() / 1000;
    const lifted = [...state.sites.entries()].filter(([, until]) => until <= now).map(([site]) => site);
    for (const site of lifted) state.sites.delete(site);
    const ruleId = remote?.ruleId;
    if (state.sites.size === 0) {
      state.ruleId = undefined;
      state.written = undefined;
      if (!ruleId) return;
      await this.options.backend.remove(zone, ruleId);
      return this.options.events.outcome('lifted', zone, lifted, remote!.until);
    }
    const until = Math.max(...state.sites.values());
    const sites = [...state.sites.keys()];
    if (remote && remote.until === until && remote.action === state.action && sameSites(remote.sites) === sameSites(sites)) {
      state.ruleId = remote.ruleId;
      state.written = { until, sites: sameSites(sites) };
      if (adopted.length > 0) this.options.events.outcome('adopted', zone, adopted, until);
      return;
    }
    const written = await this.options.backend.write(zone, { ruleId, sites, until, action: state.action });
    state.ruleId = written.ruleId;
    state.written = { until, sites: sameSites(written.sites) };
    const left = sites.filter((site) => !written.sites.includes(site));
    for (const site of left) state.sites.delete(site);
    if (left.length > 0) this.options.events.outcome('full', zone, left, until, 'the rule expression is at its longest (4,096 characters)');
    const outcome = !remote ? 'raised' : lifted.length > 0 ? 'narrowed' : remote.until < until ? 'extended' : 'raised';
    this.options.events.outcome(outcome, zone, written.sites, until);
  }

  /**
   * Takes in a rule that edgeban did not write in this process (a restart, another receiver): its
   * sites with its `until`, never shortening a local one. Returns the sites it added.
   */
  private merge(state: ZoneShield, remote: ShieldRule | null): string[] {
    if (!remote || (state.written && state.written.until === remote.until && state.written.sites === sameSites(remote.sites))) return [];
    const added: string[] = [];
    for (const site of remote.sites) {
      const local = state.sites.get(site);
      if (local === undefined) added.push(site);
      state.sites.set(site, Math.max(local ?? 0, remote.until));
    }
    if (state.sites.size === added.length) state.action = remote.action;
    return added;
  }

  private failed(zone: string, state: ZoneShield, error: Error): void {
    const sites = [...state.sites.keys()];
    const until = Math.max(0, ...state.sites.values());
    if (!isRetryable(error)) {
      // a plan's rule limit, a missing permission: tried again at the next sweep or shield, not in a loop
      this.options.events.outcome('refused', zone, sites, until, error.message);
      return;
    }
    this.options.events.outcome('retry', zone, sites, until, error.message);
    state.failures++;
    const first = this.options.retryDelayMs ?? 5_000;
    const wait = Math.min(this.options.maxRetryDelayMs ?? 300_000, first * 2 ** (state.failures - 1));
    this.later(zone, state, wait);
  }

  /** Wakes when the first site's shield ends, to take it out of the rule (or delete the rule with the last). */
  private scheduleExpiry(zone: string, state: ZoneShield): void {
    if (state.sites.size === 0) return;
    const first = Math.min(...state.sites.values());
    this.later(zone, state, Math.max(0, first * 1000 - this.now()) + 50);
  }

  private later(zone: string, state: ZoneShield, ms: number): void {
    clearTimeout(state.timer);
    if (this.stopped) return;
    state.timer = setTimeout(() => this.sync(zone), Math.min(ms, 2 ** 31 - 1));
    state.timer.unref();
  }
}
