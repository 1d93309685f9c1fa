import ipaddr from 'ipaddr.js';
import { indexIn, textOf } from '../common/bytes';

/** A parsed address: IPv4 as one 32-bit number, IPv6 as eight 16-bit groups. Made by ipv4 and ipv6 only. */
export type Ip = { readonly family: 4; readonly v4: number } | { readonly family: 6; readonly v6: readonly number[] };
export type Ip4 = Extract<Ip, { family: 4 }>;
export type Ip6 = Extract<Ip, { family: 6 }>;

const NO_GROUPS: readonly number[] = Object.freeze([]);

/**
 * Addresses of both families carry the same fields in the same order (family, v4, v6; the other
 * family's left 0 or empty), so that V8 gives them one hidden class. Code that takes both then
 * reads `v4` in place; with two classes, every read of an IPv4 address from 64.0.0.0 up (past
 * V8's small integers) boxed a fresh number: the trust check, the window's key and the look-ahead
 * made some 300 bytes of garbage an event on replay's main thread.
 */
export function ipv4(v4: number): Ip4 {
  return { family: 4, v4, v6: NO_GROUPS } as Ip4;
}

/** An IPv6 address from its eight groups, in the one hidden class (see ipv4). */
export function ipv6(v6: readonly number[]): Ip6 {
  return { family: 6, v4: 0, v6 } as Ip6;
}

const DIGIT_0 = 48;
const DIGIT_9 = 57;
const DOT = 46;
const COLON = 58;

/**
 * Strict dotted-quad IPv4: four decimal parts 0-255, no leading zeros (which some parsers read
 * as octal), nothing else. Reads bytes[from, to). Returns the address as an unsigned 32-bit number, or -1.
 */
