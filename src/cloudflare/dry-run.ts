import type { BatchBackend, BatchOp, EdgeBan, OpResult } from '../bans/backend';
import { zoneForSite } from './notes';
import type { AccessRulesConfig } from './settings';

/**
 * No token, or `dryRun: true`: every ban and unban goes through the ledger as usual (so coalescing,
 * expiry and logs are real) but nothing is sent. Operations settle a thousand at a time, as the
 * ip-list backend's do: with nothing to wait for, one promise per ban would be the cost.
 */
export class DryRunBackend implements BatchBackend {
  readonly name = 'dry-run';
  readonly batchSize = 1000;
  private next = 0;

  constructor(private readonly config: AccessRulesConfig) {}

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
