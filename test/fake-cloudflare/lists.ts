/**
 * The fake's Lists API (account IP lists, asynchronous bulk item operations, one pending operation
 * per account, cursor paging, item validation) and the zone custom-rules entry point, as
 * Cloudflare's Lists API and Rulesets API documentation describe them
 * (developers.cloudflare.com/waf/tools/lists/ and /ruleset-engine/) and its official clients
 * (cloudflare-typescript, cloudflare-go) model them; see docs/cloudflare.md.
 */
import { randomBytes } from 'node:crypto';
import net from 'node:net';

export interface Message {
  code: number;
  message: string;
}

export class ListsError extends Error {
  constructor(
    readonly status: number,
    readonly errors: Message[],
  ) {
    super(errors[0]?.message);
  }
}

export interface ListItem {
  id: string;
  ip: string;
  comment: string;
  created_on: string;
  modified_on: string;
}

export interface IpList {
  id: string;
  name: string;
  description: string;
  kind: string;
  created_on: string;
  modified_on: string;
  items: Map<string, ListItem>;
}

export interface BulkOperation {
  id: string;
  account: string;
  status: 'pending' | 'running' | 'completed' | 'failed';
  completed?: string;
  error?: string;
}

export interface Rule {
  id: string;
  version: string;
  action: string;
  expression: string;
  description: string;
  enabled: boolean;
  last_updated: string;
  ref: string;
}

export interface Ruleset {
  id: string;
  name: string;
  description: string;
  kind: string;
  phase: string;
  version: string;
  last_updated: string;
  rules: Rule[];
}

export interface ListsOptions {
  /** items across all lists of an account (Cloudflare: 10,000 below Enterprise) */
  maxItems: number;
  /** lists per account (Free 1, Pro/Business 10) */
  maxLists: number;
  /** custom rules per zone (Free 5, Pro 20, Business 100) */
  maxRules: number;
  /** how long an operation stays pending, then running */
  bulkStepMs: number;
  /** HTTP status of an accepted asynchronous write: the docs say 201, the OAS 200 */
  asyncStatus: 200 | 201;
  /**
   * A single IPv4 item read back as `a.b.c.d/32` (the form of the API schema's example and of
   * cloudflare-go's tests) instead of as written; either way `a.b.c.d` and `a.b.c.d/32` are one item.
   */
  ipv4AsPrefix: boolean;
}

const PHASE = 'http_request_firewall_custom';
const now = () => new Date().toISOString();
const hexId = () => randomBytes(16).toString('hex');

/** `a.b.c.d` ≡ `a.b.c.d/32`; IPv4 /8-/32; IPv6 only as /4-/64, lower-case. Null when invalid. */
export function itemKey(ip: string): string | null {
  const [address, bits, extra] = ip.split('/');
  if (extra !== undefined) return null;
  if (net.isIPv4(address)) {
    const width = bits === undefined ? 32 : Number(bits);
    if (!/^\d{1,2}$/.test(bits ?? '32') || width < 8 || width > 32) return null;
    return width === 32 ? address : `${address}/${width}`;
  }
  if (net.isIPv6(address) && !address.includes('%') && bits !== undefined && /^\d{1,3}$/.test(bits)) {
    const width = Number(bits);
    return width >= 4 && width <= 64 ? `${address.toLowerCase()}/${width}` : null;
  }
  return null;
}

function sortKey(key: string): string {
  const [address, bits = address.includes(':') ? '128' : '32'] = key.split('/');
  if (net.isIPv4(address))
    return `4${address
      .split('.')
      .map((p) => p.padStart(3, '0'))
      .join('.')}/${bits.padStart(3, '0')}`;
  return `6${address}/${bits.padStart(3, '0')}`;
}

export class FakeLists {
  readonly lists = new Map<string, IpList[]>(); // per account
  readonly operations = new Map<string, BulkOperation>();
  readonly rulesets = new Map<string, Ruleset>(); // per zone
  /** the next bulk operations fail with this error */
  failNextBulk = 0;

  constructor(
    private readonly options: ListsOptions,
    private readonly accountOfZone: (zone: string) => string | undefined,
  ) {}

  listsOf(account: string): IpList[] {
    let lists = this.lists.get(account);
    if (!lists) this.lists.set(account, (lists = []));
    return lists;
  }

  itemCount(account: string): number {
    return this.listsOf(account).reduce((n, list) => n + list.items.size, 0);
  }

