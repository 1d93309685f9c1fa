import type { Config } from '../config/schema';

/** The part of the config the access-rules backend reads. */
export interface AccessRulesConfig {
  scope: 'zone' | 'account';
  zoneId?: string;
  accountId?: string;
  zones: Record<string, string>;
}

export function accessRulesConfig(config: Config): AccessRulesConfig {
  const { scope, zoneId, accountId, zones } = config.cloudflare;
  return { scope, zoneId, accountId, zones };
}
