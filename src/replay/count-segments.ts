import { decodeHere } from '../decode/decode-thread';
import { Decoded, Decoder, rejection } from '../decode/decoder';
import { LineCounter, PipelineStats } from '../decode/line-counter';
import { READ_BYTES, ReplayInput, readsInPlace, wholeLines } from './input';

/**
 * `replay --count` on two threads: the file is cut into segments of this size, and each thread
 * takes the next one not yet taken until none is left. Small enough that neither thread waits long
 * for the other at the end, large enough that taking one costs nothing.
 */
export const SEGMENT_BYTES = 4 << 20;

/**
 * What both threads share, in one SharedArrayBuffer: the next segment to take (an Int32, taken
 * with Atomics), and the lines the helper thread has counted so far (a Float64 it alone writes,
 * read for the progress line only).
 */
export class SegmentCursor {
  private readonly next: Int32Array;
  private readonly helperLines: Float64Array;

  constructor(readonly shared = new SharedArrayBuffer(16)) {
    this.next = new Int32Array(shared, 0, 1);
    this.helperLines = new Float64Array(shared, 8, 1);
  }

  take(): number {
    return Atomics.add(this.next, 0, 1);
  }

  get linesOfHelper(): number {
    return this.helperLines[0];
  }

  set linesOfHelper(lines: number) {
    this.helperLines[0] = lines;
  }
}

/** Where a thread reads its segments: the open file and its size, how it is cut, and what decoding needs. */
export interface SegmentSource {
  fd: number;
  size: number;
  segmentBytes: number;
  maxLineBytes: number;
  receivedAt: number;
}

/** What the second thread is started with: the file by name (it opens it itself) and the cursor's memory. */
export interface CountWorkerData extends Omit<SegmentSource, 'fd'> {
  path: string;
  shared: SharedArrayBuffer;
}

/**
 * A line whose outcome depends on the lines before it, possibly in another thread's segment: a
 * possible repeat (a sub-second timestamp), judged against every earlier frame once the segments
 * are put back in order. `at` is its time as this thread's decoder had it; the time in order is
 * the later of that and the latest time of the segments before (see `mergeSegments`).
 */
export interface DeferredLines {
  fingerprints: number[];
  ats: number[];
  /** each line's outcome, an index into `outcomes` */
  outcomeOf: number[];
}

/** One counted segment: its place in the file, its deferred lines' range, and its decoder's time at its end. */
export interface CountedSegment {
  index: number;
  deferredFrom: number;
  deferredTo: number;
  clock: number;
}

/** What a thread counted: lines no earlier line can change, counted; the others deferred, by segment. */
export interface SegmentCounts {
  stats: PlainStats;
  segments: CountedSegment[];
  deferred: DeferredLines;
  /** distinct outcomes of deferred lines (a rejection, or an event's kind and class) */
  outcomes: Decoded[];
}

/** PipelineStats as it crosses between threads: the tallies as [name, count] pairs. */
export interface PlainStats {
  lines: number;
  events: number;
  rejected: [string, number][];
  kinds: [string, number][];
  classes: [string, number][];
}

/** How many segments a file of `size` bytes is cut into. */
export function segmentsIn(source: Pick<SegmentSource, 'size' | 'segmentBytes'>): number {
  return Math.ceil(source.size / source.segmentBytes);
}

/**
 * Counts the segments `take` hands out until it hands out one past the last. `counted` is told of
 * each segment done: its number, and the lines this thread has counted so far.
 */
export async function countSegments(source: SegmentSource, take: () => number, counted?: (index: number, linesSoFar: number) => void): Promise<SegmentCounts> {
  const counter = new SegmentCounter();
  const decoder = new Decoder('message', true);
  const buffer = Buffer.allocUnsafeSlow(READ_BYTES);
  for (let index = take(); index < segmentsIn(source); index = take()) {
    const from = lineStartFrom(source.fd, index * source.segmentBytes, source.size, buffer);
    const to = lineStartFrom(source.fd, (index + 1) * source.segmentBytes, source.size, buffer);
    await counter.countSegment(index, decoder, readsInPlace(source.fd, buffer, { from, to }), source);
    counted?.(index, counter.linesSoFar);
  }
  return counter.result();
}

/** The bytes read at a time to find where a segment's first line starts. */
const LINE_END_PROBE_BYTES = 4096;

/**
 * Where the first line starting at or after `position` starts: a segment holds the lines that start
 * in it, so a line cut by a segment's end is read whole by the segment it started in. `size` when
 * no line starts there (the last line runs to the end).
 */
