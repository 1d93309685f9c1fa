/**
 * `npm run bench`: every benchmark, one JSON object. Each runs in its own process (so one's heap
 * and GC pauses cannot colour another's figures) with a time limit, and can also run alone:
 * node dist/bench/<name>.js
 */
import { execFileSync } from 'node:child_process';
import os from 'node:os';
import { join } from 'node:path';

const BENCHMARKS = ['recognise', 'memory', 'latency', 'botnet', 'ingest', 'side-by-side'];
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
console.log(JSON.stringify(result, null, 2));
