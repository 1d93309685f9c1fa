/** `npm run bench`: every benchmark, one JSON object. Each can also run alone (node dist/bench/<name>.js). */
import os from 'node:os';
import { benchBotnet } from './botnet';
import { benchLatency } from './latency';
import { benchMemory } from './memory';
import { benchRecognise } from './recognise';

async function main(): Promise<void> {
  const result = {
    machine: { cpu: os.cpus()[0]?.model, cores: os.cpus().length, node: process.version, date: new Date().toISOString() },
    recognise: benchRecognise(),
    memory: benchMemory(),
    latency: await benchLatency(),
    botnet: await benchBotnet(),
  };
  console.log(JSON.stringify(result, null, 2));
}

void main();
