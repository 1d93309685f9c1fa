import { z } from './zod';
import { parseCidr } from '../address/cidr';
import { parseHostPort } from '../address/host-port';
import { EVENT_CLASSES, EVENT_KINDS, NEVER_COUNTED } from '../wordpress/catalogue';
import { ACTIONS, DEFAULT_MAX_MESSAGE_BYTES, DEFAULT_UDP_RECEIVE_BUFFER } from './defaults';
import { parseDuration } from './duration';

const hostPort = z.string().refine((value) => {
  try {
    parseHostPort(value);
    return true;
  } catch {
    return false;
  }
}, 'must be "host:port" (IPv6 as "[::1]:port")');

const cidr = z.string().refine((value) => {
  try {
    parseCidr(value);
    return true;
  } catch {
    return false;
  }
}, 'must be an IP address or CIDR');

/** The longest duration any setting takes: a ban's `until` must stay a time a restart can read and act on. */
const MAX_DURATION_SECONDS = 366 * 86_400;

/** A duration in seconds, written `30s`, `10m`, `1h`, `7d`, `1w` or as a number of seconds, up to a year. */
const duration = z.union([z.string(), z.number()]).transform((value, ctx) => {
  const seconds = parseDuration(value);
  if (seconds === null || seconds <= 0) {
    ctx.addIssue({ code: 'custom', message: `"${value}" is not a duration (use s, m, h, d, w)` });
    return z.NEVER;
  }
  if (seconds > MAX_DURATION_SECONDS) {
    ctx.addIssue({ code: 'custom', message: `"${value}" is longer than a year (366d), the most edgeban takes` });
    return z.NEVER;
  }
  return seconds;
});

/** One of a few numbers, with an error that names them (zod's union says only "Invalid input"). */
function oneOf<T extends number>(values: readonly T[], fallback: T) {
  return z
    .number()
    .refine((value) => (values as readonly number[]).includes(value), `must be one of ${values.join(', ')}`)
    .default(fallback) as unknown as z.ZodDefault<z.ZodType<T>>;
}

export { ACTIONS, type BanAction } from './defaults';

const eventSelector = z
  .enum([...EVENT_CLASSES, ...EVENT_KINDS] as [string, ...string[]])
  .refine((value) => !(NEVER_COUNTED as readonly string[]).includes(value), {
    message: `${NEVER_COUNTED.join(', ')}: lines that are not WP fail2ban's attack messages are never counted by a jail`,
  });

const jail = z
  .object({
    events: z.array(eventSelector).min(1),
    maxretry: z.number().int().min(1).max(1000),
    findtime: duration,
    bantime: duration,
    action: z.enum(ACTIONS).default('block'),
    increment: z
      .object({ factor: z.number().min(1).max(100).default(2), max: duration })
      .strict()
      .optional(),
  })
  .strict();

/** IP lists take any IPv4 prefix /8–/32 and IPv6 /4–/64; access rules IPv4 /16 and /24, IPv6 /32, /48 and /64. */
const widenFamily = (min: number, max: number, fallbackPrefix: number, fallbackAfter: number) =>
  z
    .object({ prefix: z.number().int().min(min).max(max).default(fallbackPrefix), after: z.number().int().min(2).max(10_000).default(fallbackAfter) })
    .strict()
    .default({});

const widenSection = z.object({ findtime: duration.default(600), ipv4: widenFamily(8, 31, 24, 5), ipv6: widenFamily(4, 63, 48, 3) }).strict();

/** A path as a site's login page is reached: letters, digits and `. _ ~ - /`, nothing that could change a rule's expression. */
const shieldPath = z.string().regex(/^\/[A-Za-z0-9._~/-]{0,200}$/, 'must start with / and hold only letters, digits and . _ ~ - /');

const shieldSection = z
  .object({
    events: z.array(eventSelector).min(1).default(['hard', 'soft']),
    distinct: z.number().int().min(2).max(100_000).default(50),
    findtime: duration.default(300),
    duration: duration.default(1800),
    action: z.enum(ACTIONS).default('managed_challenge'),
    paths: z.array(shieldPath).min(1).max(20).default(['/wp-login.php', '/xmlrpc.php']),
  })
  .strict();

/**
 * A section that `false` turns off and that is otherwise filled with its defaults. Not a zod union,
 * whose error for a bad key inside says only "Invalid input": the section's own issue is passed on.
 */
function orFalse<T extends z.ZodType>(section: T) {
  return z
    .unknown()
    .optional()
    .transform((value, ctx): z.output<T> | false => {
      if (value === false) return false;
      const parsed = section.safeParse(value ?? {});
      if (parsed.success) return parsed.data;
      for (const issue of parsed.error.issues) ctx.addIssue({ code: 'custom', path: issue.path, message: issue.message });
      return z.NEVER;
    });
}

const tlsEndpoint = z.object({ address: hostPort, cert: z.string().min(1), key: z.string().min(1), ca: z.string().min(1).optional() }).strict();

