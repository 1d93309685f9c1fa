import type { Writable } from 'node:stream';
import type { Config } from '../config/schema';
import { DecodeThread } from '../decode/decode-thread';
import { Decoded, Decoder, rejection } from '../decode/decoder';
import type { PipelineStats } from '../decode/line-counter';
import { createEscalation, createPolicy, Pipeline } from '../policy/pipeline';
import type { Progress } from './progress';
import { FileReads, rampUp, ReplayInput, wholeLines } from './input';
import { printSummary } from './summary';
import { BanJsonWriter, banText, ByteOutput, eventJson, eventText, shieldJson, shieldText } from './output';

export interface ReplayOptions {
  json: boolean;
  events: boolean;
  /** reference time for BSD timestamps without a year */
  now?: number;
  /** a progress line for a person (stderr on a terminal), given how to count the lines so far */
  progress?: (lines: () => number) => Progress;
}

/** Bytes waiting in the decode thread before reading stops for a while (some 70,000 lines). */
const REPLAY_BACKLOG = 8 << 20;

/**
 * Feeds lines (auth.log style, or raw frames one a line) through parser, recogniser and policy,
 * on the lines' own clock, and writes what it would ban. Nothing goes to Cloudflare. Parsing and
 * recognition run in the decode thread while this thread keeps the policy and the output, in the
 * lines' order.
 */
export async function replay(getConfig: () => Config, input: ReplayInput, output: Writable, options: ReplayOptions): Promise<PipelineStats> {
  const decoder = new Decoder('message', true);
  // The chunks it held were handed over, not copied: its death would leave the counts short.
  let died: Error | null = null;
  let pipeline: Pipeline;
  // answers come only for chunks submitted, after the pipeline is made
  const lookAhead = (numbers: Float64Array, from: number, to: number) => pipeline.policy.prefetch(numbers, from, to);
  // `show` keeps nothing of a line: each event may come in the same objects
  const inputBack = input instanceof FileReads ? (buffer: ArrayBuffer) => input.recycle(buffer) : undefined;
  const decoding = new DecodeThread(decoder, (error) => (died ??= error), { warm: false, lookAhead, reuseEvents: true, inputBack });
  const ready = decoding.start(); // the thread boots while the config loads and the input opens
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
    const { orders } = outcome;
    for (let i = 0; i < orders.length; i++) printing = (options.json ? bans.write(out, orders[i]) : out.line(banText(orders[i]))) ?? printing;
    if (outcome.shield) printing = out.line(options.json ? shieldJson(outcome.shield) : shieldText(outcome.shield)) ?? printing;
  };
  try {
    const oversize = () => show(rejection('oversize'));
    const progress = options.progress?.(() => pipeline.stats.lines);
    for await (const chunk of rampUp(wholeLines(input, maxLineBytes, oversize))) {
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
