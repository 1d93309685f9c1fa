import type { Backend } from '../bans/backend';
import type { Config } from '../config/schema';
import { AccessRulesBackend } from './access-rules';
import { CloudflareClient } from './client';
import { DryRunBackend } from './dry-run';
import { IpListBackend } from './ip-list';
import { ShieldRules } from './shield-rules';
import { jailActions } from './plan-check';
import { accessRulesConfig, configuredZoneIds } from './settings';

/** What the daemon hears of the client's traffic: every answer's status, and every wait. */
export interface BackendHooks {
  onResponse?: (status: number) => void;
  onWait?: (reason: 'budget' | 'rate_limited', ms: number) => void;
}

/** The backend the config asks for: access rules or an IP list with a token, the dry run without one. */
export function createBackend(config: Config, hooks: BackendHooks = {}): Backend {
  const settings = accessRulesConfig(config);
  const { token, dryRun, apiBase, requestsPer5Min } = config.cloudflare;
  const paths = config.shield ? config.shield.paths : [];
  if (!token || dryRun) return new DryRunBackend(settings, paths);
  const client = new CloudflareClient({ baseUrl: apiBase, token, requestsPer5Min, ...hooks });
  const shields = config.shield ? new ShieldRules(client, { zoneId: settings.zoneId, zones: settings.zones, paths }) : undefined;
  if (config.cloudflare.backend === 'ip-list') {
    const ipList = {
      accountId: config.cloudflare.accountId!,
      zoneIds: configuredZoneIds(config),
      actions: jailActions(config),
      itemLimit: config.cloudflare.listItemLimit,
    };
    return new IpListBackend(client, ipList, shields);
  }
  return new AccessRulesBackend(client, settings, shields);
}
