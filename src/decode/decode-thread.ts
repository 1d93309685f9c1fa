import { Worker } from 'node:worker_threads';
import { plainBytes, viewOf } from '../common/bytes';
import { workerScript } from '../common/worker-script';
import type { FrameBatch, Frames } from '../ingest/frame-batch';
import { Decoded, Decoder, DecoderSettings, rejection } from './decoder';
import { AnswerArrays, AnswerPool, answerBuffers, newArrays } from './answer-pool';
import { applySites, EVENT_STRIDE, packEvent, rejectionCode, rejectionOfCode, ReusedEvent, SiteNumbers, unpackEvent } from './event-codec';
import { LineChunk, lineBounds } from './line-chunk';

export interface DecodeWorkerData extends DecoderSettings {
  warm: boolean;
}

/**
 * Work for the decode thread: a batch of frames, or a chunk of replay's input (split into lines
 * there); on the main thread also frames where they lie (datagrams).
 */
export type DecodeRequest = (FrameBatch | LineChunk) & {
  mayRepeat: boolean;
  /** answers' arrays read since the last request, handed back to be written again (see AnswerPool) */
  spares?: AnswerArrays[];
};
export type DecodeHereRequest = (Frames | LineChunk) & { mayRepeat: boolean };

/**
 * What the decode thread answers, per frame in order: `codes` 0 for an event, else its rejection's
 * code; `fingerprints` the repeat fingerprint or NaN, and `repeatAts` the time it is judged at; per
 * event a row of `numbers` (event-codec.ts), whose sites table `newSites` and `sitesReset` update.
 */
export interface DecodedBatch extends AnswerArrays {
  newSites: string[];
  sitesReset: boolean;
  /** lines of the batch that made the decoder throw (a bug there) */
  failures: { error: string; count: number } | null;
  /** a chunk's buffer, handed back to be read into again (see DecodeThreadOptions.inputBack) */
  input?: ArrayBuffer;
}

/**
 * In the decode thread: a batch of frames → their decoded lines, in transferable form. Each answer
 * goes into the arrays as it comes: held in a list for the whole batch, thousands of them
 * outlived the young generation and made its collections copy them.
 */
export function decodeBatch(decoder: Decoder, request: DecodeRequest, sites: SiteNumbers, pool?: AnswerPool): DecodedBatch {
  const frames = framesOf(request);
  const count = frames.bounds.length / 2;
  const arrays = pool ? pool.take(count) : newArrays(count);
  decodeInto(arrays, count, decoder, frames, request.mayRepeat, sites);
  return { ...arrays, ...sites.take(), failures: decoder.takeFailures() };
}

/**
 * The loop of decodeBatch, a function of its own. V8 compiles a long loop while it runs, and the
 * once-a-batch calls around it would be compiled in, blind: a function called a few times has no
 * type feedback yet, so the compiled code left at them, batch after batch, and stayed compiled
 * to leave there again.
 */
function decodeInto(arrays: AnswerArrays, count: number, decoder: Decoder, frames: Lines, mayRepeat: boolean, sites: SiteNumbers): void {
  // Nothing is read before the loop: a function whose first call is one long loop is compiled
  // during that call, before anything ahead of the loop has run with type feedback.
  let row = 0;
  // every cell of a line is written: the arrays may be a spare's, holding an earlier answer
  for (let index = 0; index < count; index++) {
    const decoded = decodeFrame(decoder, frames, index, mayRepeat);
    arrays.fingerprints[index] = decoded.repeat ? decoded.repeat.fingerprint : Number.NaN;
    arrays.repeatAts[index] = decoded.repeat ? decoded.repeat.at : 0;
    if (decoded.type === 'rejected') {
      arrays.codes[index] = rejectionCode(decoded.reason);
      continue;
    }
    arrays.codes[index] = 0;
    packEvent(arrays.numbers, row, decoded.event, sites.numberOf(decoded.event.site));
    row += EVENT_STRIDE;
  }
}

/**
 * Told of the events in rows [from, to) of `numbers` (event-codec.ts) before they are read: a
 * reader that looks up state per address fetches it for many at once (Policy.prefetch).
 */
export type LookAhead = (numbers: Float64Array, from: number, to: number) => void;

/** Events a look-ahead is told of at once: their state stays in the cache until they are read. */
const LOOK_AHEAD_EVENTS = 256;

/**
 * On the main thread: the decoded lines back as objects, one by one; `sites` is this side's sites
 * table. `lookAhead` hears of the next events' rows before they are read. With `reused`, every
 * event comes in its objects (see DecodeThreadOptions.reuseEvents).
 */
