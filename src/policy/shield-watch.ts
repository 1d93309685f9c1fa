import { LRUCache } from 'lru-cache';
import type { Ip } from '../address/ip';
import type { BanAction, ShieldConfig } from '../config/schema';
import type { WpEvent } from '../wordpress/recognise';

/** What the policy asks the ban stage to do for a site under attack from many addresses at once. */
export interface ShieldOrder {
  site: string;
  action: BanAction;
  /** unix seconds */
  until: number;
}

/** Per site: its most recent distinct attacking addresses, oldest first, each with when it last attacked (ms). */
interface SiteWindow {
  recent: Map<number | string, number>;
  /** unix seconds of the last order for this site; 0 when it has none */
  until: number;
}

/** Sites watched at once; the one not attacked for longest gives way. */
const MAX_SITES = 10_000;

/**
 * The address's identity for counting distinct attackers: an IPv4 address as its number, an IPv6
 * address by its /64, since one host holds a whole /64 and could otherwise count as thousands.
 */
function attacker(ip: Ip): number | string {
  if (ip.family === 4) return ip.v4;
  const [a, b, c, d] = ip.v6;
  return `${a}:${b}:${c}:${d}`;
}

/**
 * Counts, per site, the distinct addresses that attack it within `findtime`: when they reach
 * `distinct`, the site is shielded for `duration`, and the shield is extended while the attack
 * goes on. Each site keeps only its `distinct` most recent attackers (enough to know whether the
 * oldest of them is still inside the window), so memory is bounded by sites × distinct whatever
 * the botnet's size.
 *
 * Attackers are counted again once half the shield's time has passed, and the shield is extended
 * when they reach `distinct` within `findtime` again: while the attack goes on at that strength the
 * shield never lapses, at one rule write per half duration, and a site under a flood of attackers
 * costs a lookup an event.
 */
export class ShieldWatch {
  private readonly sites = new LRUCache<string, SiteWindow>({ max: MAX_SITES });
  private readonly selects: Set<string>;

  constructor(private readonly config: ShieldConfig) {
    this.selects = new Set(config.events);
  }

  /** Whether this event counts towards a shield (an attack of a selected kind or class, on a named site). */
  counts(event: WpEvent): boolean {
    return event.site !== null && (this.selects.has(event.class) || this.selects.has(event.kind));
  }

  /** Records an attacking event from a client address; returns the shield to raise or extend, if any. */
  observe(event: WpEvent): ShieldOrder | null {
    if (!this.counts(event)) return null;
    const site = event.site!;
    let window = this.sites.get(site);
    if (!window) this.sites.set(site, (window = { recent: new Map(), until: 0 }));
    const now = Math.floor(event.at / 1000);
    // shielded with more than half its time left: nothing to decide, and nothing worth the work of counting
    if (window.until - now > this.config.duration / 2) return null;
    const who = attacker(event.ip);
    const { recent } = window;
    recent.delete(who); // re-inserted last: the map's order is the order of last attack
    recent.set(who, event.at);
    if (recent.size > this.config.distinct) recent.delete(recent.keys().next().value!);
    if (recent.size < this.config.distinct) return null;
    const oldest = recent.values().next().value!;
    if (oldest <= event.at - this.config.findtime * 1000) return null;
    window.until = now + this.config.duration;
    return { site, action: this.config.action, until: window.until };
  }
}
