import { CidrSet } from '../address/cidr';
import type { Ip } from '../address/ip';

/**
 * Cloudflare's published ranges (GET /ips, cloudflare.com/ips-v4 and ips-v6), bundled so that
 * edgeban never bans an edge address even when it cannot reach the API.
 */
export const CLOUDFLARE_RANGES = [
  '173.245.48.0/20',
  '103.21.244.0/22',
  '103.22.200.0/22',
  '103.31.4.0/22',
  '141.101.64.0/18',
  '108.162.192.0/18',
  '190.93.240.0/20',
  '188.114.96.0/20',
  '197.234.240.0/22',
  '198.41.128.0/17',
  '162.158.0.0/15',
  '104.16.0.0/13',
  '104.24.0.0/14',
  '172.64.0.0/13',
  '131.0.72.0/22',
  '2400:cb00::/32',
  '2606:4700::/32',
  '2803:f800::/32',
  '2405:b500::/32',
  '2405:8100::/32',
  '2a06:98c0::/29',
  '2c0f:f248::/32',
];

/**
 * Ranges no visitor on the internet can come from: every block of IANA's IPv4 and IPv6
 * special-purpose address registries that is not globally reachable, the deprecated transition
 * blocks, and, for IPv6, everything outside global unicast (2000::/3), which holds the
 * IPv4-compatible (::/96), IPv4-mapped, NAT64 (64:ff9b::/96) and discard (100::/64) blocks.
 * The documentation ranges (192.0.2.0/24, 198.51.100.0/24, 203.0.113.0/24, 2001:db8::/32,
 * 3fff::/20) are deliberately absent: examples and tests use them. Teredo (2001::/32) is not
 * reserved, but its /64 names a relay, not a client: see BanKeys.
 */
export const RESERVED_RANGES = [
  '0.0.0.0/8', // "this network", unspecified
  '10.0.0.0/8', // private (RFC 1918)
  '100.64.0.0/10', // shared address space, carrier-grade NAT
  '127.0.0.0/8', // loopback
  '169.254.0.0/16', // link-local
  '172.16.0.0/12', // private (RFC 1918)
  '192.0.0.0/24', // IETF protocol assignments
  '192.88.99.0/24', // 6to4 relay anycast, deprecated
  '192.168.0.0/16', // private (RFC 1918)
  '198.18.0.0/15', // benchmarking
  '224.0.0.0/4', // multicast
  '240.0.0.0/4', // reserved, includes broadcast 255.255.255.255
  '::/3', // not global unicast: unspecified, loopback, IPv4-compatible and -mapped, NAT64, discard
  '2001:1::/32', // IETF protocol assignments (anycast services, never a visitor)
  '2001:2::/32', // benchmarking (2001:2::/48) and unassigned
  '2001:4::/30', // AS112 sinks and unassigned
  '2001:8::/29', // unassigned IETF protocol space
  '2001:10::/28', // ORCHID, deprecated
  '2001:40::/26', // unassigned IETF protocol space
  '2001:80::/25',
  '2001:100::/24',
  '2002::/16', // 6to4, deprecated
  '4000::/2', // not global unicast: unique-local fc00::/7, link-local fe80::/10, multicast ff00::/8 …
  '8000::/1',
];

export const TRUST_REASONS = ['cloudflare', 'proxy', 'allow', 'reserved'] as const;
export type TrustReason = (typeof TRUST_REASONS)[number];

export interface TrustOptions {
  cloudflare: Iterable<string>;
  proxies: Iterable<string>;
  allow: Iterable<string>;
}

/** Says why an address is not a client that may be counted, or null when it is one. */
export class Trust {
  private cloudflare: CidrSet;
  private readonly proxies: CidrSet;
  private readonly allow: CidrSet;
  private readonly reserved = new CidrSet(RESERVED_RANGES);

  constructor(options: TrustOptions) {
    this.cloudflare = new CidrSet(options.cloudflare);
    this.proxies = new CidrSet(options.proxies);
    this.allow = new CidrSet(options.allow);
  }

  /** Replaces the Cloudflare ranges (after a refresh from GET /ips). */
  setCloudflareRanges(cidrs: Iterable<string>): void {
    this.cloudflare = new CidrSet(cidrs);
  }

  /** Every range whose addresses are never counted, and so never covered by a ban. */
  neverBanned(): string[] {
    return this.neverBannedSets().flatMap((set) => set.texts);
  }

  /** Whether the block `ip`/`bits` holds (or lies in) a range whose addresses are never banned. */
  holdsNeverBanned(ip: Ip, bits: number): boolean {
    return this.neverBannedSets().some((set) => set.overlaps(ip, bits));
  }

  private neverBannedSets(): CidrSet[] {
    return [this.cloudflare, this.proxies, this.allow, this.reserved];
  }

  reason(ip: Ip): TrustReason | null {
    if (this.cloudflare.has(ip)) return 'cloudflare';
    if (this.proxies.has(ip)) return 'proxy';
    if (this.allow.has(ip)) return 'allow';
    if (this.reserved.has(ip)) return 'reserved';
    return null;
  }
}
