import type { ShieldBackend, ShieldPlace, ShieldRule } from '../bans/backend';
import { ACTIONS, BanAction } from '../config/defaults';
import { ruleset as rulesetAnswer, RulesetAnswer } from './answers';
import { CloudflareClient, CloudflareError } from './client';
import { zoneForSite } from './notes';

export interface ShieldRulesConfig {
  zoneId?: string;
  /** site suffix → zone id */
  zones: Record<string, string>;
  /** the login paths a shield covers, as the site's root sees them */
  paths: string[];
}

const PHASE = 'http_request_firewall_custom';
const PHASE_PATH = `rulesets/phases/${PHASE}/entrypoint`;
/** Cloudflare's longest rule expression (developers.cloudflare.com/ruleset-engine/rules-language/expressions/) */
export const MAX_EXPRESSION = 4096;
const HOST = /^(?=.{1,253}$)[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?(?:\.[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?)*$/;
/** up to five path segments, none of them `.` or `..` */
const SUB_DIRECTORY = /^(?:\/(?!\.\.?(?:\/|$))[A-Za-z0-9._~-]{1,100}){0,5}$/;
const OWNED_ACTIONS: ReadonlySet<string> = new Set<string>(ACTIONS);
/** No shield edgeban made can end before its first release (as for ban notes). */
const EARLIEST_UNTIL = Date.UTC(2025, 0, 1) / 1000;

/** Exactly `edgeban shield until=<unix seconds>`. */
export function shieldDescription(until: number): string {
  return `edgeban shield until=${until}`;
}

/** The `until` of a description in edgeban's shield grammar, exactly; null for anyone else's. */
export function parseShieldDescription(description: unknown): number | null {
  if (typeof description !== 'string') return null;
  const match = /^edgeban shield until=([1-9]\d{9})$/.exec(description);
  return match && Number(match[1]) >= EARLIEST_UNTIL ? Number(match[1]) : null;
}

/**
 * The site as a rule names it, `host` or `host/sub/directory`, lower-case host without its port;
 * null when it is no host name (the host part of a WP fail2ban tag is the request's Host header,
 * which the client chose: nothing else may reach an expression).
 */
export function shieldSite(site: string): string | null {
  const slash = site.indexOf('/');
  const hostPort = (slash < 0 ? site : site.slice(0, slash)).toLowerCase();
  const host = hostPort.replace(/:\d{1,5}$/, '');
  const directory = slash < 0 ? '' : site.slice(slash).replace(/\/+$/, '');
  return HOST.test(host) && SUB_DIRECTORY.test(directory) ? host + directory : null;
}

function clause(site: string, paths: string[]): string {
  const slash = site.indexOf('/');
  const host = slash < 0 ? site : site.slice(0, slash);
  const directory = slash < 0 ? '' : site.slice(slash);
  return `(http.host eq "${host}" and http.request.uri.path in {${paths.map((path) => `"${directory}${path}"`).join(' ')}})`;
}

/** The expression for these sites, and the sites it holds: as many as fit in Cloudflare's longest expression. */
export function shieldExpression(sites: string[], paths: string[]): { expression: string; sites: string[] } {
  const held: string[] = [];
  let expression = '';
  for (const site of sites) {
    const next = expression ? `${expression} or ${clause(site, paths)}` : clause(site, paths);
    if (next.length > MAX_EXPRESSION) continue;
    expression = next;
    held.push(site);
  }
  return { expression, sites: held };
}

/** The sites an expression edgeban wrote names; a sub-directory is what precedes the first configured path. */
export function shieldSites(expression: string, paths: string[]): string[] {
  const sites: string[] = [];
  for (const match of expression.matchAll(/\(http\.host eq "([a-z0-9.-]+)" and http\.request\.uri\.path in \{"([^"]*)"/g)) {
    const [, host, firstPath] = match;
    const path = paths.find((each) => firstPath.endsWith(each));
    const directory = path ? firstPath.slice(0, firstPath.length - path.length) : '';
    sites.push(SUB_DIRECTORY.test(directory) ? host + directory : host);
  }
  return sites;
}

/**
 * Site shields as custom rules in each zone's `http_request_firewall_custom` entry point: one rule
 * a zone, described `edgeban shield until=<unix seconds>`, its expression the shielded sites'
 * hosts and login paths. Only a rule whose description is exactly that grammar, in an action
 * edgeban uses, is ever read as edgeban's, changed or deleted.
 */
export class ShieldRules implements ShieldBackend {
  constructor(
    private readonly client: CloudflareClient,
    private readonly config: ShieldRulesConfig,
  ) {}

  place(site: string): ShieldPlace | null {
    const named = shieldSite(site);
    const zone = named ? zoneForSite(named, this.config.zones, this.config.zoneId) : undefined;
    return named && zone ? { zone, site: named } : null;
  }

  zones(): string[] {
    return [...new Set([...(this.config.zoneId ? [this.config.zoneId] : []), ...Object.values(this.config.zones)])];
  }

  async read(zone: string): Promise<ShieldRule | null> {
    const ruleset = await this.entrypoint(zone);
    for (const rule of ruleset?.rules ?? []) {
      const until = parseShieldDescription(rule.description);
      if (until === null || !OWNED_ACTIONS.has(rule.action)) continue;
      return { ruleId: rule.id, until, action: rule.action as BanAction, sites: shieldSites(rule.expression, this.config.paths) };
    }
    return null;
  }

  async write(zone: string, wanted: { ruleId?: string; sites: string[]; until: number; action: BanAction }): Promise<{ ruleId: string; sites: string[] }> {
    const { expression, sites } = shieldExpression(wanted.sites, this.config.paths);
    const rule = { action: wanted.action, expression, description: shieldDescription(wanted.until), enabled: true };
    const ruleset = await this.entrypoint(zone);
    if (!ruleset) {
      const { result } = await this.client.request('POST', `/zones/${zone}/rulesets`, {
        body: { name: 'default', kind: 'zone', phase: PHASE, rules: [rule] },
        schema: rulesetAnswer,
      });
      return { ruleId: this.findId(result, rule.description), sites };
    }
    const current = wanted.ruleId && ruleset.rules.some((r) => r.id === wanted.ruleId) ? wanted.ruleId : undefined;
    if (current) {
      await this.client.request('PATCH', `/zones/${zone}/rulesets/${ruleset.id}/rules/${current}`, { body: rule });
      return { ruleId: current, sites };
    }
    const { result } = await this.client.request('POST', `/zones/${zone}/rulesets/${ruleset.id}/rules`, { body: rule, schema: rulesetAnswer });
    return { ruleId: this.findId(result, rule.description), sites };
  }

  async remove(zone: string, ruleId: string): Promise<void> {
    const ruleset = await this.entrypoint(zone);
    if (!ruleset?.rules.some((rule) => rule.id === ruleId)) return;
    try {
      await this.client.request('DELETE', `/zones/${zone}/rulesets/${ruleset.id}/rules/${ruleId}`);
    } catch (error) {
      if (!(error instanceof CloudflareError && error.status === 404)) throw error;
    }
  }

  private async entrypoint(zone: string): Promise<RulesetAnswer | null> {
    try {
      return (await this.client.request('GET', `/zones/${zone}/${PHASE_PATH}`, { schema: rulesetAnswer })).result;
    } catch (error) {
      if (error instanceof CloudflareError && error.status === 404) return null;
      throw error;
    }
  }

  /** The new rule's id in the ruleset Cloudflare answered with: the last of that description. */
  private findId(ruleset: RulesetAnswer, description: string): string {
    const made = ruleset.rules.filter((rule) => rule.description === description).pop();
    if (!made) throw new Error(`Cloudflare's answer lacks the rule just made ("${description}")`);
    return made.id;
  }
}
