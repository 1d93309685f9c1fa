import type { Config } from './config/schema';
import { BanOrder, IgnoreReason, Policy, PolicyOptions } from './policy/policy';
import { CLOUDFLARE_RANGES, Trust } from './policy/trust';
import { ParseRejection, parseSyslog } from './syslog/parse';
import { RepeatFilter } from './syslog/repeats';
import { RecogniseRejection, recognise, WpEvent } from './wordpress/recognise';

export type LineRejection = ParseRejection | RecogniseRejection | 'repeat';

export type LineOutcome =
  | { type: 'rejected'; reason: LineRejection }
  | { type: 'event'; event: WpEvent; ignored: IgnoreReason | null; orders: readonly BanOrder[]; warnMisconfigured: boolean };

/** Counts by name; the admin endpoint and `replay`'s summary read them. One lookup an add. */
export class Tally {
  private readonly cells = new Map<string, { n: number }>();

  add(name: string, by = 1): void {
    const cell = this.cells.get(name);
    if (cell) cell.n += by;
    else this.cells.set(name, { n: by });
  }

  get(name: string): number {
    return this.cells.get(name)?.n ?? 0;
  }

  /** [name, count] pairs in the order the names first came */
  entries(): [string, number][] {
    return [...this.cells].map(([name, cell]) => [name, cell.n]);
  }

  toObject(): Record<string, number> {
    return Object.fromEntries(this.entries().sort(([a], [b]) => a.localeCompare(b)));
  }
}

export interface PipelineStats {
  lines: number;
  events: number;
  bans: number;
  rejected: Tally;
  ignored: Tally;
  kinds: Tally;
  classes: Tally;
}

export function policyOptions(config: Config, cloudflareRanges: Iterable<string> = CLOUDFLARE_RANGES): PolicyOptions {
  return {
    jails: config.jails,
    trust: new Trust({ cloudflare: cloudflareRanges, proxies: config.trust.proxies, allow: config.trust.allow }),
    ipv4Prefix: config.trust.ipv4Prefix,
    ipv6Prefix: config.trust.ipv6Prefix,
    maxTracked: config.trust.maxTracked,
  };
}

export function createPolicy(config: Config, cloudflareRanges: Iterable<string> = CLOUDFLARE_RANGES): Policy {
  return new Policy(policyOptions(config, cloudflareRanges));
}

/**
 * Frame text → SyslogMessage → WpEvent → decision. `clock` picks the time the window runs on: the
 * arrival time (daemon) or the message's own timestamp (replay).
 */
export class Pipeline {
  readonly stats: PipelineStats = {
    lines: 0,
    events: 0,
    bans: 0,
    rejected: new Tally(),
    ignored: new Tally(),
    kinds: new Tally(),
    classes: new Tally(),
  };
  private readonly repeats = new RepeatFilter();
  private lastTime = 0;

  constructor(
    readonly policy: Policy,
    private readonly clock: 'arrival' | 'message',
    private readonly allowMissingPri = false,
  ) {}

  /**
   * `mayRepeat`: false for UDP, where rsyslog never sends a message twice (it resends only on a
   * stream after a reconnect), so the repeat filter is not asked.
   */
  handle(line: string, receivedAt: number, mayRepeat = true): LineOutcome {
    this.stats.lines++;
    const parsed = parseSyslog(line, { now: receivedAt, allowMissingPri: this.allowMissingPri });
    if (!parsed.ok) return this.reject(parsed.reason);
    const message = parsed.message;
    const at = this.clock === 'arrival' ? receivedAt : this.messageTime(message.timestamp);
    if (mayRepeat && this.repeats.isRepeat(line, message.subSecond, at)) return this.reject('repeat');
    const recognised = recognise(message, at);
    if (!recognised.ok) return this.reject(recognised.reason);
    const event = recognised.event;
    this.stats.events++;
    this.stats.kinds.add(event.kind);
    this.stats.classes.add(event.class);
    const decision = this.policy.decide(event);
    if (decision.ignored) this.stats.ignored.add(decision.ignored);
    this.stats.bans += decision.orders.length;
    return { type: 'event', event, ignored: decision.ignored, orders: decision.orders, warnMisconfigured: decision.warnMisconfigured };
  }

  purgeStale(now: number): void {
    this.policy.purgeStale(now);
    this.repeats.purgeStale(now);
  }

  /** Replay's clock: a line without a timestamp takes the previous line's time. */
  private messageTime(timestamp: number | null): number {
    if (timestamp !== null) this.lastTime = Math.max(this.lastTime, timestamp);
    return this.lastTime;
  }

  private reject(reason: LineRejection): LineOutcome {
    this.stats.rejected.add(reason);
    return { type: 'rejected', reason };
  }
}
