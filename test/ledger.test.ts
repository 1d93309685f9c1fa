import { Ledger, LedgerOutcome } from '../src/bans/ledger';
import { TimerHeap } from '../src/bans/timer-heap';
import { EdgeBan, PerCallBackend } from '../src/bans/backend';
import { CloudflareError } from '../src/cloudflare/client';
import type { BanOrder } from '../src/policy/policy';

/** Records calls; each call can be held until released, to create in-flight situations. */
class RecordingBackend implements PerCallBackend {
  readonly name = 'recording';
  readonly calls: string[] = [];
  rules = new Map<string, EdgeBan & { ruleId: string }>();
  gate: Promise<void> | null = null;
  failNext = 0;
  /** keys whose every call fails (retryable) */
  failing = new Set<string>();
  /** the next call throws what a bug throws */
  bugNext = false;
  private next = 1;

  locate(site: string | null) {
    return site === 'nowhere' ? null : 'zone:z';
  }
  private async step(call: string) {
    this.calls.push(call);
    if (this.gate) await this.gate;
    if (this.bugNext) {
      this.bugNext = false;
      throw new TypeError("Cannot read properties of undefined (reading 'id')");
    }
    if ([...this.failing].some((key) => call.includes(key)) || this.failNext > 0) {
      this.failNext--;
      throw new CloudflareError('POST', '/x', 500, [], true);
    }
  }
  async add(ban: EdgeBan) {
    await this.step(`add ${ban.key} ${ban.until}`);
    const ruleId = `r${this.next++}`;
    this.rules.set(ruleId, { ...ban, ruleId });
    return ruleId;
  }
  async update(ban: EdgeBan & { ruleId: string }) {
    await this.step(`update ${ban.ruleId} ${ban.until}`);
    this.rules.set(ban.ruleId, { ...ban });
  }
  async remove(ban: EdgeBan & { ruleId: string }) {
    await this.step(`remove ${ban.ruleId}`);
    const now = this.rules.get(ban.ruleId);
    if (now && now.until > ban.until) return now.until;
    this.rules.delete(ban.ruleId);
    return undefined;
  }
  async listOwned() {
    return [...this.rules.values()];
  }
  async close() {}
}

/**
 * Every test runs on jest's fake clock, from T0: expiries and retries happen when the test moves
 * the clock, never by sleeping, and every expected `until` is a constant.
 */
const T0 = Date.UTC(2026, 0, 1);
const T0S = T0 / 1000;
beforeEach(() => jest.useFakeTimers({ now: T0 }));
afterEach(() => jest.useRealTimers());
const order = (key: string, seconds: number, site: string | null = 'a.example'): BanOrder => ({
  key,
  bits: Number(key.split('/')[1]),
  jail: 'j',
  action: 'block',
  duration: seconds,
  until: T0S + seconds,
  site,
});
const advance = (ms: number) => jest.advanceTimersByTimeAsync(ms);

function setup(options: { maxQueue?: number; maxAttempts?: number } = {}) {
  const backend = new RecordingBackend();
  const outcomes: LedgerOutcome[] = [];
  const gaveUp: string[] = [];
  const bugs: Error[] = [];
  const events = {
    outcome: (what: LedgerOutcome) => outcomes.push(what),
    gaveUp: (ban: EdgeBan) => gaveUp.push(ban.key),
    bug: (error: Error) => bugs.push(error),
  };
  // jitter fixed at its middle: the n-th retry waits exactly 50 * 2^(n-1) ms
  const ledger = new Ledger({ backend, events, retryDelayMs: 50, maxRetryDelayMs: 1000, random: () => 0.5, ...options });
  return { backend, ledger, outcomes, gaveUp, bugs };
}

test('ban, then unban on time', async () => {
  const { backend, ledger } = setup();
  ledger.ban(order('192.0.2.1/32', 1));
  await ledger.idle();
  expect(backend.calls).toEqual([`add 192.0.2.1/32 ${T0S + 1}`]);
  await advance(999);
  expect(backend.calls).toHaveLength(1); // not a millisecond early
  await advance(1);
  expect(backend.calls).toEqual([`add 192.0.2.1/32 ${T0S + 1}`, 'remove r1']);
  await ledger.stop(100);
});

