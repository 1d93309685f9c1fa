import { parseCidr } from '../address/cidr';
import { Ip, maskIp, maskV4, sameBlock, v6First32 } from '../address/ip';

/** The prefixes Cloudflare takes for a ban, widest first: access-rule ranges, then one address. */
const V4_STEPS = [16, 24, 32];
const V6_STEPS = [32, 48, 64, 128];
/** Teredo's /64 names a relay serving many clients: its addresses are banned one by one. */
const TEREDO_FIRST_GROUPS = [0x2001, 0x0000];

export interface KeyOptions {
  ipv4Prefix: number;
  ipv6Prefix: number;
  /** whether the backend bans a single IPv6 address (access rules do; IP lists take IPv6 up to /64) */
  singleIpv6: boolean;
}

interface Range {
  ip: Ip;
  bits: number;
}

/**
 * The prefix a ban covers. The configured prefix (IPv4 /32, IPv6 /64 by default) unless that block
 * holds an address that must never be banned (a Cloudflare range, a proxy, an allow-listed or a
 * reserved address, narrower than the block): then the widest narrower prefix Cloudflare takes
 * that holds none of them, down to the address itself. Only the blocks that hold such a range pay
 * for the search; every other address costs one Set lookup.
 */
export class BanKeys {
  /** never-banned ranges narrower than the configured prefix of their family */
  private readonly narrow: Range[] = [];
  /** configured-prefix IPv4 blocks that hold one (their base) */
  private readonly blocks4 = new Set<number>();
  /** the first 32 bits of configured-prefix IPv6 blocks that hold one */
  private readonly blocks6 = new Set<number>();

  constructor(
    private readonly options: KeyOptions,
    never: Iterable<string>,
  ) {
    for (const text of never) {
      const { ip, bits } = parseCidr(text);
      if (bits <= (ip.family === 4 ? options.ipv4Prefix : options.ipv6Prefix)) continue; // holds whole blocks: its addresses are never counted
      this.narrow.push({ ip: maskIp(ip, bits), bits });
      if (ip.family === 4) this.blocks4.add(maskV4(ip.v4, options.ipv4Prefix));
      else this.blocks6.add(maskV4(v6First32(ip.v6), Math.min(options.ipv6Prefix, 32)));
    }
  }

  /** The prefix length of `ip`'s ban key, or null when no prefix Cloudflare takes here holds it alone. */
  prefixFor(ip: Ip): number | null {
    if (ip.family === 4) {
      const prefix = this.options.ipv4Prefix;
      return this.blocks4.size === 0 || !this.blocks4.has(maskV4(ip.v4, prefix)) ? prefix : this.widest(ip, V4_STEPS, prefix);
    }
    const prefix = this.options.ipv6Prefix;
    const teredo = ip.v6[0] === TEREDO_FIRST_GROUPS[0] && ip.v6[1] === TEREDO_FIRST_GROUPS[1];
    if (!teredo && (this.blocks6.size === 0 || !this.blocks6.has(maskV4(v6First32(ip.v6), Math.min(prefix, 32))))) return prefix;
    return this.widest(ip, teredo ? [128] : V6_STEPS, prefix);
  }

  /** Whether the prefix was narrowed from the configured one. */
  narrowed(ip: Ip, prefix: number): boolean {
    return prefix !== (ip.family === 4 ? this.options.ipv4Prefix : this.options.ipv6Prefix);
  }

  private widest(ip: Ip, steps: number[], configured: number): number | null {
    for (const step of steps) {
      if (step < configured) continue;
      if (step === 128 && !this.options.singleIpv6) return null;
      if (!this.narrow.some((range) => range.bits > step && range.ip.family === ip.family && sameBlock(range.ip, ip, step))) return step;
    }
    return null;
  }
}
