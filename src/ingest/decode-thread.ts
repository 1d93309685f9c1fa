import { Worker } from 'node:worker_threads';
import type { Ip } from '../address/ip';
import type { Decoded, LineRejection } from '../pipeline';
import { rejection } from '../pipeline';
import type { Decoder } from '../pipeline';
import { EVENT_KINDS, EventClass, EventKind } from '../wordpress/catalogue';
import type { WpEvent } from '../wordpress/recognise';
import { FrameBatch, forEachFrame } from './frame-batch';
import { workerScript } from './worker-script';

/** A batch for the decode thread. */
export interface DecodeRequest extends FrameBatch {
  mayRepeat: boolean;
}

/**
 * What the decode thread answers, per frame in order: `codes` 0 for an event, else a rejection
 * (REJECTIONS[code - 1]); `fingerprints` the repeat fingerprint or NaN, and `repeatAts` the time
 * it is judged at; per event `numbers` [at, kind, class, family, four 32-bit words of the address]
 * and `strings` [address, site].
 */
export interface DecodedBatch {
  codes: Uint8Array<ArrayBuffer>;
  fingerprints: Float64Array<ArrayBuffer>;
  repeatAts: Float64Array<ArrayBuffer>;
  numbers: Float64Array<ArrayBuffer>;
  strings: (string | null)[];
}

const STRIDE = 8;
const CODE_OF: Record<LineRejection, number> = {
  empty: 1,
  no_pri: 2,
  bad_pri: 3,
  bad_header: 4,
  no_tag: 5,
  not_wordpress: 6,
  no_address: 7,
  address_unknown: 8,
  address_invalid: 9,
  repeat: 10,
};
const REJECTIONS = Object.keys(CODE_OF) as LineRejection[];
const CLASSES: EventClass[] = ['hard', 'soft', 'extra', 'info'];
const KIND_INDEX = new Map<EventKind, number>(EVENT_KINDS.map((kind, index) => [kind, index]));

/** In the decode thread: a batch of frames → their decoded lines, in transferable form. */
export function decodeBatch(decoder: Decoder, request: DecodeRequest): DecodedBatch {
  const codes = new Uint8Array(request.times.length);
  const fingerprints = new Float64Array(request.times.length);
  const repeatAts = new Float64Array(request.times.length);
  const numbers: number[] = [];
  const strings: (string | null)[] = [];
  forEachFrame(request, (frame, receivedAt, index) => {
    const decoded = decoder.decode(frame.toString('utf8'), receivedAt, request.mayRepeat);
    fingerprints[index] = decoded.repeat ? decoded.repeat.fingerprint : Number.NaN;
    repeatAts[index] = decoded.repeat ? decoded.repeat.at : 0;
    if (decoded.type === 'rejected') {
      codes[index] = CODE_OF[decoded.reason];
      return;
    }
    const { event } = decoded;
    const { ip } = event;
    numbers.push(event.at, KIND_INDEX.get(event.kind)!, CLASSES.indexOf(event.class), ip.family);
    if (ip.family === 4) numbers.push(ip.v4, 0, 0, 0);
    else for (let g = 0; g < 8; g += 2) numbers.push(ip.v6[g] * 65536 + ip.v6[g + 1]);
    strings.push(event.address, event.site);
  });
  return { codes, fingerprints, repeatAts, numbers: Float64Array.from(numbers), strings };
}

/** Eight 16-bit groups from four 32-bit words. */
function groupsOf(numbers: Float64Array, from: number): number[] {
  const groups = new Array<number>(8);
  for (let w = 0; w < 4; w++) {
    groups[w * 2] = Math.floor(numbers[from + w] / 65536);
    groups[w * 2 + 1] = numbers[from + w] % 65536;
  }
  return groups;
}

