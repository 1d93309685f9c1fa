import { asError, ConfigError, ForeignRuleError } from '../common/errors';
import type { BanAction } from '../config/schema';
import type { ApiBudget, ShieldBackend, BatchBackend, BatchOp, EdgeBan, OpResult } from '../bans/backend';
import { formatNotes, parseNotes } from './notes';
import { CloudflareClient, CloudflareError } from './client';
import {
  bulkOperation,
  bulkOperationStarted,
  ListAnswer,
  listItems,
  lists as listsAnswer,
  list as listAnswer,
  ruleset as rulesetAnswer,
  RulesetAnswer,
} from './answers';

export interface IpListConfig {
  accountId: string;
  zoneIds: string[];
  /** the actions the jails use: one list and one custom rule each */
  actions: BanAction[];
  /** items across all the account's custom lists, edgeban's and others' (Cloudflare: 10,000 below Enterprise) */
  itemLimit: number;
  /** bulk operation polling: first wait and longest wait (ms) */
  pollMs?: [number, number];
  /** give up on one operation after this long (ms); the ledger tries again later */
  operationTimeoutMs?: number;
}

interface List {
  id: string;
  name: string;
}

type Ruleset = RulesetAnswer;

/** What edgeban believes each of its lists holds, by ban key. */
interface Held {
  action: BanAction;
  until: number;
  itemId?: string;
  ban: EdgeBan;
}

/** the most items Cloudflare answers a page */
const ITEMS_PER_PAGE = 500;
const PHASE_PATH = 'rulesets/phases/http_request_firewall_custom/entrypoint';
const LIST_PERMISSION = 'Account → Account Filter Lists → Edit';
const RULE_PERMISSION = 'Zone → Zone WAF → Edit';
export const LIST_DESCRIPTION = 'Managed by edgeban: its bans, with their expiry in each comment. Do not edit.';

export const listName = (action: BanAction) => `edgeban_${action}`;
export const ruleExpression = (action: BanAction) => `ip.src in $${listName(action)}`;

/** `a.b.c.d/32` is written as `a.b.c.d` (Cloudflare counts both as one item); prefixes as they are. */
export function itemIp(key: string): string {
  return key.endsWith('/32') && !key.includes(':') ? key.slice(0, -3) : key;
}

