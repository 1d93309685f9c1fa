/**
 * A botnet: 10,000 distinct addresses send one hard event each through syslog (TCP, within about
 * 10 s). The fake Cloudflare enforces 1200 calls per 5 minutes. Reports, per backend, how long until
 * all are banned at the edge and how many API calls it took. Access rules cannot finish within a
 * bounded run (one call per ban), so they run for BENCH_BOTNET_WINDOW_S and the rest is projected.
 * Prints JSON.
 */
import { attackFrame } from './corpus';
import { startEdgeDaemon } from './edge-daemon';

const ADDRESSES = Number(process.env.BENCH_BOTNET_ADDRESSES ?? 10_000);
const WINDOW_S = Number(process.env.BENCH_BOTNET_WINDOW_S ?? 60);

function frame(i: number): Buffer {
  return attackFrame(`203.${(i >> 16) & 255}.${(i >> 8) & 255}.${i & 255}`);
}

async function run(backend: 'access-rules' | 'ip-list'): Promise<Record<string, unknown>> {
  // one ban an address: the figure is the path of a ban, not the shield's or widening's answer
  const edge = await startEdgeDaemon(backend, { shield: false, widen: false }, { rateLimit: 1200, rateWindowMs: 300_000 });
  const { fake, socket, banned } = edge;
  const started = performance.now();
  for (let i = 0; i < ADDRESSES; i++) {
    socket.write(frame(i));
    if (i % 1000 === 999) await new Promise((resolve) => setTimeout(resolve, 1000)); // ~1000/s
  }
  const sentSeconds = (performance.now() - started) / 1000;
  const deadline = started + WINDOW_S * 1000 + sentSeconds * 1000;
  while (banned() < ADDRESSES && performance.now() < deadline) await new Promise((resolve) => setTimeout(resolve, 50));
  const seconds = (performance.now() - started) / 1000;
  const done = banned();
  const calls = edge.calls();
  const limited = fake.requests.filter((r) => r.status === 429).length;
  await edge.stop();
  const rate = done / seconds;
  return {
    backend,
    addresses: ADDRESSES,
    sentWithinSeconds: Number(sentSeconds.toFixed(1)),
    banned: done,
    allBanned: done === ADDRESSES,
    secondsUntilAllBanned: done === ADDRESSES ? Number(seconds.toFixed(1)) : null,
    secondsMeasured: Number(seconds.toFixed(1)),
    projectedMinutesForAll: done === ADDRESSES ? Number((seconds / 60).toFixed(2)) : Number((ADDRESSES / Math.min(rate, 1000 / 300) / 60).toFixed(1)),
    apiCalls: calls,
    apiCallsPerBan: done ? Number((calls / done).toFixed(3)) : null,
    answered429: limited,
  };
}

export async function benchBotnet(): Promise<Record<string, unknown>> {
  return { ipList: await run('ip-list'), accessRules: await run('access-rules') };
}

if (require.main === module) void benchBotnet().then((result) => console.log(JSON.stringify({ botnet: result }, null, 2)));
