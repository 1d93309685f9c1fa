/**
 * A fake Cloudflare API v4 on loopback that behaves as Cloudflare documents its API
 * (developers.cloudflare.com/api/, /waf/tools/ip-access-rules/, /fundamentals/api/reference/limits/)
 * and as its official clients (cloudflare-typescript, cloudflare-go) expect it to: envelopes, authentication errors, IP access rules at zone, account and
 * user level with filters and paging, duplicates (10009), the 1200-requests-per-5-minutes limit
 * (429, code 971, Retry-After), GET /ips, and fault injection. State is in memory only.
 */
import { createHash, randomBytes } from 'node:crypto';
import http from 'node:http';
import ipaddr from 'ipaddr.js';
import net from 'node:net';
import { FakeLists, ListsError, ListsOptions } from './lists';

type Json = Record<string, unknown>;
interface Message {
  code: number;
  message: string;
  error_chain?: Message[];
}

/** Each "Edit" permission, and its "Read" (`_read`), which lets GET through and refuses every write with 10000. */
type Editable = 'zone_firewall_services' | 'account_firewall_access_rules' | 'account_filter_lists' | 'zone_waf';
export type Permission = Editable | `${Editable}_read` | 'zone_read';
export const ALL_PERMISSIONS: Permission[] = ['zone_firewall_services', 'account_firewall_access_rules', 'zone_read', 'account_filter_lists', 'zone_waf'];

export interface AccessRule {
  id: string;
  paused: boolean;
  modified_on: string;
  allowed_modes: string[];
  mode: string;
  notes: string;
  configuration: { target: string; value: string };
  scope: Json;
  created_on: string;
}

export interface RecordedRequest {
  method: string;
  path: string;
  query: URLSearchParams;
  body: unknown;
  at: number;
  /** high-resolution arrival time (ms, performance.now) for latency measurements */
  hr: number;
  status: number;
}

export interface FakeOptions extends Partial<ListsOptions> {
  /** requests allowed per window (Cloudflare: 1200 per 300 s) */
  rateLimit?: number;
  rateWindowMs?: number;
  countGets?: boolean;
  ruleQuota?: number;
  /**
   * Cloudflare has answered with fewer rules a page than asked (25 for per_page=100) while its
   * result_info said the truth; page by total_pages, not by a short page (seen by
   * crowdsecurity/cs-cloudflare-bouncer, whose issue tracker reports it).
   */
  perPageCap?: number;
  /**
   * A zone's listing of access rules also returns those inherited from its account (and user),
   * each with its own `scope.type` (the API reference's "scope" field; cloudflare-go's
   * AccessRuleScope). They can be changed only through their own scope's endpoint.
   */
  inheritAccountRules?: boolean;
  /**
   * The account's plan sets the custom lists, the custom rules a zone and the list items it may
   * have (Cloudflare's plans table: lists 1 Free, 10 Pro and Business, 1,000 Enterprise; custom
   * rules 5, 20, 100, 1,000; items 10,000 below Enterprise, 500,000 on it), and GET /zones/{id}
   * says it as `plan.legacy_id`. Explicit maxLists, maxRules or maxItems win over it.
   */
  plan?: Plan;
}

export type Plan = 'free' | 'pro' | 'business' | 'enterprise';
const PLAN_LIMITS: Record<Plan, { maxLists: number; maxRules: number; maxItems: number }> = {
  free: { maxLists: 1, maxRules: 5, maxItems: 10_000 },
  pro: { maxLists: 10, maxRules: 20, maxItems: 10_000 },
  business: { maxLists: 10, maxRules: 100, maxItems: 10_000 },
  enterprise: { maxLists: 1000, maxRules: 1000, maxItems: 500_000 },
};

/**
 * What a broken path between edgeban and the API answers: a proxy's HTML error page with status
 * 200, a JSON body whose result lacks the fields its schema promises (a rule without `id`), or a
 * body cut short.
 */
