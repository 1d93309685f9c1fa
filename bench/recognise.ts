/**
 * Hot path speed: parse + recognise as the daemon runs them on a UDP datagram (the Decoder on its
 * bytes; no repeat fingerprint, which streams add), then parse + recognise + policy (the replay
 * path), over a million generated lines held in memory, on one core. Prints JSON.
 */
import { viewOf } from '../src/common/bytes';
import { buildConfig } from '../src/config/load';
import { Decoder } from '../src/decode/decoder';
import { createPolicy, Pipeline } from '../src/policy/pipeline';
import { corpus } from './corpus';

const LINES = Number(process.env.BENCH_LINES ?? 1_000_000);

function measure(run: () => number): { linesPerSecond: number; seconds: number; matched: number } {
  run(); // warm-up
  const start = process.hrtime.bigint();
  const matched = run();
  const seconds = Number(process.hrtime.bigint() - start) / 1e9;
  return { linesPerSecond: Math.round(LINES / seconds), seconds: Number(seconds.toFixed(3)), matched };
}

export function benchRecognise(): Record<string, unknown> {
  const result: Record<string, unknown> = { lines: LINES };
  for (const form of ['3164', '5424'] as const) {
    const lines = [...corpus({ lines: LINES, distinctAddresses: 50_000, form })];
    // each line in a buffer of its own, as a datagram; the decoder is handed a DataView of the
    // bytes too, which the daemon makes once for a batch of datagrams
    const buffers = lines.map((line) => Buffer.from(line));
    const views = buffers.map(viewOf);
    const now = Date.UTC(2025, 2, 10);
    result[`parseRecognise_${form}`] = measure(() => {
      const decoder = new Decoder('arrival');
      let events = 0;
      for (let i = 0; i < buffers.length; i++) if (decoder.decodeIn(buffers[i], views[i], 0, buffers[i].length, now, false).type === 'event') events++;
      return events;
    });
    result[`withPolicy_${form}`] = measure(() => {
      const pipeline = new Pipeline(createPolicy(buildConfig({}, {})), new Decoder('message'));
      for (let i = 0; i < buffers.length; i++) pipeline.account(pipeline.decoder.decodeIn(buffers[i], views[i], 0, buffers[i].length, now, true));
      return pipeline.stats.bans;
    });
  }
  return result;
}

if (require.main === module) console.log(JSON.stringify({ recognise: benchRecognise() }, null, 2));
