import { LRUCache } from 'lru-cache';
import { Ip, IPV4_KEY_HI, maskV4, parseIp, prefixKey, v6Word } from '../address/ip';
import type { BanAction, JailConfig } from '../config/schema';
import { addressWordAt, EVENT_STRIDE, familyAt } from '../decode/event-codec';
import { NEVER_COUNTED } from '../wordpress/catalogue';
import type { WpEvent } from '../wordpress/recognise';
import { BanKeys } from './ban-keys';
import { TrackStore } from './track-store';
import { Trust, TRUST_REASONS, TrustReason } from './trust';

/** What the policy asks the ban stage to do. `key` is the banned prefix in CIDR form. */
export interface BanOrder {
  key: string;
  /** the key's prefix length, kept apart so that no one reads it back from the text */
  bits: number;
  jail: string;
  action: BanAction;
  /** seconds */
  duration: number;
  /** unix seconds */
  until: number;
  site: string | null;
  /** the key is narrower than the configured prefix, which would have covered a never-banned address */
  narrowed?: boolean;
  /** the key is a larger network, banned because several keys inside it were */
  widened?: boolean;
  /** the narrower keys this network's ban replaces: lifted once it stands */
  folds?: string[];
}

/**
 * `unbannable`: no prefix the backend takes holds the address without a never-banned one (an IPv6
 * address whose /64 holds one, with IP lists, which take no single IPv6 address).
 */
export type IgnoreReason = TrustReason | 'unbannable' | 'never_counted';

export interface Decision {
  /** set when the event is never counted */
  ignored: IgnoreReason | null;
  orders: readonly BanOrder[];
  /** true once per site per hour for an event that carries a Cloudflare or proxy address */
  warnMisconfigured: boolean;
}

/**
 * A wider ban that may hold a key already (the widener's banned networks): asked before an order
 * is made, so that none is made, keyed and sent only to be swallowed.
 */
export interface Coverage {
  covers(ip: Ip, bits: number, action: BanAction, until: number, duration: number): boolean;
}

export interface PolicyOptions {
  jails: Record<string, JailConfig>;
  trust: Trust;
  ipv4Prefix: number;
  ipv6Prefix: number;
  /** whether the backend bans a single IPv6 address (IP lists take IPv6 only up to /64); default true */
  singleIpv6?: boolean;
  /** bound on tracked (jail, key) windows; the oldest is evicted first */
  maxTracked: number;
}

interface Jail {
  name: string;
  config: JailConfig;
  selects: Set<string>;
  /** where this jail's cells start in a key's track */
  offset: number;
  /** ms per step of a stored hit's distance from its window's end (see hitUnitFor) */
  hitUnit: number;
}

const NO_ORDERS: readonly BanOrder[] = Object.freeze([]);
const NEVER_COUNTED_KINDS: ReadonlySet<string> = new Set(NEVER_COUNTED);
/** The decisions that order nothing and warn of nothing, shared: most events allocate no decision. */
const COUNTED: Decision = Object.freeze({ ignored: null, orders: NO_ORDERS, warnMisconfigured: false });
const IGNORED: ReadonlyMap<IgnoreReason, Decision> = new Map(
  [...TRUST_REASONS, 'unbannable' as const, 'never_counted' as const].map((reason) => [
    reason,
    Object.freeze({ ignored: reason, orders: NO_ORDERS, warnMisconfigured: false }),
  ]),
);

function ignoredFor(reason: IgnoreReason, warn: boolean): Decision {
  return warn ? { ignored: reason, orders: NO_ORDERS, warnMisconfigured: true } : IGNORED.get(reason)!;
}

/** Zeroes cells[from, to): a loop, as the spans are a few cells and TypedArray#fill costs more than that. */
function zero(cells: Int32Array, from: number, to: number): void {
  for (let i = from; i < to; i++) cells[i] = 0;
}

/**
 * The window's cells are 32-bit, half the memory of doubles with a million keys. A jail's state
 * cell holds whole seconds since 2000 (a signed 32-bit count lasts to 2068; a ban ends at most a
 * year ahead), its hit cells how long before the window's end each hit came, plus one (0 is empty).
 */