export type Garble = 'html' | 'missing-field' | 'truncated';

/** IPv6 values compared as addresses (`2001:DB8:0::77` is `2001:db8::77`); others as text. */
function sameValue(a: string, b: string): boolean {
  const canonical = (value: string) => {
    try {
      if (!value.includes(':')) return value;
      const [address, bits] = value.split('/');
      return `${ipaddr.parse(address).toString()}${bits === undefined ? '' : `/${bits}`}`;
    } catch {
      return value;
    }
  };
  return canonical(a) === canonical(b);
}

const MODES = ['block', 'challenge', 'whitelist', 'js_challenge', 'managed_challenge'];
const ZONE_ID = /^[0-9a-f]{32}$/;

class ApiError extends Error {
  constructor(
    readonly status: number,
    readonly errors: Message[],
    readonly bare = false,
  ) {
    super(errors[0]?.message);
  }
}

export function hexId(): string {
  return randomBytes(16).toString('hex');
}

function timestamp(): string {
  return new Date().toISOString().replace(/\.(\d+)Z$/, (_m, ms) => `.${ms}${String(Math.floor(Math.random() * 1e6)).padStart(6, '0')}Z`);
}

function parseV4(text: string): number[] | null {
  const parts = text.split('.');
  if (parts.length !== 4 || !parts.every((p) => /^(0|[1-9]\d{0,2})$/.test(p) && Number(p) < 256)) return null;
  return parts.map(Number);
}

function isV6(text: string): boolean {
  return net.isIPv6(text) && !text.includes('.') && !text.includes('%');
}

/** Cloudflare's validation of an access rule's target (its IP Access rules docs): ip = one IPv4, ip6 = one IPv6, ip_range = v4 /16 /24, v6 /32 /48 /64. */
function validTarget(target: string, value: string): boolean {
  switch (target) {
    case 'ip':
      return parseV4(value) !== null;
    case 'ip6':
      return isV6(value);
    case 'ip_range': {
      const [address, bits, extra] = value.split('/');
      if (extra !== undefined || bits === undefined) return false;
      if (parseV4(address)) return ['16', '24'].includes(bits);
      return isV6(address) && ['32', '48', '64'].includes(bits);
    }
    case 'asn':
      return /^AS\d+$/.test(value);
    case 'country':
      return /^[A-Z]{2}$/.test(value);
    default:
      return false;
  }
}

export class FakeCloudflare {
  readonly tokens = new Map<string, { id: string; status: 'active' | 'disabled' | 'expired'; permissions: Set<Permission>; accountOwned?: boolean }>();
  readonly zones = new Map<string, { name: string; account: string }>();
  readonly accounts = new Set<string>();
  /** rules per location: `zone:<id>`, `account:<id>`, `user` */
  readonly rules = new Map<string, AccessRule[]>();
  readonly requests: RecordedRequest[] = [];
  /** what GET /ips answers (Cloudflare's published lists by default) */
  ips = {
    ipv4_cidrs: [
      '173.245.48.0/20',
      '103.21.244.0/22',
      '103.22.200.0/22',
      '103.31.4.0/22',
      '141.101.64.0/18',
      '108.162.192.0/18',
      '190.93.240.0/20',
      '188.114.96.0/20',
      '197.234.240.0/22',
      '198.41.128.0/17',
      '162.158.0.0/15',
      '104.16.0.0/13',
      '104.24.0.0/14',
      '172.64.0.0/13',
      '131.0.72.0/22',
    ],
    ipv6_cidrs: ['2400:cb00::/32', '2606:4700::/32', '2803:f800::/32', '2405:b500::/32', '2405:8100::/32', '2a06:98c0::/29', '2c0f:f248::/32'],
  };
  baseUrl = '';

