import { closeSync, fstatSync, openSync } from 'node:fs';
import { availableParallelism } from 'node:os';
import type { Writable } from 'node:stream';
import { setFlagsFromString } from 'node:v8';
import { Worker } from 'node:worker_threads';
import { describeError } from '../common/errors';
import { workerScript } from '../common/worker-script';
import { Decoder } from '../decode/decoder';
import { LineCounter, PipelineStats } from '../decode/line-counter';
import {
  countSegments,
  CountWorkerData,
  decodeReads,
  mergeSegments,
  SEGMENT_BYTES,
  SegmentCounts,
  SegmentCursor,
  SegmentSource,
  segmentsIn,
} from './count-segments';
import { openReplayInput, READ_BYTES, ReplayInput, readsInPlace } from './input';
import { ByteOutput } from './output';
import type { ReplayOptions } from './replay';
import { printSummary } from './summary';

/**
 * A file shorter than this many segments (96 MiB, about 800,000 lines) is counted on one thread. A
 * second thread starts late (a worker boots while the first thread takes a core) and slow (its
 * code is cold, and compiling it takes a core too), so it pays off only on a long file: on a
 * two-core host the two broke even at 96 MiB, lost 5 % at 80 and gained 5 to 10 % at 112.
 */
const MIN_SEGMENTS_FOR_TWO = 24;

export interface CountOptions extends Pick<ReplayOptions, 'json' | 'now' | 'progress'> {
  /** how a file is cut between the two threads (tests cut small files) */
  segmentBytes?: number;
  /** told when the second thread failed and its segments were counted again on this one */
  warn?: (message: string) => void;
  /** the second thread's script (tests give one that fails) */
  helperScript?: string;
}

/**
 * `replay --count`: what the lines are, deciding nothing, as fail2ban-regex tests a filter against
 * a log. Each line is parsed, recognised and counted. A file of some size is counted by two
 * threads, each reading the segments it takes with its own reads, so that no line crosses between
 * them; a pipe (`-`) by this one thread, in order.
 */
export async function countLines(maxLineBytes: number, source: string, output: Writable, options: CountOptions): Promise<PipelineStats> {
  const receivedAt = options.now ?? Date.now();
  // opened once: a FIFO closed and opened again could lose its writer in between
  const fd = source === '-' ? null : openSync(source, 'r');
  let stats: PipelineStats;
  try {
    const file = fd === null ? null : regularFile(fd, options.segmentBytes ?? SEGMENT_BYTES, maxLineBytes, receivedAt);
    if (file && segmentsIn(file) >= MIN_SEGMENTS_FOR_TWO && availableParallelism() > 1) {
      stats = await countOnTwoThreads(source, file, options);
    } else {
      const reads = fd === null ? openReplayInput('-') : readsInPlace(fd, Buffer.allocUnsafeSlow(READ_BYTES));
      stats = await countInOrder(reads, { maxLineBytes, receivedAt }, options.progress);
    }
  } finally {
    if (fd !== null) closeSync(fd);
  }
  await printSummary(new ByteOutput(output), stats, options.json, true);
  return stats;
}

/** The open file as segments can be read from it, or null when it is no regular file (a FIFO reads as a pipe). */
function regularFile(fd: number, segmentBytes: number, maxLineBytes: number, receivedAt: number): SegmentSource | null {
  const stat = fstatSync(fd);
  return stat.isFile() ? { fd, size: stat.size, segmentBytes, maxLineBytes, receivedAt } : null;
}

/** One thread, the lines in order: for a pipe, and for a file too small to share. */
async function countInOrder(
  reads: ReplayInput,
  limits: Pick<SegmentSource, 'maxLineBytes' | 'receivedAt'>,
  progress: CountOptions['progress'],
): Promise<PipelineStats> {
  const counter = new LineCounter();
  const shown = progress?.(() => counter.stats.lines);
  await decodeReads(
    reads,
    new Decoder('message', true),
    limits,
    (decoded) => void counter.count(decoded),
    (bytes) => shown?.advance(bytes),
  );
  shown?.done();
  return counter.stats;
}

/**
 * This thread and a helper take segments from a shared cursor until none is left; their counts
 * are then merged as if one thread had read the file in order. Should the helper fail, the
 * segments it took are counted here: the counts come out whole either way.
 */
async function countOnTwoThreads(path: string, file: SegmentSource, options: CountOptions): Promise<PipelineStats> {
  const cursor = new SegmentCursor();
  const { size, segmentBytes, maxLineBytes, receivedAt } = file;
  const script = options.helperScript ?? workerScript('replay', 'count-worker');
  const helper = startHelper(script, { path, size, segmentBytes, maxLineBytes, receivedAt, shared: cursor.shared }, options.warn);
  let linesHere = 0;
  const shown = options.progress?.(() => linesHere + cursor.linesOfHelper);
  let shownBytes = 0;
  const mine = await countSegments(
    file,
    () => cursor.take(),
    (index, lines) => {
      linesHere = lines;
      // every segment up to this one has been taken by one thread or the other
      const taken = Math.min(file.size, (index + 1) * file.segmentBytes);
      shown?.advance(Math.max(0, taken - shownBytes));
      shownBytes = Math.max(shownBytes, taken);
    },
  );
  const theirs = (await helper) ?? (await countSegments(file, segmentsLeftBy(mine, segmentsIn(file))));
  shown?.done();
  return mergeSegments([mine, theirs]);
}

/**
 * The helper thread's counts once it is done, or null should it fail (told to `warn`: a failure
 * there is a bug to report).
 *
 * The helper compiles its hot code on its own thread rather than handing it to V8's compiler
 * threads: in a run this short, its code waits for those threads, which take the cores both
 * counting threads need, and compiling that way cost about twice the CPU. V8 reads the setting when
 * a thread's isolate is made, so it holds for the helper only (this thread keeps compiling in the
 * background); this process ends when the count does. The daemon's threads are never made after it.
 */
function startHelper(script: string, workerData: CountWorkerData, warn: CountOptions['warn']): Promise<SegmentCounts | null> {
  setFlagsFromString('--no-concurrent-recompilation');
  const worker = new Worker(script, { workerData });
  return new Promise((resolve) => {
    let answered = false;
    const failed = (why: string) => {
      if (answered) return;
      answered = true;
      warn?.(`the second counting thread ${why}; the segments it had taken were counted again on the first`);
      resolve(null);
    };
    worker.once('message', (counts: SegmentCounts) => {
      answered = true;
      resolve(counts);
    });
    worker.once('error', (error) => failed(`failed (${describeError(error)})`));
    worker.once('exit', (code) => failed(`exited with ${code} before it answered`));
  });
}

/** Hands out the segments `counts` does not hold, then one past the last. */
function segmentsLeftBy(counts: SegmentCounts, segments: number): () => number {
  const done = new Set(counts.segments.map((segment) => segment.index));
  const left = Array.from({ length: segments }, (_, index) => index).filter((index) => !done.has(index));
  return () => left.shift() ?? segments;
}