const EPOCH_MS = Date.UTC(2000, 0, 1);
const INT32_MAX = 0x7fffffff;

/** ms as whole seconds since EPOCH_MS, rounded up so that a window never ends early, and kept in range */
function epochSeconds(ms: number): number {
  return Math.min(INT32_MAX, Math.max(1, Math.ceil((ms - EPOCH_MS) / 1000)));
}

/**
 * Hits are kept to the millisecond while twice findtime fits in 31 bits of them (findtime up to
 * about twelve days); a longer findtime keeps them to the second.
 */
function hitUnitFor(config: JailConfig): number {
  return 2 * (config.findtime + 1) * 1000 < INT32_MAX ? 1 : 1000;
}

/**
 * The window's key for an address, as the two 32-bit halves TrackStore takes: an IPv4 address
 * masked to its ban key's prefix under IPV4_KEY_HI, or the first 64 bits of an IPv6 address masked
 * to its ban key's prefix (a single IPv6 address: see SINGLE_V6_HI). The CIDR text is built only
 * for a ban.
 */
/**
 * A single IPv6 address (a key narrowed to /128) does not fit in 64 bits: its key is a 56-bit hash
 * of the address in ff00::/8, multicast space that no visitor's prefix key can take.
 */
const SINGLE_V6_HI = 0xff000000;

function groupsHash(groups: readonly number[], seed: number): number {
  let hash = seed;
  for (const group of groups) hash = Math.imul(hash ^ group, 0x01000193) ^ (hash >>> 15);
  return hash >>> 0;
}

function banKeys(options: PolicyOptions): BanKeys {
  const { ipv4Prefix, ipv6Prefix, singleIpv6 = true } = options;
  return new BanKeys({ ipv4Prefix, ipv6Prefix, singleIpv6 }, options.trust.neverBanned());
}

function v6Half(groups: readonly number[], first: number, bits: number): number {
  return maskedWord(v6Word(groups, first), bits);
}

/** The first `bits` bits of a 32-bit word (all of it from 32 on, none at 0 or below). */
function maskedWord(word: number, bits: number): number {
  return bits >= 32 ? word : bits <= 0 ? 0 : maskV4(word, bits);
}

/** A hit `before` ms before its window's end as a cell; 0 (dropped) when too far before it to count. */
function hitCell(before: number, unit: number): number {
  const steps = Math.ceil(before / unit) + 1;
  return steps <= INT32_MAX ? steps : 0;
}

const WARN_INTERVAL_MS = 3_600_000;

/** When a ban of `duration` seconds ordered at `at` (ms) ends, in unix seconds. */
function banEnd(at: number, duration: number): number {
  return Math.floor((at + duration * 1000) / 1000);
}

/**
 * From WpEvent to BanOrder, in memory only. The clock is the events' own `at`, so replay can run
 * a day of logs in a second and live traffic uses arrival time.
 */
export class Policy {
  private jails: Jail[] = [];
  /** the jails that count an event, by `kind class`; filled as events arrive */
  private routes = new Map<string, Map<string, Jail[]>>();
  private trackWidth = 0;
  /**
   * Per key, a row of 32-bit cells, sized once from the jails (memory is the limit with a
   * million keys). For each jail: a state cell, then maxretry-1 hits (0 = empty):
   *   state 0: nothing; state > 0: a window that means nothing after `state`;
   *   state < 0: banned until `-state` (both in epochSeconds);
   *   a hit: 1 + how many hitUnits before its window's end (`state`) it came.
   * Bounded by maxTracked keys; past it, a key not seen again lately gives way (see TrackStore).
   */
  private tracks: TrackStore;
  /** trackKey's answer, in fields rather than a new array per event; keyPrefix null: no key can be banned */
  private keyHi = 0;
  private keyLo = 0;
  private keyPrefix: number | null = 0;
  private keys: BanKeys;
  /** bans so far per jail and key, for the increment; forgotten increment.max after the last ban ends */
  private offences: LRUCache<string, { count: number; forgetAt: number }> | null = null;
  private readonly warnedSites: LRUCache<string, number>;
  /** prefetch's keys, the halves of each */
  private aheadHi = new Uint32Array(0);
  private aheadLo = new Uint32Array(0);
  /** the slot the next purgeStale starts at */
  private purgeFrom = 0;
  private now = 0;
  /** `now` in epochSeconds, rounded down: a state at or before it has expired */
  private nowSeconds = 0;

