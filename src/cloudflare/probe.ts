import { randomInt } from 'node:crypto';
import { describeError } from '../common/errors';
import type { Config } from '../config/schema';
import type { CheckLine } from './check';
import { CloudflareClient, CloudflareError } from './client';
import { accessRule, bulkOperation, bulkOperationStarted, list as listAnswer, listItems, lists as listsAnswer, ruleset as rulesetAnswer } from './answers';
import { LIST_DESCRIPTION, listName } from './ip-list';
import { jailActions } from './plan-check';
import { configuredZoneIds } from './settings';

/**
 * `edgeban check` proves it can write with what cannot hurt: a rule or list item for an address
 * of TEST-NET-1 (192.0.2.0/24, RFC 5737: never a visitor), made and deleted at once. Each probe
 * says what it proved, names the missing permission when Cloudflare refuses, and says so loudly
 * if what it made could not be deleted.
 */
export interface Probe {
  what: string;
  permission: string;
  run(client: CloudflareClient, address: string): Promise<string>;
}

const NOTE = 'edgeban check: write probe, deleted at once';
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/** The probes the configured backend needs: every zone's (or the account's) rules, or the lists and every zone's custom rules. */
export function probesFor(config: Config, permissions: { zone: string; account: string; lists: string; waf: string }): Probe[] {
  const { backend, scope, accountId } = config.cloudflare;
  const zones = configuredZoneIds(config);
  if (backend === 'ip-list') {
    return [
      ...(accountId
        ? [
            {
              what: `account ${accountId} lists`,
              permission: permissions.lists,
              run: (c: CloudflareClient, a: string) => probeList(c, accountId, a, jailActions(config).map(listName)),
            },
          ]
        : []),
      ...zones.map((zone) => ({
        what: `zone ${zone} custom rules`,
        permission: permissions.waf,
        run: (c: CloudflareClient, a: string) => probeCustomRule(c, zone, a),
      })),
    ];
  }
  // the site shield is a custom rule in each zone: the lists' probes above prove that already
  const shields: Probe[] = config.shield
    ? zones.map((zone) => ({
        what: `zone ${zone} custom rules (site shield; shield: false turns it off)`,
        permission: permissions.waf,
        run: (c: CloudflareClient, a: string) => probeCustomRule(c, zone, a),
      }))
    : [];
  if (scope === 'account') {
    return [
      ...(accountId
        ? [
            {
              what: `account ${accountId}`,
              permission: permissions.account,
              run: (c: CloudflareClient, a: string) => probeAccessRule(c, `/accounts/${accountId}`, a),
            },
          ]
        : []),
      ...shields,
    ];
  }
  return [
    ...zones.map((zone) => ({
      what: `zone ${zone}`,
      permission: permissions.zone,
      run: (c: CloudflareClient, a: string) => probeAccessRule(c, `/zones/${zone}`, a),
    })),
    ...shields,
  ];
}

/** A TEST-NET-1 address; a second try takes another, should someone hold a rule for the first. */
export function probeAddress(): string {
  return `192.0.2.${randomInt(1, 255)}`;
}

async function probeAccessRule(client: CloudflareClient, base: string, address: string): Promise<string> {
  const path = `${base}/firewall/access_rules/rules`;
  const { result } = await client.request('POST', path, {
    body: { mode: 'block', configuration: { target: 'ip', value: address }, notes: NOTE },
    schema: accessRule,
  });
  await deleteOrSay(`rule ${result.id} for ${address}`, () =>
    client.request('DELETE', `${path}/${result.id}`, base.startsWith('/zones') ? { body: { cascade: 'none' } } : {}),
  );
  return `writable (a rule for ${address} made and deleted)`;
}

async function waitFor(client: CloudflareClient, accountId: string, operationId: string): Promise<void> {
  for (let wait = 50; wait < 5000; wait *= 2) {
    await sleep(wait);
    const { result } = await client.request('GET', `/accounts/${accountId}/rules/lists/bulk_operations/${operationId}`, { schema: bulkOperation });
    if (result.status === 'completed') return;
    if (result.status === 'failed') throw new Error(`bulk operation failed: ${result.error ?? 'no reason given'}`);
  }
  throw new Error('bulk operation did not complete in time');
}

