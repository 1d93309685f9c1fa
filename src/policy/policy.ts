import { LRUCache } from 'lru-cache';
import { parseIp, prefixKey } from '../address/ip';
import type { BanAction, JailConfig } from '../config/schema';
import type { WpEvent } from '../wordpress/recognise';
import { TrustReason, Trust } from './trust';

/** What the policy asks the ban stage to do. `key` is the banned prefix in CIDR form. */
export interface BanOrder {
  key: string;
  jail: string;
  action: BanAction;
  /** seconds */
  duration: number;
  /** unix seconds */
  until: number;
  site: string | null;
}

export type IgnoreReason = TrustReason | 'invalid';

export interface Decision {
  /** set when the event is never counted */
  ignored: IgnoreReason | null;
  orders: BanOrder[];
  /** true once per site per hour for an event that carries a Cloudflare or proxy address */
  warnMisconfigured: boolean;
}

export interface PolicyOptions {
  jails: Record<string, JailConfig>;
  trust: Trust;
  ipv4Prefix: number;
  ipv6Prefix: number;
  /** bound on tracked (jail, key) windows; the oldest is evicted first */
  maxTracked: number;
}

interface Jail {
  name: string;
  index: number;
  config: JailConfig;
  selects: Set<string>;
}

const WARN_INTERVAL_MS = 3_600_000;

/**
 * From WpEvent to BanOrder, in memory only. The clock is the events' own `at`, so replay can run
 * a day of logs in a second and live traffic uses arrival time.
 */
export class Policy {
  private readonly jails: Jail[];
  /** hit times (ms) per jail and key, at most maxretry-1 of them */
  private readonly windows: LRUCache<string, number[]>;
  /** ban end (ms) per jail and key, so a banned key is not ordered again */
  private readonly banned: LRUCache<string, number>;
  /** bans so far per jail and key, for the increment; forgotten after increment.max */
  private readonly offences: LRUCache<string, number>;
  private readonly warnedSites: LRUCache<string, number>;
  private now = 0;
  private readonly clock = { now: () => this.now };

  constructor(private readonly options: PolicyOptions) {
    this.jails = Object.entries(options.jails).map(([name, config], index) => ({
      name,
      index,
      config,
      selects: new Set(config.events),
    }));
    const perf = this.clock;
    this.windows = new LRUCache({ max: options.maxTracked, ttlAutopurge: false, ttlResolution: 0, perf, ttl: 1 });
    this.banned = new LRUCache({ max: options.maxTracked, ttlAutopurge: false, ttlResolution: 0, perf, ttl: 1 });
    this.offences = new LRUCache({ max: options.maxTracked, ttlAutopurge: false, ttlResolution: 0, perf, ttl: 1 });
    this.warnedSites = new LRUCache({ max: 10_000 });
  }

  /** Tracked windows (for metrics and the memory benchmark). */
  get tracked(): number {
    return this.windows.size;
  }

  /** Drops windows, bans and offences whose time has passed. */
  purgeStale(now: number): void {
    this.advance(now);
    this.windows.purgeStale();
    this.banned.purgeStale();
    this.offences.purgeStale();
  }

  /** Forgets that a key is banned (an operator's unban), so it can be ordered again. */
  forget(key: string): void {
    for (const jail of this.jails) this.banned.delete(`${jail.index}|${key}`);
  }

  decide(event: WpEvent): Decision {
    this.advance(event.at);
    const ip = parseIp(event.address);
    if (!ip) return { ignored: 'invalid', orders: [], warnMisconfigured: false };
    const reason = this.options.trust.reason(ip);
    if (reason) {
      const warn = (reason === 'cloudflare' || reason === 'proxy') && this.shouldWarn(event.site ?? '');
      return { ignored: reason, orders: [], warnMisconfigured: warn };
    }
    const key = prefixKey(ip, ip.family === 4 ? this.options.ipv4Prefix : this.options.ipv6Prefix);
    const orders: BanOrder[] = [];
    for (const jail of this.jails) {
      if (!jail.selects.has(event.kind) && !jail.selects.has(event.class)) continue;
      const order = this.hit(jail, key, event);
      if (order) orders.push(order);
    }
    return { ignored: null, orders, warnMisconfigured: false };
  }

  private advance(at: number): void {
    if (at > this.now) this.now = at;
  }

  private hit(jail: Jail, key: string, event: WpEvent): BanOrder | null {
    const id = `${jail.index}|${key}`;
    const at = event.at;
    if (this.banned.get(id) !== undefined) return null;
    const { maxretry, findtime } = jail.config;
    if (maxretry > 1) {
      const since = at - findtime * 1000;
      const hits = (this.windows.get(id) ?? []).filter((time) => time > since);
      if (hits.length + 1 < maxretry) {
        hits.push(at);
        // The window matters until its newest hit leaves findtime.
        this.windows.set(id, hits, { ttl: Math.max(1, at + findtime * 1000 - this.now) });
        return null;
      }
      this.windows.delete(id);
    }
    return this.order(jail, key, id, event);
  }

  private order(jail: Jail, key: string, id: string, event: WpEvent): BanOrder {
    const { bantime, increment, action } = jail.config;
    let duration = bantime;
    if (increment) {
      const previous = this.offences.get(id) ?? 0;
      duration = Math.min(increment.max, Math.round(bantime * increment.factor ** previous));
      this.offences.set(id, previous + 1, { ttl: (duration + increment.max) * 1000 });
    }
    const untilMs = event.at + duration * 1000;
    this.banned.set(id, untilMs, { ttl: duration * 1000 });
    return { key, jail: jail.name, action, duration, until: Math.floor(untilMs / 1000), site: event.site };
  }

  private shouldWarn(site: string): boolean {
    const last = this.warnedSites.get(site);
    if (last !== undefined && this.now - last < WARN_INTERVAL_MS) return false;
    this.warnedSites.set(site, this.now);
    return true;
  }
}