  private server: http.Server | null = null;
  private readonly sockets = new Set<net.Socket>();
  private windowStart = 0;
  private windowCount = 0;
  private limitedUntil = 0;
  private failing: { until: number; remaining: number; status: number } | null = null;
  private delayMs = 0;
  private dropRemaining = 0;
  private garbling: { kind: Garble; remaining: number } | null = null;
  private readonly options: Required<FakeOptions>;
  /** account IP lists, bulk operations and zone custom rules */
  readonly lists: FakeLists;

  constructor(options: FakeOptions = {}) {
    const plan = options.plan ?? 'pro';
    this.options = {
      ...PLAN_LIMITS[plan],
      plan,
      rateLimit: 1200,
      rateWindowMs: 300_000,
      countGets: true,
      ruleQuota: 50_000,
      perPageCap: 100,
      inheritAccountRules: false,
      bulkStepMs: 20,
      asyncStatus: 200,
      ipv4AsPrefix: false,
      ...options,
    };
    this.lists = new FakeLists(this.options, (zone) => this.zones.get(zone)?.account);
  }

  // ------------------------------------------------------------------ set-up and fault switches

  /** `accountOwned`: a token made under an account (`cfat_` prefix), which the user verify endpoint does not know. */
  addToken(permissions: Permission[] = ALL_PERMISSIONS, status: 'active' | 'disabled' | 'expired' = 'active', accountOwned = false): string {
    const token = accountOwned ? `cfat_${randomBytes(30).toString('base64url').slice(0, 35)}` : randomBytes(30).toString('base64url').slice(0, 40);
    this.tokens.set(token, { id: hexId(), status, permissions: new Set(permissions), accountOwned });
    return token;
  }

  addZone(name: string, account = this.addAccount()): string {
    const id = hexId();
    this.zones.set(id, { name, account });
    return id;
  }

  addAccount(id = hexId()): string {
    this.accounts.add(id);
    return id;
  }

  /** Answer `status` (default 500) to the next `count` requests, or to all for `ms`. */
  fail(options: { count?: number; ms?: number; status?: number }): void {
    this.failing = { until: options.ms ? Date.now() + options.ms : Infinity, remaining: options.count ?? Infinity, status: options.status ?? 500 };
  }

  /** Delay every response by `ms`. */
  slowDown(ms: number): void {
    this.delayMs = ms;
  }

  /** Destroy the connection of the next `count` requests without answering. */
  dropConnections(count: number): void {
    this.dropRemaining = count;
  }

  /** Answer the next `count` requests with a broken body (see Garble). */
  garble(kind: Garble, count = 1): void {
    this.garbling = { kind, remaining: count };
  }

  /** Put the limiter in the state Cloudflare is in after 1200 calls: 429 until `ms` from now. */
  exhaustRateLimit(ms: number): void {
    this.limitedUntil = Date.now() + ms;
  }

  allRules(): AccessRule[] {
    return [...this.rules.values()].flat();
  }

  writes(): RecordedRequest[] {
    return this.requests.filter((r) => r.method !== 'GET');
  }

  // ------------------------------------------------------------------ server

  async start(port = 0, host = '127.0.0.1'): Promise<string> {
    this.server = http.createServer((req, res) => void this.handle(req, res));
    this.server.keepAliveTimeout = 5000;
    this.server.on('connection', (socket) => {
      this.sockets.add(socket);
      socket.on('close', () => this.sockets.delete(socket));
    });
    await new Promise<void>((resolve) => this.server!.listen(port, host, resolve));
    const address = this.server.address() as net.AddressInfo;
    this.baseUrl = `http://${host}:${address.port}/client/v4`;
    return this.baseUrl;
  }

  async stop(): Promise<void> {
    for (const socket of this.sockets) socket.destroy();
    await new Promise<void>((resolve) => (this.server ? this.server.close(() => resolve()) : resolve()));
  }

