import type { Histogram, Registry } from 'prom-client';
import type { Tally } from '../common/tally';

/** Counts read at scrape time: a Tally, or anything that lists its entries the same way. */
type Counts = Pick<Tally, 'entries'>;

/** What the metrics read at scrape time; the hot path only bumps cheap Map counters. */
export interface MetricSources {
  frames: Counts; // `${transport}:${outcome}`
  decodedIn: Counts; // frames decoded on the main thread ('main') or in the decode thread ('thread')
  rejected: Counts; // lines that gave no event, by reason
  kinds: Counts; // events by kind
  ignored: Counts; // events never counted, by reason
  banOutcomes: Counts; // ledger outcomes
  apiResponses: Counts; // HTTP status ('0' = no response)
  backend: () => string;
  queueDepth: () => number;
  trackedKeys: () => number;
  activeBans: () => number;
  /** calls to Cloudflare in the last 5 minutes (0 in a dry run) */
  apiCalls5m: () => number;
  /** hits of the shared windows, by where they were counted (`shared`, or `local` when the server did not answer) */
  sharedHits: Counts;
  /** site shield outcomes (raised, extended, lifted, …) */
  shieldOutcomes: Counts;
  activeShields: () => number;
}

type Prom = typeof import('prom-client');

/** A counter whose values are copied from a Tally when scraped. */
function tallyCounter(prom: Prom, registry: Registry, name: string, help: string, labels: string[], read: () => [Record<string, string>, number][]): void {
  new prom.Counter({
    name,
    help,
    labelNames: labels,
    registers: [registry],
    collect() {
      this.reset();
      for (const [labelValues, value] of read()) this.inc(labelValues, value);
    },
  });
}

/**
 * The Prometheus registry over the daemon's counters. prom-client is loaded here, when the daemon
 * first needs it (after it listens), not at start: it is a twentieth of a cold start.
 */
export class Metrics {
  readonly registry: Registry;
  readonly banLatency: Histogram;

  constructor(sources: MetricSources) {
    // eslint-disable-next-line @typescript-eslint/no-require-imports -- loaded lazily on purpose (see above)
    const prom = require('prom-client') as Prom;
    const r = (this.registry = new prom.Registry());
    const { collectDefaultMetrics, Gauge, Histogram } = prom;
    // the event-loop lag sampler's default wakes the process a hundred times a second, a cost seen at idle
    collectDefaultMetrics({ register: r, prefix: 'edgeban_process_', eventLoopMonitoringPrecision: 100 });
    tallyCounter(prom, r, 'edgeban_frames_total', 'Frames and connections by transport and outcome', ['transport', 'outcome'], () =>
      sources.frames.entries().map(([key, value]) => {
        const [transport, outcome] = key.split(':');
        return [{ transport, outcome }, value];
      }),
    );
    tallyCounter(
      prom,
      r,
      'edgeban_frames_decoded_total',
      'Frames parsed and recognised, by thread (thread: a flood went to the decode thread)',
      ['thread'],
      () => sources.decodedIn.entries().map(([thread, value]) => [{ thread }, value]),
    );
    tallyCounter(prom, r, 'edgeban_lines_rejected_total', 'Lines that gave no event, by reason', ['reason'], () =>
      sources.rejected.entries().map(([reason, value]) => [{ reason }, value]),
    );
    tallyCounter(prom, r, 'edgeban_events_total', 'Recognised WP fail2ban events by kind', ['kind'], () =>
      sources.kinds.entries().map(([kind, value]) => [{ kind }, value]),
    );
    tallyCounter(prom, r, 'edgeban_events_ignored_total', 'Events never counted, by reason', ['reason'], () =>
      sources.ignored.entries().map(([reason, value]) => [{ reason }, value]),
    );
    tallyCounter(prom, r, 'edgeban_ban_operations_total', 'Bans, unbans and their outcomes, by backend', ['backend', 'outcome'], () =>
      sources.banOutcomes.entries().map(([outcome, value]) => [{ backend: sources.backend(), outcome }, value]),
    );
    tallyCounter(prom, r, 'edgeban_api_responses_total', 'Cloudflare API responses by HTTP status (0: no response)', ['status'], () =>
      sources.apiResponses.entries().map(([status, value]) => [{ status }, value]),
    );
    const gauge = (name: string, help: string, read: () => number) =>
      new Gauge({
        name,
        help,
        registers: [r],
        collect() {
          this.set(read());
        },
      });
    gauge('edgeban_queue_depth', 'Ban operations waiting to be sent', sources.queueDepth);
    gauge('edgeban_tracked_keys', 'Keys in the policy window', sources.trackedKeys);
    gauge('edgeban_active_bans', 'Bans edgeban holds at Cloudflare', sources.activeBans);
    tallyCounter(
      prom,
      r,
      'edgeban_shared_hits_total',
      'Hits of jails with shared state, by where they were counted (local: the server did not answer)',
      ['counted'],
      () => sources.sharedHits.entries().map(([counted, value]) => [{ counted }, value]),
    );
    tallyCounter(prom, r, 'edgeban_shield_operations_total', 'Site shields raised, extended, lifted and their failures', ['outcome'], () =>
      sources.shieldOutcomes.entries().map(([outcome, value]) => [{ outcome }, value]),
    );
    gauge('edgeban_active_shields', 'Sites behind a shield now', sources.activeShields);
    gauge('edgeban_api_calls_5m', 'Calls to the Cloudflare API in the last 5 minutes (of cloudflare.requestsPer5Min)', sources.apiCalls5m);
    this.banLatency = new Histogram({
      name: 'edgeban_ban_latency_seconds',
      help: 'From the ban order to Cloudflare confirming the rule',
      buckets: [0.001, 0.005, 0.01, 0.05, 0.1, 0.5, 1, 5, 30, 300],
      registers: [r],
    });
  }

  text(): Promise<string> {
    return this.registry.metrics();
  }
}