  private pendingOperation(account: string): BulkOperation | undefined {
    return [...this.operations.values()].find((op) => op.account === account && (op.status === 'pending' || op.status === 'running'));
  }

  private summary(list: IpList, account: string) {
    const { items, ...rest } = list;
    const referencing = [...this.rulesets.entries()].filter(
      ([zone, rs]) => this.accountOfZone(zone) === account && rs.rules.some((r) => r.expression.includes(`$${list.name}`)),
    ).length;
    return { ...rest, num_items: items.size, num_referencing_filters: referencing };
  }

  private findList(account: string, id: string): IpList {
    const list = this.listsOf(account).find((l) => l.id === id);
    if (!list) throw new ListsError(404, [{ code: 10000 + 6, message: 'list not found' }]);
    return list;
  }

  // ---------------------------------------------------------------- lists

  createList(account: string, body: unknown) {
    const input = (body ?? {}) as { name?: unknown; kind?: unknown; description?: unknown };
    const name = String(input.name ?? '');
    if (!/^[a-z0-9_]{1,50}$/.test(name)) throw new ListsError(400, [{ code: 10019, message: 'list name must be 1-50 lower-case letters, digits or _' }]);
    if (!['ip', 'redirect', 'hostname', 'asn'].includes(String(input.kind))) throw new ListsError(400, [{ code: 10016, message: 'invalid list kind' }]);
    const lists = this.listsOf(account);
    if (lists.some((l) => l.name === name)) throw new ListsError(409, [{ code: 10017, message: 'a list with this name already exists' }]);
    if (lists.length >= this.options.maxLists) throw new ListsError(400, [{ code: 10018, message: 'the maximum number of lists has been reached' }]);
    const list: IpList = {
      id: hexId(),
      name,
      description: String(input.description ?? '').slice(0, 500),
      kind: String(input.kind),
      created_on: now(),
      modified_on: now(),
      items: new Map(),
    };
    lists.push(list);
    return this.summary(list, account);
  }

  getLists(account: string) {
    return this.listsOf(account).map((l) => this.summary(l, account));
  }

  getList(account: string, id: string) {
    return this.summary(this.findList(account, id), account);
  }

  deleteList(account: string, id: string) {
    const list = this.findList(account, id);
    if (this.summary(list, account).num_referencing_filters > 0) throw new ListsError(400, [{ code: 10031, message: 'filters.api.ip_list_in_use' }]);
    const lists = this.listsOf(account);
    lists.splice(lists.indexOf(list), 1);
    return { id };
  }

  // ---------------------------------------------------------------- items

  getItems(account: string, id: string, query: URLSearchParams) {
    const list = this.findList(account, id);
    const perPage = Number(query.get('per_page') ?? 25);
    if (!Number.isInteger(perPage) || perPage < 1 || perPage > 500) throw new ListsError(400, [{ code: 10024, message: 'per_page must be between 1 and 500' }]);
    const search = query.get('search');
    const items = [...list.items.entries()]
      .filter(([key]) => !search || key.startsWith(search.toLowerCase()))
      .sort(([a], [b]) => sortKey(a).localeCompare(sortKey(b)))
      .map(([, item]) => item);
    const start = query.get('cursor') ? Number(Buffer.from(query.get('cursor')!, 'base64url').toString()) : 0;
    if (!Number.isInteger(start) || start < 0) throw new ListsError(400, [{ code: 10025, message: 'invalid cursor' }]);
    const page = items.slice(start, start + perPage);
    const cursors: Record<string, string> = {};
    if (start > 0) cursors.before = Buffer.from(String(Math.max(0, start - perPage))).toString('base64url');
    if (start + perPage < items.length) cursors.after = Buffer.from(String(start + perPage)).toString('base64url');
    return { result: page, info: { cursors } };
  }