  constructor(private options: PolicyOptions) {
    this.setJails(options.jails);
    this.tracks = new TrackStore(this.trackWidth, options.maxTracked);
    this.warnedSites = new LRUCache({ max: 10_000 });
    this.keys = banKeys(options);
  }

  /**
   * Applies a new config (SIGHUP). Windows survive when the jails' names, order and maxretry and
   * the prefixes are unchanged; otherwise they start afresh. Returns whether they survived.
   */
  reconfigure(options: PolicyOptions): boolean {
    const layout = (o: PolicyOptions) =>
      JSON.stringify([Object.entries(o.jails).map(([name, j]) => [name, j.maxretry, hitUnitFor(j)]), o.ipv4Prefix, o.ipv6Prefix, o.maxTracked]);
    const keep = layout(options) === layout(this.options);
    this.options = options;
    this.keys = banKeys(options);
    this.setJails(options.jails);
    if (!keep) this.tracks = new TrackStore(this.trackWidth, options.maxTracked);
    return keep;
  }

  private setJails(jails: Record<string, JailConfig>): void {
    let offset = 0;
    this.jails = Object.entries(jails).map(([name, config]) => {
      const jail = { name, config, selects: new Set(config.events), offset, hitUnit: hitUnitFor(config) };
      offset += config.maxretry;
      return jail;
    });
    this.trackWidth = offset;
    this.routes = new Map();
    // lru-cache preallocates for max: only pay for it when a jail uses increment
    const wantOffences = this.jails.some((jail) => jail.config.increment);
    if (!wantOffences) this.offences = null;
    else this.offences ??= new LRUCache({ max: this.options.maxTracked });
  }

  /** Replaces Cloudflare's ranges (after GET /ips). */
  setCloudflareRanges(cidrs: Iterable<string>): void {
    this.options.trust.setCloudflareRanges(cidrs);
    this.keys = banKeys(this.options);
  }

  /** Whether the block `ip`/`bits` holds an address that must never be banned (a wider ban must not cover it). */
  holdsNeverBanned(ip: Ip, bits: number): boolean {
    return this.options.trust.holdsNeverBanned(ip, bits);
  }

  /** The jails as configured, by name. */
  get jailConfigs(): Readonly<Record<string, JailConfig>> {
    return this.options.jails;
  }

  /** Keys with live state (for metrics and the memory benchmark). */
  get tracked(): number {
    return this.tracks.size;
  }

  /**
   * Drops keys whose every jail state has expired, and forgotten offences. `share`: the part of the
   * window visited by this call, going on where the last stopped: a whole pass over a full window
   * holds the event loop longer than a ban should wait, most of all when its keys expire together.
   * Offences are looked at once a pass.
   */
  purgeStale(now: number, share = 1): void {
    this.advance(now);
    const { cells } = this.tracks;
    const whole = share >= 1;
    const slots = whole ? this.tracks.capacity : Math.ceil(this.tracks.capacity * share);
    this.purgeFrom = this.tracks.forEachFrom(whole ? 0 : this.purgeFrom, slots, (row, hi, lo) => {
      if (this.jails.every((jail) => this.expired(cells[row + jail.offset]))) this.tracks.delete(hi, lo);
    });
    if (this.purgeFrom !== 0) return;
    for (const [id, offence] of this.offences?.entries() ?? []) if (offence.forgetAt <= this.now) this.offences?.delete(id);
  }

  /** Forgets the window of this address's key, bans included (an operator's unban), so it can be ordered again. */
  forget(ip: Ip): void {
    this.trackKey(ip);
    if (this.keyPrefix !== null) this.tracks.delete(this.keyHi, this.keyLo);
  }

