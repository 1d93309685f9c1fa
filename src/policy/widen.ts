import { Ip, maskV4, prefixKey, v6Word } from '../address/ip';
import { StampedMap } from '../common/stamped-map';
import type { BanAction, WidenConfig } from '../config/schema';
import type { BanOrder } from './policy';

/** One larger network's recent bans of one action, and its own ban once widened. */
interface Network {
  /** banned keys inside it → when they were ordered (ms), oldest first */
  recent: Map<string, number>;
  /** the longest `until` of those keys (unix seconds) */
  longest: number;
  /** unix seconds until which the network itself is banned; 0 while it is not */
  widenedUntil: number;
  /** when its latest key was ordered (ms) */
  lastAt: number;
}

/** Networks watched at once; when full, the tenth whose latest ban is oldest give way. */
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
  /** per action, the networks watched: a block never grows out of challenges */
  private readonly networks = new Map<BanAction, StampedMap<number | string, Network>>();

  constructor(
    private readonly config: WidenConfig,
    /** whether a network holds an address that must never be banned, as the ranges are now (Cloudflare's change) */
    private readonly holdsNeverBanned: (ip: Ip, bits: number) => boolean,
  ) {}

  /**
   * The orders to send for one the jails made for `ip` (the event's address, inside the order's
   * key): itself, the network's instead, or none when the network already holds it.
   */
  apply(order: BanOrder, ip: Ip): BanOrder[] {
    const family = ip.family === 4 ? this.config.ipv4 : this.config.ipv6;
    if (order.bits <= family.prefix) return [order];
    const id = networkId(ip, family.prefix);
    let networks = this.networks.get(order.action);
    if (!networks) this.networks.set(order.action, (networks = new StampedMap(MAX_NETWORKS, (network) => network.lastAt)));
    let network = networks.get(id);
    if (!network) networks.set(id, (network = { recent: new Map(), longest: 0, widenedUntil: 0, lastAt: 0 }));
    if (swallows(network, order.until, order.duration)) return [];
    const at = (order.until - order.duration) * 1000;
    network.lastAt = Math.max(network.lastAt, at);
    // widened, yet not covering it: the network's ban has less than half the key's left
    if (network.widenedUntil > at / 1000) return this.extend(network, ip, family.prefix, order, at);
    this.forgetOld(network, at);
    network.recent.delete(order.key);
    network.recent.set(order.key, at);
    network.longest = Math.max(network.longest, order.until);
    if (network.recent.size < family.after) return [order];
    if (this.holdsNeverBanned(ip, family.prefix)) return [order];
    const networkKey = prefixKey(ip, family.prefix);
    network.widenedUntil = network.longest;
    const folds = [...network.recent.keys()].filter((key) => key !== order.key);
    network.recent.clear();
    return [this.networkOrder(networkKey, family.prefix, order, network.widenedUntil, at, folds)];
  }

  /**
   * Whether a ban of `ip`/`bits` (`action`, `duration` seconds until `until`) would be swallowed
   * whole by a network banned already, as `apply` would find: the policy asks before it makes an
   * order, as most of a crowded network's keys come after the network's ban. A key inside a
   * network banned already is covered unless the network's ban has less than half the key's ban
   * left: then the network is extended to the key's end, at one extension a half ban time rather
   * than one call per new address.
   */
  covers(ip: Ip, bits: number, action: BanAction, until: number, duration: number): boolean {
    const family = ip.family === 4 ? this.config.ipv4 : this.config.ipv6;
    if (bits <= family.prefix) return false;
    const network = this.networks.get(action)?.get(networkId(ip, family.prefix));
    return network !== undefined && swallows(network, until, duration);
  }

  /** A key inside a network banned already, not covered by it (see `covers`): the network's ban extended to the key's end. */
  private extend(network: Network, ip: Ip, prefix: number, order: BanOrder, at: number): BanOrder[] {
    network.widenedUntil = order.until;
    return [this.networkOrder(prefixKey(ip, prefix), prefix, order, order.until, at, [])];
  }

  private networkOrder(key: string, bits: number, trigger: BanOrder, until: number, at: number, folds: string[]): BanOrder {
    const duration = Math.max(1, until - Math.floor(at / 1000));
    const order: BanOrder = { key, bits, jail: trigger.jail, action: trigger.action, duration, until, site: trigger.site, widened: true };
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
}

/** Whether the network's ban holds a key's ban (`duration` seconds until `until`), as `covers` says; marks the network used if so. */
function swallows(network: Network, until: number, duration: number): boolean {
  const start = until - duration;
  if (network.widenedUntil <= start) return false;
  if (until > network.widenedUntil && network.widenedUntil - start <= duration / 2) return false;
  network.lastAt = Math.max(network.lastAt, start * 1000);
  return true;
}

/**
 * A network as one number where it fits (IPv4; IPv6 up to /48, above 2^48: its first 48 bits),
 * else as text. Read from the groups in place: taking them apart as an array (a masked copy, and
 * its iterator) threw the policy's compiled code away at the first IPv6 ban.
 */
function networkId(ip: Ip, prefix: number): number | string {
  if (ip.family === 4) return maskV4(ip.v4, prefix);
  if (prefix > 48) return prefixKey(ip, prefix);
  const thirdGroupBits = Math.max(0, prefix - 32);
  const thirdGroup = (ip.v6[2] >>> (16 - thirdGroupBits)) * 2 ** (16 - thirdGroupBits);
  return 2 ** 48 + maskV4(v6Word(ip.v6, 0), Math.min(32, prefix)) * 65536 + thirdGroup;
}
