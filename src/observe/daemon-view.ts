import { parseCidr } from '../address/cidr';
import { parseIp, sameBlock } from '../address/ip';
import type { ApiBudget, EdgeBan } from '../bans/backend';
import type { Ledger, LedgerOutcome } from '../bans/ledger';
import type { ShieldKeeper, ShieldOutcome } from '../bans/shield-keeper';
import { Tally } from '../common/tally';
import type { BoundAddress } from '../ingest/listeners';
import type { Pipeline } from '../policy/pipeline';
import type { SharedCounting } from '../cluster/shared-counting';
import type { AdminBan, AdminTarget } from './admin';
import { DaemonLog, listening } from './daemon-log';
import { History } from './history';
import type { AddressMask, Logger } from './log';
import { Metrics, MetricSources } from './metrics';

/** What the view reads; read when asked, so the daemon may build them after the view. */
export interface DaemonParts {
  pipeline: () => Pipeline;
  ledger: () => Ledger;
  decodedIn: () => Tally;
  bound: () => readonly BoundAddress[];
  /** null without calls to Cloudflare (the dry run) */
  budget: () => ApiBudget | null;
  /** null without `shared` */
  shared: () => SharedCounting | null;
  /** null without `shield`, or a backend that cannot make one */
  shields: () => ShieldKeeper | null;
}

/** A failed or retried Cloudflare call, as the status shows it (the error through the address mask). */
export interface RecentError {
  at: number;
  outcome: 'failed' | 'retry';
  jail: string;
  error: string;
}

const RECENT_ERRORS = 5;

/**
 * What is seen of a running daemon: its counters and metrics, its log lines (`words`), and what the
 * admin endpoint reads, with the one thing that may change it there: an unban.
 */
export class DaemonView implements AdminTarget {
  /** frames and connections, as `transport:outcome` */
  readonly ingestOutcomes = new Tally();
  /** Cloudflare's answers by HTTP status ('0': none) */
  readonly apiResponses = new Tally();
  readonly banOutcomes = new Tally();
  readonly shieldOutcomes = new Tally();
  readonly words: DaemonLog;
  private readonly metricSources: MetricSources;
  private madeMetrics: Metrics | null = null;
  /** the last hour a minute at a time, for the live page */
  readonly history = new History();
  private readonly startedAt = Date.now();
  private readonly recentErrors: RecentError[] = [];

  constructor(
    log: Logger,
    private readonly addresses: AddressMask,
    private readonly backendName: string,
    private readonly parts: DaemonParts,
  ) {
    this.words = new DaemonLog(log, addresses, backendName);
    this.metricSources = {
      frames: this.ingestOutcomes,
      decodedIn: { entries: () => parts.decodedIn().entries() },
      rejected: { entries: () => parts.pipeline().stats.rejected.entries() },
      kinds: { entries: () => parts.pipeline().stats.kinds.entries() },
      ignored: { entries: () => parts.pipeline().stats.ignored.entries() },
      banOutcomes: this.banOutcomes,
      apiResponses: this.apiResponses,
      backend: () => backendName,
      queueDepth: () => parts.ledger().queued,
      trackedKeys: () => parts.pipeline().policy.tracked,
      activeBans: () => parts.ledger().active.size,
      apiCalls5m: () => parts.budget()?.used ?? 0,
      sharedHits: { entries: () => parts.shared()?.counted.entries() ?? [] },
      shieldOutcomes: this.shieldOutcomes,
      activeShields: () => parts.shields()?.active().length ?? 0,
    };
  }

  /** The Prometheus metrics, made at first use; `startMetrics` makes them once the daemon listens. */
  get metrics(): Metrics {
    return (this.madeMetrics ??= new Metrics(this.metricSources));
  }

  /** Loads prom-client and starts its collectors (the event-loop lag sampler among them). */
  startMetrics(): void {
    void this.metrics;
  }

  /** A ledger outcome: counted, its latency observed, and logged. */
  banOutcome(what: LedgerOutcome, ban: EdgeBan, detail?: string, latencyMs?: number): void {
    this.banOutcomes.add(what);
    if (what === 'banned' || what === 'unbanned' || what === 'failed') this.history.ban(what);
    if (latencyMs !== undefined) this.metrics.banLatency.observe(latencyMs / 1000);
    if ((what === 'failed' || what === 'retry') && detail) this.recentError(what, ban.jail, detail);
    this.words.banOutcome(what, ban, detail);
  }

