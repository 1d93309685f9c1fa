/**
 * How fast the machine itself was in this round, apart from edgeban: a loop of integer arithmetic
 * that stays in registers, and reads of memory that each depend on the one before, at random over
 * 16 MiB (about what the replay's threads work in: their young generations, the window, the
 * tables) and over 64 MiB (more than any cache). On a shared machine the caches are shared with
 * neighbours: the same code replayed the same file in 1.25 s in one hour and in 1.9 s in the next,
 * while the integer loop kept its speed. These say which machine a run met. Prints JSON.
 */

/** ns per step of a multiply-add chain the compiler cannot fold */
function integerLoopNs(steps: number): number {
  const started = process.hrtime.bigint();
  let x = 1;
  for (let i = 0; i < steps; i++) x = (Math.imul(x, 31) + i) | 0;
  const ns = Number(process.hrtime.bigint() - started) / steps;
  if (x === 0.5) console.log(x); // never true: keeps x alive
  return ns;
}

/** A single cycle through every slot in random order (Sattolo's shuffle), so no read is predictable. */
function randomCycle(slots: number): Int32Array {
  const next = new Int32Array(slots);
  for (let i = 0; i < slots; i++) next[i] = i;
  let seed = 0x2545f491;
  for (let i = slots - 1; i > 0; i--) {
    seed = (Math.imul(seed, 1103515245) + 12345) >>> 0;
    const j = seed % i;
    const kept = next[i];
    next[i] = next[j];
    next[j] = kept;
  }
  return next;
}

/** ns per read of a chain of dependent reads through `next` */
function memoryLatencyNs(next: Int32Array, reads: number): number {
  let at = 0;
  const started = process.hrtime.bigint();
  for (let i = 0; i < reads; i++) at = next[at];
  const ns = Number(process.hrtime.bigint() - started) / reads;
  if (at === -1) console.log(at); // never true: keeps the chain alive
  return ns;
}

export function benchProbe(): Record<string, number> {
  integerLoopNs(1e7); // compiled before it is timed
  const latency = (mib: number) => {
    const next = randomCycle(mib << 18);
    memoryLatencyNs(next, 1e5);
    return Number(memoryLatencyNs(next, 4e6).toFixed(1));
  };
  return { integerLoopNs: Number(integerLoopNs(2e8).toFixed(3)), memoryLatency16MiBNs: latency(16), memoryLatency64MiBNs: latency(64) };
}

if (require.main === module) console.log(JSON.stringify({ probe: benchProbe() }, null, 2));
