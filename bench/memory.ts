/**
 * Resident memory with N tracked addresses in the policy window (soft events that never reach
 * maxretry, so every address stays tracked). Runs in a child process per size so that each figure
 * starts from a clean heap. Prints JSON.
 */
import { execFileSync } from 'node:child_process';
import { buildConfig } from '../src/config/load';
import { createPolicy } from '../src/policy/pipeline';
import { makeEvent } from '../src/wordpress/recognise';
import { NODE_FLAGS } from '../src/common/node-flags';

function track(count: number, ipv6: boolean, cap: number): Record<string, number> {
  const policy = createPolicy(buildConfig({ trust: { maxTracked: cap } }, {}));
  const base = process.memoryUsage().rss;
  const at = Date.UTC(2025, 2, 9, 6);
  for (let i = 0; i < count; i++) {
    const address = ipv6
      ? `2001:db8:${(i >>> 16).toString(16)}:${(i & 0xffff).toString(16)}::1`
      : `${10 + (i >>> 24)}.${(i >>> 16) & 255}.${(i >>> 8) & 255}.${i & 255}`;
    policy.decide(
      makeEvent({
        kind: 'auth_failure',
        class: 'soft',
        address: address.startsWith('10.') ? `11${address.slice(2)}` : address,
        site: 'example.com',
        at: at + (i % 1000),
      }),
    );
  }
  global.gc?.();
  // V8 frees the memory of dead typed arrays (the window's table before it doubled) on a helper
  // thread after the collection: read the resident size once that is done, as a daemon's would be
  Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, 200);
  global.gc?.();
  const rss = process.memoryUsage().rss;
  const { heapUsed, arrayBuffers } = process.memoryUsage();
  const mib = (bytes: number) => Math.round(bytes / 1048576);
  // the window's cells live in typed arrays: outside the JS heap, counted in arrayBuffers
  return { addresses: count, tracked: policy.tracked, rssMiB: mib(rss), heapUsedMiB: mib(heapUsed), arrayBuffersMiB: mib(arrayBuffers), baseRssMiB: mib(base) };
}

export function benchMemory(): Record<string, unknown> {
  const script = __filename;
  const run = (args: string[]) => JSON.parse(execFileSync(process.execPath, [...NODE_FLAGS, '--expose-gc', script, 'child', ...args], { encoding: 'utf8' }));
  return {
    ipv4_100k: run(['100000', 'v4', '1000000']),
    ipv4_1M: run(['1000000', 'v4', '1000000']),
    ipv6_flood_3M_cap_1M: run(['3000000', 'v6', '1000000']),
  };
}

if (require.main === module) {
  if (process.argv[2] === 'child') {
    const [count, family, cap] = process.argv.slice(3);
    console.log(JSON.stringify(track(Number(count), family === 'v6', Number(cap))));
  } else {
    console.log(JSON.stringify({ memory: benchMemory() }, null, 2));
  }
}
