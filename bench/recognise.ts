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

/**
 * The lines one after another in one buffer, each one's [start, end) in `bounds`: as the daemon
 * decodes datagrams where they lie in its UDP ring. A buffer a line would put a million objects on
 * the heap that the daemon never holds, and the old generation's collections of them (a tenth to
 * a third of a second each) fell into the timed runs at random.
 */
function backToBack(lines: string[]): { bytes: Buffer; bounds: Uint32Array } {
  const bytes = Buffer.from(lines.join(''));
  const bounds = new Uint32Array(lines.length * 2);
  let at = 0;
  lines.forEach((line, i) => {
    bounds[i * 2] = at;
    at += Buffer.byteLength(line);
    bounds[i * 2 + 1] = at;
  });
  return { bytes, bounds };
}

export function benchRecognise(): Record<string, unknown> {
  const result: Record<string, unknown> = { lines: LINES };
  for (const form of ['3164', '5424'] as const) {
    const { bytes, bounds } = backToBack([...corpus({ lines: LINES, distinctAddresses: 50_000, form })]);
    const view = viewOf(bytes);
    const now = Date.UTC(2025, 2, 10);
    result[`parseRecognise_${form}`] = measure(() => {
      const decoder = new Decoder('arrival');
      let events = 0;
      for (let i = 0; i < bounds.length; i += 2) if (decoder.decodeIn(bytes, view, bounds[i], bounds[i + 1], now, false).type === 'event') events++;
      return events;
    });
    result[`withPolicy_${form}`] = measure(() => {
      const pipeline = new Pipeline(createPolicy(buildConfig({}, {})), new Decoder('message'));
      for (let i = 0; i < bounds.length; i += 2) pipeline.account(pipeline.decoder.decodeIn(bytes, view, bounds[i], bounds[i + 1], now, true));
      return pipeline.stats.bans;
    });
  }
  return result;
}

if (require.main === module) console.log(JSON.stringify({ recognise: benchRecognise() }, null, 2));
