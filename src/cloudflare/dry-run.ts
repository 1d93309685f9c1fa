import type { BatchBackend, BatchOp, EdgeBan, OpResult, ShieldBackend, ShieldPlace, ShieldRule } from '../bans/backend';
import type { BanAction } from '../config/schema';
import { zoneForSite } from './notes';
import type { AccessRulesConfig } from './settings';
import { shieldExpression, shieldSite } from './shield-rules';

/** Shields that go nowhere: what a real zone would hold, kept in memory, so that the logs and the status are real. */
class DryRunShields implements ShieldBackend {
  private readonly rules = new Map<string, ShieldRule>();
  private next = 0;

  constructor(
    private readonly config: AccessRulesConfig,
    private readonly paths: string[],
  ) {}

  place(site: string): ShieldPlace | null {
    const named = shieldSite(site);
    return named ? { zone: zoneForSite(named, this.config.zones, this.config.zoneId) ?? 'dry-run', site: named } : null;
  }

  zones(): string[] {
    return [...this.rules.keys()];
  }

  async read(zone: string): Promise<ShieldRule | null> {
    return this.rules.get(zone) ?? null;
  }

  async write(zone: string, rule: { ruleId?: string; sites: string[]; until: number; action: BanAction }): Promise<{ ruleId: string; sites: string[] }> {
    const { sites } = shieldExpression(rule.sites, this.paths);
    const ruleId = rule.ruleId ?? `dry-run-shield-${++this.next}`;
    this.rules.set(zone, { ruleId, sites, until: rule.until, action: rule.action });
    return { ruleId, sites };
  }

  async remove(zone: string): Promise<void> {
    this.rules.delete(zone);
  }
}

/**
 * No token, or `dryRun: true`: every ban and unban goes through the ledger as usual (so coalescing,
 * expiry and logs are real) but nothing is sent. Operations settle a thousand at a time, as the
 * ip-list backend's do: with nothing to wait for, one promise per ban would be the cost.
 */
export class DryRunBackend implements BatchBackend {
  readonly name = 'dry-run';
  readonly batchSize = 1000;
  private next = 0;
  readonly shields: ShieldBackend;

  constructor(
    private readonly config: AccessRulesConfig,
    shieldPaths: string[] = [],
  ) {
    this.shields = new DryRunShields(config, shieldPaths);
  }

  locate(site: string | null): string {
    if (this.config.scope === 'account') return `account:${this.config.accountId ?? 'dry-run'}`;
    return `zone:${zoneForSite(site, this.config.zones, this.config.zoneId) ?? 'dry-run'}`;
  }

  async applyBatch(ops: BatchOp[]): Promise<OpResult[]> {
    return ops.map((op) => (op.type === 'ban' ? { ok: true, ruleId: this.ruleId() } : { ok: true }));
  }

  private ruleId(): string {
    return `dry-run-${++this.next}`;
  }

  async listOwned(): Promise<(EdgeBan & { ruleId: string })[]> {
    return [];
  }

  async close(): Promise<void> {}
}