function parseIPv4(bytes: Uint8Array, from: number, to: number): number {
  const length = to - from;
  if (length < 7 || length > 15) return -1;
  let value = 0;
  let part = 0;
  let digits = 0;
  let parts = 0;
  for (let i = from; i <= to; i++) {
    const c = i < to ? bytes[i] : DOT;
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
 * Parses an address as it appears in a log line or a config. IPv4-mapped IPv6 becomes IPv4. Zone
 * ids (`fe80::1%eth0`) and anything that is not a plain address give null.
 */
export function parseIp(text: string): Ip | null {
  const bytes = Buffer.from(text, 'utf8');
  return parseIpIn(bytes, 0, bytes.length);
}

/** parseIp on the UTF-8 bytes[from, to), as the decoder finds an address in a line. */
export function parseIpIn(bytes: Uint8Array, from: number, to: number): Ip | null {
  const v4 = parseIPv4(bytes, from, to);
  if (v4 >= 0) return ipv4(v4);
  if (to - from < 2 || to - from > 45) return null;
  if (indexIn(bytes, COLON, from, to) < 0 || indexIn(bytes, 37 /* % */, from, to) >= 0) return null;
  const groups = indexIn(bytes, DOT, from, to) < 0 ? parseIPv6Groups(bytes, from, to) : parseEmbeddedIPv4(textOf(bytes, from, to));
  if (!groups) return null;
  if (groups[0] === 0 && groups[1] === 0 && groups[2] === 0 && groups[3] === 0 && groups[4] === 0 && groups[5] === 0xffff) {
    return ipv4(groups[6] * 65536 + groups[7]);
  }
  return ipv6(groups);
}

/** Forms with a dotted tail (`::ffff:1.2.3.4`) are rare: ipaddr.js handles them. */
function parseEmbeddedIPv4(text: string): number[] | null {
  return ipaddr.IPv6.isValid(text) ? ipaddr.IPv6.parse(text).parts.slice() : null;
}

function hexValue(c: number): number {
  if (c >= 48 && c <= 57) return c - 48;
  if (c >= 97 && c <= 102) return c - 87;
  if (c >= 65 && c <= 70) return c - 55;
  return -1;
}

/**
 * Hex groups with at most one `::`, eight groups in the end. Hot path: no regex, no library, and
 * one array: the groups are written in order, and those after a `::` moved to the end.
 */
function parseIPv6Groups(bytes: Uint8Array, from: number, to: number): number[] | null {
  const groups = [0, 0, 0, 0, 0, 0, 0, 0];
  let count = 0;
  /** how many groups came before the `::`, -1 without one */
  let gap = -1;
  let i = from;
  const n = to;
  if (bytes[i] === COLON) {
    if (bytes[i + 1] !== COLON) return null;
    gap = 0;
    i += 2;
    if (i === n) return groups;
  }
  for (;;) {
    let value = 0;
    let digits = 0;
    while (i < n) {
      const h = hexValue(bytes[i]);
      if (h < 0) break;
      value = value * 16 + h;
      if (++digits > 4) return null;
      i++;
    }
    if (digits === 0 || count === 8) return null;
    groups[count++] = value;
    if (i === n) break;
    if (bytes[i] !== COLON) return null;
    i++;
    if (i < n && bytes[i] === COLON) {
      if (gap >= 0) return null; // a second ::
      gap = count;
      i++;
      if (i === n) break;
    } else if (i === n) {
      return null; // a trailing single colon
    }
  }
  if (gap < 0) return count === 8 ? groups : null;
  if (count > 7) return null;
  const shift = 8 - count;
  for (let k = count - 1; k >= gap; k--) groups[k + shift] = groups[k];
  for (let k = gap; k < gap + shift; k++) groups[k] = 0;
  return groups;
}

/** RFC 5952 text: lower-case hex, the longest run (two or more) of zero groups as `::`, first on a tie. */
export function formatIPv6(groups: readonly number[]): string {
  let bestStart = -1;
  let bestLength = 1;
  for (let i = 0; i < 8;) {
    if (groups[i] !== 0) {
      i++;
      continue;
    }
    let j = i;
    while (j < 8 && groups[j] === 0) j++;
    if (j - i > bestLength) {
      bestStart = i;
      bestLength = j - i;
    }
    i = j;
  }
  let text = '';
  let afterGap = true; // no ':' before the first group, nor right after '::'
  for (let i = 0; i < 8; i++) {
    if (i === bestStart) {
      text += '::';
      i += bestLength - 1;
      afterGap = true;
      continue;
    }
    text += afterGap ? groups[i].toString(16) : `:${groups[i].toString(16)}`;
    afterGap = false;
  }
  return text;
}

/** The canonical text of an address: IPv4 dotted, IPv6 lower-case and compressed (RFC 5952). */
export function formatIp(ip: Ip): string {
  return ip.family === 4 ? formatIPv4(ip.v4) : formatIPv6(ip.v6);
}

/** The first `bits` bits of an IPv4 address as a number, the rest zeroed. */
export function maskV4(v4: number, bits: number): number {
  return bits === 0 ? 0 : (v4 & (0xffffffff << (32 - bits))) >>> 0;
}

/** The first 32 bits of an IPv6 address (its first two groups) as one number. */
export function v6First32(groups: readonly number[]): number {
  return groups[0] * 65536 + groups[1];
}

/** The 32-bit word of an IPv6 address made of groups `first` and `first + 1`. */
export function v6Word(groups: readonly number[], first: number): number {
  return ((groups[first] << 16) | groups[first + 1]) >>> 0;
}

/**
 * An address as a 64-bit key in two unsigned 32-bit halves puts an IPv4 address in the low half
 * under this high half: as IPv6, ffff:ffff::/32 is multicast, never a visitor's prefix, so no
 * IPv6 key (a prefix of at most 64 bits, as two words) can take it.
 */
export const IPV4_KEY_HI = 0xffffffff;

/** Keeps the first `bits` bits of an address and zeroes the rest. */
export function maskIp(ip: Ip, bits: number): Ip {
  if (ip.family === 4) return ipv4(maskV4(ip.v4, bits));
  const groups = ip.v6.map((group, i) => {
    const keep = Math.max(0, Math.min(16, bits - i * 16));
    return keep === 0 ? 0 : group & ((0xffff << (16 - keep)) & 0xffff);
  });
  return ipv6(groups);
}

/** `address/bits` with the host part zeroed, the form a ban key and a Cloudflare range take. */
export function prefixKey(ip: Ip, bits: number): string {
  if (ip.family === 4 && bits === 32) return `${formatIPv4(ip.v4)}/32`;
  return `${formatIp(maskIp(ip, bits))}/${bits}`;
}

/** Whether two addresses share their first `bits` bits. */
export function sameBlock(a: Ip, b: Ip, bits: number): boolean {
  const ma = maskIp(a, bits);
  const mb = maskIp(b, bits);
  if (ma.family === 4 || mb.family === 4) return ma.family === 4 && mb.family === 4 && ma.v4 === mb.v4;
  return ma.v6.every((group, i) => group === mb.v6[i]);
}
