import { Tally } from '../common/tally';
import type { FrameBatch, Frames } from '../ingest/frame-batch';
import { DecodeHereRequest, DecodeThread, decodeHere, LookAhead } from './decode-thread';
import type { Decoded, Decoder } from './decoder';

/** Frames waiting in the decode thread: streams pause above HIGH and resume below LOW. */
const BACKLOG_HIGH = 50_000;
const BACKLOG_LOW = 10_000;
/** A read of at most this many frames is decoded on the main thread when the decode thread is idle. */
const DECODE_HERE_MAX_FRAMES = 64;

export interface RouterHooks {
  /** every decoded line, in the order its frames came */
  decoded(decoded: Decoded): void;
  /** too much waits in the decode thread: stop reading the streams (rsyslog waits) */
  pause(): void;
  resume(): void;
  /** the decode thread died: its work and all that follows is decoded on the main thread */
  crashed(error: Error): void;
  /** lines made the decoder throw (a bug there): they were dropped and counted as decode_failed */
  failed(failures: { error: string; count: number }): void;
  /** the decode thread's next events, before `decoded` hears of them one by one */
  lookAhead?: LookAhead;
}

/**
 * Where each read of frames is decoded. A read of many frames (a flood) goes to the decode thread,
 * whose answers come back in order; past BACKLOG_HIGH frames waiting there, streams pause until
 * the backlog is under BACKLOG_LOW. A few frames, with nothing waiting there, are decoded here: a
 * thread hop would cost more than it saves, and a ban's latency is what matters then. UDP batches,
 * which come from a thread of their own already, are always decoded here: a third busy thread on
 * two cores lost datagrams.
 */
export class DecodeRouter {
  /** frames decoded on the main thread ('main') or in the decode thread ('thread') */
  readonly decodedIn = new Tally();
  private readonly thread: DecodeThread;

  constructor(
    private readonly decoder: Decoder,
    private readonly hooks: RouterHooks,
  ) {
    this.thread = new DecodeThread(decoder, hooks.crashed, { onFailures: hooks.failed, lookAhead: hooks.lookAhead });
  }

  start(): Promise<void> {
    return this.thread.start();
  }

  /** Stops the thread; what it had not answered is decoded here, and counted. */
  stop(): Promise<void> {
    return this.thread.stop();
  }

  /** Frames of a stream. */
  route(batch: FrameBatch): void {
    const request = { bytes: batch.bytes, bounds: batch.bounds, times: batch.times, mayRepeat: true };
    const frames = batch.times.length;
    if (this.thread.backlog === 0 && frames <= DECODE_HERE_MAX_FRAMES) return this.decodeHere(request, frames);
    this.decodedIn.add(this.thread.running ? 'thread' : 'main', frames);
    this.thread.submit(request, this.hooks.decoded, () => {
      if (this.thread.backlog < BACKLOG_LOW) this.hooks.resume();
    });
    if (this.thread.backlog > BACKLOG_HIGH) this.hooks.pause();
  }

  /** Datagrams, valid only during this call: decoded here. rsyslog never repeats one, so no repeat check. */
  decodeNow(frames: Frames): void {
    // the same shape as a stream's request: one shape keeps decodeHere's compiled code
    this.decodeHere({ bytes: frames.bytes, bounds: frames.bounds, times: frames.times, mayRepeat: false }, frames.times.length);
  }

  private decodeHere(request: DecodeHereRequest, frames: number): void {
    decodeHere(this.decoder, request, this.hooks.decoded);
    this.decodedIn.add('main', frames);
    const failures = this.decoder.takeFailures();
    if (failures) this.hooks.failed(failures);
  }
}