export const configSchema = z
  .object({
    listen: z
      .object({
        udp: z.array(hostPort).default(['127.0.0.1:5514']),
        tcp: z.array(hostPort).default(['127.0.0.1:5514']),
        tls: z.array(tlsEndpoint).default([]),
        allowedSenders: z.array(cidr).default(['127.0.0.0/8', '::1/128']),
        maxMessageBytes: z.number().int().min(480).max(1_048_576).default(DEFAULT_MAX_MESSAGE_BYTES),
        maxConnections: z.number().int().min(1).max(100_000).default(512),
        idleTimeout: duration.default(300),
        udpReceiveBuffer: z
          .number()
          .int()
          .min(65_536)
          .max(1 << 30)
          .default(DEFAULT_UDP_RECEIVE_BUFFER),
      })
      .strict()
      .default({}),
    trust: z
      .object({
        cloudflareRanges: z.enum(['bundled', 'refresh']).default('bundled'),
        proxies: z.array(cidr).default([]),
        allow: z.array(cidr).default([]),
        // the widths Cloudflare accepts: ip (/32), ip_range IPv4 /16 and /24, IPv6 /32, /48, /64
        ipv4Prefix: oneOf([16, 24, 32] as const, 32),
        ipv6Prefix: oneOf([32, 48, 64] as const, 64),
        maxTracked: z.number().int().min(1000).max(50_000_000).default(1_000_000),
      })
      .strict()
      .default({}),
    jails: z.record(z.string().regex(/^[A-Za-z0-9_.-]{1,64}$/, 'jail names use letters, digits, . _ -'), jail).default({
      'wordpress-hard': { events: ['hard'], maxretry: 1, findtime: 600, bantime: 3600, action: 'block' },
      'wordpress-soft': { events: ['soft'], maxretry: 5, findtime: 600, bantime: 3600, action: 'managed_challenge' },
    }),
    cloudflare: z
      .object({
        token: z.string().optional(),
        apiBase: z.string().url().default('https://api.cloudflare.com/client/v4'),
        backend: z.enum(['access-rules', 'ip-list']).default('access-rules'),
        scope: z.enum(['zone', 'account']).default('zone'),
        zoneId: z.string().optional(),
        accountId: z.string().optional(),
        zones: z.record(z.string(), z.string()).default({}),
        requestsPer5Min: z.number().int().min(1).max(1200).default(1000),
        listItemLimit: z.number().int().min(1).max(1_000_000).default(10_000),
        /** how often the rules at Cloudflare are read back: adopts what another receiver made, lifts what expired unseen */
        sweepInterval: duration.default(300),
        dryRun: z.boolean().default(false),
      })
      .strict()
      .default({}),
    privacy: z
      .object({ logAddresses: z.enum(['pseudonymize', 'omit', 'plain']).default('pseudonymize') })
      .strict()
      .default({}),
    /** `false` turns it off; `{}` takes every default */
    shield: orFalse(shieldSection),
    widen: orFalse(widenSection),
    shared: z
      .object({
        url: z.string().regex(/^rediss?:\/\/[^\s]+$/, 'must be a redis:// or rediss:// URL'),
        secret: z.string().min(16, 'use at least 16 characters, the same on every receiver'),
        /** `off`: the server does not allow CONFIG GET (a managed service) and its operator vouches that it keeps nothing on disk */
        persistence: z.enum(['check', 'off']).default('check'),
      })
      .strict()
      .optional(),
    admin: z
      .object({
        enabled: z.boolean().default(true),
        listen: hostPort.default('127.0.0.1:9514'),
        token: z.string().min(16, 'use at least 16 characters').optional(),
        /** names the endpoint is reached by, besides its listen address and localhost (a request with another Host is refused: DNS rebinding) */
        hostNames: z.array(z.string().regex(/^[A-Za-z0-9.-]{1,253}$/, 'must be a host name')).default([]),
      })
      .strict()
      .default({}),
  })
  .strict()
  .superRefine((config, ctx) => {
    if (!config.widen || config.cloudflare.backend === 'ip-list') return;
    // access rules take IPv4 ranges as /16 or /24 and IPv6 as /32, /48 or /64 only
    const allowed = { ipv4: [16, 24], ipv6: [32, 48] } as const;
    for (const family of ['ipv4', 'ipv6'] as const) {
      const prefix = config.widen[family].prefix;
      if (!(allowed[family] as readonly number[]).includes(prefix))
        ctx.addIssue({
          code: 'custom',
          path: ['widen', family, 'prefix'],
          message: `access rules take ${family} ranges of /${allowed[family].join(' or /')} only (IP lists take more: cloudflare.backend: ip-list)`,
        });
    }
  });

export type Config = z.output<typeof configSchema>;
export type JailConfig = z.output<typeof jail>;
export type ShieldConfig = z.output<typeof shieldSection>;
export type WidenConfig = z.output<typeof widenSection>;
export type SharedConfig = NonNullable<Config['shared']>;
