import { Ip, parseIp } from '../address/ip';
import type { SyslogMessage } from '../syslog/parse';
import { Classified, classify, classifyPluginMessage, EventClass, EventKind, startsAt } from './catalogue';

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

const FROM = ' from ';
const VIA_XMLRPC = ' via XML-RPC';
const ESCAPED_LF = '#012';
const UNKNOWN = 'unknown';

function reject(reason: RecogniseRejection): RecogniseResult {
  return { ok: false, reason };
}

/**
 * The site named by a WP fail2ban tag: `wordpress(host)`, `wp(host)`, `wordpress(host/path)`,
 * `wordpress(host:port)`, cut tags without `)`. Returns undefined when the tag is not the plugin's,
 * null for a bare `wordpress`/`wp` tag.
 */
export function siteFromTag(tag: string): string | null | undefined {
  // A host runs a few sites, whose lines come in runs or interleaved: comparing with the last few
  // tags is cheaper than hashing the tag for the cache. (The few kept may be slices of their
  // lines, keeping at most that many lines alive.)
  for (let i = 0; i < RECENT; i++) if (recentTags[i] === tag) return recentSites[i];
  const site = siteFromTagCached(tag);
  recentTags[recentNext] = tag;
  recentSites[recentNext] = site;
  recentNext = (recentNext + 1) % RECENT;
  return site;
}

const RECENT = 8;
const recentTags: string[] = new Array<string>(RECENT).fill('');
const recentSites: (string | null | undefined)[] = new Array<string | null | undefined>(RECENT).fill(undefined);
let recentNext = 0;

function siteFromTagCached(tag: string): string | null | undefined {
  const cached = siteCache.get(tag);
  if (cached !== undefined || siteCache.has(tag)) return cached;
  const site = readSiteFromTag(tag);
  if (siteCache.size >= SITE_CACHE_MAX) siteCache.clear();
  // copies: a tag is a slice of its line, which the cache must not keep alive
  const kept = typeof site === 'string' ? detached(site) : site;
  siteCache.set(detached(tag), kept);
  return kept;
}

/** A copy of `text` that shares no memory with the string it was sliced from. */
export function detached(text: string): string {
  return Buffer.from(text, 'utf8').toString('utf8');
}

/** Tags repeat endlessly (one per site and pid); a small cache spares the hot path the parsing. */
const siteCache = new Map<string, string | null | undefined>();
const SITE_CACHE_MAX = 4096;

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
  const recognised = recogniseIn(message.tag, message.text, 0, at);
  return typeof recognised === 'string' ? reject(recognised) : { ok: true, event: recognised };
}

/**
 * recognise on a tag and a message text given in place: the text is text[textStart, text.length).
 * The decoder passes the whole line as `text`, read where scanSyslog found the fields, so nothing
 * but the tag is sliced out of it; and the answer is the event or the rejection, no wrapper.
 */
export function recogniseIn(tag: string, text: string, textStart: number, at: number): WpEvent | RecogniseRejection {
  let site = siteFromTag(tag);
  if (site === undefined) return 'not_wordpress';

  let end = text.length;
  while (end - ESCAPED_LF.length >= textStart && startsAt(text, ESCAPED_LF, end - ESCAPED_LF.length)) end -= ESCAPED_LF.length;
  if (end - VIA_XMLRPC.length >= textStart && startsAt(text, VIA_XMLRPC, end - VIA_XMLRPC.length)) end -= VIA_XMLRPC.length;

  const from = end - FROM.length >= textStart ? text.lastIndexOf(FROM, end - FROM.length) : -1;
  if (from < textStart) return 'no_address';
  const tokenStart = from + FROM.length;
  if (tokenStart === end) return 'no_address';
  const space = text.indexOf(' ', tokenStart);
  if (space >= 0 && space < end) return 'no_address';
  if (end - tokenStart === UNKNOWN.length && startsAt(text, UNKNOWN, tokenStart)) return 'address_unknown';
  const ip = parseIp(text, tokenStart, end);
  if (ip === null) return 'address_invalid';

  let headEnd = from;
  if (site === null) {
    // 6.x inline host: `… on <host>[/<path>] from <ip>`, only ever with a bare tag.
    const on = from - 4 >= textStart ? text.lastIndexOf(' on ', from - 4) : -1;
    if (on >= textStart && text.indexOf(' ', on + 4) === from) {
      site = cleanSite(text.slice(on + 4, from));
      headEnd = on;
    }
  }

  const classified = classifyHead(text, textStart, headEnd);
  return { kind: classified.kind, class: classified.cls, ip, site, at };
}

const UNRECOGNIZED: Classified = { kind: 'unrecognized', cls: 'info' };

/** Classifies text[from, end): a `(slug) message` from the plugin API, or one of the templates. */
function classifyHead(text: string, from: number, end: number): Classified {
  if (text.charCodeAt(from) === 40 /* ( */) {
    const close = text.indexOf(') ', from);
    if (close > from + 1 && close + 2 <= end) return classifyPluginMessage(text.slice(from + 1, close), text.slice(close + 2, end));
  }
  return classify(text, from, end) ?? UNRECOGNIZED;
}
