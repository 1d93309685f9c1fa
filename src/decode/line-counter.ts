import { Tally } from '../common/tally';
import { RepeatFilter } from '../syslog/repeats';
import type { WpEvent } from '../wordpress/recognise';
import type { Decoded, LineRejection } from './decoder';

export interface PipelineStats {
  lines: number;
  events: number;
  bans: number;
  rejected: Tally;
  ignored: Tally;
  kinds: Tally;
  classes: Tally;
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
