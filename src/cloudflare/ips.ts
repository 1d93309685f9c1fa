import { parseCidr } from '../address/cidr';

/** GET /ips (no authentication): Cloudflare's current ranges, validated; throws on any doubt. */
export async function fetchCloudflareRanges(apiBase: string, timeoutMs = 10_000): Promise<string[]> {
  // undici is loaded when asked for, as the API client does: it is a tenth of a cold start
  // eslint-disable-next-line @typescript-eslint/no-require-imports -- loaded lazily on purpose
  const { request } = require('undici') as typeof import('undici');
  const response = await request(`${apiBase.replace(/\/+$/, '')}/ips`, { headersTimeout: timeoutMs, bodyTimeout: timeoutMs });
  const body = (await response.body.json()) as { success?: boolean; result?: { ipv4_cidrs?: unknown; ipv6_cidrs?: unknown } };
  if (response.statusCode !== 200 || !body.success || !body.result) throw new Error(`GET /ips answered HTTP ${response.statusCode}`);
  const cidrs = [body.result.ipv4_cidrs, body.result.ipv6_cidrs].flatMap((list) => (Array.isArray(list) ? list : []));
  if (cidrs.length === 0) throw new Error('GET /ips returned no ranges');
  for (const cidr of cidrs) parseCidr(String(cidr));
  return cidrs.map(String);
}
