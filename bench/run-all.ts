/**
 * `npm run bench`: every benchmark, several times, one JSON object of medians with their min and
 * max, kept in bench/latest.json and shown in docs/benchmarks.md. Each run is a process of its own
 * (so one's heap and GC pauses cannot colour another's figures) with a time limit. The runs of all
 * benchmarks are interleaved, round after round, so that a slow spell of the machine hits each
 * benchmark in one run rather than all runs of one benchmark. Each runs with the Node flags the
 * daemon runs with (NODE_FLAGS), as several run the daemon in their own process. Each also runs
 * alone, with the same flags: `node <NODE_FLAGS> dist/bench/<name>.js` (docs/benchmarks.md spells them out)
 */
import { execFileSync } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import os from 'node:os';
import { join } from 'node:path';
import { describeError } from '../src/common/errors';
import { LATEST_JSON, writeBenchmarksPage } from './report';
import { combineRuns, Json } from './spread';
import { NODE_FLAGS } from '../src/common/node-flags';

/** BENCH_RUNS=1 for a quick look: fewer runs than each benchmark's own count */
function runsOf(name: string): number {
  const cap = Number(process.env.BENCH_RUNS) || Infinity;
  return Math.min(RUNS[name] ?? 1, cap);
}

/**
 * Runs of each benchmark; botnet's figures are set by the API budget it meets, not by the machine.
 * Side by side five times, though each run takes minutes: with three, whole runs of the same code
 * put replay --count at 97.5x and at 72.1x fail2ban-regex.
 */
const RUNS: Record<string, number> = { probe: 5, recognise: 5, memory: 3, latency: 5, botnet: 1, ingest: 5, 'side-by-side': 5, shared: 3, shield: 3 };
const ALL = Object.keys(RUNS);
/** BENCH_ONLY=ingest,latency runs those alone */
const BENCHMARKS = process.env.BENCH_ONLY ? process.env.BENCH_ONLY.split(',') : ALL;
const LIMIT_MS = 10 * 60_000;

const result: Record<string, unknown> = {
  machine: {
    cpu: os.cpus()[0]?.model,
    cores: os.cpus().length,
    memoryGiB: Math.round(os.totalmem() / 2 ** 30),
    node: process.version,
    date: new Date().toISOString(),
  },
  command: 'npm run bench',
};
const runs = new Map<string, Json[]>(BENCHMARKS.map((name) => [name, []]));
const rounds = Math.max(...BENCHMARKS.map((name) => runsOf(name)));
for (let round = 0; round < rounds; round++) {
  for (const name of BENCHMARKS) {
    if (round >= runsOf(name)) continue;
    try {
      const out = execFileSync(process.execPath, [...NODE_FLAGS, join(__dirname, `${name}.js`)], {
        encoding: 'utf8',
        timeout: LIMIT_MS,
        maxBuffer: 16 << 20,
        stdio: ['ignore', 'pipe', 'inherit'],
      });
      runs.get(name)!.push(JSON.parse(out) as Json);
    } catch (error) {
      process.stderr.write(`bench ${name}: ${describeError(error).split('\n')[0]}\n`);
    }
  }
}
for (const [name, done] of runs) {
  if (done.length === 0) result[name] = { failed: 'no run completed (see stderr)' };
  else Object.assign(result, combineRuns(done));
}
const text = JSON.stringify(result, null, 2);
console.log(text);
// BENCH_ONLY runs are partial: they print, and leave the kept figures alone
if (!process.env.BENCH_ONLY) {
  writeFileSync(LATEST_JSON, `${text}\n`);
  writeBenchmarksPage(result);
}
