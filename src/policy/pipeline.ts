import type { Ip } from '../address/ip';
import type { Config } from '../config/schema';
import { Decoded, Decoder, rejection } from '../decode/decoder';
import { LineCounter } from '../decode/line-counter';
import type { LineRejection } from '../decode/decoder';
import type { WpEvent } from '../wordpress/recognise';
import { BanOrder, IgnoreReason, Policy, PolicyOptions } from './policy';
import { CLOUDFLARE_RANGES, Trust } from './trust';
import { ShieldOrder, ShieldWatch } from './shield-watch';
import { Widener } from './widen';

export type LineOutcome = { type: 'rejected'; reason: LineRejection } | EventOutcome;

export interface EventOutcome {
  type: 'event';
  event: WpEvent;
  ignored: IgnoreReason | null;
  orders: readonly BanOrder[];
  /** the site's shield to raise or extend, when this event made its attack cross the threshold */
  shield: ShieldOrder | null;
  warnMisconfigured: boolean;
}

/** What answers attacks that per-address counting cannot see: many addresses at once, crowded networks. */
export interface Escalation {
  shield: ShieldWatch | null;
  widen: Widener | null;
}

const NO_ESCALATION: Escalation = { shield: null, widen: null };

export function createEscalation(config: Config, policy: Policy): Escalation {
  return { shield: config.shield ? new ShieldWatch(config.shield) : null, widen: createWidener(config, policy) };
}

/** The widener alone: a reload that changes `widen` replaces it and keeps the shield's counts. */
export function createWidener(config: Config, policy: Policy): Widener | null {
  return config.widen ? new Widener(config.widen, (ip, bits) => policy.holdsNeverBanned(ip, bits)) : null;
}

export function policyOptions(config: Config, cloudflareRanges: Iterable<string> = CLOUDFLARE_RANGES): PolicyOptions {
  return {
    jails: config.jails,
    trust: new Trust({ cloudflare: cloudflareRanges, proxies: config.trust.proxies, allow: config.trust.allow }),
    ipv4Prefix: config.trust.ipv4Prefix,
    ipv6Prefix: config.trust.ipv6Prefix,
    // Cloudflare's IP lists take IPv6 prefixes up to /64, never a single IPv6 address
    singleIpv6: config.cloudflare.backend !== 'ip-list',
    maxTracked: config.trust.maxTracked,
  };
}

export function createPolicy(config: Config, cloudflareRanges: Iterable<string> = CLOUDFLARE_RANGES): Policy {
  return new Policy(policyOptions(config, cloudflareRanges));
}

/** Frame text → decoded line → decision, counting every step. */
export class Pipeline extends LineCounter {
  /** what `account` answers for an event, filled anew each time */
  private readonly outcome: EventOutcome = { type: 'event', event: null!, ignored: null, orders: [], shield: null, warnMisconfigured: false };

  /** `decoder` decodes `handle`'s lines, and is the one a decode thread runs a twin of. */
  constructor(
    readonly policy: Policy,
    readonly decoder: Decoder,
    readonly escalation: Escalation = NO_ESCALATION,
  ) {
    super();
  }

  /** As `account`, the answer for an event is good until the next call. */
  handle(line: string, receivedAt: number, mayRepeat = true): LineOutcome {
    return this.account(this.decoder.decode(line, receivedAt, mayRepeat));
  }

  /**
   * Counts a decoded line and decides on its event. The answer for an event is good until the
   * next call, which fills the same object: a caller that keeps it copies it (a million events
   * made a million answers, each garbage a moment later).
   */
  account(decoded: Decoded): LineOutcome {
    const event = this.count(decoded);
    if (typeof event === 'string') return rejection(event) as LineOutcome;
    const decision = this.policy.decide(event, this.escalation.widen);
    const { ignored } = decision;
    if (ignored) this.stats.ignored.add(ignored);
    const orders = decision.orders.length === 0 ? decision.orders : this.widen(decision.orders, event.ip);
    this.stats.bans += orders.length;
    // an address that cannot be banned still attacks the site; a trusted one does not
    const shield = (ignored === null || ignored === 'unbannable') && this.escalation.shield ? this.escalation.shield.observe(event) : null;
    const outcome = this.outcome;
    outcome.event = event;
    outcome.ignored = ignored;
    outcome.orders = orders;
    outcome.shield = shield;
    outcome.warnMisconfigured = decision.warnMisconfigured;
    return outcome;
  }

  /** The orders to send for those the jails made: a crowded network's instead of its keys. */
  widen(orders: readonly BanOrder[], ip: Ip): readonly BanOrder[] {
    const widener = this.escalation.widen;
    if (!widener) return orders;
    if (orders.length === 1) return widener.apply(orders[0], ip);
    return orders.flatMap((order) => widener.apply(order, ip));
  }

  /** `share`: the part of the window looked at by this call (Policy.purgeStale). */
  override purgeStale(now: number, share = 1): void {
    this.policy.purgeStale(now, share);
    super.purgeStale(now);
  }
}
