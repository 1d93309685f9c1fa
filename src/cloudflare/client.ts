import type { Pool } from 'undici';
import type { z } from '../config/zod';
import { describeError, EdgebanError } from '../common/errors';
import { describeProblem } from './answers';
import type { ApiBudget } from '../bans/backend';

export interface CloudflareMessage {
  code: number;
  message: string;
  error_chain?: CloudflareMessage[];
}

/**
 * A failed call. `retryable` errors (429, 5xx, network, timeouts) may succeed later; others (4xx)
 * will not without a change. The message names method, path and Cloudflare's code, never the token.
 */
export class CloudflareError extends EdgebanError {
  readonly code = 'EDGEBAN_CLOUDFLARE';

  constructor(
    readonly method: string,
    readonly path: string,
    readonly status: number,
    readonly errors: CloudflareMessage[],
    override readonly retryable: boolean,
  ) {
    const first = errors[0];
    const chain = first?.error_chain?.map((e) => `${e.code} ${e.message}`).join('; ');
    super(
      `${method} ${path}: ${status ? `HTTP ${status}` : 'no response'}${first ? `, ${first.code ? `${first.code} ` : ''}${first.message}` : ''}${chain ? ` (${chain})` : ''}`,
    );
  }

  /** Cloudflare's code for the first error it gave */
  get cloudflareCode(): number | undefined {
    return this.errors[0]?.code;
  }

  has(code: number): boolean {
    return this.errors.some((e) => e.code === code || e.error_chain?.some((c) => c.code === code));
  }
}

export interface ApiResponse<T> {
  result: T;
  info?: { page?: number; per_page?: number; count?: number; total_count?: number; total_pages?: number };
  messages: CloudflareMessage[];
}

export interface ClientOptions {
  baseUrl: string;
  token: string;
  /** client-side budget shared by every call, per 5 minutes */
  requestsPer5Min: number;
  timeoutMs?: number;
  /** attempts for 5xx and network errors before giving up (the ledger retries later) */
  maxAttempts?: number;
  backoffBaseMs?: number;
  backoffMaxMs?: number;
  onWait?: (reason: 'budget' | 'rate_limited', ms: number) => void;
  onResponse?: (status: number) => void;
}

const WINDOW_MS = 300_000;

/** A wait that ends early, with an error, when the client closes. */
function sleep(ms: number, signal: AbortSignal): Promise<void> {
  return new Promise((resolve, reject) => {
    if (signal.aborted) return reject(new Error('the Cloudflare client is closed'));
    const timer = setTimeout(() => {
      signal.removeEventListener('abort', onAbort);
      resolve();
    }, ms);
    const onAbort = () => {
      clearTimeout(timer);
      reject(new Error('the Cloudflare client is closed'));
    };
    signal.addEventListener('abort', onAbort, { once: true });
  });
}

/** The Cloudflare API v4 over one keep-alive pool. */
export class CloudflareClient {
  private openPool: Pool | null = null;
  private readonly origin: string;
  private readonly basePath: string;
  /** send times within the last 5 minutes, oldest first */
  private readonly sent: number[] = [];
  private pausedUntil = 0;
  /** what Cloudflare's last `Ratelimit` header said is left */
  private cloudflareRemaining: number | null = null;
  private slot: Promise<void> = Promise.resolve();
  /** aborted by close(): every budget, 429 or backoff wait ends at once */
  private readonly closing = new AbortController();
  private readonly options: Required<Omit<ClientOptions, 'onWait' | 'onResponse'>> & Pick<ClientOptions, 'onWait' | 'onResponse'>;

  constructor(options: ClientOptions) {
    this.options = { timeoutMs: 10_000, maxAttempts: 5, backoffBaseMs: 500, backoffMaxMs: 30_000, ...options };
    const url = new URL(options.baseUrl);
    this.basePath = url.pathname.replace(/\/+$/, '');
    this.origin = url.origin;
  }

  /**
   * undici is loaded at the first request, not at start: it is a tenth of a cold start, and the
   * daemon listens before it sends anything.
   */
  private get pool(): Pool {
    if (!this.openPool) {
      // eslint-disable-next-line @typescript-eslint/no-require-imports -- loaded lazily on purpose (see above)
      const { Pool: PoolClass } = require('undici') as typeof import('undici');
      const { timeoutMs } = this.options;
      this.openPool = new PoolClass(this.origin, {
        connections: 4,
        keepAliveTimeout: 30_000,
        headersTimeout: timeoutMs,
        bodyTimeout: timeoutMs,
        connectTimeout: timeoutMs,
      });
    }
    return this.openPool;
  }

  /** Ends every wait and drops open requests: a stopping daemon must not linger for a budget. */
  async close(): Promise<void> {
    if (this.closing.signal.aborted) return;
    this.closing.abort();
    await this.openPool?.destroy();
  }

  /** Requests sent in the current 5-minute window (for metrics and tests). */
  get recentRequests(): number {
    this.forgetOld(Date.now());
    return this.sent.length;
  }

  budget(): ApiBudget {
    return { used: this.recentRequests, limit: this.options.requestsPer5Min, cloudflareRemaining: this.cloudflareRemaining };
  }

