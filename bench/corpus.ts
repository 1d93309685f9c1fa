/** A deterministic corpus of WP fail2ban lines as rsyslog forwards them (mixed kinds, sites, addresses). */
import { octetCounted } from '../test/helpers/wire';

/** One hard event (user enumeration) from `address`, stamped now, octet-counted for a stream. */
export function attackFrame(address: string): Buffer {
  return octetCounted(`<37>${new Date().toISOString()} web1 wordpress(www.example.com)[1]: Blocked user enumeration attempt from ${address}`);
}

const TEXTS = [
  'Authentication failure for admin',
  'Authentication attempt for unknown user administrator',
  'REST authentication attempt for unknown user wp-admin',
  'XML-RPC authentication failure for editor',
  'XML-RPC multicall authentication failure',
  'Blocked user enumeration attempt',
  'Pingback error 17 generated',
  'Spam comment 1234',
  'Comment attempt on closed post 42',
  'Accepted password for editor',
  'Blocked authentication attempt for admin',
  'Untrusted X-Forwarded-For header',
];
const SITES = ['www.example.com', 'shop.example.org', 'blog.example.net', 'example.com/blog2', 'www.a-really-long-subdomain.example.co.uk'];

/** xorshift32: the same corpus on every run. */
export function prng(seed = 0x9e3779b9): () => number {
  let state = seed >>> 0 || 1;
  return () => {
    state ^= state << 13;
    state >>>= 0;
    state ^= state >>> 17;
    state ^= state << 5;
    state >>>= 0;
    return state;
  };
}

export function address(random: () => number, distinct: number): string {
  const n = random() % distinct;
  if (n % 5 === 0) return `2001:db8:${(n >>> 16).toString(16)}:${(n & 0xffff).toString(16)}::${(n % 251).toString(16)}`;
  return `203.${(n >>> 16) & 255}.${(n >>> 8) & 255}.${n & 255}`;
}

export interface CorpusOptions {
  lines: number;
  distinctAddresses: number;
  form: '3164' | '5424' | 'authlog';
  seed?: number;
}

/** Lines with increasing timestamps (one per millisecond) starting 2025-03-09T06:00:00Z. */
export function* corpus(options: CorpusOptions): Generator<string> {
  const random = prng(options.seed);
  const start = Date.UTC(2025, 2, 9, 6);
  for (let i = 0; i < options.lines; i++) {
    const text = TEXTS[random() % TEXTS.length];
    const site = SITES[random() % SITES.length];
    const ip = address(random, options.distinctAddresses);
    const pid = 1000 + (random() % 30000);
    const time = new Date(start + i).toISOString().replace('Z', '000+00:00');
    const tag = `wordpress(${site})[${pid}]:`;
    if (options.form === '5424') {
      yield `<37>1 ${time} web1 ${tag.slice(0, tag.search(/[:[/]/))} ${pid} - -  ${text} from ${ip}\n`;
    } else if (options.form === 'authlog') {
      const d = new Date(start + i * 1000);
      const stamp = `Mar ${String(d.getUTCDate()).padStart(2, ' ')} ${d.toISOString().slice(11, 19)}`;
      yield `${stamp} web1 ${tag} ${text} from ${ip}`;
    } else {
      yield `<37>${time} web1 ${tag.slice(0, 32)} ${text} from ${ip}`;
    }
  }
}
