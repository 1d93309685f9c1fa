import type { AccessRulesConfig } from './settings';
import type { ApiBudget, ShieldBackend, EdgeBan, PerCallBackend } from '../bans/backend';
import { ForeignRuleError } from '../common/errors';
import { parseCidr } from '../address/cidr';
import { prefixKey } from '../address/ip';
import { formatNotes, ownedRule, zoneForSite } from './notes';
import { CloudflareClient, CloudflareError } from './client';
import { accessRule, accessRules, AccessRuleAnswer } from './answers';

/** `scope` says where the rule lives: a zone's listing also holds the rules its account and user made. */
type AccessRule = AccessRuleAnswer;

const DUPLICATE = 10009;
const NOT_FOUND = 10001;
const PER_PAGE = 100;
/** A bound on paging, whatever the answers say: 50,000 rules at 100 a page, Cloudflare's rule quota. */
const MAX_PAGES = 500;

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

/** The same address or range whatever way it is written (case, zero groups): the ban key's form. */
function canonical(configuration: AccessRule['configuration']): string | null {
  const key = keyFor(configuration);
  if (!key) return null;
  try {
    const { ip, bits } = parseCidr(key);
    return prefixKey(ip, bits);
  } catch {
    return null; // not an address Cloudflare would store: no match
  }
}

/** Whether a rule found through a location's listing lives there (not inherited from the account or user). */
function livesAt(rule: AccessRule, location: string): boolean {
  const kind = location.split(':')[0];
  return rule.scope?.type === undefined || rule.scope.type === kind;
}

/** IP Access Rules at zone level (zone per site) or account level. */
export class AccessRulesBackend implements PerCallBackend {
  readonly name = 'access-rules';

  constructor(
    private readonly client: CloudflareClient,
    private readonly config: AccessRulesConfig,
    readonly shields?: ShieldBackend,
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
      const { result } = await this.client.request('POST', this.rulesPath(ban.location), {
        body: { mode: ban.action, configuration, notes: formatNotes(ban) },
        schema: accessRule,
      });
      return result.id;
    } catch (error) {
      if (!(error instanceof CloudflareError) || !error.has(DUPLICATE)) throw error;
      return this.adopt(ban, configuration);
    }
  }

  /**
   * A rule for this address exists: take it over if edgeban made it, else leave it alone. It is
   * found with the filters Cloudflare documents for every target (the target, and the value for a
   * single IPv4 address only), compared in canonical form: an IPv6 value may be stored as written.
   */
  private async adopt(ban: EdgeBan, configuration: ReturnType<typeof targetFor>): Promise<string> {
    const wanted = canonical(configuration);
    const filters: Record<string, string> = { 'configuration.target': configuration.target };
    if (configuration.target === 'ip') filters['configuration.value'] = configuration.value;
    const existing = await this.findRule(ban.location, filters, (rule) => canonical(rule.configuration) === wanted);
    if (!existing) throw new CloudflareError('GET', this.rulesPath(ban.location), 200, [{ code: 0, message: 'duplicate reported but no rule found' }], true);
    if (!livesAt(existing, ban.location)) throw new ForeignRuleError('a rule of the account or user covers this address');
    const current = ownedRule(existing);
    if (!current) throw new ForeignRuleError('a rule edgeban did not make already covers this address');
    if (current.until < ban.until || current.action !== ban.action) await this.update({ ...ban, ruleId: existing.id });
    return existing.id;
  }

  /** An account rule's edit carries its configuration too, as the account endpoint's schema requires. */
  async update(ban: EdgeBan & { ruleId: string }): Promise<void> {
    const body = { mode: ban.action, notes: formatNotes(ban), ...(ban.location.startsWith('account:') ? { configuration: targetFor(ban.key) } : {}) };
    await this.client.request('PATCH', `${this.rulesPath(ban.location)}/${ban.ruleId}`, { body });
  }

  /**
   * Reads the rule first: another receiver sharing the zone (a standby, or a peer) may have extended
   * it, and deleting it then would let the attacker in early. One GET a lift buys that promise.
   */
  async remove(ban: EdgeBan & { ruleId: string }): Promise<number | undefined> {
    const path = `${this.rulesPath(ban.location)}/${ban.ruleId}`;
    try {
      const { result } = await this.client.request('GET', path, { schema: accessRule });
      const now = ownedRule(result);
      if (now && now.until > ban.until) return now.until;
      await this.client.request('DELETE', path, { body: ban.location.startsWith('zone:') ? { cascade: 'none' } : {} });
    } catch (error) {
      if (error instanceof CloudflareError && error.status === 404 && error.has(NOT_FOUND)) return undefined;
      throw error;
    }
    return undefined;
  }

  async listOwned(): Promise<(EdgeBan & { ruleId: string })[]> {
    const owned: (EdgeBan & { ruleId: string })[] = [];
    for (const location of this.locations()) {
      await this.eachRule(location, { notes: 'edgeban ' }, (rule) => {
        const owner = ownedRule(rule);
        const key = keyFor(rule.configuration);
        // someone else's, or inherited from the account or user: never adopted, changed or deleted here
        if (owner && key && livesAt(rule, location)) owned.push({ location, key, jail: owner.jail, action: owner.action, until: owner.until, ruleId: rule.id });
        return false;
      });
    }
    return owned;
  }

  private async findRule(location: string, filters: Record<string, string>, wanted: (rule: AccessRule) => boolean): Promise<AccessRule | null> {
    const found: AccessRule[] = [];
    await this.eachRule(location, filters, (rule) => wanted(rule) && found.push(rule) > 0);
    return found[0] ?? null;
  }

  /**
   * Every rule of a location's listing that the filters pass, page by page, until `each` says
   * stop. Pages end at result_info.total_pages or an empty page, never at a short one: Cloudflare
   * has answered fewer rules a page than asked.
   */
  private async eachRule(location: string, filters: Record<string, string>, each: (rule: AccessRule) => boolean): Promise<void> {
    for (let page = 1; page <= MAX_PAGES; page++) {
      const { result, info } = await this.client.request('GET', this.rulesPath(location), {
        query: { ...filters, per_page: PER_PAGE, page },
        schema: accessRules,
      });
      if (result.length === 0) return;
      for (const rule of result) if (each(rule)) return;
      if (info?.total_pages !== undefined && page >= info.total_pages) return;
    }
  }

  budget(): ApiBudget {
    return this.client.budget();
  }

  async close(): Promise<void> {
    await this.client.close();
  }
}
