/**
 * `npm run bench`: every benchmark, one JSON object, kept in bench/latest.json and shown in
 * docs/benchmarks.md. Each runs in its own process (so one's heap
 * and GC pauses cannot colour another's figures) with a time limit, and can also run alone:
 * node dist/bench/<name>.js
 */
import { execFileSync } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import os from 'node:os';
import { join } from 'node:path';
import { LATEST_JSON, writeBenchmarksPage } from './report';

const ALL = ['recognise', 'memory', 'latency', 'botnet', 'ingest', 'side-by-side'];
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
for (const name of BENCHMARKS) {
  try {
    const out = execFileSync(process.execPath, [join(__dirname, `${name}.js`)], {
      encoding: 'utf8',
      timeout: LIMIT_MS,
      maxBuffer: 16 << 20,
      stdio: ['ignore', 'pipe', 'inherit'],
    });
    Object.assign(result, JSON.parse(out));
  } catch (error) {
    result[name] = { failed: (error as Error).message.split('\n')[0] };
  }
}
const text = JSON.stringify(result, null, 2);
console.log(text);
// BENCH_ONLY runs are partial: they print, and leave the kept figures alone
if (!process.env.BENCH_ONLY) {
  writeFileSync(LATEST_JSON, `${text}\n`);
  writeBenchmarksPage(result);
}
