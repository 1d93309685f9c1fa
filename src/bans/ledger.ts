import { asError, ForeignRuleError, isProgrammingError, isRetryable } from '../common/errors';
import { Backend, BatchOp, EdgeBan, isBatchBackend, OpResult, OpType, PerCallBackend } from './backend';
import type { BanOrder } from '../policy/policy';
import { TimerHeap } from './timer-heap';

interface Entry extends EdgeBan {
  id: string;
  /** when the policy ordered it (ms), for the latency metric */
  orderedAt?: number;
  /** a rule someone else made covers it: never touched */
  foreign?: boolean;
  /** a network's ban: the narrower keys inside it to lift once it stands */
  folds?: string[];
}

export interface LedgerEvents {
  /** every outcome worth a log line or a counter */
  outcome(what: LedgerOutcome, entry: EdgeBan, detail?: string, latencyMs?: number): void;
  /**
   * A ban the policy ordered that will not reach Cloudflare (refused for good, or no room in the
   * queue): the policy must forget it is banned, so that the next attack orders it again.
   */
  gaveUp?(ban: EdgeBan): void;
  /** An operation threw what only a bug throws (a TypeError): never retried, and worth its stack. */
  bug?(error: Error): void;
}

export type LedgerOutcome =
  'banned' | 'extended' | 'unbanned' | 'adopted' | 'foreign' | 'coalesced' | 'folded' | 'queue_full' | 'evicted' | 'no_location' | 'retry' | 'failed';

export interface LedgerOptions {
  backend: Backend;
  events: LedgerEvents;
  maxQueue?: number;
  /** first wait before an operation that failed with a retryable error is tried again; it doubles each time */
  retryDelayMs?: number;
  /** the longest wait between two tries */
  maxRetryDelayMs?: number;
  /** tries of one operation before it is given up */
  maxAttempts?: number;
  now?: () => number;
  /** the jitter's source, in [0, 1) (tests make it fixed) */
  random?: () => number;
}

interface Op {
  type: OpType;
  entry: Entry;
  /** failed tries so far */
  attempts: number;
}

/**
 * The active bans, in memory only, and the work to make Cloudflare match them. One timer heap
 * lifts every ban on time; one queue, worked in order one call at a time, carries bans, extensions
 * and unbans, coalescing those for the same key (an unban for a key banned again is dropped, a
 * ban not yet sent whose unban comes is dropped with it). An operation that fails for a while
 * waits on its own timer, with backoff and jitter, so that it never holds back another.
 */
export class Ledger {
  readonly active = new Map<string, Entry>();
  private readonly queue = new Map<string, Op>();
  /** operations waiting to be tried again, each on its own timer */
  private readonly retrying = new Map<string, { op: Op; timer: NodeJS.Timeout }>();
  private readonly timers: TimerHeap<Entry>;
  private working = false;
  private stopping = false;
  private readonly maxQueue: number;
  private readonly now: () => number;
  private idleWaiters: (() => void)[] = [];
  private readonly locations = new Map<string, string | null>();

  constructor(private readonly options: LedgerOptions) {
    this.maxQueue = options.maxQueue ?? 10_000;
    this.now = options.now ?? Date.now;
    this.timers = new TimerHeap((entry) => this.expire(entry), this.now);
  }

  /** operations waiting to go out, now or after a failure */
  get queued(): number {
    return this.queue.size + this.retrying.size;
  }

  /** The operation waiting for this key, in the queue or for its retry. */
  private pending(id: string): Op | undefined {
    return this.queue.get(id) ?? this.retrying.get(id)?.op;
  }

  /** A ban ordered by the policy. */
  ban(order: BanOrder): void {
    const location = this.locate(order.site);
    if (!location)
      return this.options.events.outcome(
        'no_location',
        { location: '', key: order.key, jail: order.jail, action: order.action, until: order.until },
        order.site ?? '(no site)',
      );
    const id = `${location}|${order.key}`;
    const existing = this.active.get(id);
    if (existing) {
      if (existing.until >= order.until || existing.foreign) return this.options.events.outcome('coalesced', existing);
      existing.until = order.until;
      existing.jail = order.jail;
      existing.action = order.action;
      if (order.folds) existing.folds = [...(existing.folds ?? []), ...order.folds];
      this.timers.push(existing.until * 1000, existing);
      // a ban not sent yet carries the entry, so it goes out with the new time
      if (this.pending(id)?.type !== 'ban') this.enqueue(id, existing.ruleId ? 'extend' : 'ban', existing);
      return;
    }
    const entry: Entry = { location, key: order.key, jail: order.jail, action: order.action, until: order.until, id, orderedAt: this.now() };
    if (order.folds) entry.folds = order.folds;
    if (this.queued >= this.maxQueue && !this.pending(id)) {
      this.options.events.outcome('queue_full', entry);
      return this.options.events.gaveUp?.(entry);
    }
    this.active.set(id, entry);
    this.timers.push(entry.until * 1000, entry);
    const pending = this.pending(id);
    if (pending?.type === 'unban' && pending.entry.ruleId) {
      // the old rule is still there: keep it and give it the new time instead
      entry.ruleId = pending.entry.ruleId;
      this.enqueue(id, 'extend', entry);
    } else {
      this.enqueue(id, 'ban', entry);
    }
  }