  /**
   * Forgets that a jail banned this key, when the ban never reached Cloudflare: the next event
   * counts afresh and may order it again. Its other jails' windows stay.
   */
  release(key: string, jailName: string): void {
    const jail = this.jails.find((each) => each.name === jailName);
    const ip = parseIp(key.split('/')[0]);
    if (!jail || !ip) return;
    this.trackKey(ip);
    if (this.keyPrefix === null) return;
    const row = this.tracks.find(this.keyHi, this.keyLo);
    if (row >= 0 && this.tracks.cells[row + jail.offset] < 0) zero(this.tracks.cells, row + jail.offset, row + jail.offset + jail.config.maxretry);
  }

  private trackKey(ip: Ip): void {
    const prefix = (this.keyPrefix = this.keys.prefixFor(ip));
    if (prefix === null) return;
    if (ip.family === 4) {
      this.keyHi = IPV4_KEY_HI;
      this.keyLo = maskV4(ip.v4, prefix);
    } else if (prefix === 128) {
      this.keyHi = (SINGLE_V6_HI | (groupsHash(ip.v6, 0x811c9dc5) & 0xffffff)) >>> 0;
      this.keyLo = groupsHash(ip.v6, 0x9747b28c);
    } else {
      this.keyHi = v6Half(ip.v6, 0, prefix);
      this.keyLo = v6Half(ip.v6, 2, prefix - 32);
    }
  }

  /**
   * Brings into the cache the windows of the events in rows [from, to) of a decoded batch (see
   * LookAhead), before they are decided one by one: fetched together, their cache misses overlap.
   * The keys are those of the configured prefixes; a key that comes out otherwise (an address
   * never banned, a single IPv6 address) is fetched in vain, and decided right all the same.
   */
  prefetch(numbers: Float64Array, from: number, to: number): void {
    const count = Math.max(0, Math.ceil((to - from) / EVENT_STRIDE));
    if (this.aheadHi.length < count) [this.aheadHi, this.aheadLo] = [new Uint32Array(count), new Uint32Array(count)];
    const { aheadHi, aheadLo } = this;
    const { ipv4Prefix, ipv6Prefix } = this.options;
    for (let k = 0, at = from; k < count; k++, at += EVENT_STRIDE) {
      const v6 = familyAt(numbers, at) === 6;
      aheadHi[k] = v6 ? maskedWord(addressWordAt(numbers, at, 0), ipv6Prefix) : IPV4_KEY_HI;
      aheadLo[k] = v6 ? maskedWord(addressWordAt(numbers, at, 1), ipv6Prefix - 32) : maskV4(addressWordAt(numbers, at, 0), ipv4Prefix);
    }
    this.tracks.prefetch(aheadHi, aheadLo, count);
  }

  /** The prefix a ban of this address covers, in CIDR form (the window's key as text); null when none may be banned. */
  keyOf(ip: Ip): string | null {
    const prefix = this.keys.prefixFor(ip);
    return prefix === null ? null : prefixKey(ip, prefix);
  }

  /** `coverage`: bans standing wider than the keys (see Coverage); a key they hold is banned without an order. */
  decide(event: WpEvent, coverage?: Coverage | null): Decision {
    this.advance(event.at);
    const { ip } = event;
    const reason = this.options.trust.reason(ip);
    if (reason) {
      return ignoredFor(reason, (reason === 'cloudflare' || reason === 'proxy') && this.shouldWarn(event.site ?? ''));
    }
    if (NEVER_COUNTED_KINDS.has(event.kind)) return IGNORED.get('never_counted')!;
    const jails = this.route(event);
    let orders = NO_ORDERS;
    if (jails.length > 0) {
      this.trackKey(ip);
      if (this.keyPrefix === null) return IGNORED.get('unbannable')!;
      const row = this.tracks.row(this.keyHi, this.keyLo);
      for (const jail of jails) {
        const order = this.hit(jail, ip, row, event, coverage);
        if (order) orders = orders === NO_ORDERS ? [order] : [...orders, order];
      }
    }
    return orders === NO_ORDERS ? COUNTED : { ignored: null, orders, warnMisconfigured: false };
  }

  /** The jails that count an event the policy did not ignore, each by name and config. */
  countingJails(event: WpEvent): readonly { name: string; config: JailConfig }[] {
    return this.route(event);
  }