test('a ban for a key already banned longer is coalesced; a longer one extends the rule', async () => {
  const { backend, ledger, outcomes } = setup();
  ledger.ban(order('192.0.2.1/32', 100));
  await ledger.idle();
  ledger.ban(order('192.0.2.1/32', 50));
  expect(outcomes).toContain('coalesced');
  ledger.ban(order('192.0.2.1/32', 200));
  await ledger.idle();
  expect(backend.calls).toEqual([`add 192.0.2.1/32 ${T0S + 100}`, `update r1 ${T0S + 200}`]);
  await ledger.stop(100);
});

test('a ban not yet sent whose unban comes is dropped with it: nothing is sent', async () => {
  const { backend, ledger } = setup();
  backend.gate = new Promise(() => undefined); // the first call hangs: the queue holds the rest
  ledger.ban(order('192.0.2.1/32', 100));
  ledger.ban(order('192.0.2.2/32', 100));
  expect(ledger.unban('zone:z', '192.0.2.2/32')).toBe(true);
  expect(ledger.queued).toBe(0);
  expect(backend.calls).toEqual([`add 192.0.2.1/32 ${T0S + 100}`]);
});

test('an unban for a key banned again before it is sent is dropped; the rule is kept and extended', async () => {
  const { backend, ledger } = setup();
  ledger.ban(order('192.0.2.1/32', 100));
  await ledger.idle();
  let release!: () => void;
  backend.gate = new Promise((resolve) => (release = resolve));
  ledger.ban(order('192.0.2.9/32', 100)); // occupies the worker
  ledger.unban('zone:z', '192.0.2.1/32');
  ledger.ban(order('192.0.2.1/32', 300));
  backend.gate = null;
  release();
  await ledger.idle();
  expect(backend.calls).toEqual([`add 192.0.2.1/32 ${T0S + 100}`, `add 192.0.2.9/32 ${T0S + 100}`, `update r1 ${T0S + 300}`]);
  await ledger.stop(100);
});

test('a retryable failure is retried, and goes out once', async () => {
  const { backend, ledger, outcomes } = setup();
  backend.failNext = 2;
  ledger.ban(order('192.0.2.1/32', 100));
  await ledger.idle();
  expect(outcomes).toEqual(['retry']);
  await advance(50); // retryDelayMs
  expect(outcomes).toEqual(['retry', 'retry']);
  await advance(99); // the wait doubles
  expect(outcomes).toEqual(['retry', 'retry']);
  await advance(1);
  expect(outcomes).toEqual(['retry', 'retry', 'banned']);
  expect(backend.rules.size).toBe(1);
  expect(outcomes.filter((o) => o === 'retry')).toHaveLength(2);
  await ledger.stop(100);
});

test('a ban that keeps failing holds back no other ban, and is given up after its tries, freeing its key', async () => {
  const { backend, ledger, outcomes, gaveUp } = setup({ maxAttempts: 4 });
  backend.failing.add('192.0.2.1/32');
  ledger.ban(order('192.0.2.1/32', 1000));
  for (let i = 2; i <= 5; i++) ledger.ban(order(`192.0.2.${i}/32`, 1000));
  await ledger.idle();
  // the four others went out at once, behind the first failure, not after its retries
  expect(outcomes.filter((o) => o === 'banned')).toHaveLength(4);
  await advance(50 + 100 + 200);
  expect(outcomes.filter((o) => o === 'retry')).toHaveLength(3);
  expect(outcomes.at(-1)).toBe('failed');
  expect(gaveUp).toEqual(['192.0.2.1/32']);
  expect(ledger.active.has('zone:z|192.0.2.1/32')).toBe(false);
  expect(ledger.queued).toBe(0);
  await ledger.stop(100);
});

test('retries of bans failing together are spread by jitter', async () => {
  const backend = new RecordingBackend();
  const times: number[] = [];
  let draw = 0;
  const ledger = new Ledger({
    backend,
    events: { outcome: () => undefined },
    retryDelayMs: 1000,
    random: () => [0, 0.25, 0.5, 0.75][draw++ % 4],
  });
  backend.failNext = 4;
  for (let i = 1; i <= 4; i++) ledger.ban(order(`192.0.2.${i}/32`, 1000));
  await ledger.idle();
  const before = backend.calls.length;
  for (let t = 0; t < 1500; t += 50) {
    await advance(50);
    if (backend.calls.length > before + times.length) times.push(t);
  }
  expect(new Set(times).size).toBe(4); // four retries at four different moments, from 500 to 1250 ms
  await ledger.stop(100);
});