export function lineStartFrom(fd: number, position: number, size: number, buffer: Buffer): number {
  if (position <= 0) return 0;
  if (position >= size) return size;
  // the byte before `position` ends a line, or the line it is in ends at the next LF; read a few
  // KiB at a time, where a line nearly always ends, not the mebibyte the buffer holds
  let at = position - 1;
  for (const read of readsInPlace(fd, buffer.subarray(0, LINE_END_PROBE_BYTES), { from: at, to: size })) {
    const lf = read.indexOf(10);
    if (lf >= 0) return at + lf + 1;
    at += read.length;
  }
  return size;
}

/**
 * Decodes every whole line of `reads`, each read decoded before the next is asked for (they may be
 * read in place), a line over `maxLineBytes` as `oversize`. `advance` is told the bytes of each chunk.
 */
export async function decodeReads(
  reads: ReplayInput,
  decoder: Decoder,
  { maxLineBytes, receivedAt }: Pick<SegmentSource, 'maxLineBytes' | 'receivedAt'>,
  each: (decoded: Decoded) => void,
  advance?: (bytes: number) => void,
): Promise<void> {
  for await (const chunk of wholeLines(reads, maxLineBytes, () => each(rejection('oversize')), true)) {
    advance?.(chunk.byteLength);
    decodeHere(decoder, { chunk, receivedAt, maxLineBytes, mayRepeat: true }, each);
  }
}

/** One thread's counts: what is final counted at once, possible repeats kept to be judged in order. */
class SegmentCounter {
  private readonly counter = new LineCounter();
  private readonly segments: CountedSegment[] = [];
  private readonly deferred: DeferredLines = { fingerprints: [], ats: [], outcomeOf: [] };
  private readonly outcomes: Decoded[] = [];
  private readonly outcomeIndex = new Map<string, number>();
  /** one callback for every segment: a new closure a segment deoptimised the decoding loop that calls it */
  private readonly countOne = (decoded: Decoded): void => this.count(decoded);

  get linesSoFar(): number {
    return this.counter.stats.lines + this.deferred.fingerprints.length;
  }

  async countSegment(index: number, decoder: Decoder, reads: Iterable<Buffer>, source: SegmentSource): Promise<void> {
    const deferredFrom = this.deferred.fingerprints.length;
    await decodeReads(reads, decoder, source, this.countOne);
    this.segments.push({ index, deferredFrom, deferredTo: this.deferred.fingerprints.length, clock: decoder.latestTime });
  }

  result(): SegmentCounts {
    const { stats } = this.counter;
    return {
      stats: { lines: stats.lines, events: stats.events, rejected: stats.rejected.entries(), kinds: stats.kinds.entries(), classes: stats.classes.entries() },
      segments: this.segments,
      deferred: this.deferred,
      outcomes: this.outcomes,
    };
  }

  private count(decoded: Decoded): void {
    if (!decoded.repeat) return void this.counter.count(decoded);
    this.deferred.fingerprints.push(decoded.repeat.fingerprint);
    this.deferred.ats.push(decoded.repeat.at);
    this.deferred.outcomeOf.push(this.outcomeOf(decoded));
  }

  private outcomeOf(decoded: Decoded): number {
    const key = decoded.type === 'event' ? `event ${decoded.event.kind} ${decoded.event.class}` : decoded.reason;
    let index = this.outcomeIndex.get(key);
    if (index === undefined) {
      index = this.outcomes.length;
      this.outcomes.push(decoded.type === 'event' ? { type: 'event', event: { ...decoded.event } } : rejection(decoded.reason));
      this.outcomeIndex.set(key, index);
    }
    return index;
  }
}

/**
 * Both threads' counts as one, as if one thread had read the file in order: the counted lines
 * added up, then the deferred ones judged by one repeat filter, segment by segment in the file's
 * order, each at the later of its own time and the latest time of every segment before its own
 * (the decoder's clock never goes back, and a thread's decoder only saw earlier segments).
 */
export function mergeSegments(parts: SegmentCounts[]): PipelineStats {
  const total = new LineCounter();
  for (const { stats } of parts) addStats(total.stats, stats);
  const inOrder = parts.flatMap((part) => part.segments.map((segment) => ({ segment, part }))).sort((a, b) => a.segment.index - b.segment.index);
  let clock = 0;
  for (const { segment, part } of inOrder) {
    const { fingerprints, ats, outcomeOf } = part.deferred;
    for (let i = segment.deferredFrom; i < segment.deferredTo; i++) {
      total.count({ ...part.outcomes[outcomeOf[i]], repeat: { fingerprint: fingerprints[i], at: Math.max(clock, ats[i]) } });
    }
    clock = Math.max(clock, segment.clock);
  }
  return total.stats;
}

function addStats(into: PipelineStats, from: PlainStats): void {
  into.lines += from.lines;
  into.events += from.events;
  for (const [name, count] of from.rejected) into.rejected.add(name, count);
  for (const [name, count] of from.kinds) into.kinds.add(name, count);
  for (const [name, count] of from.classes) into.classes.add(name, count);
}