  /**
   * The ban a jail orders for this event's key, as `decide` does at maxretry: for a window kept
   * elsewhere (shared by several receivers) that reached it. Null when the key cannot be banned.
   */
  orderFor(jailName: string, event: WpEvent): BanOrder | null {
    const jail = this.jails.find((each) => each.name === jailName);
    const prefix = this.keys.prefixFor(event.ip);
    if (!jail || prefix === null) return null;
    const order = this.order(jail, prefixKey(event.ip, prefix), prefix, event);
    if (this.keys.narrowed(event.ip, prefix)) order.narrowed = true;
    return order;
  }

  private route(event: WpEvent): Jail[] {
    let byClass = this.routes.get(event.kind);
    if (!byClass) this.routes.set(event.kind, (byClass = new Map()));
    let jails = byClass.get(event.class);
    if (!jails) {
      jails = this.jails.filter((jail) => jail.selects.has(event.kind) || jail.selects.has(event.class));
      byClass.set(event.class, jails);
    }
    return jails;
  }

  private advance(at: number): void {
    if (at <= this.now) return;
    this.now = at;
    this.nowSeconds = Math.floor((at - EPOCH_MS) / 1000);
  }

  private expired(state: number): boolean {
    return state === 0 || Math.abs(state) <= this.nowSeconds;
  }

  private hit(jail: Jail, ip: Ip, row: number, event: WpEvent, coverage?: Coverage | null): BanOrder | null {
    const at = event.at;
    const { maxretry, findtime } = jail.config;
    const track = this.tracks.cells;
    const base = row + jail.offset;
    if (this.expired(track[base])) zero(track, base, base + maxretry);
    if (track[base] < 0) return null; // banned
    if (maxretry > 1) {
      // The window matters until its newest hit leaves findtime: its end moves, and the hits kept
      // are stored again against the new end.
      const end = epochSeconds(Math.max(at, this.now) + findtime * 1000);
      const oldEndMs = track[base] * 1000 + EPOCH_MS;
      const endMs = end * 1000 + EPOCH_MS;
      const unit = jail.hitUnit;
      // keep the hits still inside findtime, oldest first, and count them
      const since = at - findtime * 1000;
      let kept = 0;
      for (let i = base + 1; i < base + maxretry; i++) {
        if (track[i] === 0) continue;
        const time = oldEndMs - (track[i] - 1) * unit;
        const stored = time > since ? hitCell(endMs - time, unit) : 0;
        if (stored !== 0) track[base + 1 + kept++] = stored;
      }
      zero(track, base + 1 + kept, base + maxretry);
      if (kept + 1 < maxretry) {
        track[base + 1 + kept] = hitCell(endMs - at, unit);
        track[base] = end;
        return null;
      }
    }
    const prefix = this.keyPrefix!;
    zero(track, base + 1, base + maxretry);
    const { bantime, increment, action } = jail.config;
    // an increment's term depends on the key's past offences, counted as the order is made
    const until = banEnd(at, bantime);
    if (!increment && coverage?.covers(ip, prefix, action, until, bantime)) {
      track[base] = -epochSeconds(until * 1000);
      return null;
    }
    const order = this.order(jail, prefixKey(ip, prefix), prefix, event);
    if (this.keys.narrowed(ip, prefix)) order.narrowed = true;
    track[base] = -epochSeconds(order.until * 1000);
    return order;
  }

  private order(jail: Jail, key: string, bits: number, event: WpEvent): BanOrder {
    const { bantime, increment, action } = jail.config;
    let duration = bantime;
    if (increment && this.offences) {
      const id = `${jail.name}|${key}`;
      const previous = this.offences.get(id);
      const count = previous && previous.forgetAt > this.now ? previous.count : 0;
      duration = Math.min(increment.max, Math.round(bantime * increment.factor ** count));
      this.offences.set(id, { count: count + 1, forgetAt: event.at + (duration + increment.max) * 1000 });
    }
    return { key, bits, jail: jail.name, action, duration, until: banEnd(event.at, duration), site: event.site };
  }

  private shouldWarn(site: string): boolean {
    const last = this.warnedSites.get(site);
    if (last !== undefined && this.now - last < WARN_INTERVAL_MS) return false;
    this.warnedSites.set(site, this.now);
    return true;
  }
}
