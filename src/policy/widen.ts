import { LRUCache } from 'lru-cache';
import { cidrsOverlap, parseCidr } from '../address/cidr';
import { prefixKey } from '../address/ip';
import type { WidenConfig } from '../config/schema';
import type { BanOrder } from './policy';

/** One larger network's recent bans of one action, and its own ban once widened. */
interface Network {
  /** banned keys inside it → when they were ordered (ms), oldest first */
  recent: Map<string, number>;
  /** the longest `until` of those keys (unix seconds) */
  longest: number;
  /** unix seconds until which the network itself is banned; 0 while it is not */
  widenedUntil: number;
}

/** Networks watched at once; the one with the oldest ban gives way. */
const MAX_NETWORKS = 100_000;

/**
 * When `after` keys inside one larger network (IPv4 /24, IPv6 /48 by default) are banned within
 * `findtime`, bans the network instead: one rule where there were many, that also holds the
 * addresses the attacker has not used yet. The network's ban carries the keys it folds (the ban
 * stage lifts them once the network's ban stands) and lasts as long as the longest of them. A
 * network that holds a never-banned address (Cloudflare's, a proxy, an allow-listed or a reserved
 * one) is never widened to. Keys of different actions are counted apart: a block never grows out
 * of challenges.
 */
export class Widener {
  private readonly networks = new LRUCache<string, Network>({ max: MAX_NETWORKS });

  constructor(
    private readonly config: WidenConfig,
    /** the ranges that must never be banned, as they are now (Cloudflare's change) */
    private readonly neverBanned: () => readonly string[],
  ) {}

  /** The orders to send for one the jails made: itself, the network's instead, or none when the network already holds it. */
  apply(order: BanOrder): BanOrder[] {
    const { ip, bits } = parseCidr(order.key);
    const family = ip.family === 4 ? this.config.ipv4 : this.config.ipv6;
    if (bits <= family.prefix) return [order];
    const networkKey = prefixKey(ip, family.prefix);
    const id = `${order.action} ${networkKey}`;
    let network = this.networks.get(id);
    if (!network) this.networks.set(id, (network = { recent: new Map(), longest: 0, widenedUntil: 0 }));
    const at = (order.until - order.duration) * 1000;
    if (network.widenedUntil > at / 1000) return this.extend(network, networkKey, order, at);
    this.forgetOld(network, at);
    network.recent.delete(order.key);
    network.recent.set(order.key, at);
    network.longest = Math.max(network.longest, order.until);
    if (network.recent.size < family.after || this.holdsNeverBanned(networkKey)) return [order];
    network.widenedUntil = network.longest;
    const folds = [...network.recent.keys()].filter((key) => key !== order.key);
    network.recent.clear();
    return [this.networkOrder(networkKey, order, network.widenedUntil, at, folds)];
  }

  /**
   * A key inside a network banned already: nothing, unless the network's ban has less than half
   * the key's ban left. Then it is extended to the key's end: while the attack goes on the network
   * stays banned, at one extension a half ban time rather than one call per new address.
   */
  private extend(network: Network, networkKey: string, order: BanOrder, at: number): BanOrder[] {
    if (order.until <= network.widenedUntil || network.widenedUntil - at / 1000 > order.duration / 2) return [];
    network.widenedUntil = order.until;
    return [this.networkOrder(networkKey, order, order.until, at, [])];
  }

  private networkOrder(key: string, trigger: BanOrder, until: number, at: number, folds: string[]): BanOrder {
    const order: BanOrder = { ...trigger, key, until, duration: Math.max(1, until - Math.floor(at / 1000)), widened: true };
    delete order.narrowed;
    if (folds.length > 0) order.folds = folds;
    return order;
  }

  private forgetOld(network: Network, at: number): void {
    const since = at - this.config.findtime * 1000;
    for (const [key, when] of network.recent) {
      if (when > since) break;
      network.recent.delete(key);
    }
    if (network.recent.size === 0) network.longest = 0;
  }

  private holdsNeverBanned(networkKey: string): boolean {
    const network = parseCidr(networkKey);
    return this.neverBanned().some((range) => cidrsOverlap(network, parseCidr(range)));
  }
}
