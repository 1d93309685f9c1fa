import { isLoopbackHost } from '../address/host-port';
import { describeError } from '../common/errors';
import type { Config } from '../config/schema';
import { tokenStatus } from './answers';
import { CloudflareClient, CloudflareError } from './client';
import { configuredZoneIds } from './settings';
import { planLines } from './plan-check';
import { probeLines, probesFor } from './probe';

export interface CheckLine {
  ok: boolean;
  text: string;
  /** all right, but worth a word: printed as WARN, does not fail the check */
  warn?: boolean;
}

/** What a valid config may still mean in practice: no jails, no token, a token sent in clear text. */
export function configAdvice(config: Config): CheckLine[] {
  const lines: CheckLine[] = [];
  if (Object.keys(config.jails).length === 0) lines.push({ ok: false, text: 'jails is empty: no event is ever counted, nothing is ever banned' });
  const { token, dryRun, apiBase } = config.cloudflare;
  if (!token)
    lines.push({ ok: true, warn: true, text: 'no Cloudflare token (cloudflare.token or CLOUDFLARE_API_TOKEN): a dry run, bans are logged and never sent' });
  else if (dryRun) lines.push({ ok: true, warn: true, text: 'cloudflare.dryRun is set: bans are logged and never sent' });
  const url = new URL(apiBase);
  if (url.protocol === 'http:') {
    const local = isLoopbackHost(url.hostname.replace(/^\[|\]$/g, ''));
    lines.push(
      local
        ? { ok: true, warn: true, text: `cloudflare.apiBase ${apiBase} is plain HTTP on loopback: fine for a test API, never for Cloudflare` }
        : { ok: false, text: `cloudflare.apiBase ${apiBase} is plain HTTP: the token would cross the network in clear text (use https://)` },
    );
  }
  return lines;
}

const PERMISSION = {
  zone: 'Zone → Firewall Services → Edit',
  account: 'Account → Account Firewall Access Rules → Edit',
  lists: 'Account → Account Filter Lists → Edit',
  waf: 'Zone → Zone WAF → Edit',
};

interface Target {
  what: string;
  path: string | undefined;
  permission: string;
  /** 404 means "not created yet", which is fine (the custom-rules entry point) */
  absentOk?: boolean;
}

/** What must be readable for the configured backend and scope. */
function targetsFor(config: Config): Target[] {
  const { backend, scope, accountId } = config.cloudflare;
  const zoneIds = configuredZoneIds(config);
  if (backend === 'ip-list') {
    return [
      {
        what: `account ${accountId ?? '(cloudflare.accountId is not set)'} lists`,
        path: accountId && `/accounts/${accountId}/rules/lists`,
        permission: PERMISSION.lists,
      },
      ...zoneIds.map((zone) => ({
        what: `zone ${zone} custom rules`,
        path: `/zones/${zone}/rulesets/phases/http_request_firewall_custom/entrypoint`,
        permission: PERMISSION.waf,
        absentOk: true,
      })),
    ];
  }
  if (scope === 'account') {
    return [
      {
        what: `account ${accountId ?? '(cloudflare.accountId is not set)'}`,
        path: accountId && `/accounts/${accountId}/firewall/access_rules/rules`,
        permission: PERMISSION.account,
      },
    ];
  }
  return zoneIds.map((zone) => ({ what: `zone ${zone}`, path: `/zones/${zone}/firewall/access_rules/rules`, permission: PERMISSION.zone }));
}

/** Says in plain words why a call failed: bad token, missing permission, unknown zone or account. */
export function explain(error: unknown, what: string, permission: string): string {
  if (!(error instanceof CloudflareError)) return `${what}: ${describeError(error)}`;
  if (error.has(9109) || error.has(6111) || error.has(6003)) return `${what}: the token is invalid, revoked or expired (${error.cloudflareCode})`;
  if (error.has(10000) || error.status === 403) return `${what}: the token lacks the permission "${permission}"`;
  if (error.has(7003) || error.has(7000) || error.status === 404) return `${what}: unknown to Cloudflare (check the id)`;
  if (error.retryable) return `${what}: Cloudflare did not answer well (${error.message}); try again later`;
  return `${what}: ${error.message}`;
}

/**
 * `edgeban check`: the token verifies, every configured zone or the account answers, the plan has
 * room for what the backend needs, and (unless `write` is false) a harmless write goes through.
 */
export async function checkCloudflare(config: Config, options: { write?: boolean } = {}): Promise<CheckLine[]> {
  const { token, apiBase, accountId, requestsPer5Min, dryRun } = config.cloudflare;
  if (!token) return []; // configAdvice says what that means
  const client = new CloudflareClient({ baseUrl: apiBase, token, requestsPer5Min, maxAttempts: 2, backoffBaseMs: 200 });
  const lines: CheckLine[] = [];
  try {
    try {
      const { result } = await client.request('GET', '/user/tokens/verify', { schema: tokenStatus });
      lines.push({ ok: result.status === 'active', text: `token is ${result.status}` });
    } catch (error) {
      if (!accountId) throw error;
      // account-owned tokens fail on the user endpoint
      const { result } = await client.request('GET', `/accounts/${accountId}/tokens/verify`, { schema: tokenStatus });
      lines.push({ ok: result.status === 'active', text: `account token is ${result.status}` });
      if (config.cloudflare.backend === 'ip-list') {
        lines.push({
          ok: true,
          warn: true,
          text: "an account-owned token: Cloudflare's list of what such tokens support leaves out custom lists; if list calls fail, use a user token (My Profile → API Tokens) or backend: access-rules",
        });
      }
    }
  } catch (error) {
    await client.close();
    return [{ ok: false, text: explain(error, 'token', 'any') }];
  }
  const targets = targetsFor(config);
  if (targets.length === 0) lines.push({ ok: false, text: 'no zone: set cloudflare.zoneId (or CLOUDFLARE_ZONE_ID) or cloudflare.zones' });
  for (const target of targets) {
    if (!target.path) {
      lines.push({ ok: false, text: target.what });
      continue;
    }
    try {
      await client.request('GET', target.path, target.absentOk ? {} : { query: { per_page: 1 } });
      lines.push({ ok: true, text: `${target.what}: readable` });
    } catch (error) {
      if (target.absentOk && error instanceof CloudflareError && error.status === 404 && !error.has(7003)) {
        lines.push({ ok: true, text: `${target.what}: none yet (edgeban creates them)` });
      } else {
        lines.push({ ok: false, text: explain(error, target.what, target.permission) });
      }
    }
  }
  if (lines.every((line) => line.ok)) {
    if (config.cloudflare.backend === 'ip-list') lines.push(...(await planLines(client, config)));
    if (options.write === false) lines.push({ ok: true, warn: true, text: 'write access not proven (--no-write): only reading was' });
    else lines.push(...(await probeLines(client, probesFor(config, PERMISSION), explain)));
  }
  if (dryRun) lines.push({ ok: true, text: 'dryRun is set: bans will be logged, not sent' });
  await client.close();
  return lines;
}
