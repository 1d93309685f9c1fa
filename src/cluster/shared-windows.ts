import { createHmac, randomBytes } from 'node:crypto';
import type { createClient } from '@redis/client';
import { ConfigError, describeError } from '../common/errors';
import type { SharedConfig } from '../config/schema';

/** One counted event of one jail, for the shared window. */
export interface SharedHit {
  jail: string;
  /** the ban key (CIDR text): hashed with the secret before it leaves the process */
  key: string;
  /** the event's time, ms */
  at: number;
  findtime: number;
  maxretry: number;
  bantime: number;
}

/**
 * `ban`: this hit reached maxretry and this receiver won the ban (no other receiver will order it);
 * `counted`: the window grew; `banned`: another receiver (or this one) already banned the key.
 */
export type SharedVerdict = 'ban' | 'counted' | 'banned';

export interface SharedEvents {
  /** the server went away (or could not be reached at start): counting is local until it returns */
  lost(error: string): void;
  /** the server is back (or reached for the first time) and checked */
  joined(): void;
  /** the server keeps data on disk: never used */
  refused(error: ConfigError): void;
}

/**
 * One atomic step per hit, for a batch of hits in one call: nothing when the key is banned;
 * otherwise drop the hits older than findtime, add this one, and at maxretry set the ban marker
 * (its TTL the ban's length) and empty the window. Whoever sets the marker orders the ban, so one
 * ban goes out across receivers. Hits of one key in one batch are taken in order.
 * KEYS: per hit, its window (a sorted set of hit times) and its marker.
 * ARGV: per hit, now ms, findtime ms, maxretry, ban ms, a unique member. Answers 0, 1 or 2 per hit.
 */
const HIT_SCRIPT = `
local out = {}
for i = 1, #KEYS / 2 do
  local window, marker, a = KEYS[2 * i - 1], KEYS[2 * i], 5 * (i - 1)
  if redis.call('EXISTS', marker) == 1 then
    out[i] = 2
  else
    local now, findtime = tonumber(ARGV[a + 1]), tonumber(ARGV[a + 2])
    redis.call('ZREMRANGEBYSCORE', window, '-inf', now - findtime)
    redis.call('ZADD', window, now, ARGV[a + 5])
    if redis.call('ZCARD', window) >= tonumber(ARGV[a + 3]) then
      redis.call('DEL', window)
      redis.call('SET', marker, '1', 'PX', ARGV[a + 4])
      out[i] = 1
    else
      redis.call('PEXPIRE', window, findtime)
      out[i] = 0
    end
  end
end
return out`;

const VERDICTS: readonly SharedVerdict[] = ['counted', 'ban', 'banned'];
/** a hit that has no answer within this long is counted locally instead */
const HIT_TIMEOUT_MS = 1000;
const CONNECT_TIMEOUT_MS = 2000;
/** hits sent in one call at most: a flood's hits go a few hundred a round trip, a lone hit at once */
const MAX_BATCH = 500;

interface PendingHit {
  keys: [string, string];
  args: string[];
  resolve: (verdict: SharedVerdict) => void;
  reject: (error: Error) => void;
}

type Client = ReturnType<typeof createClient>;

/**
 * The jails' windows and the "already banned" markers in Valkey or Redis, shared by every receiver
 * configured with the same server and secret. Keys are HMACs of the ban key with the shared
 * secret, values are hit times and random members: a dump of the server's memory names no one.
 * Every entry has a TTL. The server must keep nothing on disk: checked at each connect.
 */
export class SharedWindows {
  private readonly client: Client;
  /** the server answers and passed the persistence check */
  private usable = false;
  private starting = true;
  private stopped = false;
  /** members of the window's sorted sets: unique across receivers, meaningless to anyone */
  private readonly member = randomBytes(6).toString('base64url');
  private sequence = 0;
  private scriptSha = '';
  /** the check at the latest connect, under way or done */
  private joining: Promise<void> = Promise.resolve();
  /** hits waiting for this turn of the event loop to end, then sent in one call */
  private pending: PendingHit[] = [];
  private flushing = false;
  /** set when the server at start keeps data on disk */
  private refusal: ConfigError | null = null;

  constructor(
    private readonly config: SharedConfig,
    private readonly events: SharedEvents,
  ) {
    // the client is loaded only with `shared`: it is a fifth of a cold start
    // eslint-disable-next-line @typescript-eslint/no-require-imports -- loaded lazily on purpose
    const redis = require('@redis/client') as typeof import('@redis/client');
    this.client = redis.createClient({
      url: config.url,
      disableOfflineQueue: true,
      socket: { connectTimeout: CONNECT_TIMEOUT_MS, reconnectStrategy: (retries) => Math.min(100 * 2 ** retries, 5000) * (0.5 + Math.random()) },
    });
    this.client.on('error', (error: unknown) => this.lose(describeError(error)));
    this.client.on('ready', () => (this.joining = this.join()));
  }

  get up(): boolean {
    return this.usable;
  }

