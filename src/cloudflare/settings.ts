import type { Config } from '../config/schema';

/** The part of the config the access-rules backend reads. */
export interface AccessRulesConfig {
  scope: 'zone' | 'account';
  zoneId?: string;
  accountId?: string;
  zones: Record<string, string>;
}

/** Every zone the config names (zoneId and the per-site zones), once each. */
export function configuredZoneIds(config: Config): string[] {
  const { zoneId, zones } = config.cloudflare;
  return [...new Set([...(zoneId ? [zoneId] : []), ...Object.values(zones)])];
}

export function accessRulesConfig(config: Config): AccessRulesConfig {
  const { scope, zoneId, accountId, zones } = config.cloudflare;
  return { scope, zoneId, accountId, zones };
}