  /** The backend's location for a site, remembered: sites are few, bans in a storm are many. */
  private locate(site: string | null): string | null {
    const known = this.locations.get(site ?? '');
    if (known !== undefined) return known;
    const location = this.options.backend.locate(site);
    if (this.locations.size >= 10_000) this.locations.clear();
    this.locations.set(site ?? '', location);
    return location;
  }

  /** An operator's unban (or an expiry): lift it now. */
  unban(location: string, key: string): boolean {
    const entry = this.active.get(`${location}|${key}`);
    if (!entry) return false;
    this.lift(entry);
    return true;
  }

  /** Makes the ledger match Cloudflare: adopt live edgeban rules, delete expired ones. */
  async reconcile(): Promise<{ adopted: number; expired: number }> {
    const rules = await this.options.backend.listOwned();
    const nowSeconds = this.now() / 1000;
    let adopted = 0;
    let expired = 0;
    for (const rule of rules) {
      const id = `${rule.location}|${rule.key}`;
      const known = this.active.get(id);
      if (rule.until <= nowSeconds) {
        if (known && known.until > nowSeconds) continue; // banned again meanwhile; its extension is queued
        if (!this.pending(id)) {
          expired++;
          this.enqueue(id, 'unban', { ...rule, id });
        }
        continue;
      }
      if (known) {
        if (!known.ruleId && !this.pending(id)) known.ruleId = rule.ruleId;
        continue;
      }
      const entry: Entry = { ...rule, id };
      this.active.set(id, entry);
      this.timers.push(entry.until * 1000, entry);
      adopted++;
      this.options.events.outcome('adopted', entry);
    }
    return { adopted, expired };
  }

  /**
   * SIGTERM: bans are not lifted. Queued unbans are dropped (the next start deletes expired rules),
   * queued bans get `graceMs` to go out.
   */
  async stop(graceMs: number): Promise<void> {
    if (this.stopping) return;
    this.stopping = true;
    this.timers.stop();
    // a ban waiting for its retry gets one last try with the others
    for (const [id, { op, timer }] of this.retrying) {
      clearTimeout(timer);
      if (op.type !== 'unban') this.queue.set(id, op);
    }
    this.retrying.clear();
    for (const [id, op] of this.queue) if (op.type === 'unban') this.queue.delete(id);
    this.pump();
    await Promise.race([this.idle(), new Promise((resolve) => setTimeout(resolve, graceMs).unref())]);
    this.queue.clear();
    await this.options.backend.close();
  }

  /** Resolves when the queue is empty and nothing is in flight. */
  idle(): Promise<void> {
    if (!this.working && this.queue.size === 0) return Promise.resolve();
    return new Promise((resolve) => this.idleWaiters.push(resolve));
  }

  private expire(entry: Entry): void {
    if (this.active.get(entry.id) !== entry || entry.until * 1000 > this.now()) return; // extended or gone
    this.lift(entry);
  }

  private lift(entry: Entry): void {
    this.active.delete(entry.id);
    if (entry.foreign) return;
    if (this.pending(entry.id)?.type === 'ban') {
      this.forget(entry.id); // never sent: nothing to lift
      this.options.events.outcome('coalesced', entry);
      return;
    }
    this.enqueue(entry.id, 'unban', entry);
  }

  /** Queues an operation at the back, replacing an older one on the same key (and its retry). */
  private enqueue(id: string, type: OpType, entry: Entry, attempts = 0): void {
    this.forget(id);
    this.queue.set(id, { type, entry, attempts });
    this.pump();
  }

  private forget(id: string): void {
    this.queue.delete(id);
    const retry = this.retrying.get(id);
    if (retry) clearTimeout(retry.timer);
    this.retrying.delete(id);
  }

  private pump(): void {
    if (this.working) return;
    this.working = true;
    void this.work().finally(() => {
      this.working = false;
      if (this.queue.size === 0) for (const resolve of this.idleWaiters.splice(0)) resolve();
    });
  }

  private async work(): Promise<void> {
    while (this.queue.size > 0) await this.workBatch();
  }