  private async handle(req: http.IncomingMessage, res: http.ServerResponse): Promise<void> {
    const hr = performance.now();
    const chunks: Buffer[] = [];
    for await (const chunk of req) chunks.push(chunk as Buffer);
    const url = new URL(req.url ?? '/', 'http://fake');
    const method = req.method ?? 'GET';
    let body: unknown = undefined;
    const text = Buffer.concat(chunks).toString('utf8');
    const record: RecordedRequest = { method, path: url.pathname, query: url.searchParams, body: undefined, at: Date.now(), hr, status: 0 };
    this.requests.push(record);
    if (this.dropRemaining > 0) {
      this.dropRemaining--;
      req.socket.destroy();
      return;
    }
    if (this.delayMs > 0) await new Promise((resolve) => setTimeout(resolve, this.delayMs));
    if (this.garbling && this.garbling.remaining-- > 0) return this.answerGarbled(res, this.garbling.kind, record);
    let status: number;
    let payload: Json;
    const headers: Record<string, string> = { 'content-type': 'application/json' };
    try {
      if (text && method !== 'GET') {
        try {
          body = JSON.parse(text);
        } catch {
          throw new ApiError(400, [{ code: 6007, message: 'Malformed JSON in request body' }]);
        }
      }
      record.body = body;
      this.injectFailure();
      this.rateLimit(method, headers);
      const result = this.route(method, url, body, req.headers);
      status = result.status ?? 200;
      payload = { result: result.result, success: true, errors: [], messages: result.messages ?? [], ...(result.info ? { result_info: result.info } : {}) };
    } catch (caught) {
      const error = caught instanceof ListsError ? new ApiError(caught.status, caught.errors) : caught;
      if (!(error instanceof ApiError)) throw error;
      status = error.status;
      payload = error.bare ? { success: false, errors: error.errors } : { result: null, success: false, errors: error.errors, messages: [] };
      // only the global limit (971) says when to come back; a list write refused while another is
      // pending answers 429 without Retry-After (the Lists API docs say only "retry later")
      if (status === 429 && error.errors.some((e) => e.code === 971)) {
        const seconds = Math.max(1, Math.ceil((this.limitedUntil - Date.now()) / 1000));
        headers['retry-after'] = String(seconds);
        headers['retry-after-ms'] = String(this.limitedUntil - Date.now());
      }
    }
    record.status = status;
    const remaining = Math.max(0, this.options.rateLimit - this.windowCount);
    const reset = Math.max(0, Math.ceil((this.windowStart + this.options.rateWindowMs - Date.now()) / 1000));
    headers.ratelimit = `"default";r=${remaining};t=${reset}`;
    headers['ratelimit-policy'] = `"default";q=${this.options.rateLimit};w=${this.options.rateWindowMs / 1000}`;
    res.writeHead(status, headers);
    res.end(JSON.stringify(payload, null, 2));
  }

  private answerGarbled(res: http.ServerResponse, kind: Garble, record: RecordedRequest): void {
    record.status = 200;
    if (kind === 'html') {
      res.writeHead(200, { 'content-type': 'text/html' });
      res.end('<html><body><h1>502 Bad Gateway</h1></body></html>');
    } else if (kind === 'truncated') {
      res.writeHead(200, { 'content-type': 'application/json' });
      res.end('{"result": [{"id": "');
    } else {
      res.writeHead(200, { 'content-type': 'application/json' });
      res.end(JSON.stringify({ success: true, errors: [], messages: [], result: { mode: 'block' }, result_info: {} }));
    }
  }

  private injectFailure(): void {
    const failing = this.failing;
    if (!failing) return;
    if (Date.now() > failing.until || failing.remaining <= 0) {
      this.failing = null;
      return;
    }
    failing.remaining--;
    throw new ApiError(failing.status, [{ code: 10013, message: 'An unknown error has occurred' }]);
  }