export function readDecoded(batch: DecodedBatch, sites: string[], each: (decoded: Decoded) => void, lookAhead?: LookAhead, reused?: ReusedEvent | null): void {
  applySites(sites, batch);
  let row = 0;
  let toldUpTo = 0;
  const rows = lookAhead ? eventsIn(batch.codes) * EVENT_STRIDE : 0;
  for (let i = 0; i < batch.codes.length; i++) {
    const code = batch.codes[i];
    const fingerprint = batch.fingerprints[i];
    const repeat = Number.isNaN(fingerprint) ? undefined : { fingerprint, at: batch.repeatAts[i] };
    if (code !== 0) {
      const reason = rejectionOfCode(code);
      each(repeat ? { type: 'rejected', reason, repeat } : rejection(reason));
      continue;
    }
    if (lookAhead && row >= toldUpTo) {
      toldUpTo = Math.min(rows, row + LOOK_AHEAD_EVENTS * EVENT_STRIDE);
      lookAhead(batch.numbers, row, toldUpTo);
    }
    each(reused ? reused.unpack(batch.numbers, row, sites, repeat) : { type: 'event', event: unpackEvent(batch.numbers, row, sites), repeat });
    row += EVENT_STRIDE;
  }
}

/** A request's frames: their bytes, each one's [start, end) (start -1: a line too long), and when they came. */
interface Lines {
  bytes: Uint8Array;
  /** the bytes as a DataView, made once a request (Decoder.decodeIn) */
  view: DataView;
  bounds: ArrayLike<number>;
  /** one time for all (a chunk of replay's input), or one a frame */
  times: ArrayLike<number> | number;
}

/** The events among a batch's lines (the rows of `numbers` in use: it is made for every line). */
function eventsIn(codes: Uint8Array): number {
  let events = 0;
  for (let i = 0; i < codes.length; i++) if (codes[i] === 0) events++;
  return events;
}

function framesOf(request: DecodeHereRequest): Lines {
  if (!('chunk' in request)) return { bytes: request.bytes, view: viewOf(request.bytes), bounds: request.bounds, times: request.times };
  const bytes = plainBytes(request.chunk);
  return { bytes, view: viewOf(bytes), bounds: lineBounds(request), times: request.receivedAt };
}

function decodeFrame(decoder: Decoder, { bytes, view, bounds, times }: Lines, index: number, mayRepeat: boolean): Decoded {
  const start = bounds[index * 2];
  if (start < 0) return rejection('oversize');
  return decoder.decodeIn(bytes, view, start, bounds[index * 2 + 1], typeof times === 'number' ? times : times[index], mayRepeat);
}

/**
 * Decodes a request's frames or lines on the calling thread, in order: on the main thread for the
 * daemon's small reads and UDP batches, for `replay --count`, and for the decode thread's work
 * should that thread die.
 */
export function decodeHere(decoder: Decoder, request: DecodeHereRequest, each: (decoded: Decoded) => void): void {
  const frames = framesOf(request);
  decodeEach(decoder, frames, frames.bounds.length / 2, request.mayRepeat, each);
}

/** The loop of decodeHere, a function of its own, as decodeInto is of decodeBatch. */
function decodeEach(decoder: Decoder, frames: Lines, count: number, mayRepeat: boolean, each: (decoded: Decoded) => void): void {
  for (let index = 0; index < count; index++) each(decodeFrame(decoder, frames, index, mayRepeat));
}

interface Pending {
  request: DecodeRequest;
  each: (decoded: Decoded) => void;
  done?: () => void;
  /** what it adds to the backlog: its bytes, and its frames (a chunk's lines are counted there) */
  bytes: number;
  frames: number;
}

function sizeOf(request: DecodeRequest): { bytes: number; frames: number } {
  return 'chunk' in request ? { bytes: request.chunk.byteLength, frames: 0 } : { bytes: request.bytes.byteLength, frames: request.times.length };
}

/** How a DecodeThread serves its caller. */
export interface DecodeThreadOptions {
  /**
   * The thread decodes sample lines before it says it is ready, so that the first real ones are
   * not slow (the daemon's ban latency); replay needs no such thing. Default true.
   */
  warm?: boolean;
  /** lines the thread could not decode (a bug there): what the first threw, and how many */
  onFailures?: (failures: { error: string; count: number }) => void;
  /** hears of the events of each answer before they are read (see LookAhead) */
  lookAhead?: LookAhead;
  /**
   * Each line the thread decoded is handed over in the same objects, filled anew: for a caller
   * that keeps nothing of a line once it has returned (replay, which decides each at once).
   * Lines decoded here, should the thread die, come in objects of their own all the same.
   */
  reuseEvents?: boolean;
  /** told of each chunk's buffer once the thread has decoded it, to read into again (replay's input) */
  inputBack?: (buffer: ArrayBuffer) => void;
}

/**
 * Parsing, the repeat filter and recognition in a thread of their own, so that the main thread
 * keeps only the sockets, the policy and the bans. Answers come back in the order asked. Should
 * the thread die, what it had not answered is decoded here, and so is everything after (logged by
 * the caller through `onCrash`): no frame is lost. Replay's chunks are handed over, not copied:
 * those the thread held are gone with it, and replay stops with an error.
 */