  /** Up to batchSize operations (one for per-call backends), each settled on its own. */
  private async workBatch(): Promise<void> {
    const backend = this.options.backend;
    const size = isBatchBackend(backend) ? backend.batchSize : 1;
    const taken: [string, Op][] = [];
    for (const [id, op] of this.queue) {
      if (taken.length >= size) break;
      taken.push([id, op]);
    }
    for (const [id] of taken) this.queue.delete(id);
    const ops = taken.filter(([, op]) => !this.stopping || op.type !== 'unban');
    if (ops.length === 0) return;
    let results: (OpResult | null)[];
    try {
      results = isBatchBackend(backend)
        ? await backend.applyBatch(ops.map(([, op]): BatchOp => ({ type: op.type, ban: op.entry })))
        : [await this.executeOne(backend, ops[0][1])];
    } catch (error) {
      results = ops.map(() => ({ ok: false, error: asError(error) }));
    }
    ops.forEach(([id, op], i) => {
      const result = results[i] === undefined ? { ok: false as const, error: new Error('no result') } : results[i];
      if (result) this.settle(id, op, result);
    });
    const evicted = isBatchBackend(backend) ? (backend.takeEvicted?.() ?? []) : [];
    for (const ban of evicted) {
      const entry = this.active.get(`${ban.location}|${ban.key}`);
      if (entry) this.options.events.outcome('evicted', entry);
    }
  }

  private settle(id: string, op: Op, result: OpResult): void {
    const { entry } = op;
    if (!result.ok) {
      if (result.error instanceof ForeignRuleError) {
        entry.foreign = true;
        return this.options.events.outcome('foreign', entry, result.error.message);
      }
      return this.failed(id, op, result.error);
    }
    // if it was lifted while a ban was in flight, the unban queued meanwhile now has the id
    if (result.ruleId) entry.ruleId = result.ruleId;
    if (result.evicted) return this.options.events.outcome('evicted', entry);
    if (op.type === 'unban' && result.laterUntil !== undefined) return this.keepExtended(entry, result.laterUntil);
    if (entry.folds) this.fold(entry);
    if (op.type === 'ban')
      return this.options.events.outcome('banned', entry, undefined, entry.orderedAt === undefined ? undefined : this.now() - entry.orderedAt);
    this.options.events.outcome(op.type === 'extend' ? 'extended' : 'unbanned', entry);
  }

  /**
   * A network's ban stands: the narrower bans inside it that end no later are lifted (one rule
   * instead of many). Not before: until then they keep the attacker out.
   */
  private fold(network: Entry): void {
    for (const key of network.folds!) {
      const inner = this.active.get(`${network.location}|${key}`);
      if (!inner || inner === network || inner.foreign || inner.until > network.until) continue;
      this.options.events.outcome('folded', inner, network.key);
      this.lift(inner);
    }
    network.folds = undefined;
  }

  /**
   * Another receiver extended a ban this one was lifting: it stays, adopted with its new expiry,
   * unless this receiver has banned the key again meanwhile.
   */
  private keepExtended(entry: Entry, until: number): void {
    if (this.active.has(entry.id)) return;
    const kept: Entry = { ...entry, until, orderedAt: undefined };
    this.active.set(kept.id, kept);
    this.timers.push(until * 1000, kept);
    this.options.events.outcome('adopted', kept, 'extended by another receiver');
  }

  /** One operation through a per-call backend; null when there is nothing to do (no rule was made). */
  private async executeOne(backend: PerCallBackend, { type, entry }: Op): Promise<OpResult | null> {
    try {
      if (type === 'ban') return { ok: true, ruleId: await backend.add(entry) };
      if (!entry.ruleId) return null;
      if (type === 'extend') {
        await backend.update({ ...entry, ruleId: entry.ruleId });
        return { ok: true };
      }
      return { ok: true, laterUntil: await backend.remove({ ...entry, ruleId: entry.ruleId }) };
    } catch (error) {
      return { ok: false, error: asError(error) };
    }
  }

  /**
   * A retryable failure waits on its own timer (exponential backoff with jitter, so that bans
   * failing together do not come back together) and is given up after a number of tries; anything
   * else is given up at once. A ban given up frees its key, so the next attack orders it again.
   */
  private failed(id: string, op: Op, error: Error): void {
    const bug = isProgrammingError(error);
    if (bug) this.options.events.bug?.(error);
    const attempts = op.attempts + 1;
    if (bug || !isRetryable(error) || this.stopping || attempts >= (this.options.maxAttempts ?? 10)) return this.giveUp(id, op, error);
    this.options.events.outcome('retry', op.entry, error.message);
    if (this.pending(id)) return; // a newer operation on the key replaced this one while it was out
    const first = this.options.retryDelayMs ?? 5_000;
    const longest = this.options.maxRetryDelayMs ?? 300_000;
    const wait = Math.min(longest, first * 2 ** (attempts - 1)) * (0.5 + (this.options.random ?? Math.random)());
    const timer = setTimeout(() => {
      this.retrying.delete(id);
      this.queue.set(id, { ...op, attempts });
      this.pump();
    }, wait);
    timer.unref();
    this.retrying.set(id, { op, timer });
  }

  private giveUp(id: string, op: Op, error: Error): void {
    const givenUp = op.type === 'ban' && this.active.get(id) === op.entry;
    if (givenUp) this.active.delete(id);
    this.options.events.outcome('failed', op.entry, error.message);
    if (givenUp) this.options.events.gaveUp?.(op.entry);
  }
}
