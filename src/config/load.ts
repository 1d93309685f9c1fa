import { readFileSync } from 'node:fs';
import { z } from './zod';
import { ConfigError, describeError, errnoCode } from '../common/errors';
import { Config, configSchema } from './schema';
import { ReadConfigFile, readConfigFile } from './yaml-file';

export { ConfigError };

/** Settings that default to the environment, as the contract's embedded default says. */
const ENV_DEFAULTS: Record<string, string> = {
  token: 'CLOUDFLARE_API_TOKEN',
  apiBase: 'CLOUDFLARE_API_BASE',
  zoneId: 'CLOUDFLARE_ZONE_ID',
  accountId: 'CLOUDFLARE_ACCOUNT_ID',
};

function keyOf(path: readonly PropertyKey[]): string {
  return path.reduce<string>((key, part) => (typeof part === 'number' ? `${key}[${part}]` : key ? `${key}.${String(part)}` : String(part)), '');
}

/** Replaces `env:NAME` and `file:/path` strings; a missing variable leaves the key unset. */
function resolveReferences(value: unknown, env: NodeJS.ProcessEnv, path: PropertyKey[]): unknown {
  if (typeof value === 'string') {
    if (value.startsWith('env:')) return env[value.slice(4)] || undefined;
    if (value.startsWith('file:')) {
      try {
        return readFileSync(value.slice(5), 'utf8').trim();
      } catch (error) {
        throw new ConfigError(keyOf(path), `cannot read ${value.slice(5)}: ${errnoCode(error) ?? describeError(error)}`);
      }
    }
    return value;
  }
  if (Array.isArray(value)) return value.map((item, i) => resolveReferences(item, env, [...path, i]));
  if (value && typeof value === 'object') {
    const out: Record<string, unknown> = {};
    for (const [key, item] of Object.entries(value)) {
      const resolved = resolveReferences(item, env, [...path, key]);
      if (resolved !== undefined) out[key] = resolved;
    }
    return out;
  }
  return value;
}

/** Validates a parsed document (or `{}` for the embedded default) into a Config. */
export function buildConfig(document: unknown, env: NodeJS.ProcessEnv = process.env): Config {
  if (document === null || document === undefined) document = {};
  if (typeof document !== 'object' || Array.isArray(document)) throw new ConfigError('', 'the config must be a YAML mapping');
  const resolved = resolveReferences(document, env, []) as Record<string, unknown>;
  const cloudflare = { ...((resolved.cloudflare as Record<string, unknown> | undefined) ?? {}) };
  for (const [key, name] of Object.entries(ENV_DEFAULTS)) {
    if (cloudflare[key] === undefined && env[name]) cloudflare[key] = env[name];
  }
  resolved.cloudflare = cloudflare;
  const admin = { ...((resolved.admin as Record<string, unknown> | undefined) ?? {}) };
  if (admin.token === undefined && env.EDGEBAN_ADMIN_TOKEN) admin.token = env.EDGEBAN_ADMIN_TOKEN;
  resolved.admin = admin;
  const parsed = configSchema.safeParse(resolved);
  if (!parsed.success) throw firstIssue(parsed.error);
  checkConsistency(parsed.data);
  return parsed.data;
}

function firstIssue(error: z.ZodError): ConfigError {
  const issue = error.issues[0];
  if (issue.code === 'unrecognized_keys') {
    const key = keyOf([...issue.path, issue.keys[0]]);
    return new ConfigError(key, 'unknown setting');
  }
  return new ConfigError(keyOf(issue.path), issue.message);
}

function checkConsistency(config: Config): void {
  if (config.listen.udp.length + config.listen.tcp.length + config.listen.tls.length === 0) {
    throw new ConfigError('listen', 'at least one udp, tcp or tls address is needed');
  }
  const { backend, token, dryRun, accountId, zoneId, zones } = config.cloudflare;
  if (backend === 'ip-list' && token && !dryRun) {
    if (!accountId) throw new ConfigError('cloudflare.accountId', 'the ip-list backend needs the account that holds the lists (or CLOUDFLARE_ACCOUNT_ID)');
    if (!zoneId && Object.keys(zones).length === 0)
      throw new ConfigError('cloudflare.zoneId', 'the ip-list backend needs the zones to put its custom rules in');
  }
  for (const [name, jail] of Object.entries(config.jails)) {
    if (jail.increment && jail.increment.max < jail.bantime) {
      throw new ConfigError(`jails.${name}.increment.max`, 'must not be shorter than bantime');
    }
  }
}

/**
 * Reads and validates a YAML file; every problem becomes a ConfigError naming the key. `read`: the
 * file as a thread already read and parsed it (cli.ts), else it is read here.
 */
export function loadConfig(file: string | undefined, env: NodeJS.ProcessEnv = process.env, read?: ReadConfigFile): Config {
  if (!file) return buildConfig({}, env);
  const result = read ?? readConfigFile(file);
  if ('problem' in result) throw new ConfigError('', result.problem);
  return buildConfig(result.document, env);
}