  /** One global budget per user across credentials; 429 for the rest of the window once exceeded. */
  private rateLimit(method: string, _headers: Record<string, string>): void {
    const now = Date.now();
    if (now < this.limitedUntil) throw new ApiError(429, [{ code: 971, message: 'Please wait and consider throttling your request speed' }]);
    if (method === 'GET' && !this.options.countGets) return;
    if (now - this.windowStart >= this.options.rateWindowMs) {
      this.windowStart = now;
      this.windowCount = 0;
    }
    this.windowCount++;
    if (this.windowCount > this.options.rateLimit) {
      this.limitedUntil = this.windowStart + this.options.rateWindowMs;
      throw new ApiError(429, [{ code: 971, message: 'Please wait and consider throttling your request speed' }]);
    }
  }

  // ------------------------------------------------------------------ routing

  private route(
    method: string,
    url: URL,
    body: unknown,
    headers: http.IncomingHttpHeaders,
  ): { result: unknown; status?: number; info?: Json; messages?: Message[] } {
    const path = url.pathname.replace(/\/+$/, '');
    if (!path.startsWith('/client/v4/')) throw new ApiError(404, [{ code: 7000, message: 'No route for that URI' }]);
    const parts = path.slice('/client/v4/'.length).split('/');
    if (method === 'GET' && parts.length === 1 && parts[0] === 'ips') {
      return { result: { etag: createHash('sha1').update(JSON.stringify(this.ips)).digest('hex'), ...this.ips } };
    }
    const token = this.authenticate(headers);
    if (parts[0] === 'user' && parts[1] === 'tokens' && parts[2] === 'verify' && parts.length === 3 && method === 'GET') {
      if (token !== 'key' && token.accountOwned) throw new ApiError(401, [{ code: 1000, message: 'Invalid API Token' }]);
      return this.verify(token);
    }
    if (parts[0] === 'accounts' && parts[2] === 'tokens' && parts[3] === 'verify' && parts.length === 4 && method === 'GET') {
      if (!this.accounts.has(parts[1])) throw this.noRoute(path);
      return this.verify(token);
    }
    if (parts[0] === 'zones' && parts.length === 2 && method === 'GET') {
      const zone = this.zones.get(parts[1]);
      if (!zone) throw this.noRoute(path);
      this.require(token, 'zone_read');
      const plan = this.options.plan;
      return { result: { id: parts[1], name: zone.name, status: 'active', account: { id: zone.account }, plan: { legacy_id: plan, name: `${plan} plan` } } };
    }
    const lists = this.routeLists(method, parts, url, body, token);
    if (lists) return lists;
    const location = this.accessRuleLocation(parts, path);
    if (location) {
      const { key, permission, scope, rest } = location;
      this.require(token, permission, method);
      if (rest.length === 0 && method === 'GET') return this.listRules(key, url.searchParams);
      if (rest.length === 0 && method === 'POST') return { result: this.createRule(key, scope, body) };
      if (rest.length === 1 && method === 'GET') return { result: this.findRule(key, rest[0]) };
      if (rest.length === 1 && method === 'PATCH') return { result: this.patchRule(key, rest[0], body) };
      if (rest.length === 1 && method === 'DELETE') return { result: this.deleteRule(key, rest[0], body) };
    }
    throw this.noRoute(path);
  }

