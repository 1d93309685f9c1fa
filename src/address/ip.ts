import ipaddr from 'ipaddr.js';

/** A parsed address: IPv4 as one 32-bit number, IPv6 as eight 16-bit groups. */
export type Ip =
  | { readonly family: 4; readonly v4: number }
  | { readonly family: 6; readonly v6: readonly number[] };

const DIGIT_0 = 48;
const DIGIT_9 = 57;
const DOT = 46;

/**
 * Strict dotted-quad IPv4: four decimal parts 0-255, no leading zeros (which some parsers read
 * as octal), nothing else. Returns the address as an unsigned 32-bit number, or -1.
 */
export function parseIPv4(text: string): number {
  const length = text.length;
  if (length < 7 || length > 15) return -1;
  let value = 0;
  let part = 0;
  let digits = 0;
  let parts = 0;
  for (let i = 0; i <= length; i++) {
    const c = i < length ? text.charCodeAt(i) : DOT;
    if (c === DOT) {
      if (digits === 0 || part > 255) return -1;
      value = value * 256 + part;
      parts++;
      part = 0;
      digits = 0;
      continue;
    }
    if (c < DIGIT_0 || c > DIGIT_9) return -1;
    if (digits > 0 && part === 0) return -1; // leading zero
    part = part * 10 + (c - DIGIT_0);
    if (++digits > 3) return -1;
  }
  return parts === 4 ? value : -1;
}

export function formatIPv4(value: number): string {
  return `${value >>> 24}.${(value >>> 16) & 255}.${(value >>> 8) & 255}.${value & 255}`;
}

/**
 * Parses an address as it appears in a log line or a config. IPv4-mapped IPv6 becomes IPv4.
 * Zone ids (`fe80::1%eth0`) and anything that is not a plain address give null.
 */
export function parseIp(text: string): Ip | null {
  const v4 = parseIPv4(text);
  if (v4 >= 0) return { family: 4, v4 };
  if (text.length < 2 || text.length > 45 || text.indexOf(':') < 0 || text.indexOf('%') >= 0) return null;
  if (!ipaddr.IPv6.isValid(text)) return null;
  const parsed = ipaddr.IPv6.parse(text);
  if (parsed.isIPv4MappedAddress()) {
    const [a, b, c, d] = parsed.toIPv4Address().octets;
    return { family: 4, v4: ((a << 24) >>> 0) + (b << 16) + (c << 8) + d };
  }
  return { family: 6, v6: parsed.parts.slice() };
}

/** The canonical text of an address: IPv4 dotted, IPv6 lower-case and compressed (RFC 5952). */
export function formatIp(ip: Ip): string {
  return ip.family === 4 ? formatIPv4(ip.v4) : new ipaddr.IPv6(ip.v6.slice()).toRFC5952String();
}

/** Normalises an address text; null when it is not one. */
export function normalizeIp(text: string): string | null {
  const ip = parseIp(text);
  return ip ? formatIp(ip) : null;
}

/** Keeps the first `bits` bits of an address and zeroes the rest. */
export function maskIp(ip: Ip, bits: number): Ip {
  if (ip.family === 4) {
    const mask = bits === 0 ? 0 : (0xffffffff << (32 - bits)) >>> 0;
    return { family: 4, v4: (ip.v4 & mask) >>> 0 };
  }
  const groups = ip.v6.map((group, i) => {
    const keep = Math.max(0, Math.min(16, bits - i * 16));
    return keep === 0 ? 0 : group & ((0xffff << (16 - keep)) & 0xffff);
  });
  return { family: 6, v6: groups };
}

/** `address/bits` with the host part zeroed, the form a ban key and a Cloudflare range take. */
export function prefixKey(ip: Ip, bits: number): string {
  return `${formatIp(maskIp(ip, bits))}/${bits}`;
}
