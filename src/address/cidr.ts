import { Ip, maskIp, maskV4, parseIp, v6First32 } from './ip';

interface Range4 {
  readonly base: number;
  readonly mask: number;
}
interface Range6 {
  readonly groups: readonly number[];
  readonly bits: number;
}

/** Thrown for a CIDR text that does not parse; the config stage turns it into a keyed error. */
export class CidrError extends Error {}

/** Parses `a.b.c.d/n`, `x::/n` or a bare address (a /32 or /128). */
export function parseCidr(text: string): { ip: Ip; bits: number } {
  const slash = text.indexOf('/');
  const ip = parseIp(slash < 0 ? text : text.slice(0, slash));
  if (!ip) throw new CidrError(`"${text}" is not an IP address or CIDR`);
  const max = ip.family === 4 ? 32 : 128;
  if (slash < 0) return { ip, bits: max };
  const bitsText = text.slice(slash + 1);
  const bits = /^\d{1,3}$/.test(bitsText) ? Number(bitsText) : NaN;
  if (!(bits >= 0 && bits <= max)) throw new CidrError(`"${text}" has an invalid prefix length`);
  return { ip, bits };
}

/**
 * A set of CIDR ranges with a membership test that allocates nothing. Lists here are short
 * (Cloudflare's 22 ranges, a few reserved and configured ones), so a linear scan beats a trie.
 */
export class CidrSet {
  private readonly v4: Range4[] = [];
  private readonly v6: Range6[] = [];
  /** per first octet, whether any IPv4 range can hold it: most addresses skip the scan */
  private readonly v4FirstOctets = new Uint8Array(256);
  /**
   * The first 32 bits an IPv6 range can hold, as sorted disjoint [from, to] pairs: most addresses
   * skip the scan after a binary search (a first-group table would not do: 2001::/16 holds both
   * many reserved blocks and much of the real internet).
   */
  private readonly v6Spans: Float64Array;
  /** the ranges as given, to rebuild the set elsewhere (a worker thread) */
  readonly texts: string[] = [];

  constructor(cidrs: Iterable<string> = []) {
    for (const cidr of cidrs) this.add(cidr);
    this.v6Spans = first32Spans(this.v6);
  }

  private add(cidr: string): void {
    const { ip, bits } = parseCidr(cidr);
    this.texts.push(cidr);
    if (ip.family === 4) {
      const base = maskV4(ip.v4, bits);
      this.v4.push({ base, mask: maskV4(0xffffffff, bits) });
      const span = bits >= 8 ? 1 : 2 ** (8 - bits);
      this.v4FirstOctets.fill(1, base >>> 24, (base >>> 24) + span);
    } else {
      const masked = maskIp(ip, bits);
      if (masked.family === 6) this.v6.push({ groups: masked.v6, bits });
    }
  }

  get size(): number {
    return this.v4.length + this.v6.length;
  }

  has(ip: Ip): boolean {
    if (ip.family === 4) {
      if (this.v4FirstOctets[ip.v4 >>> 24] === 0) return false;
      for (const range of this.v4) if ((ip.v4 & range.mask) >>> 0 === range.base) return true;
      return false;
    }
    if (!inSpans(this.v6Spans, v6First32(ip.v6))) return false;
    for (const range of this.v6) if (sameFirstBits(ip.v6, range.groups, range.bits)) return true;
    return false;
  }

  /**
   * Whether the block `ip`/`bits` shares an address with a range of the set (holds one, or lies in
   * one): the two agree on the bits of the shorter prefix. Allocates nothing.
   */
  overlaps(ip: Ip, bits: number): boolean {
    if (ip.family === 4) {
      const blockMask = maskV4(0xffffffff, bits);
      for (const range of this.v4) {
        const shorter = range.mask & blockMask;
        if ((ip.v4 & shorter) >>> 0 === (range.base & shorter) >>> 0) return true;
      }
      return false;
    }
    for (const range of this.v6) if (sameFirstBits(ip.v6, range.groups, Math.min(bits, range.bits))) return true;
    return false;
  }

  /** Membership of an address text; false for anything that is not an address. */
  hasText(text: string): boolean {
    const ip = parseIp(text);
    return ip !== null && this.has(ip);
  }
}

/** The first 32 bits the ranges can hold, merged into sorted disjoint [from, to] pairs. */
function first32Spans(ranges: readonly Range6[]): Float64Array {
  const spans = ranges.map(({ groups, bits }) => [v6First32(groups), v6First32(groups) + 2 ** Math.max(0, 32 - bits) - 1]).sort(([a], [b]) => a - b);
  const merged: number[][] = [];
  for (const [from, to] of spans) {
    const last = merged[merged.length - 1];
    if (last && from <= last[1] + 1) last[1] = Math.max(last[1], to);
    else merged.push([from, to]);
  }
  return Float64Array.from(merged.flat());
}

/** Whether `value` lies in one of the sorted disjoint [from, to] pairs. */
function inSpans(spans: Float64Array, value: number): boolean {
  let low = 0;
  let high = spans.length / 2 - 1;
  while (low <= high) {
    const middle = (low + high) >> 1;
    if (value < spans[middle * 2]) high = middle - 1;
    else if (value > spans[middle * 2 + 1]) low = middle + 1;
    else return true;
  }
  return false;
}

/** Whether two IPv6 addresses (as groups) agree on their first `bits` bits. */
function sameFirstBits(a: readonly number[], b: readonly number[], bits: number): boolean {
  for (let i = 0; i < 8 && bits > 0; i++, bits -= 16) {
    const mask = bits >= 16 ? 0xffff : (0xffff << (16 - bits)) & 0xffff;
    if ((a[i] & mask) !== (b[i] & mask)) return false;
  }
  return true;
}
