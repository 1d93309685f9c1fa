import type { AccessRulesConfig } from './settings';
import type { EdgeBan, PerCallBackend } from '../bans/backend';
import { ForeignRuleError } from '../common/errors';
import { formatNotes, ownedRule, zoneForSite } from './notes';
import { CloudflareClient, CloudflareError } from './client';

interface AccessRule {
  id: string;
  mode: string;
  notes: string;
  configuration: { target: string; value: string };
}

const DUPLICATE = 10009;
const NOT_FOUND = 10001;
const PER_PAGE = 100;

/** The rule target for a ban key: one IPv4 as `ip`, a single IPv6 as `ip6`, prefixes as `ip_range`. */
export function targetFor(key: string): { target: 'ip' | 'ip6' | 'ip_range'; value: string } {
  const [address, bits] = key.split('/');
  if (address.includes(':')) return bits === '128' ? { target: 'ip6', value: address } : { target: 'ip_range', value: key };
  return bits === '32' ? { target: 'ip', value: address } : { target: 'ip_range', value: key };
}

function keyFor(configuration: AccessRule['configuration']): string | null {
  switch (configuration.target) {
    case 'ip':
      return `${configuration.value}/32`;
    case 'ip6':
      return `${configuration.value.toLowerCase()}/128`;
    case 'ip_range':
      return configuration.value.toLowerCase();
    default:
      return null;
  }
}

/** IP Access Rules at zone level (zone per site) or account level. */
export class AccessRulesBackend implements PerCallBackend {
  readonly name = 'access-rules';

  constructor(
    private readonly client: CloudflareClient,
    private readonly config: AccessRulesConfig,
  ) {}

  locate(site: string | null): string | null {
    if (this.config.scope === 'account') return this.config.accountId ? `account:${this.config.accountId}` : null;
    const zone = zoneForSite(site, this.config.zones, this.config.zoneId);
    return zone ? `zone:${zone}` : null;
  }

  private rulesPath(location: string): string {
    const [kind, id] = location.split(':');
    return `/${kind === 'zone' ? 'zones' : 'accounts'}/${id}/firewall/access_rules/rules`;
  }

  /** Every location edgeban may have rules in: the account, or the default and per-site zones. */
  private locations(): string[] {
    if (this.config.scope === 'account') return this.config.accountId ? [`account:${this.config.accountId}`] : [];
    const zones = new Set(Object.values(this.config.zones));
    if (this.config.zoneId) zones.add(this.config.zoneId);
    return [...zones].map((zone) => `zone:${zone}`);
  }

  async add(ban: EdgeBan): Promise<string> {
    const configuration = targetFor(ban.key);
    try {
      const { result } = await this.client.request<AccessRule>('POST', this.rulesPath(ban.location), {
        body: { mode: ban.action, configuration, notes: formatNotes(ban) },
      });
      return result.id;
    } catch (error) {
      if (!(error instanceof CloudflareError) || !error.has(DUPLICATE)) throw error;
      return this.adopt(ban, configuration);
    }
  }

  /** A rule for this address exists: take it over if edgeban made it, else leave it alone. */
  private async adopt(ban: EdgeBan, configuration: ReturnType<typeof targetFor>): Promise<string> {
    const { result } = await this.client.request<AccessRule[]>('GET', this.rulesPath(ban.location), {
      query: { 'configuration.target': configuration.target, 'configuration.value': configuration.value, per_page: 5 },
    });
    const existing = result.find((rule) => rule.configuration.value.toLowerCase() === configuration.value.toLowerCase());
    if (!existing) throw new CloudflareError('GET', this.rulesPath(ban.location), 200, [{ code: 0, message: 'duplicate reported but no rule found' }], true);
    const current = ownedRule(existing);
    if (!current) throw new ForeignRuleError('a rule edgeban did not make already covers this address');
    if (current.until < ban.until || current.action !== ban.action) await this.update({ ...ban, ruleId: existing.id });
    return existing.id;
  }

  async update(ban: EdgeBan & { ruleId: string }): Promise<void> {
    await this.client.request('PATCH', `${this.rulesPath(ban.location)}/${ban.ruleId}`, { body: { mode: ban.action, notes: formatNotes(ban) } });
  }

  async remove(ban: EdgeBan & { ruleId: string }): Promise<void> {
    const zone = ban.location.startsWith('zone:');
    try {
      await this.client.request('DELETE', `${this.rulesPath(ban.location)}/${ban.ruleId}`, { body: zone ? { cascade: 'none' } : {} });
    } catch (error) {
      if (error instanceof CloudflareError && error.status === 404 && error.has(NOT_FOUND)) return;
      throw error;
    }
  }

  async listOwned(): Promise<(EdgeBan & { ruleId: string })[]> {
    const owned: (EdgeBan & { ruleId: string })[] = [];
    for (const location of this.locations()) {
      for (let page = 1; ; page++) {
        const { result } = await this.client.request<AccessRule[]>('GET', this.rulesPath(location), {
          query: { notes: 'edgeban ', per_page: PER_PAGE, page },
        });
        if (!Array.isArray(result) || result.length === 0) break;
        for (const rule of result) {
          const owner = ownedRule(rule);
          const key = keyFor(rule.configuration);
          if (!owner || !key) continue; // someone else's: never adopted, changed or deleted
          owned.push({ location, key, jail: owner.jail, action: owner.action, until: owner.until, ruleId: rule.id });
        }
        if (result.length < PER_PAGE) break;
      }
    }
    return owned;
  }

  async close(): Promise<void> {
    await this.client.close();
  }
}