  /** POST (upsert), PUT (replace) and DELETE on items: validated now, applied when the operation completes. */
  writeItems(account: string, id: string, method: string, body: unknown): { result: { operation_id: string }; status: number } {
    const list = this.findList(account, id);
    if (this.pendingOperation(account))
      throw new ListsError(429, [{ code: 10066, message: 'a bulk operation is already in progress for this account; try again later' }]);
    let apply: () => void;
    if (method === 'DELETE') {
      const ids = ((body as { items?: { id?: unknown }[] } | undefined)?.items ?? []).map((i) => String(i.id ?? ''));
      if (ids.length === 0 || ids.some((i) => !/^[0-9a-f]{32}$/.test(i)))
        throw new ListsError(400, [{ code: 10021, message: 'items must list at least one 32-character item id' }]);
      apply = () => {
        for (const [key, item] of list.items) if (ids.includes(item.id)) list.items.delete(key);
      };
    } else {
      if (!Array.isArray(body)) throw new ListsError(400, [{ code: 10026, message: 'body must be an array of items' }]);
      const entries = body.map((raw: { ip?: unknown; comment?: unknown }) => {
        const key = itemKey(String(raw?.ip ?? ''));
        if (!key) throw new ListsError(400, [{ code: 10001, message: `invalid ip: ${String(raw?.ip)}` }]);
        return { key, comment: String(raw.comment ?? '').slice(0, 500) };
      });
      apply = () => {
        if (method === 'PUT') list.items.clear();
        const adding = entries.filter((e) => !list.items.has(e.key)).length;
        if (this.itemCount(account) + adding > this.options.maxItems) throw new Error('exceeded the maximum number of list items for the account');
        for (const { key, comment } of entries) {
          const existing = list.items.get(key);
          const ip = this.options.ipv4AsPrefix && !key.includes('/') ? `${key}/32` : key;
          list.items.set(key, { id: existing?.id ?? hexId(), ip, comment, created_on: existing?.created_on ?? now(), modified_on: now() });
        }
      };
    }
    const operation: BulkOperation = { id: hexId(), account, status: 'pending' };
    this.operations.set(operation.id, operation);
    const fail = this.failNextBulk > 0 ? (this.failNextBulk--, true) : false;
    setTimeout(() => {
      operation.status = 'running';
      setTimeout(() => {
        operation.completed = now();
        if (fail) {
          operation.status = 'failed';
          operation.error = 'internal error while applying the operation';
          return;
        }
        try {
          apply();
          list.modified_on = now();
          operation.status = 'completed';
        } catch (error) {
          operation.status = 'failed';
          operation.error = (error as Error).message;
        }
      }, this.options.bulkStepMs);
    }, this.options.bulkStepMs);
    return { result: { operation_id: operation.id }, status: this.options.asyncStatus };
  }

  getOperation(account: string, id: string) {
    const op = this.operations.get(id);
    if (!op || op.account !== account) throw new ListsError(404, [{ code: 10006, message: 'bulk operation not found' }]);
    const { account: _account, ...visible } = op;
    return visible;
  }

  // ---------------------------------------------------------------- rulesets

  getEntrypoint(zone: string): Ruleset {
    const ruleset = this.rulesets.get(zone);
    if (!ruleset) throw new ListsError(404, [{ code: 10003, message: 'could not find entrypoint ruleset in the http_request_firewall_custom phase' }]);
    return ruleset;
  }

  /**
   * The entry point as the API answers it: once its last rule is deleted, the answer has no
   * `rules` field at all (the Rulesets API's schema makes it optional; cloudflare-go's Ruleset
   * has `Rules []RulesetRule \`json:"rules,omitempty"\``).
   */
  answerEntrypoint(zone: string): Omit<Ruleset, 'rules'> & { rules?: Ruleset['rules'] } {
    const { rules, ...rest } = this.getEntrypoint(zone);
    return rules.length ? { ...rest, rules } : rest;
  }

  /** The plan's custom rules a zone; the error text is Cloudflare's dashboard wording, its code unknown (hence one edgeban does not match on). */
  private checkRuleCount(count: number): void {
    if (count > this.options.maxRules)
      throw new ListsError(400, [
        { code: 20215, message: `exceeded maximum number of rules in the phase http_request_firewall_custom: ${this.options.maxRules}` },
      ]);
  }

  private checkRules(zone: string, rules: unknown[]): Rule[] {
    this.checkRuleCount(rules.length);
    const account = this.accountOfZone(zone) ?? '';
    return rules.map((raw) => {
      const input = raw as { action?: unknown; expression?: unknown; description?: unknown; enabled?: unknown };
      const expression = String(input.expression ?? '');
      // developers.cloudflare.com/ruleset-engine/rules-language/expressions/: "The maximum length of a rule expression is 4,096 characters"
      if (expression.length > 4096) throw new ListsError(400, [{ code: 20054, message: 'filter parsing error: expression is longer than 4096 characters' }]);
      for (const [, name] of expression.matchAll(/\$([a-z0-9_]+)/g)) {
        if (!this.listsOf(account).some((l) => l.name === name))
          throw new ListsError(400, [{ code: 20021, message: `filter parsing error: could not find list ${name}` }]);
      }
      if (!['block', 'challenge', 'js_challenge', 'managed_challenge', 'skip', 'log'].includes(String(input.action))) {
        throw new ListsError(400, [{ code: 20120, message: `invalid action: ${String(input.action)}` }]);
      }
      return {
        id: hexId(),
        version: '1',
        action: String(input.action),
        expression,
        description: String(input.description ?? ''),
        enabled: input.enabled !== false,
        last_updated: now(),
        ref: hexId(),
      };
    });
  }

