import type { Writable } from 'node:stream';
import { decodeHere } from '../decode/decode-thread';
import { Decoded, Decoder, rejection } from '../decode/decoder';
import { LineCounter, PipelineStats } from '../decode/line-counter';
import { ReplayInput, wholeLines } from './input';
import { ByteOutput } from './output';
import type { ReplayOptions } from './replay';
import { printSummary } from './summary';

/**
 * `replay --count`: what the lines are, deciding nothing, as fail2ban-regex tests a filter against
 * a log. Each line is parsed, recognised and counted on this one thread: a second thread would
 * only have to hand every answer back to be counted, and splitting the decoding between two
 * threads made it slower on a two-core machine.
 */
export async function countLines(
  maxLineBytes: number,
  input: ReplayInput,
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
