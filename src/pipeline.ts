import type { Config } from './config/schema';
import { BanOrder, IgnoreReason, Policy, PolicyOptions } from './policy/policy';
import { CLOUDFLARE_RANGES, Trust } from './policy/trust';
import { ParseRejection, scanned, scanSyslog } from './syslog/parse';
import { frameFingerprint, RepeatFilter } from './syslog/repeats';
import { RecogniseRejection, recogniseIn, WpEvent } from './wordpress/recognise';

/**
 * `oversize`: a replayed line longer than `listen.maxMessageBytes` (the daemon drops such frames at
 * ingest). `decode_failed`: parsing or recognition threw, a bug there; the line is dropped.
 */
export type LineRejection = ParseRejection | RecogniseRejection | 'repeat' | 'oversize' | 'decode_failed';

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

  /** By name, in code-unit order: localeCompare's first call loads a collator, ~10 ms of a short replay. */
  toObject(): Record<string, number> {
    return Object.fromEntries(this.entries().sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)));
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
 * What decoding a line gives: why it is not an event, or the event. `repeat` is set for a frame
 * that may be a repeat (a sub-second timestamp, not over UDP): the repeat filter, one for all
 * frames, looks its fingerprint up where the window is, at the line's time `at`.
 */
export type Decoded = ({ type: 'rejected'; reason: LineRejection } | { type: 'event'; event: WpEvent }) & { repeat?: RepeatKey };

export interface RepeatKey {
  fingerprint: number;
  at: number;
}

const rejections = new Map<LineRejection, Decoded>();

/** One frozen answer a reason: rejected lines allocate nothing. */
export function rejection(reason: LineRejection): Decoded {
  let answer = rejections.get(reason);
  if (!answer) rejections.set(reason, (answer = Object.freeze({ type: 'rejected', reason }) as Decoded));
  return answer;
}

/** How a decoder runs: the daemon's (arrival clock, PRI required) or replay's. */
export interface DecoderSettings {
  clock: 'arrival' | 'message';
  allowMissingPri: boolean;
}

/**
 * Frame bytes → header fields (scanSyslog) → WpEvent: the per-line work, which keeps no per-address state and so
 * may run in a thread of its own (ingest/decode-thread.ts). `clock` picks the time events carry:
 * the arrival time (daemon) or the message's own timestamp (replay).
 */
export class Decoder {
  private lastTime = 0;

  constructor(
    private readonly clock: 'arrival' | 'message',
    private readonly allowMissingPri = false,
  ) {}

  /** What a twin of this decoder (in the decode thread) is built from. */
  get settings(): DecoderSettings {
    return { clock: this.clock, allowMissingPri: this.allowMissingPri };
  }

  /**
   * `mayRepeat`: false for UDP, where rsyslog never sends a message twice (it resends only on a
   * stream after a reconnect), so no fingerprint is taken.
   */
  decode(line: string, receivedAt: number, mayRepeat = true): Decoded {
    const bytes = Buffer.from(line, 'utf8');
    return this.decodeIn(bytes, 0, bytes.length, receivedAt, mayRepeat);
  }

  /** decode on the line bytes[start, end) (UTF-8), one of the lines or frames of a batch. */
  decodeIn(bytes: Uint8Array, start: number, end: number, receivedAt: number, mayRepeat: boolean): Decoded {
    // A line that makes the parser or recogniser throw is a bug there, and must not stop the
    // daemon: a restart would empty every window, so a line that crashed it would wipe an
    // attacker's count. It is dropped and counted instead.
    try {
      return this.decodeLine(bytes, start, end, receivedAt, mayRepeat);
    } catch {
      return rejection('decode_failed');
    }
  }

  /** scanSyslog then recogniseIn, reading the fields where the scan found them in the line. */
  private decodeLine(bytes: Uint8Array, start: number, end: number, receivedAt: number, mayRepeat: boolean): Decoded {
    const rejected = scanSyslog(bytes, start, end, receivedAt, this.allowMissingPri);
    if (rejected) return rejection(rejected);
    const { tagStart, tagEnd, textStart, timestamp, subSecond } = scanned;
    const at = this.clock === 'arrival' ? receivedAt : this.messageTime(timestamp);
    const repeat = mayRepeat && subSecond ? { fingerprint: frameFingerprint(bytes, start, end), at } : undefined;
    const recognised = recogniseIn(bytes, tagStart, tagEnd, textStart, scanned.end, at);
    if (typeof recognised !== 'string') return { type: 'event', event: recognised, repeat };
    return repeat === undefined ? rejection(recognised) : { type: 'rejected', reason: recognised, repeat };
  }

  /** Replay's clock: a line without a timestamp takes the previous line's time. */
  private messageTime(timestamp: number | null): number {
    if (timestamp !== null) this.lastTime = Math.max(this.lastTime, timestamp);
    return this.lastTime;
  }
}

/**
 * Counts decoded lines, every step: lines, why a line is no event (a repeat among them), events by
 * kind and class. `replay --count` stops here; Pipeline decides on the events too.
 */
export class LineCounter {
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

  /** Counts a decoded line (decoded here or in the decode thread), dropping a repeat: its event, or why it has none. */
  count(decoded: Decoded): WpEvent | LineRejection {
    this.stats.lines++;
    if (decoded.repeat && this.repeats.seen(decoded.repeat.fingerprint, decoded.repeat.at)) return this.reject('repeat');
    if (decoded.type === 'rejected') return this.reject(decoded.reason);
    const { event } = decoded;
    this.stats.events++;
    this.stats.kinds.add(event.kind);
    this.stats.classes.add(event.class);
    return event;
  }

  purgeStale(now: number): void {
    this.repeats.purgeStale(now);
  }

  private reject(reason: LineRejection): LineRejection {
    this.stats.rejected.add(reason);
    return reason;
  }
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