  createRuleset(zone: string, body: unknown): Ruleset {
    const input = (body ?? {}) as { name?: unknown; kind?: unknown; phase?: unknown; rules?: unknown };
    if (input.phase !== PHASE || input.kind !== 'zone')
      throw new ListsError(400, [{ code: 20001, message: 'only zone entry points of http_request_firewall_custom here' }]);
    if (this.rulesets.has(zone)) throw new ListsError(400, [{ code: 20217, message: 'a ruleset of this phase already exists' }]);
    const ruleset: Ruleset = {
      id: hexId(),
      name: String(input.name ?? 'default'),
      description: '',
      kind: 'zone',
      phase: PHASE,
      version: '1',
      last_updated: now(),
      rules: this.checkRules(zone, Array.isArray(input.rules) ? input.rules : []),
    };
    this.rulesets.set(zone, ruleset);
    return ruleset;
  }

  putEntrypoint(zone: string, body: unknown): Ruleset {
    const rules = this.checkRules(zone, Array.isArray((body as { rules?: unknown })?.rules) ? (body as { rules: unknown[] }).rules : []);
    const existing = this.rulesets.get(zone);
    const ruleset: Ruleset = existing ?? {
      id: hexId(),
      name: 'default',
      description: '',
      kind: 'zone',
      phase: PHASE,
      version: '0',
      last_updated: now(),
      rules: [],
    };
    ruleset.rules = rules;
    ruleset.version = String(Number(ruleset.version) + 1);
    ruleset.last_updated = now();
    this.rulesets.set(zone, ruleset);
    return ruleset;
  }

  addRule(zone: string, rulesetId: string, body: unknown): Ruleset {
    const ruleset = this.getEntrypoint(zone);
    if (ruleset.id !== rulesetId) throw new ListsError(404, [{ code: 10003, message: 'ruleset not found' }]);
    this.checkRuleCount(ruleset.rules.length + 1);
    const [rule] = this.checkRules(zone, [body]);
    const position = (body as { position?: { index?: number; before?: string; after?: string } }).position;
    let at = ruleset.rules.length;
    if (position?.index) at = Math.min(ruleset.rules.length, position.index - 1);
    else if (position?.before)
      at = Math.max(
        0,
        ruleset.rules.findIndex((r) => r.id === position.before),
      );
    else if (position?.after) at = ruleset.rules.findIndex((r) => r.id === position.after) + 1;
    ruleset.rules.splice(at, 0, rule);
    ruleset.version = String(Number(ruleset.version) + 1);
    return ruleset;
  }

  deleteRule(zone: string, rulesetId: string, ruleId: string): Ruleset {
    const ruleset = this.getEntrypoint(zone);
    const index = ruleset.id === rulesetId ? ruleset.rules.findIndex((r) => r.id === ruleId) : -1;
    if (index < 0) throw new ListsError(404, [{ code: 10003, message: 'rule not found' }]);
    ruleset.rules.splice(index, 1);
    ruleset.version = String(Number(ruleset.version) + 1);
    return ruleset;
  }

  patchRule(zone: string, rulesetId: string, ruleId: string, body: unknown): Ruleset {
    const ruleset = this.getEntrypoint(zone);
    const index = ruleset.id === rulesetId ? ruleset.rules.findIndex((r) => r.id === ruleId) : -1;
    if (index < 0) throw new ListsError(404, [{ code: 10003, message: 'rule not found' }]);
    const [checked] = this.checkRules(zone, [{ ...ruleset.rules[index], ...(body as object) }]);
    ruleset.rules[index] = { ...checked, id: ruleId, version: String(Number(ruleset.rules[index].version) + 1) };
    ruleset.version = String(Number(ruleset.version) + 1);
    return ruleset;
  }
}