  /** Lists (account) and the custom-rules entry point (zone); null when the path is neither. */
  private routeLists(method: string, parts: string[], url: URL, body: unknown, token: ReturnType<FakeCloudflare['authenticate']>) {
    const l = this.lists;
    if (parts[0] === 'accounts' && parts[2] === 'rules' && parts[3] === 'lists') {
      const account = parts[1];
      if (!this.accounts.has(account)) throw this.noRoute(url.pathname);
      this.require(token, 'account_filter_lists', method);
      const [id, sub] = [parts[4], parts[5]];
      if (parts.length === 4 && method === 'GET') return { result: l.getLists(account) };
      if (parts.length === 4 && method === 'POST') return { result: l.createList(account, body) };
      if (id === 'bulk_operations' && parts.length === 6 && method === 'GET') return { result: l.getOperation(account, parts[5]) };
      if (parts.length === 5 && method === 'GET') return { result: l.getList(account, id) };
      if (parts.length === 5 && method === 'DELETE') return { result: l.deleteList(account, id) };
      if (sub === 'items' && parts.length === 6) {
        if (method === 'GET') return l.getItems(account, id, url.searchParams);
        if (['POST', 'PUT', 'DELETE'].includes(method)) return l.writeItems(account, id, method, body);
      }
      return null;
    }
    if (parts[0] === 'zones' && parts[2] === 'rulesets') {
      const zone = parts[1];
      if (!this.zones.has(zone)) throw this.noRoute(url.pathname);
      this.require(token, 'zone_waf', method);
      const entrypoint = parts[3] === 'phases' && parts[4] === 'http_request_firewall_custom' && parts[5] === 'entrypoint' && parts.length === 6;
      if (entrypoint && method === 'GET') return { result: l.answerEntrypoint(zone) };
      if (entrypoint && method === 'PUT') return { result: l.putEntrypoint(zone, body) };
      if (parts.length === 3 && method === 'POST') return { result: l.createRuleset(zone, body) };
      if (parts.length === 5 && parts[4] === 'rules' && method === 'POST') return { result: l.addRule(zone, parts[3], body) };
      if (parts.length === 6 && parts[4] === 'rules' && method === 'PATCH') return { result: l.patchRule(zone, parts[3], parts[5], body) };
      if (parts.length === 6 && parts[4] === 'rules' && method === 'DELETE') return { result: l.deleteRule(zone, parts[3], parts[5]) };
      return null;
    }
    return null;
  }

  private noRoute(path: string): ApiError {
    return new ApiError(404, [{ code: 7003, message: `Could not route to ${path}, perhaps your object identifier is invalid?` }]);
  }

  private authenticate(headers: http.IncomingHttpHeaders): { id: string; status: string; permissions: Set<Permission>; accountOwned?: boolean } | 'key' {
    const authorization = headers.authorization;
    if (authorization !== undefined) {
      const match = /^Bearer ([A-Za-z0-9_-]{40})$/.exec(authorization);
      if (!match) {
        throw new ApiError(400, [
          { code: 6003, message: 'Invalid request headers', error_chain: [{ code: 6111, message: 'Invalid format for Authorization header' }] },
        ]);
      }
      const token = this.tokens.get(match[1]);
      if (!token || token.status !== 'active') throw new ApiError(403, [{ code: 9109, message: 'Invalid access token' }]);
      return token;
    }
    if (headers['x-auth-key'] !== undefined || headers['x-auth-email'] !== undefined) {
      if (!/^[0-9a-f]{37}$/.test(String(headers['x-auth-key'] ?? ''))) {
        throw new ApiError(400, [
          { code: 6003, message: 'Invalid request headers', error_chain: [{ code: 6103, message: 'Invalid format for X-Auth-Key header' }] },
        ]);
      }
      throw new ApiError(400, [{ code: 9103, message: 'Unknown X-Auth-Key or X-Auth-Email' }]);
    }
    throw new ApiError(400, [{ code: 9106, message: 'Missing X-Auth-Key, X-Auth-Email or Authorization headers' }], true);
  }

  private verify(token: ReturnType<FakeCloudflare['authenticate']>) {
    if (token === 'key') throw new ApiError(400, [{ code: 1001, message: 'Missing "Authorization" header' }]);
    return {
      result: { id: token.id, status: token.status },
      messages: [{ code: 10000, message: 'This API Token is valid and active', type: null } as Message],
    };
  }

  private require(token: ReturnType<FakeCloudflare['authenticate']>, permission: Permission, method = 'GET'): void {
    const readOnly = method === 'GET' && token !== 'key' && token.permissions.has(`${permission}_read` as Permission);
    if (token === 'key' || (!token.permissions.has(permission) && !readOnly)) throw new ApiError(403, [{ code: 10000, message: 'Authentication error' }]);
  }