/** On the main thread: the decoded lines back as objects. */
export function readDecoded(batch: DecodedBatch): Decoded[] {
  const out: Decoded[] = [];
  let event = 0;
  for (let i = 0; i < batch.codes.length; i++) {
    const code = batch.codes[i];
    const fingerprint = batch.fingerprints[i];
    const repeat = Number.isNaN(fingerprint) ? undefined : { fingerprint, at: batch.repeatAts[i] };
    if (code !== 0) {
      out.push(repeat ? { type: 'rejected', reason: REJECTIONS[code - 1], repeat } : rejection(REJECTIONS[code - 1]));
      continue;
    }
    const n = event * STRIDE;
    const { numbers } = batch;
    const ip: Ip =
      numbers[n + 3] === 4
        ? { family: 4, v4: numbers[n + 4] }
        : { family: 6, v6: groupsOf(numbers, n + 4) };
    const decoded: WpEvent = {
      kind: EVENT_KINDS[numbers[n + 1]],
      class: CLASSES[numbers[n + 2]],
      address: batch.strings[event * 2]!,
      ip,
      site: batch.strings[event * 2 + 1],
      at: numbers[n],
    };
    out.push({ type: 'event', event: decoded, repeat });
    event++;
  }
  return out;
}


interface Pending {
  request: DecodeRequest;
  done: (decoded: Decoded[]) => void;
}

/**
 * Parsing, the repeat filter and recognition in a thread of their own, so that the main thread
 * keeps only the sockets, the policy and the bans. Answers come back in the order asked. Should
 * the thread die, what it had not answered is decoded here, and so is everything after (logged by
 * the caller through `onCrash`): nothing is lost.
 */
export class DecodeThread {
  private worker: Worker | null = null;
  private readonly pending: Pending[] = [];
  private pendingFrames = 0;
  /** the thread is gone: `here` decodes everything from now on */
  private decodingHere = false;
  private stopping = false;
  private waiting: { frames: number; resolve: () => void } | null = null;

  /**
   * `here` is the main thread's decoder: the thread runs a twin of it, and `here` takes over should
   * the thread die.
   */
  constructor(
    private readonly here: Decoder,
    private readonly onCrash: (error: Error) => void,
  ) {}

  /** Resolves once at most `frames` frames wait for an answer. */
  below(frames: number): Promise<void> {
    if (this.pendingFrames <= frames) return Promise.resolve();
    return new Promise((resolve) => (this.waiting = { frames, resolve }));
  }

  /** Starts the thread; resolves once it is warm and answering. */
  start(): Promise<void> {
    const worker = new Worker(workerScript('decode-worker'), { workerData: this.here.settings });
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

  /** Frames asked about and not answered yet. */
  get backlog(): number {
    return this.pendingFrames;
  }

  submit(request: DecodeRequest, done: (decoded: Decoded[]) => void): void {
    if (this.decodingHere || !this.worker) return done(this.decodeHere(request));
    this.pending.push({ request, done });
    this.pendingFrames += request.times.length;
    // The request stays readable here (a copy crosses), so a crash can still decode it.
    this.worker.postMessage(request);
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
    this.pendingFrames -= next.request.times.length;
    next.done(readDecoded(batch));
    if (this.waiting && this.pendingFrames <= this.waiting.frames) {
      this.waiting.resolve();
      this.waiting = null;
    }
  }

  private crashed(error: Error): void {
    if (this.stopping || this.decodingHere) return;
    this.worker = null;
    this.decodingHere = true;
    this.onCrash(error);
    this.drainHere();
  }

  /** Decodes on this thread whatever the worker had not answered, in order, and all that comes after. */
  private drainHere(): void {
    for (const next of this.pending.splice(0)) {
      this.pendingFrames -= next.request.times.length;
      next.done(this.decodeHere(next.request));
    }
    this.waiting?.resolve();
    this.waiting = null;
  }

  private decodeHere(request: DecodeRequest): Decoded[] {
    const out: Decoded[] = [];
    forEachFrame(request, (frame, receivedAt) => out.push(this.here.decode(frame.toString('utf8'), receivedAt, request.mayRepeat)));
    return out;
  }
}