  /**
   * One call, retried on a passing failure. With `schema`, the answer's `result` is checked against
   * it: a body that does not fit is a retryable error naming the field (the next try may meet a
   * healthy server), never a TypeError later.
   */
  async request<S extends z.ZodType>(
    method: string,
    path: string,
    options: { query?: Record<string, string | number>; body?: unknown; schema: S },
  ): Promise<ApiResponse<z.output<S>>>;
  async request<T = unknown>(method: string, path: string, options?: { query?: Record<string, string | number>; body?: unknown }): Promise<ApiResponse<T>>;
  async request(
    method: string,
    path: string,
    options: { query?: Record<string, string | number>; body?: unknown; schema?: z.ZodType } = {},
  ): Promise<ApiResponse<unknown>> {
    const query = options.query ? `?${new URLSearchParams(Object.entries(options.query).map(([k, v]): [string, string] => [k, String(v)]))}` : '';
    let attempt = 0;
    let limitedRetries = 0;
    for (;;) {
      await this.acquire();
      const outcome = this.check(method, path, await this.send<unknown>(method, path, query, options.body), options.schema);
      if (!(outcome instanceof CloudflareError)) return outcome;
      if (outcome.status === 429 && this.pausedUntil > Date.now() && limitedRetries++ < 20) continue; // paused already
      if (!outcome.retryable || ++attempt >= this.options.maxAttempts) throw outcome;
      const backoff = Math.min(this.options.backoffMaxMs, this.options.backoffBaseMs * 2 ** (attempt - 1));
      await sleep(backoff * (0.75 + Math.random() * 0.5), this.closing.signal);
    }
  }

  /** The answer, or a retryable error when its `result` does not fit the schema. */
  private check(
    method: string,
    path: string,
    answer: ApiResponse<unknown> | CloudflareError,
    schema: z.ZodType | undefined,
  ): ApiResponse<unknown> | CloudflareError {
    if (answer instanceof CloudflareError || !schema) return answer;
    const checked = schema.safeParse(answer.result);
    if (checked.success) return { ...answer, result: checked.data };
    return new CloudflareError(method, path, 200, [{ code: 0, message: `malformed answer: ${describeProblem(checked.error)}` }], true);
  }

  /** Waits for the 429 pause and for room in the budget, one caller at a time. */
  private acquire(): Promise<void> {
    const turn = this.slot.then(async () => {
      for (;;) {
        const now = Date.now();
        if (now < this.pausedUntil) {
          this.options.onWait?.('rate_limited', this.pausedUntil - now);
          await sleep(this.pausedUntil - now, this.closing.signal);
          continue;
        }
        this.forgetOld(now);
        if (this.sent.length < this.options.requestsPer5Min) {
          this.sent.push(now);
          return;
        }
        const wait = this.sent[0] + WINDOW_MS - now;
        this.options.onWait?.('budget', wait);
        await sleep(wait, this.closing.signal);
      }
    });
    this.slot = turn.catch(() => undefined);
    return turn;
  }

  private forgetOld(now: number): void {
    let drop = 0;
    while (drop < this.sent.length && this.sent[drop] <= now - WINDOW_MS) drop++;
    if (drop > 0) this.sent.splice(0, drop);
  }

  private async send<T>(method: string, path: string, query: string, body: unknown): Promise<ApiResponse<T> | CloudflareError> {
    let status = 0;
    try {
      const response = await this.pool.request({
        method: method as 'GET',
        path: `${this.basePath}${path}${query}`,
        headers: { authorization: `Bearer ${this.options.token}`, 'content-type': 'application/json', accept: 'application/json' },
        body: body === undefined ? undefined : JSON.stringify(body),
      });
      status = response.statusCode;
      this.options.onResponse?.(status);
      this.noteRemaining(response.headers.ratelimit);
      const text = await response.body.text();
      let envelope: { success?: boolean; result?: T; errors?: CloudflareMessage[]; messages?: CloudflareMessage[]; result_info?: ApiResponse<T>['info'] } = {};
      let notJson = false;
      try {
        const parsed: unknown = text ? JSON.parse(text) : {};
        if (parsed && typeof parsed === 'object' && !Array.isArray(parsed)) envelope = parsed;
        else notJson = true;
      } catch {
        notJson = true;
      }
      if (notJson && status >= 200 && status < 300) {
        // a proxy's HTML page, a truncated body: nothing to trust, and maybe better on the next try
        const type = String(response.headers['content-type'] ?? 'no content type');
        return new CloudflareError(method, path, status, [{ code: 0, message: `malformed answer: not a JSON object (${type.split(';')[0]})` }], true);
      }
      // The global limit (971, or any 429 with Retry-After) pauses every call; another 429, such as
      // a Lists write while a bulk operation is pending, is retried with backoff like a 5xx.
      if (status === 429 && (response.headers['retry-after'] !== undefined || envelope.errors?.some((e) => e.code === 971))) this.pause(response.headers);
      if (status >= 200 && status < 300 && envelope.success !== false) {
        return { result: envelope.result as T, info: envelope.result_info, messages: envelope.messages ?? [] };
      }
      const errors = Array.isArray(envelope.errors) ? envelope.errors.filter((e) => e && typeof e === 'object') : [];
      return new CloudflareError(method, path, status, errors, status === 429 || status >= 500 || status === 408);
    } catch (error) {
      this.options.onResponse?.(0);
      return new CloudflareError(method, path, status, [{ code: 0, message: describeError(error) }], true);
    }
  }

  /** `"default";r=1187;t=212`: the remaining calls, when Cloudflare says them. */
  private noteRemaining(header: string | string[] | undefined): void {
    const match = typeof header === 'string' ? /(?:^|;)\s*r=(\d+)/.exec(header) : null;
    if (match) this.cloudflareRemaining = Number(match[1]);
  }

  /** Retry-After (seconds) or retry-after-ms; pauses every call, not only this one. */
  private pause(headers: Record<string, string | string[] | undefined>): void {
    const ms = Number(headers['retry-after-ms']);
    const seconds = Number(headers['retry-after']);
    const wait = Number.isFinite(ms) && ms > 0 ? ms : Number.isFinite(seconds) && seconds > 0 ? seconds * 1000 : 60_000;
    this.pausedUntil = Math.max(this.pausedUntil, Date.now() + wait);
  }
}