  /**
   * Connects and checks the server. Refuses (ConfigError) a server that keeps data on disk; a
   * server that cannot be reached is not fatal: counting stays local, and the client keeps trying.
   */
  async start(): Promise<void> {
    const connected = this.client.connect().then(
      () => this.joining,
      (error: unknown) => this.lose(describeError(error)),
    );
    await Promise.race([connected, new Promise((resolve) => setTimeout(resolve, CONNECT_TIMEOUT_MS).unref())]);
    this.starting = false;
    if (this.refusal) throw this.refusal;
  }

  /**
   * Counts one hit in the shared window; the hits of one turn of the event loop go in one call.
   * Rejects when the server cannot answer: count it locally.
   */
  hit(hit: SharedHit): Promise<SharedVerdict> {
    if (!this.usable) return Promise.reject(new Error('shared state unreachable'));
    const id = this.hash(hit.key);
    const keys: [string, string] = [`edgeban:w:${hit.jail}:${id}`, `edgeban:b:${hit.jail}:${id}`];
    const args = [
      String(Math.round(hit.at)),
      String(hit.findtime * 1000),
      String(hit.maxretry),
      String(hit.bantime * 1000),
      `${this.member}.${this.sequence++}`,
    ];
    return new Promise((resolve, reject) => {
      this.pending.push({ keys, args, resolve, reject });
      if (this.pending.length >= MAX_BATCH) this.flush();
      else if (!this.flushing) {
        this.flushing = true;
        setImmediate(() => this.flush());
      }
    });
  }

  private flush(): void {
    this.flushing = false;
    const batch = this.pending;
    if (batch.length === 0) return;
    this.pending = [];
    this.withTimeout(
      this.evaluate(
        batch.flatMap((hit) => hit.keys),
        batch.flatMap((hit) => hit.args),
      ),
    ).then(
      (reply) => batch.forEach((hit, i) => hit.resolve(VERDICTS[Number((reply as unknown[])[i])] ?? 'counted')),
      (error: unknown) => batch.forEach((hit) => hit.reject(error instanceof Error ? error : new Error(String(error)))),
    );
  }

  /** Forgets that a jail banned this key (the ban never reached Cloudflare, or an operator lifted it). */
  async release(jail: string, key: string): Promise<void> {
    if (!this.usable) return;
    const id = this.hash(key);
    await this.withTimeout(this.client.del([`edgeban:w:${jail}:${id}`, `edgeban:b:${jail}:${id}`])).catch(() => undefined);
  }

  async stop(): Promise<void> {
    this.stopped = true;
    this.usable = false;
    if (this.client.isOpen) await this.client.close().catch(() => undefined);
    else this.client.destroy();
  }

  /** 22 base64url characters of HMAC-SHA256: 132 bits, not reversible without the secret. */
  private hash(key: string): string {
    return createHmac('sha256', this.config.secret).update(key).digest('base64url').slice(0, 22);
  }

  private async evaluate(keys: string[], args: string[]): Promise<unknown> {
    try {
      return await this.client.evalSha(this.scriptSha, { keys, arguments: args });
    } catch (error) {
      if (!String((error as Error)?.message).startsWith('NOSCRIPT')) throw error;
      return this.client.eval(HIT_SCRIPT, { keys, arguments: args });
    }
  }

  private withTimeout<T>(promise: Promise<T>): Promise<T> {
    let timer: NodeJS.Timeout | undefined;
    const late = new Promise<never>((_, reject) => {
      timer = setTimeout(() => reject(new Error(`no answer within ${HIT_TIMEOUT_MS} ms`)), HIT_TIMEOUT_MS);
    });
    return Promise.race([promise, late]).finally(() => clearTimeout(timer));
  }

  /** On every (re)connect: the persistence check, then the script. */
  private async join(): Promise<void> {
    try {
      const problem = await this.persistenceProblem();
      if (problem) {
        this.usable = false;
        this.refusal = new ConfigError('shared.url', problem);
        this.events.refused(this.refusal);
        if (!this.starting) await this.stop();
        return;
      }
      this.scriptSha = String(await this.client.scriptLoad(HIT_SCRIPT));
      if (!this.usable && !this.stopped) {
        this.usable = true;
        this.events.joined();
      }
    } catch (error) {
      this.lose(describeError(error));
    }
  }

  private lose(error: string): void {
    if (this.stopped) return;
    const wasUp = this.usable || this.starting;
    this.usable = false;
    if (wasUp) this.events.lost(error);
    this.starting = false;
  }

  /** Why the server may not be used: it saves to disk, or it cannot say and the config does not vouch for it. */
  private async persistenceProblem(): Promise<string | null> {
    let save: string | undefined, appendonly: string | undefined;
    try {
      save = (await this.client.configGet('save')).save;
      appendonly = (await this.client.configGet('appendonly')).appendonly;
    } catch (error) {
      if (this.config.persistence === 'off') return null;
      return (
        `the server does not allow CONFIG GET (${describeError(error)}), so edgeban cannot check that it keeps nothing on disk: ` +
        `turn persistence off (save "", appendonly no) and set shared.persistence: off to say so`
      );
    }
    const on = [save ? `save "${save}"` : '', appendonly === 'yes' ? 'appendonly yes' : ''].filter(Boolean);
    if (on.length === 0) return null;
    return `the server writes its data to disk (${on.join(', ')}): run it with --save '' --appendonly no (or CONFIG SET save "" and appendonly no) so that no trace of an attacker reaches the disk`;
  }
}