test('what only a bug throws is reported once with its stack, never retried, and frees the key', async () => {
  const { backend, ledger, outcomes, gaveUp, bugs } = setup();
  backend.bugNext = true;
  ledger.ban(order('192.0.2.1/32', 100));
  await ledger.idle();
  await advance(10_000);
  expect(outcomes).toEqual(['failed']);
  expect(bugs).toHaveLength(1);
  expect(bugs[0].stack).toContain('TypeError');
  expect(gaveUp).toEqual(['192.0.2.1/32']);
  expect(backend.calls).toHaveLength(1);
  await ledger.stop(100);
});

test('an unban for a ban waiting for its retry drops both', async () => {
  const { backend, ledger, outcomes } = setup();
  backend.failNext = 1;
  ledger.ban(order('192.0.2.1/32', 100));
  await ledger.idle();
  expect(outcomes).toEqual(['retry']);
  ledger.unban('zone:z', '192.0.2.1/32');
  await advance(1000);
  expect(outcomes).toEqual(['retry', 'coalesced']);
  expect(backend.calls).toHaveLength(1);
  await ledger.stop(100);
});

test('the queue is bounded', () => {
  const { backend, ledger, outcomes } = setup({ maxQueue: 3 });
  backend.gate = new Promise(() => undefined);
  for (let i = 1; i <= 10; i++) ledger.ban(order(`192.0.2.${i}/32`, 100));
  expect(ledger.queued).toBe(3);
  expect(outcomes.filter((o) => o === 'queue_full')).toHaveLength(6);
});

test('a site without a zone is not banned, and said so', () => {
  const { ledger, outcomes } = setup();
  ledger.ban(order('192.0.2.1/32', 100, 'nowhere'));
  expect(outcomes).toEqual(['no_location']);
  expect(ledger.active.size).toBe(0);
});

test('reconcile adopts live rules and deletes expired ones', async () => {
  const { backend, ledger } = setup();
  backend.rules.set('old', { location: 'zone:z', key: '192.0.2.1/32', jail: 'j', action: 'block', until: T0S - 10, ruleId: 'old' });
  backend.rules.set('live', { location: 'zone:z', key: '192.0.2.2/32', jail: 'j', action: 'block', until: T0S + 1, ruleId: 'live' });
  expect(await ledger.reconcile()).toEqual({ adopted: 1, expired: 1 });
  await ledger.idle();
  expect(backend.calls).toEqual(['remove old']);
  await advance(1000);
  expect(backend.calls).toEqual(['remove old', 'remove live']);
  await ledger.stop(100);
});

test('stop drops queued unbans and lets queued bans out', async () => {
  const { backend, ledger } = setup();
  ledger.ban(order('192.0.2.1/32', 100));
  await ledger.idle();
  ledger.unban('zone:z', '192.0.2.1/32');
  ledger.ban(order('192.0.2.2/32', 100));
  backend.calls.length = 0;
  await ledger.stop(1000);
  expect(backend.calls).toEqual([`add 192.0.2.2/32 ${T0S + 100}`]);
});

describe('TimerHeap', () => {
  test('fires in time order with one timer, whatever the insertion order', async () => {
    const fired: number[] = [];
    const heap = new TimerHeap<number>((n) => fired.push(n));
    for (const n of [5, 1, 4, 2, 3]) heap.push(T0 + n * 20, n);
    jest.advanceTimersByTime(59);
    expect(fired).toEqual([1, 2]);
    jest.advanceTimersByTime(41);
    expect(fired).toEqual([1, 2, 3, 4, 5]);
    heap.stop();
  });

  test('a deadline beyond what setTimeout takes (24.8 days) is re-armed, and fires on time', () => {
    const fired: number[] = [];
    const heap = new TimerHeap<number>((n) => fired.push(n));
    const in30Days = 30 * 86_400_000;
    heap.push(T0 + in30Days, 1);
    jest.advanceTimersByTime(in30Days - 1);
    expect(fired).toEqual([]);
    jest.advanceTimersByTime(1);
    expect(fired).toEqual([1]);
    heap.stop();
  });

  test('holds 100,000 deadlines', () => {
    const heap = new TimerHeap<number>(() => undefined);
    for (let i = 0; i < 100_000; i++) heap.push(T0 + 1e9 - i, i);
    expect(heap.size).toBe(100_000);
    heap.stop();
  });
});
