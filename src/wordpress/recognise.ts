import { Ip, parseIp, parseIpIn } from '../address/ip';
import { ascii, bytesAt, endsWithAt, lastIndexIn, SP, textOf, viewAt, viewOf } from '../common/bytes';
import type { SyslogMessage } from '../syslog/parse';
import { Classified, classify, classifyPluginMessage, EventClass, EventKind } from './catalogue';

/**
 * A WP fail2ban event. The username, if the message had one, is gone by now. The address is kept
 * parsed only: its text (`formatIp`: IPv4 dotted, IPv6 compressed lower-case, mapped IPv6 as IPv4)
 * is written only where it is shown.
 */
export interface WpEvent {
  kind: EventKind;
  class: EventClass;
  ip: Ip;
  /** host[/path] from the tag or the 6.x inline host, lower-case, port dropped; null when unknown */
  site: string | null;
  /** unix ms on the policy's clock: arrival time live, the line's own timestamp in replay */
  at: number;
}

/** An event built by hand (tests, benchmarks) with its address as text. */
export function makeEvent({ address, ...fields }: Omit<WpEvent, 'ip'> & { address: string }): WpEvent {
  const ip = parseIp(address);
  if (!ip) throw new Error(`not an IP address: ${address}`);
  return { ...fields, ip };
}

export type RecogniseRejection = 'not_wordpress' | 'no_address' | 'address_unknown' | 'address_invalid';

export type RecogniseResult = { ok: true; event: WpEvent } | { ok: false; reason: RecogniseRejection };

const FROM = ascii(' from'); // and the space before the address
const ON = ascii(' on'); // and the space before the host
const VIA_XMLRPC = ascii(' via XML-RPC');
const ESCAPED_LF = ascii('#012');
const UNKNOWN = ascii('unknown');

function reject(reason: RecogniseRejection): RecogniseResult {
  return { ok: false, reason };
}

/**
 * The site named by a WP fail2ban tag: `wordpress(host)`, `wp(host)`, `wordpress(host/path)`,
 * `wordpress(host:port)`, cut tags without `)`. Returns undefined when the tag is not the plugin's,
 * null for a bare `wordpress`/`wp` tag.
 */
export function siteFromTag(tag: string): string | null | undefined {
  return readSiteFromTag(tag);
}

/**
 * The sites of the tags seen, so that the hot path need not read a tag it has seen before. A host
 * runs a few sites, and their tags repeat endlessly (one per site and pid): a slot picked by a few
 * of the tag's bytes (its length, the host's last characters and its middle) holds the last tag
 * seen there, copied, and its site; comparing with it costs less than making the tag a string.
 * Behind the slots, a bounded map from tag text to site. One cache a decoder.
 */
const SLOTS = 256;
const MAX_TAGS = 4096;

export class SiteCache {
  /** each slot's tag, a copy, as a DataView (compared four bytes at a time, viewAt) */
  private readonly slotTags: DataView[] = Array.from({ length: SLOTS }, () => new DataView(new ArrayBuffer(0)));
  private readonly slotSites = new Array<string | null | undefined>(SLOTS).fill(undefined);
  private readonly byTag = new Map<string, string | null | undefined>();

  /** siteFromTag for the tag bytes[start, end); `view` is `bytes` as a DataView. */
  siteOfTag(bytes: Uint8Array, view: DataView, start: number, end: number): string | null | undefined {
    const length = end - start;
    const slot = (length * 97 + bytes[end - 2] * 31 + bytes[end - 3] * 7 + bytes[start + (length >> 1)]) & (SLOTS - 1);
    const kept = this.slotTags[slot];
    if (kept.byteLength === length && viewAt(view, kept, start, end)) return this.slotSites[slot];
    const site = this.siteOfText(textOf(bytes, start, end));
    this.slotTags[slot] = viewOf(new Uint8Array(bytes.subarray(start, end))); // a copy (a Buffer's slice would be a view)
    this.slotSites[slot] = site;
    return site;
  }

  private siteOfText(tag: string): string | null | undefined {
    const cached = this.byTag.get(tag);
    if (cached !== undefined || this.byTag.has(tag)) return cached;
    const site = readSiteFromTag(tag);
    if (this.byTag.size >= MAX_TAGS) this.byTag.clear();
    this.byTag.set(tag, site);
    return site;
  }
}

