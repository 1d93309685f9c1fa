import { Backend, EdgeBan, zoneForSite } from './backend';
import type { AccessRulesConfig } from './settings';

/**
 * No token, or `dryRun: true`: every ban and unban goes through the ledger as usual (so timing,
 * coalescing and logs are real) but nothing is sent.
 */
export class DryRunBackend implements Backend {
  readonly name = 'dry-run';
  private next = 0;

  constructor(private readonly config: AccessRulesConfig) {}

  locate(site: string | null): string {
    if (this.config.scope === 'account') return `account:${this.config.accountId ?? 'dry-run'}`;
    return `zone:${zoneForSite(site, this.config.zones, this.config.zoneId) ?? 'dry-run'}`;
  }

  async add(_ban: EdgeBan): Promise<string> {
    return `dry-run-${++this.next}`;
  }

  async update(): Promise<void> {}

  async remove(): Promise<void> {}

  async listOwned(): Promise<(EdgeBan & { ruleId: string })[]> {
    return [];
  }

  async close(): Promise<void> {}
}