  /** A shield outcome: counted and logged; a failure joins the recent API errors. */
  shieldOutcome(what: ShieldOutcome, zone: string, sites: string[], until: number, detail?: string): void {
    this.shieldOutcomes.add(what);
    if ((what === 'refused' || what === 'retry') && detail) this.recentError(what === 'refused' ? 'failed' : 'retry', 'shield', detail);
    this.words.shieldOutcome(what, zone, sites, until, detail);
  }

  /** One of the last few failed or retried Cloudflare calls, its text through the address mask. */
  private recentError(outcome: 'failed' | 'retry', jail: string, detail: string): void {
    this.recentErrors.push({ at: Math.floor(Date.now() / 1000), outcome, jail, error: this.addresses.scrub(detail) });
    if (this.recentErrors.length > RECENT_ERRORS) this.recentErrors.shift();
  }

  metricsText(): Promise<string> {
    return this.metrics.text();
  }

  status(): Record<string, unknown> {
    const { backendName } = this;
    const pipeline = this.parts.pipeline();
    const ledger = this.parts.ledger();
    const { stats } = pipeline;
    return {
      backend: backendName,
      uptimeSeconds: Math.round((Date.now() - this.startedAt) / 1000),
      listening: listening(this.parts.bound()),
      lines: stats.lines,
      events: stats.events,
      bansOrdered: stats.bans,
      activeBans: ledger.active.size,
      queued: ledger.queued,
      trackedKeys: pipeline.policy.tracked,
      classes: stats.classes.toObject(),
      ignored: stats.ignored.toObject(),
      apiResponses: this.apiResponses.toObject(),
      apiBudget: this.parts.budget(),
      shared: this.sharedStatus(),
      shields: this.parts.shields()?.active() ?? [],
      recentApiErrors: [...this.recentErrors],
      jails: this.jails(),
    };
  }

  private sharedStatus(): { up: boolean; counted: Record<string, number> } | null {
    const shared = this.parts.shared();
    return shared && { up: shared.up, counted: shared.counted.toObject() };
  }

  /** Each jail as configured, with the bans it holds now. */
  private jails(): Record<string, Record<string, unknown>> {
    const active = new Tally();
    for (const ban of this.parts.ledger().active.values()) active.add(ban.jail);
    const configs = this.parts.pipeline().policy.jailConfigs;
    return Object.fromEntries(Object.entries(configs).map(([name, jail]) => [name, { ...jail, activeBans: active.get(name) }]));
  }

  dashboard(): Record<string, unknown> {
    const bansByJail = new Tally();
    for (const ban of this.parts.ledger().active.values()) bansByJail.add(`${ban.jail} ${ban.action}`);
    return { status: this.status(), history: this.history.snapshot(), bansByJail: Object.fromEntries(bansByJail.entries()) };
  }

  bans(): AdminBan[] {
    return [...this.parts.ledger().active.values()].map(({ key, jail, action, until, location }) => ({ key, jail, action, until, location }));
  }

  /** Without the admin token, an address is always a pseudonym, whatever the log shows. */
  mask(address: string): string {
    return this.addresses.pseudonym(address);
  }

  /** An operator's unban: lifts the ban of this address's key everywhere, and forgets its window. */
  unban(address: string): string[] | null {
    const pipeline = this.parts.pipeline();
    const ledger = this.parts.ledger();
    const ip = parseIp(address.trim().split('/')[0]);
    if (!ip) return null;
    const key = pipeline.policy.keyOf(ip);
    if (key === null) return []; // never bannable, so never banned
    // its own key's ban, and a network's that holds it
    const lifted = [...ledger.active.values()].filter((ban) => {
      const range = parseCidr(ban.key);
      return ban.key === key || (range.ip.family === ip.family && sameBlock(range.ip, ip, range.bits));
    });
    for (const ban of lifted) ledger.unban(ban.location, ban.key);
    pipeline.policy.forget(ip);
    this.parts.shared()?.forget(key);
    this.words.operatorUnban(key, lifted.length);
    return [...new Set(lifted.map((ban) => ban.key))];
  }
}
