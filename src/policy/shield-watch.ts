import { Ip, IPV4_KEY_HI, v6Word } from '../address/ip';
import { StampedMap } from '../common/stamped-map';
import type { BanAction, ShieldConfig } from '../config/schema';
import type { WpEvent } from '../wordpress/recognise';
import { RecentAttackers } from './recent-attackers';

/** What the policy asks the ban stage to do for a site under attack from many addresses at once. */
export interface ShieldOrder {
  site: string;
  action: BanAction;
  /** unix seconds */
  until: number;
}

/** Per site: its most recent distinct attacking addresses. */
interface SiteWindow {
  recent: RecentAttackers;
  /** unix seconds of the last order for this site; 0 when it has none */
  until: number;
  /** ms of the site's last attack */
  lastAttack: number;
}

/** Sites watched at once; when full, the tenth not attacked for longest give way. */
const MAX_SITES = 10_000;

/**
 * The address's identity for counting distinct attackers, as a 64-bit key: an IPv4 address under
 * IPV4_KEY_HI, an IPv6 address by its /64, since one host holds a whole /64 and could otherwise
 * count as thousands.
 */
function record(recent: RecentAttackers, ip: Ip, at: number): void {
  if (ip.family === 4) recent.record(IPV4_KEY_HI, ip.v4, at);
  else recent.record(v6Word(ip.v6, 0), v6Word(ip.v6, 2), at);
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
  private readonly sites = new StampedMap<string, SiteWindow>(MAX_SITES, (window) => window.lastAttack);
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
    if (!window) this.sites.set(site, (window = { recent: new RecentAttackers(this.config.distinct), until: 0, lastAttack: 0 }));
    window.lastAttack = Math.max(window.lastAttack, event.at);
    const now = Math.floor(event.at / 1000);
    // shielded with more than half its time left: nothing to decide, and nothing worth the work of counting
    if (window.until - now > this.config.duration / 2) return null;
    const { recent } = window;
    record(recent, event.ip, event.at);
    if (recent.size < this.config.distinct) return null;
    if (recent.oldestAt <= event.at - this.config.findtime * 1000) return null;
    window.until = now + this.config.duration;
    return { site, action: this.config.action, until: window.until };
  }
}
