import { formatHost } from '../address/host-port';
import { parseIp } from '../address/ip';
import type { Ledger } from '../bans/ledger';
import type { BoundAddress } from '../ingest/listeners';
import type { Pipeline } from '../policy/pipeline';
import type { AdminBan, AdminTarget } from './admin';
import type { DaemonLog } from './daemon-log';
import type { AddressMask } from './log';
import type { Metrics } from './metrics';

export interface DaemonParts {
  pipeline: Pipeline;
  ledger: Ledger;
  metrics: Metrics;
  mask: AddressMask;
  words: DaemonLog;
  backendName: string;
  bound: () => readonly BoundAddress[];
}

/** `transport://host:port` of every listener, as the start-up log and /status show them. */
export function listening(bound: readonly BoundAddress[]): string[] {
  return bound.map((b) => `${b.transport}://${formatHost(b.host)}:${b.port}`);
}

/** What the admin endpoint reads of a running daemon, and the one thing it may change: an unban. */
export class DaemonView implements AdminTarget {
  private readonly startedAt = Date.now();

  constructor(private readonly parts: DaemonParts) {}

  metricsText(): Promise<string> {
    return this.parts.metrics.text();
  }

  status(): Record<string, unknown> {
    const { pipeline, ledger, backendName, bound } = this.parts;
    const { stats } = pipeline;
    return {
      backend: backendName,
      uptimeSeconds: Math.round((Date.now() - this.startedAt) / 1000),
      listening: listening(bound()),
      lines: stats.lines,
      events: stats.events,
      bansOrdered: stats.bans,
      activeBans: ledger.active.size,
      queued: ledger.queued,
      trackedKeys: pipeline.policy.tracked,
    };
  }

  bans(): AdminBan[] {
    return [...this.parts.ledger.active.values()].map(({ key, jail, action, until, location }) => ({ key, jail, action, until, location }));
  }

  mask(address: string): string {
    return this.parts.mask.show(address);
  }

  /** An operator's unban: lifts the ban of this address's key everywhere, and forgets its window. */
  unban(address: string): string[] | null {
    const { pipeline, ledger, words } = this.parts;
    const ip = parseIp(address.trim().split('/')[0]);
    if (!ip) return null;
    const key = pipeline.policy.keyOf(ip);
    const lifted = [...ledger.active.values()].filter((ban) => ban.key === key).map((ban) => ban.location);
    for (const location of lifted) ledger.unban(location, key);
    pipeline.policy.forget(ip);
    words.operatorUnban(key, lifted.length);
    return lifted.length ? [key] : [];
  }
}
