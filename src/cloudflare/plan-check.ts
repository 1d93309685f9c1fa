import type { Config } from '../config/schema';
import type { BanAction } from '../config/schema';
import { describeError } from '../common/errors';
import type { CheckLine } from './check';
import { CloudflareClient } from './client';
import { lists as listsAnswer, ruleset as rulesetAnswer, zone as zoneAnswer } from './answers';
import { listName, ruleExpression } from './ip-list';
import { parseShieldDescription } from './shield-rules';
import { configuredZoneIds } from './settings';

/** What each plan allows (Cloudflare's plans table); the highest plan in the account sets the list quota. */
const PLANS = {
  free: { lists: 1, rules: 5, items: 10_000 },
  pro: { lists: 10, rules: 20, items: 10_000 },
  business: { lists: 10, rules: 100, items: 10_000 },
  enterprise: { lists: 1000, rules: 1000, items: 500_000 },
} as const;
type PlanName = keyof typeof PLANS;
const RANK: PlanName[] = ['free', 'pro', 'business', 'enterprise'];

/** The jails' actions, once each: one list and one custom rule a zone each with `backend: ip-list`. */
export function jailActions(config: Config): BanAction[] {
  return [...new Set(Object.values(config.jails).map((jail) => jail.action))];
}

const FIX = 'give every jail the same action, or set cloudflare.backend: access-rules';

/** The zones' plans, the highest first in rank; null for a zone whose plan could not be read. */
async function plansOf(client: CloudflareClient, zones: string[]): Promise<Map<string, PlanName | null>> {
  const plans = new Map<string, PlanName | null>();
  for (const zone of zones) {
    try {
      const legacy = (await client.request('GET', `/zones/${zone}`, { schema: zoneAnswer })).result.plan?.legacy_id;
      plans.set(zone, legacy && legacy in PLANS ? (legacy as PlanName) : null);
    } catch {
      plans.set(zone, null);
    }
  }
  return plans;
}

/**
 * With `backend: ip-list`: whether the plan has room for edgeban's lists (one per action), its
 * custom rules (one per action in every zone) and its items (the limit counts every list of the
 * account), said before start rather than found by every ban failing.
 */
export async function planLines(client: CloudflareClient, config: Config): Promise<CheckLine[]> {
  const actions = jailActions(config);
  const zones = configuredZoneIds(config);
  const plans = await plansOf(client, zones);
  const known = [...plans.values()].filter((plan): plan is PlanName => plan !== null);
  if (known.length === 0) {
    return [{ ok: true, warn: true, text: "the zones' plan could not be read (the token needs Zone → Zone → Read): list and rule limits not checked" }];
  }
  const plan = RANK[Math.max(...known.map((p) => RANK.indexOf(p)))];
  const lines: CheckLine[] = [];
  try {
    lines.push(...(await listLines(client, config, plan, actions)));
  } catch (error) {
    lines.push({ ok: true, warn: true, text: `lists: not counted (${describeError(error)})` });
  }
  for (const zone of zones) {
    const zonePlan = plans.get(zone) ?? plan;
    try {
      lines.push(await ruleLine(client, zone, zonePlan, actions, config.shield !== false));
    } catch (error) {
      lines.push({ ok: true, warn: true, text: `zone ${zone} custom rules: not counted (${describeError(error)})` });
    }
  }
  return lines;
}

async function listLines(client: CloudflareClient, config: Config, plan: PlanName, actions: BanAction[]): Promise<CheckLine[]> {
  const { accountId } = config.cloudflare;
  if (!accountId) return [];
  const existing = (await client.request('GET', `/accounts/${accountId}/rules/lists`, { schema: listsAnswer })).result;
  const ours = new Set(actions.map(listName));
  const missing = actions.filter((action) => !existing.some((list) => list.name === listName(action)));
  const limit = PLANS[plan];
  const lines: CheckLine[] = [];
  const after = existing.length + missing.length;
  if (after > limit.lists) {
    const others = existing.filter((list) => !ours.has(list.name)).map((list) => list.name);
    lines.push({
      ok: false,
      text:
        `lists: the ${plan} plan allows ${limit.lists} custom list(s); the account has ${existing.length}` +
        `${others.length ? ` (${others.join(', ')})` : ''} and the jails need ${missing.length} more, one for each action (${actions.join(', ')}): ${FIX}, or delete a list the account no longer uses`,
    });
  } else {
    lines.push({
      ok: true,
      text: `lists: ${after} of the ${limit.lists} the ${plan} plan allows, with edgeban's ${actions.length} (${actions.map(listName).join(', ')})`,
    });
  }
  const othersItems = existing.filter((list) => !ours.has(list.name)).reduce((n, list) => n + (list.num_items ?? 0), 0);
  const room = Math.min(config.cloudflare.listItemLimit, limit.items) - othersItems;
  lines.push(
    room > 0
      ? { ok: true, warn: othersItems > 0, text: `list items: the account's other lists hold ${othersItems} of ${limit.items}: room for ${room} bans` }
      : { ok: false, text: `list items: the account's other lists hold ${othersItems} of the ${limit.items} items the plan allows: no room for a ban` },
  );
  return lines;
}

async function ruleLine(client: CloudflareClient, zone: string, plan: PlanName, actions: BanAction[], shield: boolean): Promise<CheckLine> {
  let rules: { expression: string; description?: string }[] = [];
  try {
    rules = (await client.request('GET', `/zones/${zone}/rulesets/phases/http_request_firewall_custom/entrypoint`, { schema: rulesetAnswer })).result.rules;
  } catch (error) {
    if (!(error instanceof Error && 'status' in error && error.status === 404)) throw error;
  }
  const isOurs = (action: BanAction) => rules.some((rule) => rule.expression === ruleExpression(action) && rule.description === `edgeban ${action}`);
  const missing = actions.filter((action) => !isOurs(action)).length;
  const limit = PLANS[plan].rules;
  if (rules.length + missing > limit) {
    return {
      ok: false,
      text: `zone ${zone} custom rules: the ${plan} plan allows ${limit}; the zone has ${rules.length} and edgeban needs ${missing} more (${actions.join(', ')}): ${FIX}, or remove a custom rule the zone no longer needs`,
    };
  }
  const used = `zone ${zone} custom rules: ${rules.length + missing} of the ${limit} the ${plan} plan allows, with edgeban's`;
  const shieldMissing = shield && !rules.some((rule) => parseShieldDescription(rule.description) !== null);
  if (shieldMissing && rules.length + missing + 1 > limit) {
    return {
      ok: true,
      warn: true,
      text: `${used}; no room for the site shield's rule (bans go out, the shield is refused): remove a custom rule, or set shield: false`,
    };
  }
  return { ok: true, text: shieldMissing ? `${used}, and room for the site shield's` : used };
}