  private accessRuleLocation(parts: string[], path: string) {
    const tail = (from: number) =>
      parts[from] === 'firewall' && parts[from + 1] === 'access_rules' && parts[from + 2] === 'rules' ? parts.slice(from + 3) : null;
    if (parts[0] === 'zones' && tail(2)) {
      const zone = this.zones.get(parts[1]);
      if (!zone || !ZONE_ID.test(parts[1])) throw this.noRoute(path);
      return {
        key: `zone:${parts[1]}`,
        permission: 'zone_firewall_services' as Permission,
        scope: { id: parts[1], name: zone.name, type: 'zone' },
        rest: tail(2)!,
      };
    }
    if (parts[0] === 'accounts' && tail(2)) {
      if (!this.accounts.has(parts[1])) throw this.noRoute(path);
      return {
        key: `account:${parts[1]}`,
        permission: 'account_firewall_access_rules' as Permission,
        scope: { id: parts[1], name: 'Fake account', type: 'account' },
        rest: tail(2)!,
      };
    }
    if (parts[0] === 'user' && tail(1)) {
      return {
        key: 'user',
        permission: 'zone_firewall_services' as Permission,
        scope: { id: 'fake-user', email: 'user@example.com', type: 'user' },
        rest: tail(1)!,
      };
    }
    return null;
  }

  private list(key: string): AccessRule[] {
    let rules = this.rules.get(key);
    if (!rules) this.rules.set(key, (rules = []));
    return rules;
  }

  private createRule(key: string, scope: Json, body: unknown): AccessRule {
    const input = (body ?? {}) as { mode?: unknown; configuration?: { target?: unknown; value?: unknown }; notes?: unknown };
    const target = String(input.configuration?.target ?? '');
    const value = String(input.configuration?.value ?? '');
    const mode = String(input.mode ?? '');
    const problems: string[] = [];
    if (!['ip', 'ip6', 'ip_range', 'asn', 'country'].includes(target)) problems.push(`unsupported target received: ${target}`);
    if (!MODES.includes(mode)) problems.push(`invalid mode received: ${mode}`);
    if (problems.length) throw new ApiError(400, [{ code: 10001, message: `firewallaccessrules.api.validation_error:${problems.join(',')}` }]);
    if (!validTarget(target, value)) throw new ApiError(400, [{ code: 10001, message: 'firewallaccessrules.api.validation_error: invalid ip provided' }]);
    const rules = this.list(key);
    const normalized = target === 'ip6' || target === 'ip_range' ? value.toLowerCase() : value;
    // one address is one rule however it is spelt; the value is kept as it was written
    if (rules.some((rule) => rule.configuration.target === target && sameValue(rule.configuration.value, normalized))) {
      throw new ApiError(400, [{ code: 10009, message: 'firewallaccessrules.api.duplicate_of_existing' }]);
    }
    const total = [...this.rules.entries()].filter(([k]) => k === key || !k.startsWith('zone:')).reduce((n, [, r]) => n + r.length, 0);
    if (total >= this.options.ruleQuota) throw new ApiError(400, [{ code: 81019, message: 'Access rule quota has been exceeded.' }]);
    const now = timestamp();
    const rule: AccessRule = {
      id: hexId(),
      paused: false,
      modified_on: now,
      allowed_modes: MODES,
      mode,
      notes: typeof input.notes === 'string' ? input.notes : '',
      configuration: { target, value: normalized },
      scope,
      created_on: now,
    };
    rules.push(rule);
    return rule;
  }

  private findRule(key: string, id: string): AccessRule {
    const rule = this.list(key).find((r) => r.id === id);
    if (!rule) throw new ApiError(404, [{ code: 10001, message: 'firewallaccessrules.api.not_found' }]);
    return rule;
  }