export class DecodeThread {
  private worker: Worker | null = null;
  private readonly reused: ReusedEvent | null;
  private readonly pending: Pending[] = [];
  /** answers read since the last request, whose arrays go back with the next (see AnswerPool) */
  private readonly spareAnswers: AnswerArrays[] = [];
  /** the sites table, this thread's half (see DecodedBatch) */
  private readonly sites: string[] = [];
  /** frames of the batches not answered yet (line chunks count only in bytes: their lines are counted there) */
  private pendingFrames = 0;
  private pendingBytes = 0;
  /** the thread is gone: `here` decodes everything from now on */
  private decodingHere = false;
  private stopping = false;
  private waiting: { bytes: number; resolve: () => void } | null = null;

  /**
   * `here` is the main thread's decoder: the thread runs a twin of it, and `here` takes over should
   * the thread die.
   */
  constructor(
    private readonly here: Decoder,
    private readonly onCrash: (error: Error) => void,
    private readonly options: DecodeThreadOptions = {},
  ) {
    this.reused = options.reuseEvents ? new ReusedEvent() : null;
  }

  /** Resolves once at most `bytes` bytes of requests wait for an answer; `below(0)`: once all are answered. */
  below(bytes: number): Promise<void> {
    if (this.settledBelow(bytes)) return Promise.resolve();
    return new Promise((resolve) => (this.waiting = { bytes, resolve }));
  }

  private settledBelow(bytes: number): boolean {
    return bytes === 0 ? this.pending.length === 0 : this.pendingBytes <= bytes;
  }

  /** Starts the thread; resolves once it is warm and answering. */
  start(): Promise<void> {
    const workerData: DecodeWorkerData = { ...this.here.settings, warm: this.options.warm ?? true };
    const worker = new Worker(workerScript('decode', 'decode-worker'), { workerData });
    worker.unref(); // the sockets keep the daemon alive, not this thread
    this.worker = worker;
    return new Promise((ready) => {
      worker.on('message', (message: DecodedBatch | 'ready') => (message === 'ready' ? ready() : this.answer(message)));
      worker.on('error', (error) => {
        this.crashed(error);
        ready(); // decoding goes on here
      });
      worker.on('exit', (code) => {
        this.crashed(new Error(`decode thread exited with ${code}`));
        ready();
      });
    });
  }

  /** Whether what is submitted now goes to the thread (not before it starts, nor after it died). */
  get running(): boolean {
    return this.worker !== null && !this.decodingHere;
  }

  /** Frames asked about and not answered yet. */
  get backlog(): number {
    return this.pendingFrames;
  }

  /** `each` is called with every decoded line of the batch, in order, and `done` after the last. */
  submit(request: DecodeRequest, each: (decoded: Decoded) => void, done?: () => void): void {
    const next: Pending = { request, each, done, ...sizeOf(request) };
    if (this.decodingHere || !this.worker) return this.decodePendingHere(next);
    this.pending.push(next);
    this.count(next, 1);
    const spares = this.spareAnswers.splice(0);
    const message: DecodeRequest = spares.length === 0 ? request : { ...request, spares };
    // Frames stay readable here (a copy crosses), so a crash can still decode them. A chunk of
    // replay's input is handed over, as a clone writes fresh memory twice over for every read:
    // wholeLines gives each chunk its own buffer, read by no one after.
    if ('chunk' in request) this.worker.postMessage(message, [request.chunk.buffer, ...answerBuffers(spares)]);
    else this.worker.postMessage(message, answerBuffers(spares));
  }

  async stop(): Promise<void> {
    this.stopping = true;
    const worker = this.worker;
    this.worker = null;
    if (worker) await worker.terminate();
    this.drainHere();
  }

  private answer(batch: DecodedBatch): void {
    const next = this.pending.shift();
    if (!next) return;
    this.count(next, -1);
    readDecoded(batch, this.sites, next.each, this.options.lookAhead, this.reused);
    // read: nothing of it is kept (events are copied out of the rows), so its arrays go back, alone
    const { codes, fingerprints, repeatAts, numbers } = batch;
    this.spareAnswers.push({ codes, fingerprints, repeatAts, numbers });
    if (batch.input) this.options.inputBack?.(batch.input);
    if (batch.failures) this.options.onFailures?.(batch.failures);
    next.done?.();
    if (this.waiting && this.settledBelow(this.waiting.bytes)) {
      this.waiting.resolve();
      this.waiting = null;
    }
  }

  private count({ bytes, frames }: Pending, sign: 1 | -1): void {
    this.pendingBytes += sign * bytes;
    this.pendingFrames += sign * frames;
  }

  private crashed(error: Error): void {
    if (this.stopping || this.decodingHere) return;
    this.worker = null;
    this.decodingHere = true;
    this.onCrash(error);
    this.drainHere();
  }

  /**
   * Decodes on this thread whatever the worker had not answered, in order, and all that comes after;
   * a chunk it was handed is gone with it (onCrash has said so).
   */
  private drainHere(): void {
    for (const next of this.pending.splice(0)) {
      this.count(next, -1);
      if ('chunk' in next.request) next.done?.();
      else this.decodePendingHere(next);
    }
    this.waiting?.resolve();
    this.waiting = null;
  }

  private decodePendingHere({ request, each, done }: Pending): void {
    decodeHere(this.here, request, each);
    const failures = this.here.takeFailures();
    if (failures) this.options.onFailures?.(failures);
    done?.();
  }
}
