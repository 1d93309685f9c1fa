import { createReadStream } from 'node:fs';
import { open } from 'node:fs/promises';
import type { Writable } from 'node:stream';
import type { Config } from '../config/schema';
import { DecodeThread, decodeHere } from '../decode/decode-thread';
import { Decoded, Decoder, rejection } from '../decode/decoder';
import { LineCounter, PipelineStats } from '../decode/line-counter';
import { createEscalation, createPolicy, Pipeline } from '../policy/pipeline';
import { Progress } from './progress';
import { BanJsonWriter, banText, ByteOutput, eventJson, eventText, shieldJson, shieldText } from './output';

export interface ReplayOptions {
  json: boolean;
  events: boolean;
  /** reference time for BSD timestamps without a year */
  now?: number;
  /** a progress line for a person (stderr on a terminal), given how to count the lines so far */
  progress?: (lines: () => number) => Progress;
}

/** A read of replay's input: a mebibyte (with a stream's default 64 KiB, reading 120 MB took 180 ms of stream overhead against 65 ms). */
const READ_BYTES = 1 << 20;

/**
 * Replay's input: a file, or standard input for `-`. `inPlace`: every read of a file goes into one
 * buffer, each overwriting the last, for a reader done with a read before it asks for the next. A
 * stream's reads each take fresh memory, and the first touch of fresh memory cost more than finding
 * the lines in it.
 */
export function openReplayInput(source: string, inPlace = false): AsyncIterable<Buffer> {
  if (source === '-') return process.stdin;
  return inPlace ? readInPlace(source) : createReadStream(source, { highWaterMark: READ_BYTES });
}

async function* readInPlace(path: string): AsyncGenerator<Buffer> {
  const handle = await open(path, 'r');
  try {
    const buffer = Buffer.allocUnsafeSlow(READ_BYTES);
    for (;;) {
      const { bytesRead } = await handle.read(buffer, 0, READ_BYTES, null);
      if (bytesRead === 0) return;
      yield buffer.subarray(0, bytesRead);
    }
  } finally {
    await handle.close();
  }
}

/**
 * The input in chunks of whole lines, as read. A line split by reads is carried over, its pieces
 * joined once its end comes (a line of many reads costs one copy, not one a read). A line that
 * grows past `maxLineBytes` is dropped as it comes, up to its end, and reported to `oversize`:
 * memory stays bounded whatever the input. Each chunk is the only view of its buffer (a read
 * that shares one is copied, a carried tail is copied out), so it may be handed to another thread;
 * with `inPlace` (reads that overwrite one buffer) a chunk is good only until the next is asked for.
 */
export async function* wholeLines(
  input: AsyncIterable<Buffer>,
  maxLineBytes: number,
  oversize: () => void,
  inPlace = false,
): AsyncGenerator<Uint8Array<ArrayBuffer>> {
  let carry: Buffer[] = [];
  let carried = 0;
  let skipping = false;
  for await (const read of input) {
    // read in place, a chunk is the caller's only until its next read; it is never kept here
    const chunk = inPlace ? read : ownBuffer(read);
    const cut = chunk.lastIndexOf(10) + 1;
    let head = 0;
    if (skipping && cut > 0) {
      head = chunk.indexOf(10) + 1;
      skipping = false;
      oversize();
    }
    if (cut === 0) {
      if (!skipping) {
        carry.push(inPlace ? Buffer.from(chunk) : chunk);
        carried += chunk.length;
      }
    } else {
      // the tail is copied out before the lines go: whoever takes them may take their buffer
      const tail = cut < chunk.length ? [Buffer.from(chunk.subarray(cut))] : [];
      if (head < cut) yield* completed(carry, chunk, head, cut);
      carry = tail;
      carried = tail.length === 0 ? 0 : tail[0].length;
    }
    if (!skipping && carried > maxLineBytes + 1) {
      carry = []; // + 1: a CR before the LF is not the line's
      skipping = true;
    }
  }
  if (skipping) oversize();
  else if (carry.length > 0) yield new Uint8Array(Buffer.concat(carry));
}

/** A read as a Buffer alone in its memory: a file's reads are (one buffer a read), a pipe's may not be. */
function ownBuffer(read: Buffer): Buffer {
  return read.byteOffset === 0 && read.byteLength === read.buffer.byteLength ? read : Buffer.from(new Uint8Array(read).buffer);
}

/**
 * The whole lines of `chunk[head, cut)`: the carried-over line joined with its end (a copy of one
 * line), then the rest as it was read (joining them all copied every read twice over).
 */
function* completed(carry: Buffer[], chunk: Buffer, head: number, cut: number): Generator<Uint8Array<ArrayBuffer>> {
  if (carry.length === 0) return yield chunk.subarray(head, cut) as Uint8Array<ArrayBuffer>;
  const lineEnd = chunk.indexOf(10, head) + 1;
  yield new Uint8Array(Buffer.concat([...carry, chunk.subarray(head, lineEnd)]));
  if (lineEnd < cut) yield chunk.subarray(lineEnd, cut) as Uint8Array<ArrayBuffer>;
}

/** Bytes waiting in the decode thread before reading stops for a while (some 70,000 lines). */
const REPLAY_BACKLOG = 8 << 20;

