import type { BanAction } from '../config/schema';

/** One ban as it is (or will be) at Cloudflare. `location` is `zone:<id>` or `account:<id>`. */
export interface EdgeBan {
  location: string;
  /** the banned prefix in CIDR form, e.g. `203.0.113.7/32`, `2001:db8:1:2::/64` */
  key: string;
  jail: string;
  action: BanAction;
  /** unix seconds */
  until: number;
  /** Cloudflare's id once the rule exists */
  ruleId?: string;
}

export type OpType = 'ban' | 'extend' | 'unban';

/** One operation of a batch; `ban.ruleId` is set where known. */
export interface BatchOp {
  type: OpType;
  ban: EdgeBan;
}

/**
 * Per operation: done (with the rule or item id; `evicted` when the plan's limit pushed it out), or
 * failed. An unban answers `laterUntil` instead of lifting when the rule at Cloudflare now says a
 * later expiry: another receiver extended it, and the ban stays until then.
 */
export type OpResult = { ok: true; ruleId?: string; evicted?: boolean; laterUntil?: number } | { ok: false; error: Error };

/** The client's share of Cloudflare's 1200 calls per 5 minutes, and what Cloudflare last said is left. */
export interface ApiBudget {
  /** calls sent in the last 5 minutes */
  used: number;
  /** requestsPer5Min */
  limit: number;
  /** the `r` of Cloudflare's last `Ratelimit` header; null before one was seen */
  cloudflareRemaining: number | null;
}

/** A zone's shield as it stands at Cloudflare: one custom rule for every shielded site of the zone. */
export interface ShieldRule {
  ruleId: string;
  /** the sites it covers, as `host` or `host/path` */
  sites: string[];
  /** unix seconds, from its description */
  until: number;
  action: BanAction;
}

/** Where a site's shield goes: its zone, and the site as the rule names it. */
export interface ShieldPlace {
  zone: string;
  site: string;
}

/** Custom rules that put a site's login paths behind a challenge (the site shield). */
export interface ShieldBackend {
  /** null when no zone is configured for the site, or the site is no host a rule can name */
  place(site: string): ShieldPlace | null;
  /** every zone a shield may be in */
  zones(): string[];
  /** edgeban's shield rule in the zone, or null; anyone else's rules are never returned */
  read(zone: string): Promise<ShieldRule | null>;
  /**
   * Makes the zone's rule cover these sites until `until` (creating it when `ruleId` is absent).
   * Returns its id and the sites it holds: the first that fit in one expression.
   */
  write(zone: string, rule: { ruleId?: string; sites: string[]; until: number; action: BanAction }): Promise<{ ruleId: string; sites: string[] }>;
  /** Deletes the zone's rule; one already gone counts as deleted. */
  remove(zone: string, ruleId: string): Promise<void>;
}

/** What the ledger needs from any way of banning at the edge. */
interface BackendCommon {
  readonly name: string;
  /** The API budget, for backends that call Cloudflare. */
  budget?(): ApiBudget;
  /** Set-up before the first ban (ip-list: lists and custom rules); retried at every sweep until it succeeds. */
  prepare?(): Promise<void>;
  /** Where a ban for this site goes; null when no zone is configured for it. */
  locate(site: string | null): string | null;
  /** Site shields, where the backend can make them. */
  readonly shields?: ShieldBackend;
  /** Every rule edgeban owns, in every location it uses. */
  listOwned(): Promise<(EdgeBan & { ruleId: string })[]>;
  close(): Promise<void>;
}

/** One call a ban, an extension or an unban (IP access rules). */
export interface PerCallBackend extends BackendCommon {
  /** Creates the rule (adopting one edgeban made earlier); returns its id. */
  add(ban: EdgeBan): Promise<string>;
  /** Rewrites an existing rule's notes and mode after a ban was extended. */
  update(ban: EdgeBan & { ruleId: string }): Promise<void>;
  /**
   * Deletes the rule unless Cloudflare now gives it a later `until` than `ban` (another receiver
   * extended it): then returns that `until` and leaves the rule. A rule already gone counts as deleted.
   */
  remove(ban: EdgeBan & { ruleId: string }): Promise<number | undefined>;
}

/** Up to batchSize operations a call (IP lists, and the dry run). */
export interface BatchBackend extends BackendCommon {
  readonly batchSize: number;
  applyBatch(ops: BatchOp[]): Promise<OpResult[]>;
  /** Bans of earlier batches that the plan's limit pushed out during the last one. */
  takeEvicted?(): EdgeBan[];
}

export type Backend = PerCallBackend | BatchBackend;

export function isBatchBackend(backend: Backend): backend is BatchBackend {
  return 'applyBatch' in backend;
}