/** An item in one of edgeban's lists if one exists, else an empty list of its own (deleted with it). */
async function probeList(client: CloudflareClient, accountId: string, address: string, names: string[]): Promise<string> {
  const base = `/accounts/${accountId}/rules/lists`;
  const existing = (await client.request('GET', base, { schema: listsAnswer })).result;
  const ours = existing.find((list) => names.includes(list.name) && list.description === LIST_DESCRIPTION); // never someone else's list
  if (!ours) {
    const { result } = await client.request('POST', base, { body: { kind: 'ip', name: 'edgeban_probe', description: NOTE }, schema: listAnswer });
    await deleteOrSay(`list edgeban_probe (${result.id})`, () => client.request('DELETE', `${base}/${result.id}`));
    return 'writable (a list edgeban_probe made and deleted)';
  }
  const added = await client.request('POST', `${base}/${ours.id}/items`, { body: [{ ip: address, comment: NOTE }], schema: bulkOperationStarted });
  await waitFor(client, accountId, added.result.operation_id);
  await deleteOrSay(`item ${address} in ${ours.name}`, async () => {
    const items = await client.request('GET', `${base}/${ours.id}/items`, { query: { search: address, per_page: 10 }, schema: listItems });
    const item = items.result.find((i) => i.ip === address || i.ip === `${address}/32`);
    if (!item) throw new Error('it was not found to delete');
    const removed = await client.request('DELETE', `${base}/${ours.id}/items`, { body: { items: [{ id: item.id }] }, schema: bulkOperationStarted });
    await waitFor(client, accountId, removed.result.operation_id);
  });
  return `writable (an item for ${address} added to ${ours.name} and deleted)`;
}

/** A disabled rule in the entry point, deleted at once; before edgeban made the entry point there is nothing to write to. */
async function probeCustomRule(client: CloudflareClient, zone: string, address: string): Promise<string> {
  let rulesetId: string;
  try {
    rulesetId = (await client.request('GET', `/zones/${zone}/rulesets/phases/http_request_firewall_custom/entrypoint`, { schema: rulesetAnswer })).result.id;
  } catch (error) {
    if (error instanceof CloudflareError && error.status === 404) return 'none yet: writing is proven when edgeban makes its rules at start';
    throw error;
  }
  const description = `${NOTE} (${address})`;
  const { result } = await client.request('POST', `/zones/${zone}/rulesets/${rulesetId}/rules`, {
    body: { action: 'block', expression: `ip.src eq ${address}`, description, enabled: false },
    schema: rulesetAnswer,
  });
  const made = result.rules.find((rule) => rule.description === description);
  if (!made) throw new Error('the probe rule was accepted but is not in the answer');
  await deleteOrSay(`custom rule ${made.id}`, () => client.request('DELETE', `/zones/${zone}/rulesets/${rulesetId}/rules/${made.id}`));
  return `writable (a disabled rule made and deleted)`;
}

/** A probe that could not clean up is a failure of its own, naming what to delete by hand. */
async function deleteOrSay(what: string, remove: () => Promise<unknown>): Promise<void> {
  try {
    await remove();
  } catch (error) {
    throw new ProbeLeftBehind(what, error);
  }
}

export class ProbeLeftBehind extends Error {
  constructor(
    readonly what: string,
    reason: unknown,
  ) {
    super(`the probe made ${what} but could not delete it (${describeError(reason)}): delete it by hand`);
  }
}

/** One line per probe. */
export async function probeLines(
  client: CloudflareClient,
  probes: Probe[],
  explain: (error: unknown, what: string, permission: string) => string,
): Promise<CheckLine[]> {
  const lines: CheckLine[] = [];
  for (const probe of probes) {
    try {
      lines.push({ ok: true, text: `${probe.what}: ${await probe.run(client, probeAddress())}` });
    } catch (error) {
      lines.push({
        ok: false,
        text: error instanceof ProbeLeftBehind ? `${probe.what}: ${error.message}` : explain(error, `${probe.what}: write`, probe.permission),
      });
    }
  }
  return lines;
}