export function keyOfItem(ip: string): string {
  return ip.includes('/') ? ip.toLowerCase() : `${ip}/32`;
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/** The map's value for `action`, made first when there is none. */
function entryFor<T>(map: Map<BanAction, T>, action: BanAction, make: () => T): T {
  let value = map.get(action);
  if (value === undefined) map.set(action, (value = make()));
  return value;
}

function permissionError(error: unknown, permission: string): unknown {
  if (error instanceof CloudflareError && (error.has(10000) || error.status === 403)) {
    return new CloudflareError(error.method, error.path, error.status, [{ code: 10000, message: `the token lacks the permission "${permission}"` }], false);
  }
  return error;
}

/**
 * Bans as items of account IP lists (one per action, named `edgeban_<action>`) that one custom
 * rule per zone blocks or challenges: a thousand bans cost a couple of API calls, not a thousand.
 */
export class IpListBackend implements BatchBackend {
  readonly name = 'ip-list';
  readonly batchSize = 1000;
  private readonly lists = new Map<BanAction, List>();
  private readonly held = new Map<string, Held>();
  private evictedHeld: EdgeBan[] = [];
  /** items in the account's other lists, which count against the same limit */
  private othersItems = 0;
  /** the set-up in progress or done; a failed one is forgotten so the next call tries again */
  private preparing: Promise<void> | null = null;

  constructor(
    private readonly client: CloudflareClient,
    private readonly config: IpListConfig,
    readonly shields?: ShieldBackend,
  ) {}

  private get base(): string {
    return `/accounts/${this.config.accountId}/rules/lists`;
  }

  locate(): string {
    return `account:${this.config.accountId}`;
  }

  // ------------------------------------------------------------------ set-up

  /** Finds or creates the lists, then makes sure each zone has its rules. Once, however many callers. */
  prepare(): Promise<void> {
    this.preparing ??= (async () => {
      await this.findLists(true);
      for (const zone of this.config.zoneIds) await this.ensureRules(zone);
    })().catch((error) => {
      this.preparing = null;
      throw error;
    });
    return this.preparing;
  }

  /**
   * Reads the account's lists (one call): finds or creates edgeban's, and notes how many items the
   * others hold, since the item limit counts every custom list of the account.
   */
  private async findLists(create: boolean): Promise<void> {
    let existing: ListAnswer[];
    try {
      existing = (await this.client.request('GET', this.base, { schema: listsAnswer })).result;
    } catch (error) {
      throw permissionError(error, LIST_PERMISSION);
    }
    const ours = new Set(this.config.actions.map(listName));
    this.othersItems = existing
      .filter((list) => !(ours.has(list.name) && list.description === LIST_DESCRIPTION))
      .reduce((n, list) => n + (list.num_items ?? 0), 0);
    for (const action of this.config.actions) {
      if (this.lists.has(action)) continue;
      const found = existing.find((list) => list.name === listName(action));
      if (found && found.description !== LIST_DESCRIPTION) {
        // list names are unique in an account: edgeban can neither use this one nor make its own
        throw new ForeignRuleError(`a list named ${found.name} exists that edgeban did not make (its description is not edgeban's): rename or delete it`);
      }
      if (found) this.lists.set(action, { id: found.id, name: found.name });
      else if (create) this.lists.set(action, await this.createList(action, existing));
    }
  }

  /** A refusal that no retry mends (the plan's list count) stops edgeban with what to change. */
  private async createList(action: BanAction, existing: ListAnswer[]): Promise<List> {
    try {
      const { result } = await this.client.request('POST', this.base, {
        body: { kind: 'ip', name: listName(action), description: LIST_DESCRIPTION },
        schema: listAnswer,
      });
      return { id: result.id, name: result.name };
    } catch (error) {
      if (error instanceof CloudflareError && !error.retryable && error.status !== 403 && !error.has(10000)) {
        const actions = this.config.actions;
        throw new ConfigError(
          'jails',
          `Cloudflare refused to make the list ${listName(action)} (${error.message}). A Free plan allows one custom list, Pro and Business 10; ` +
            `the account has ${existing.length} (${existing.map((l) => l.name).join(', ') || 'none'}) and the jails use ${actions.length} action(s) ` +
            `(${actions.join(', ')}), one list each: give every jail the same action, delete a list the account no longer uses, or set cloudflare.backend: access-rules`,
        );
      }
      throw permissionError(error, LIST_PERMISSION);
    }
  }

  /** One rule per list in the zone's custom-rules entry point, created or corrected; others untouched. */
  private async ensureRules(zone: string): Promise<void> {
    const wanted = this.config.actions.map((action) => ({ action, expression: ruleExpression(action), description: `edgeban ${action}`, enabled: true }));
    let ruleset: Ruleset | null = null;
    try {
      ruleset = (await this.client.request('GET', `/zones/${zone}/${PHASE_PATH}`, { schema: rulesetAnswer })).result;
    } catch (error) {
      if (!(error instanceof CloudflareError && error.status === 404)) throw permissionError(error, RULE_PERMISSION);
    }
    try {
      if (!ruleset) {
        await this.client.request('POST', `/zones/${zone}/rulesets`, {
          body: { name: 'default', kind: 'zone', phase: 'http_request_firewall_custom', rules: wanted },
        });
        return;
      }
      for (const rule of wanted) {
        // edgeban's rule: its expression and its description; a rule of the same expression that someone else wrote stays as it is
        const current = ruleset.rules.find((r) => r.expression === rule.expression && r.description === rule.description);
        if (!current) await this.client.request('POST', `/zones/${zone}/rulesets/${ruleset.id}/rules`, { body: rule });
        else if (current.action !== rule.action || !current.enabled) {
          await this.client.request('PATCH', `/zones/${zone}/rulesets/${ruleset.id}/rules/${current.id}`, { body: rule });
        }
      }
    } catch (error) {
      throw this.ruleRefused(error, zone, ruleset);
    }
  }

  /** A rule Cloudflare will not take however often asked (a Free zone's five custom rules) stops edgeban with what to change. */
  private ruleRefused(error: unknown, zone: string, ruleset: Ruleset | null): unknown {
    if (!(error instanceof CloudflareError) || error.retryable || error.status === 403 || error.has(10000)) return permissionError(error, RULE_PERMISSION);
    const actions = this.config.actions;
    return new ConfigError(
      'jails',
      `Cloudflare refused edgeban's custom rule in zone ${zone} (${error.message}). A Free plan allows five custom rules a zone, Pro 20, Business 100; ` +
        `the zone has ${ruleset?.rules.length ?? 0} and edgeban needs one for each of the ${actions.length} action(s) the jails use (${actions.join(', ')}): ` +
        `give every jail the same action, remove a custom rule the zone no longer needs, or set cloudflare.backend: access-rules`,
    );
  }

  // ------------------------------------------------------------------ bans

  async applyBatch(ops: BatchOp[]): Promise<OpResult[]> {
    await this.prepare();
    await this.refreshLifted(ops);
    const adds = new Map<BanAction, Map<string, EdgeBan>>();
    const removes = new Map<BanAction, Set<string>>();
    const touched: BanAction[][] = ops.map(() => []);
    const later: (number | undefined)[] = [];
    ops.forEach((op, i) => {
      const held = this.held.get(op.ban.key);
      if (op.type === 'unban') {
        if (held && held.until > op.ban.until) later[i] = held.until;
        else if (held) {
          entryFor(removes, held.action, () => new Set()).add(op.ban.key);
          touched[i].push(held.action);
        }
        return;
      }
      if (held && held.action !== op.ban.action) {
        entryFor(removes, held.action, () => new Set()).add(op.ban.key);
        touched[i].push(held.action);
      }
      entryFor(adds, op.ban.action, () => new Map()).set(op.ban.key, op.ban);
      touched[i].push(op.ban.action);
    });
    const evicted = this.makeRoom(adds, removes);
    const failed = new Map<BanAction, Error>();
    // removals first: they free room for the additions
    for (const [action, keys] of removes) {
      try {
        await this.removeItems(action, keys);
      } catch (error) {
        failed.set(action, asError(error));
      }
    }
    for (const [action, bans] of adds) {
      if (bans.size === 0 || failed.has(action)) continue;
      try {
        await this.addItems(action, [...bans.values()]);
      } catch (error) {
        failed.set(action, asError(error));
      }
    }
    return ops.map((op, i): OpResult => {
      if (later[i] !== undefined) return { ok: true, laterUntil: later[i] };
      if (evicted.has(op.ban.key) && op.type !== 'unban') return { ok: true, evicted: true };
      const error = touched[i].map((action) => failed.get(action)).find(Boolean);
      if (error) return { ok: false, error };
      return { ok: true, ruleId: this.held.get(op.ban.key)?.itemId ?? `item:${itemIp(op.ban.key)}` };
    });
  }

  /**
   * Reads afresh the items about to be lifted: another receiver sharing the account (a standby, or a
   * peer) may have extended one, and deleting it then would let the attacker in early. A search a
   * key when they are few, else one read of the list, whichever costs fewer calls.
   */
  private async refreshLifted(ops: BatchOp[]): Promise<void> {
    const lifted = new Map<BanAction, string[]>();
    for (const op of ops) {
      const held = op.type === 'unban' ? this.held.get(op.ban.key) : undefined;
      if (held) entryFor(lifted, held.action, () => []).push(op.ban.key);
    }
    for (const [action, keys] of lifted) {
      let items = 0;
      for (const held of this.held.values()) if (held.action === action) items++;
      if (keys.length > Math.ceil(items / ITEMS_PER_PAGE)) await this.readItems(action);
      else for (const key of keys) await this.searchItem(action, key);
    }
  }

  /** One item, found by Cloudflare's prefix search on its address, refreshing what edgeban holds. */
  private async searchItem(action: BanAction, key: string): Promise<void> {
    const list = this.lists.get(action)!;
    const { result } = await this.client.request('GET', `${this.base}/${list.id}/items`, {
      query: { search: itemIp(key), per_page: ITEMS_PER_PAGE },
      schema: listItems,
    });
    const item = result.find((each) => keyOfItem(each.ip) === key);
    const notes = item ? parseNotes(item.comment) : null;
    const held = this.held.get(key)!;
    if (!item || !notes)
      this.held.delete(key); // gone, or no longer edgeban's: nothing to lift
    else this.held.set(key, { action, until: notes.until, itemId: item.id, ban: { ...held.ban, until: notes.until, ruleId: item.id } });
  }

  /**
   * When the lists would pass the item limit, the bans closest to expiry leave first: held ones
   * are removed, new ones are not added. Returns the keys pushed out.
   */
  private makeRoom(adds: Map<BanAction, Map<string, EdgeBan>>, removes: Map<BanAction, Set<string>>): Set<string> {
    const removed = new Set([...removes.values()].flatMap((keys) => [...keys]));
    const stay = [...this.held.entries()].filter(([key]) => !removed.has(key)).map(([key, h]) => ({ key, until: h.until, action: h.action }));
    const incoming = [...adds.entries()].flatMap(([action, bans]) => [...bans.values()].map((ban) => ({ key: ban.key, until: ban.until, action })));
    const all = new Map<string, (typeof stay)[number]>();
    for (const entry of [...stay, ...incoming]) all.set(entry.key, entry);
    const overflow = all.size - Math.max(0, this.config.itemLimit - this.othersItems);
    const evicted = new Set<string>();
    if (overflow <= 0) return evicted;
    const victims = [...all.values()].sort((a, b) => a.until - b.until).slice(0, overflow);
    for (const victim of victims) {
      evicted.add(victim.key);
      adds.get(victim.action)?.delete(victim.key);
      const held = this.held.get(victim.key);
      if (held) {
        this.evictedHeld.push(held.ban);
        entryFor(removes, held.action, () => new Set()).add(victim.key);
      }
    }
    return evicted;
  }

  private async addItems(action: BanAction, bans: EdgeBan[]): Promise<void> {
    const list = this.lists.get(action)!;
    const body = bans.map((ban) => ({ ip: itemIp(ban.key), comment: formatNotes(ban) }));
    const { result } = await this.client.request('POST', `${this.base}/${list.id}/items`, { body, schema: bulkOperationStarted });
    await this.waitFor(result.operation_id);
    for (const ban of bans) {
      const before = this.held.get(ban.key);
      this.held.set(ban.key, { action, until: ban.until, ban, itemId: before?.action === action ? before.itemId : undefined });
    }
  }

  private async removeItems(action: BanAction, keys: Set<string>): Promise<void> {
    const list = this.lists.get(action);
    if (!list) return;
    if ([...keys].some((key) => !this.held.get(key)?.itemId)) await this.readItems(action);
    const ids = [...keys].map((key) => this.held.get(key)?.itemId).filter((id): id is string => Boolean(id));
    if (ids.length > 0) {
      const { result } = await this.client.request('DELETE', `${this.base}/${list.id}/items`, {
        body: { items: ids.map((id) => ({ id })) },
        schema: bulkOperationStarted,
      });
      await this.waitFor(result.operation_id);
    }
    for (const key of keys) if (this.held.get(key)?.action === action) this.held.delete(key);
  }

  /** Polls a bulk operation until it completes; a failed or endless one throws a retryable error. */
  private async waitFor(operationId: string): Promise<void> {
    const [first, longest] = this.config.pollMs ?? [50, 2000];
    const deadline = Date.now() + (this.config.operationTimeoutMs ?? 120_000);
    const path = `${this.base}/bulk_operations/${operationId}`;
    for (let wait = first; ; wait = Math.min(longest, wait * 2)) {
      await sleep(wait);
      const { result } = await this.client.request('GET', path, { schema: bulkOperation });
      if (result.status === 'completed') return;
      if (result.status === 'failed')
        throw new CloudflareError('GET', path, 200, [{ code: 0, message: `bulk operation failed: ${result.error ?? 'no reason given'}` }], true);
      if (Date.now() > deadline) throw new CloudflareError('GET', path, 200, [{ code: 0, message: 'bulk operation did not complete in time' }], true);
    }
  }

  /**
   * Every item of one list (cursor paging), refreshing what edgeban holds; returns edgeban's own.
   * An item that is gone (deleted by hand at Cloudflare) is forgotten.
   */
  private async readItems(action: BanAction): Promise<(EdgeBan & { ruleId: string })[]> {
    const list = this.lists.get(action);
    if (!list) return [];
    const owned: (EdgeBan & { ruleId: string })[] = [];
    const seen = new Set<string>();
    let cursor: string | undefined;
    do {
      const { result, info } = await this.client.request('GET', `${this.base}/${list.id}/items`, {
        query: { per_page: ITEMS_PER_PAGE, ...(cursor ? { cursor } : {}) },
        schema: listItems,
      });
      for (const item of result) {
        const notes = parseNotes(item.comment);
        if (!notes) continue; // not edgeban's: never touched
        const ban: EdgeBan = { location: this.locate(), key: keyOfItem(item.ip), jail: notes.jail, action, until: notes.until, ruleId: item.id };
        this.held.set(ban.key, { action, until: notes.until, itemId: item.id, ban });
        seen.add(ban.key);
        owned.push({ ...ban, ruleId: item.id });
      }
      cursor = (info as { cursors?: { after?: string } } | undefined)?.cursors?.after;
    } while (cursor);
    for (const [key, held] of this.held) if (held.action === action && held.itemId && !seen.has(key)) this.held.delete(key);
    return owned;
  }

  async listOwned(): Promise<(EdgeBan & { ruleId: string })[]> {
    await this.prepare();
    await this.findLists(false); // the other lists' item counts, as they are now
    const owned: (EdgeBan & { ruleId: string })[] = [];
    for (const action of this.config.actions) owned.push(...(await this.readItems(action)));
    return owned;
  }

  takeEvicted(): EdgeBan[] {
    return this.evictedHeld.splice(0);
  }

  /** Items edgeban holds now (for tests and metrics). */
  get size(): number {
    return this.held.size;
  }

  budget(): ApiBudget {
    return this.client.budget();
  }

  async close(): Promise<void> {
    await this.client.close();
  }
}