function readSiteFromTag(tag: string): string | null | undefined {
  let nameEnd: number;
  if (tag.startsWith('wordpress')) nameEnd = 9;
  else if (tag.startsWith('wp')) nameEnd = 2;
  else return undefined;
  if (nameEnd === tag.length) return null;
  const next = tag.charCodeAt(nameEnd);
  if (next === 91 /* [ */ || next === 58 /* : */) return null;
  if (next !== 40 /* ( */) return undefined; // wpa_supplicant, wordpress-cron, …
  const close = tag.indexOf(')', nameEnd);
  return cleanSite(tag.slice(nameEnd + 1, close < 0 ? tag.length : close));
}

/** Lower-case, without a `:port`; keeps a sub-directory path. Empty → null. */
export function cleanSite(host: string): string | null {
  let site = host.toLowerCase();
  const slash = site.indexOf('/');
  const hostPart = slash < 0 ? site : site.slice(0, slash);
  const colon = hostPart.lastIndexOf(':');
  if (colon >= 0 && hostPart.indexOf(']') < colon && /^\d*$/.test(hostPart.slice(colon + 1))) {
    site = hostPart.slice(0, colon) + (slash < 0 ? '' : site.slice(slash));
  }
  return site.length > 0 ? site : null;
}

export function recognise(message: SyslogMessage, at: number): RecogniseResult {
  const tagEnd = Buffer.byteLength(message.tag);
  const bytes = Buffer.from(`${message.tag} ${message.text}`, 'utf8');
  const recognised = recogniseIn(new SiteCache(), bytes, viewOf(bytes), 0, tagEnd, tagEnd + 1, bytes.length, at);
  return typeof recognised === 'string' ? reject(recognised) : { ok: true, event: recognised };
}

/**
 * recognise on a line's UTF-8 bytes, read in place where SyslogScanner found the tag and the text
 * (bytes[textStart, textEnd)); the answer is the event or the rejection, no wrapper. `view` is
 * `bytes` as a DataView (viewOf).
 */
export function recogniseIn(
  sites: SiteCache,
  bytes: Uint8Array,
  view: DataView,
  tagStart: number,
  tagEnd: number,
  textStart: number,
  textEnd: number,
  at: number,
): WpEvent | RecogniseRejection {
  let site = sites.siteOfTag(bytes, view, tagStart, tagEnd);
  if (site === undefined) return 'not_wordpress';

  let end = textEnd;
  while (endsWithAt(bytes, ESCAPED_LF, textStart, end)) end -= ESCAPED_LF.length;
  if (endsWithAt(bytes, VIA_XMLRPC, textStart, end)) end -= VIA_XMLRPC.length;

  // The address is the last word, and ` from ` comes before it.
  const space = lastIndexIn(bytes, SP, textStart, end);
  const from = space - FROM.length;
  if (from < textStart || !bytesAt(bytes, FROM, from, space)) return 'no_address';
  const tokenStart = space + 1;
  if (tokenStart === end) return 'no_address';
  if (end - tokenStart === UNKNOWN.length && bytesAt(bytes, UNKNOWN, tokenStart, end)) return 'address_unknown';
  const ip = parseIpIn(bytes, tokenStart, end);
  if (ip === null) return 'address_invalid';

  let headEnd = from;
  if (site === null) {
    // 6.x inline host: `… on <host>[/<path>] from <ip>`, only ever with a bare tag.
    const hostSpace = lastIndexIn(bytes, SP, textStart, from);
    const on = hostSpace - ON.length;
    if (on >= textStart && bytesAt(bytes, ON, on, hostSpace)) {
      site = cleanSite(textOf(bytes, hostSpace + 1, from));
      headEnd = on;
    }
  }

  const classified = classifyHead(bytes, view, textStart, headEnd);
  return { kind: classified.kind, class: classified.cls, ip, site, at };
}

const UNRECOGNIZED: Classified = { kind: 'unrecognized', cls: 'info' };

/** Classifies text[from, end): a `(slug) message` from the plugin API, or one of the templates. */
function classifyHead(bytes: Uint8Array, view: DataView, from: number, end: number): Classified {
  if (bytes[from] === 40 /* ( */ && from < end) {
    const close = slugEnd(bytes, from, end);
    if (close > from + 1) return classifyPluginMessage(textOf(bytes, from + 1, close), textOf(bytes, close + 2, end));
  }
  return classify(bytes, from, end, view) ?? UNRECOGNIZED;
}

/** The first `) ` in bytes[from, end), or -1. */
function slugEnd(bytes: Uint8Array, from: number, end: number): number {
  for (let i = from; i + 1 < end; i++) if (bytes[i] === 41 /* ) */ && bytes[i + 1] === SP) return i;
  return -1;
}
