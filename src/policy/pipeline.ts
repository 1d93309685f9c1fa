import type { Config } from '../config/schema';
import { Decoded, Decoder, rejection } from '../decode/decoder';
import { LineCounter } from '../decode/line-counter';
import type { LineRejection } from '../decode/decoder';
import type { WpEvent } from '../wordpress/recognise';
import { BanOrder, IgnoreReason, Policy, PolicyOptions } from './policy';
import { CLOUDFLARE_RANGES, Trust } from './trust';

export type LineOutcome =
  | { type: 'rejected'; reason: LineRejection }
  | { type: 'event'; event: WpEvent; ignored: IgnoreReason | null; orders: readonly BanOrder[]; warnMisconfigured: boolean };

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
  /** `decoder` decodes `handle`'s lines, and is the one a decode thread runs a twin of. */
  constructor(
    readonly policy: Policy,
    readonly decoder: Decoder,
  ) {
    super();
  }

  handle(line: string, receivedAt: number, mayRepeat = true): LineOutcome {
    return this.account(this.decoder.decode(line, receivedAt, mayRepeat));
  }

  /** Counts a decoded line and decides on its event. */
  account(decoded: Decoded): LineOutcome {
    const event = this.count(decoded);
    if (typeof event === 'string') return rejection(event) as LineOutcome;
    const decision = this.policy.decide(event);
    if (decision.ignored) this.stats.ignored.add(decision.ignored);
    this.stats.bans += decision.orders.length;
    return { type: 'event', event, ignored: decision.ignored, orders: decision.orders, warnMisconfigured: decision.warnMisconfigured };
  }

  override purgeStale(now: number): void {
    this.policy.purgeStale(now);
    super.purgeStale(now);
  }
}