  private patchRule(key: string, id: string, body: unknown): AccessRule {
    const rule = this.findRule(key, id);
    const input = (body ?? {}) as { mode?: unknown; notes?: unknown; configuration?: unknown };
    // The account-level edit's schema requires the configuration (cloudflare-typescript's
    // AccessRuleEditParams, cloudflare-go's AccessRuleEditParams); the zone-level edit does not.
    if (key.startsWith('account:') && input.configuration === undefined) {
      throw new ApiError(400, [{ code: 10001, message: 'firewallaccessrules.api.validation_error:configuration is required' }]);
    }
    if (input.mode !== undefined) {
      if (!MODES.includes(String(input.mode)))
        throw new ApiError(400, [{ code: 10001, message: `firewallaccessrules.api.validation_error:invalid mode received: ${input.mode}` }]);
      rule.mode = String(input.mode);
    }
    if (typeof input.notes === 'string') rule.notes = input.notes;
    rule.modified_on = timestamp();
    return rule; // a new configuration is silently ignored, as the real API does
  }

  private deleteRule(key: string, id: string, body: unknown): { id: string } {
    const rule = this.findRule(key, id);
    const rules = this.list(key);
    rules.splice(rules.indexOf(rule), 1);
    const cascade = key.startsWith('zone:') ? String((body as { cascade?: unknown } | undefined)?.cascade ?? 'none') : 'none';
    if (cascade === 'basic' || cascade === 'aggressive') {
      for (const [other, list] of this.rules) {
        if (other === key || !other.startsWith('zone:')) continue;
        const keep = list.filter(
          (r) =>
            !(
              r.configuration.target === rule.configuration.target &&
              r.configuration.value === rule.configuration.value &&
              (cascade === 'aggressive' || r.mode === rule.mode)
            ),
        );
        this.rules.set(other, keep);
      }
    }
    return { id };
  }

  /** Filters (dotted and underscore names), match all/any, order, newest first, pages of at most 100. */
  private listRules(key: string, query: URLSearchParams) {
    const get = (name: string) => query.get(name) ?? query.get(name.replace('.', '_')) ?? undefined;
    const filters: ((rule: AccessRule) => boolean)[] = [];
    const mode = get('mode');
    const target = get('configuration.target');
    const value = get('configuration.value');
    const notes = get('notes');
    if (mode) filters.push((r) => r.mode === mode);
    if (target) filters.push((r) => r.configuration.target === target);
    if (value) filters.push((r) => r.configuration.value === value.toLowerCase() || r.configuration.value === value);
    if (notes) filters.push((r) => r.notes.toLowerCase().includes(notes.toLowerCase()));
    const any = query.get('match') === 'any';
    const owner = key.startsWith('zone:') && this.options.inheritAccountRules ? this.zones.get(key.slice(5))?.account : undefined;
    const visible = owner ? [...this.list(`account:${owner}`), ...this.list(key)] : this.list(key);
    let rules = visible.filter((rule) => filters.length === 0 || (any ? filters.some((f) => f(rule)) : filters.every((f) => f(rule))));
    const order = query.get('order');
    if (order) {
      const field = (r: AccessRule) => (order === 'mode' ? r.mode : order === 'configuration.target' ? r.configuration.target : r.configuration.value);
      rules = [...rules].sort((a, b) => field(a).localeCompare(field(b)));
      if (query.get('direction') === 'desc') rules.reverse();
    } else {
      rules = [...rules].reverse(); // newest first
    }
    const perPage = Math.min(this.options.perPageCap, Math.max(1, Number(query.get('per_page') ?? 20) || 20));
    const page = Math.max(1, Number(query.get('page') ?? 1) || 1);
    const slice = rules.slice((page - 1) * perPage, page * perPage);
    return {
      result: slice,
      info: { page, per_page: perPage, count: slice.length, total_count: rules.length, total_pages: Math.ceil(rules.length / perPage) },
    };
  }
}