/**
 * Feeds lines (auth.log style, or raw frames one a line) through parser, recogniser and policy,
 * on the lines' own clock, and writes what it would ban. Nothing goes to Cloudflare. Parsing and
 * recognition run in the decode thread while this thread keeps the policy and the output, in the
 * lines' order.
 */
export async function replay(getConfig: () => Config, input: AsyncIterable<Buffer>, output: Writable, options: ReplayOptions): Promise<PipelineStats> {
  const decoder = new Decoder('message', true);
  // The chunks it held were handed over, not copied: its death would leave the counts short.
  let died: Error | null = null;
  const decoding = new DecodeThread(decoder, (error) => (died ??= error), false);
  const ready = decoding.start(); // the thread boots while the config loads and the input opens
  let pipeline: Pipeline;
  let maxLineBytes: number;
  try {
    const config = getConfig();
    const policy = createPolicy(config);
    pipeline = new Pipeline(policy, decoder, createEscalation(config, policy));
    maxLineBytes = config.listen.maxMessageBytes;
  } catch (error) {
    await decoding.stop();
    throw error;
  }
  const now = options.now ?? Date.now();
  const out = new ByteOutput(output);
  const bans = new BanJsonWriter();
  let printing: Promise<void> | undefined;
  const show = (line: Decoded) => {
    const outcome = pipeline.account(line);
    if (outcome.type !== 'event') return;
    if (options.events) printing = out.line(options.json ? eventJson(outcome.event, outcome.ignored) : eventText(outcome.event, outcome.ignored)) ?? printing;
    for (const order of outcome.orders) printing = (options.json ? bans.write(out, order) : out.line(banText(order))) ?? printing;
    if (outcome.shield) printing = out.line(options.json ? shieldJson(outcome.shield) : shieldText(outcome.shield)) ?? printing;
  };
  try {
    const oversize = () => show(rejection('oversize'));
    const progress = options.progress?.(() => pipeline.stats.lines);
    for await (const chunk of wholeLines(input, maxLineBytes, oversize)) {
      progress?.advance(chunk.byteLength);
      await ready;
      decoding.submit({ chunk, receivedAt: now, maxLineBytes, mayRepeat: true }, show);
      await decoding.below(REPLAY_BACKLOG);
      if (printing) await printing; // a slow reader holds the replay
      printing = undefined;
    }
    await decoding.below(0);
    progress?.done();
  } finally {
    await decoding.stop();
  }
  if (died) throw new Error(`the decode thread stopped (${(died as Error).message}); the replay is incomplete`);
  if (printing) await printing;
  await printSummary(out, pipeline.stats, options.json, false);
  return pipeline.stats;
}

/**
 * `replay --count`: what the lines are, deciding nothing, as fail2ban-regex tests a filter against
 * a log. Each line is parsed, recognised and counted on this one thread: a second thread would
 * only have to hand every answer back to be counted, and splitting the decoding between two
 * threads made it slower on a two-core machine.
 */
export async function countLines(
  maxLineBytes: number,
  input: AsyncIterable<Buffer>,
  output: Writable,
  options: Pick<ReplayOptions, 'json' | 'now' | 'progress'>,
): Promise<PipelineStats> {
  const decoder = new Decoder('message', true);
  const counter = new LineCounter();
  const count = (decoded: Decoded) => void counter.count(decoded);
  const receivedAt = options.now ?? Date.now();
  const progress = options.progress?.(() => counter.stats.lines);
  // each chunk is decoded before the next read: the file may be read in place (openReplayInput)
  for await (const chunk of wholeLines(input, maxLineBytes, () => count(rejection('oversize')), true)) {
    progress?.advance(chunk.byteLength);
    decodeHere(decoder, { chunk, receivedAt, maxLineBytes, mayRepeat: true }, count);
  }
  progress?.done();
  await printSummary(new ByteOutput(output), counter.stats, options.json, true);
  return counter.stats;
}

/** The last line(s): counts, and with `counted` (--count) events by kind instead of bans. */
async function printSummary(out: ByteOutput, stats: PipelineStats, json: boolean, counted: boolean): Promise<void> {
  const ignored = stats.ignored.toObject();
  for (const [reason, count] of stats.rejected.entries()) if (reason !== 'not_wordpress') ignored[reason] = count;
  const classes = stats.classes.toObject();
  if (json) {
    const { lines, events, bans } = stats;
    await out.line(
      JSON.stringify(
        counted
          ? { type: 'summary', lines, events, ignored, classes, kinds: stats.kinds.toObject() }
          : { type: 'summary', lines, events, bans, ignored, classes },
      ),
    );
  } else if (counted) {
    await out.line(`${stats.lines} lines, ${stats.events} events`);
    for (const [name, count] of Object.entries(classes)) await out.line(`  class ${name}: ${count}`);
    for (const [name, count] of Object.entries(stats.kinds.toObject())) await out.line(`  kind ${name}: ${count}`);
    for (const [reason, count] of Object.entries(ignored)) await out.line(`  ignored ${reason}: ${count}`);
  } else {
    await out.line(`${stats.lines} lines, ${stats.events} events, ${stats.bans} bans`);
    for (const [reason, count] of Object.entries(ignored)) await out.line(`  ignored ${reason}: ${count}`);
  }
  await out.flush();
}
