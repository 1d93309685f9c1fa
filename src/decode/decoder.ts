import { plainBytes, viewOf } from '../common/bytes';
import { DecodeError } from '../common/errors';
import { ParseRejection, SyslogScanner } from '../syslog/parse';
import { frameFingerprint } from '../syslog/repeats';
import { RecogniseRejection, recogniseIn, SiteCache, WpEvent } from '../wordpress/recognise';

/**
 * `oversize`: a replayed line longer than `listen.maxMessageBytes` (the daemon drops such frames at
 * ingest). `decode_failed`: parsing or recognition threw, a bug there; the line is dropped.
 */
export type LineRejection = ParseRejection | RecogniseRejection | 'repeat' | 'oversize' | 'decode_failed';

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

/** Every reason a line may give no event, each once; its place in this list is its code between threads. */
const REASONS: Record<LineRejection, true> = {
  empty: true,
  no_pri: true,
  bad_pri: true,
  bad_header: true,
  no_tag: true,
  not_wordpress: true,
  no_address: true,
  address_unknown: true,
  address_invalid: true,
  repeat: true,
  oversize: true,
  decode_failed: true,
};
export const LINE_REJECTIONS = Object.freeze(Object.keys(REASONS) as LineRejection[]);

/** One frozen answer a reason: rejected lines allocate nothing. */
const REJECTIONS: ReadonlyMap<LineRejection, Decoded> = new Map(
  LINE_REJECTIONS.map((reason) => [reason, Object.freeze({ type: 'rejected', reason }) as Decoded]),
);

export function rejection(reason: LineRejection): Decoded {
  return REJECTIONS.get(reason)!;
}

/** How a decoder runs: the daemon's (arrival clock, PRI required) or replay's. */
export interface DecoderSettings {
  clock: 'arrival' | 'message';
  allowMissingPri: boolean;
}

/**
 * Frame bytes → header fields (SyslogScanner) → WpEvent: the per-line work, which keeps no per-address state and so
 * may run in a thread of its own (ingest/decode-thread.ts). `clock` picks the time events carry:
 * the arrival time (daemon) or the message's own timestamp (replay).
 */
export class Decoder {
  private lastTime = 0;
  /** what the first line that made the decoder throw since the last `takeFailures` threw, and how many did */
  private failure: { error: string; count: number } | null = null;
  private readonly scanner = new SyslogScanner();
  private readonly sites = new SiteCache();

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
    const bytes = plainBytes(Buffer.from(line, 'utf8'));
    return this.decodeIn(bytes, viewOf(bytes), 0, bytes.length, receivedAt, mayRepeat);
  }

  /**
   * decode on the line bytes[start, end) (UTF-8), one of the lines or frames of a batch; `view` is
   * `bytes` as a DataView (viewOf), made once for all the lines that share the bytes.
   */
  decodeIn(bytes: Uint8Array, view: DataView, start: number, end: number, receivedAt: number, mayRepeat: boolean): Decoded {
    // A line that makes the parser or recogniser throw is a bug there, and must not stop the
    // daemon: a restart would empty every window, so a line that crashed it would wipe an
    // attacker's count. It is dropped and counted instead.
    try {
      return this.decodeLine(bytes, view, start, end, receivedAt, mayRepeat);
    } catch (error) {
      if (this.failure) this.failure.count++;
      else this.failure = { error: new DecodeError(error).report, count: 1 };
      return rejection('decode_failed');
    }
  }

  /** The failures since the last call (the first one's stack, for a bug report, and the count), or null. */
  takeFailures(): { error: string; count: number } | null {
    const failure = this.failure;
    this.failure = null;
    return failure;
  }

  /** The scanner, then recogniseIn, reading the fields where the scan found them in the line. */
  private decodeLine(bytes: Uint8Array, view: DataView, start: number, end: number, receivedAt: number, mayRepeat: boolean): Decoded {
    const scanned = this.scanner;
    const rejected = scanned.scan(bytes, start, end, receivedAt, this.allowMissingPri, view);
    if (rejected) return rejection(rejected);
    const { tagStart, tagEnd, textStart, timestamp, subSecond } = scanned;
    const at = this.clock === 'arrival' ? receivedAt : this.messageTime(timestamp);
    const repeat = mayRepeat && subSecond ? { fingerprint: frameFingerprint(bytes, start, end), at } : undefined;
    const recognised = recogniseIn(this.sites, bytes, view, tagStart, tagEnd, textStart, scanned.end, at);
    if (typeof recognised !== 'string') return { type: 'event', event: recognised, repeat };
    return repeat === undefined ? rejection(recognised) : { type: 'rejected', reason: recognised, repeat };
  }

  /** Replay's clock now: the latest message time seen (0 before any). */
  get latestTime(): number {
    return this.lastTime;
  }

  /** Replay's clock: a line without a timestamp takes the previous line's time. */
  private messageTime(timestamp: number | null): number {
    if (timestamp !== null) this.lastTime = Math.max(this.lastTime, timestamp);
    return this.lastTime;
  }
}
