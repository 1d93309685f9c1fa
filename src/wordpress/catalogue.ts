import { ascii, bytesAt, endsWithAt, indexIn, skipDigits, SP, viewAt, viewOf } from '../common/bytes';

/**
 * Every WP fail2ban message template (1.0 to 6.3, Premium and add-ons), as the plugin's sources
 * write them (docs/wp-fail2ban-messages.md lists them with their kind and class). Each template tests the text before ` from <ip>`
 * with plain byte comparisons, on the line's bytes as they arrived (src/bytes.ts); the username
 * part (`rest: 'any'`) is never kept.
 */

export const EVENT_CLASSES = ['hard', 'soft', 'extra', 'info'] as const;
export type EventClass = (typeof EVENT_CLASSES)[number];

export const EVENT_KINDS = [
  'auth_failure',
  'auth_unknown_user',
  'rest_auth_failure',
  'rest_auth_unknown_user',
  'xmlrpc_auth_failure',
  'xmlrpc_auth_unknown_user',
  'xmlrpc_auth_failure_legacy',
  'xmlrpc_multicall_failure',
  'empty_username',
  'empty_password',
  'auth_success',
  'blocked_user',
  'blocked_username',
  'user_enumeration',
  'authors_enumeration',
  'pingback_error',
  'pingback_requested',
  'trackback',
  'trackback_error',
  'spam_comment',
  'comment',
  'comment_attempt',
  'password_reset_requested',
  'password_reset_failure',
  'untrusted_proxy_header',
  'plugin_message',
  'country_blocked',
  'xmlrpc_request_blocked',
  'bogus_pingback',
  'akismet_spam',
  'blocklist_block',
  'blocklist_advisory',
  'honeypot',
  'multicall_pingback_blocked',
  'multicall_pingback_skipped',
  'waf_blocked',
  'unrecognized',
] as const;

export type EventKind = (typeof EVENT_KINDS)[number];

/**
 * Kinds no jail ever counts: a successful login, another plugin's message through WP fail2ban's
 * API, and text under a WordPress tag that is none of the plugin's messages. They end in
 * ` from <ip>` too, so counting them would let anyone who can make a site log a line ban anyone.
 */
export const NEVER_COUNTED: readonly EventKind[] = ['auth_success', 'plugin_message', 'unrecognized'];

/**
 * What may follow the fixed prefix: nothing; any non-empty text (a username, a URL); a number;
 * a number then more text; or a custom test.
 */
type Rest = 'none' | 'any' | 'number' | 'number_then' | ((bytes: Uint8Array, from: number, end: number) => boolean);

export interface Template extends Classified {
  prefix: string;
  /** the prefix as the bytes it is compared with, as a DataView (viewAt) */
  prefixView: DataView;
  rest: Rest;
}

function t(prefix: string, rest: Rest, kind: EventKind, cls: EventClass): Template {
  return { prefix, prefixView: viewOf(ascii(prefix)), rest, kind, cls };
}

const GENERATED = ascii(' generated');
const BY = ascii(' by "');
const ON_POST = ascii(' on post ');
const FROM_COUNTRY = ascii(" from country '");
const MATCHED_REQUEST = ascii(') matched request');

/** `<digits>` then ` generated` and, in 6.x, ` by "<url>" to "<url>"`. */
function pingbackErrorRest(bytes: Uint8Array, from: number, end: number): boolean {
  const after = skipDigits(bytes, from, end);
  if (after < 0 || !bytesAt(bytes, GENERATED, after, end)) return false;
  const tail = after + GENERATED.length;
  return tail === end || bytesAt(bytes, BY, tail, end);
}

/** `<id> on post <pid> by "<url>"` (6.x pingback and trackback). */
function onPostByRest(bytes: Uint8Array, from: number, end: number): boolean {
  const after = skipDigits(bytes, from, end);
  if (after < 0 || !bytesAt(bytes, ON_POST, after, end)) return false;
  const pidEnd = skipDigits(bytes, after + ON_POST.length, end);
  return pidEnd > 0 && bytesAt(bytes, BY, pidEnd, end);
}

/** `<id> on post <pid>` (comment attempts on an unapproved comment). */
function onPostRest(bytes: Uint8Array, from: number, end: number): boolean {
  const after = skipDigits(bytes, from, end);
  return after > 0 && bytesAt(bytes, ON_POST, after, end) && skipDigits(bytes, after + ON_POST.length, end) === end;
}

/** `<comment type> <id>` (6.x `Spam trackback 4714`). */
function spamTypeRest(bytes: Uint8Array, from: number, end: number): boolean {
  const space = indexIn(bytes, SP, from, end);
  return space > from && skipDigits(bytes, space + 1, end) === end;
}

/** `'<CC>'` (≤5.x) or `<status> from country '<CC>'` (6.x): handled by two templates. */
function countryRest(bytes: Uint8Array, from: number, end: number): boolean {
  return end - from >= 3 && bytes[from] === 39 && bytes[end - 1] === 39;
}

function country6Rest(bytes: Uint8Array, from: number, end: number): boolean {
  const after = skipDigits(bytes, from, end);
  return after > 0 && bytesAt(bytes, FROM_COUNTRY, after, end) && bytes[end - 1] === 39;
}

/** `<n>) matched request` (5.1 WAF rule). */
function wafRuleRest(bytes: Uint8Array, from: number, end: number): boolean {
  const after = skipDigits(bytes, from, end);
  return after > 0 && after + MATCHED_REQUEST.length === end && bytesAt(bytes, MATCHED_REQUEST, after, end);
}

/** `<robots path>)` */
function honeypotRest(bytes: Uint8Array, from: number, end: number): boolean {
  return end - from > 1 && bytes[end - 1] === 41;
}

// Order matters: of prefixes that share a start, the longest comes first (classify takes the first match).
export const TEMPLATES: readonly Template[] = [
  t('Authentication failure for ', 'any', 'auth_failure', 'soft'),
  t('Authentication attempt for unknown user ', 'any', 'auth_unknown_user', 'soft'),
  t('Authentication attempt with empty username', 'none', 'empty_username', 'soft'),
  t('Authentication attempt with empty password', 'none', 'empty_password', 'soft'),
  t('Accepted password for ', 'any', 'auth_success', 'info'),
  t('Akismet discarded spam comment', 'none', 'akismet_spam', 'hard'),
  t('Attempted access to honeypot (robots.txt: ', honeypotRest, 'honeypot', 'hard'),
  t('REST authentication failure for ', 'any', 'rest_auth_failure', 'soft'),
  t('REST authentication attempt for unknown user ', 'any', 'rest_auth_unknown_user', 'hard'),
  t('XML-RPC authentication failure for ', 'any', 'xmlrpc_auth_failure', 'soft'),
  t('XML-RPC authentication failure', 'none', 'xmlrpc_auth_failure_legacy', 'soft'),
  t('XML-RPC authentication attempt for unknown user ', 'any', 'xmlrpc_auth_unknown_user', 'hard'),
  t('XML-RPC multicall authentication failure', 'none', 'xmlrpc_multicall_failure', 'hard'),
  t('XML-RPC request blocked', 'none', 'xmlrpc_request_blocked', 'hard'),
  t('Empty username', 'none', 'empty_username', 'soft'),
  t('Blocked username authentication attempt for ', 'any', 'blocked_username', 'soft'),
  t('Blocked authentication attempt for ', 'any', 'blocked_user', 'hard'),
  t('Blocked user enumeration attempt', 'none', 'user_enumeration', 'hard'),
  t('Blocked authors enumeration', 'none', 'authors_enumeration', 'info'),
  t('Blocked access from country ', countryRest, 'country_blocked', 'hard'),
  t('Blocked access ', country6Rest, 'country_blocked', 'hard'),
  t('Blocked multicall pingback attempt', 'none', 'multicall_pingback_blocked', 'soft'),
  t('Pingback error ', pingbackErrorRest, 'pingback_error', 'hard'),
  t('Pingback requested', 'none', 'pingback_requested', 'soft'),
  t('Pingback ', onPostByRest, 'pingback_requested', 'soft'),
  t('Trackback failed for post ', 'number_then', 'trackback_error', 'hard'),
  t('Trackback ', onPostByRest, 'trackback', 'soft'),
  t('Spam comment ', 'number', 'spam_comment', 'hard'),
  t('Spam ', spamTypeRest, 'spam_comment', 'hard'),
  t('Skipped multicall pingback attempt', 'none', 'multicall_pingback_skipped', 'info'),
  t('Comment attempt on non-existent post ', 'number', 'comment_attempt', 'soft'),
  t('Comment attempt on closed post ', 'number', 'comment_attempt', 'soft'),
  t('Comment attempt on trashed post ', 'number', 'comment_attempt', 'soft'),
  t('Comment attempt on trash post ', 'number', 'comment_attempt', 'soft'),
  t('Comment attempt on draft post ', 'number', 'comment_attempt', 'soft'),
  t('Comment attempt on password-protected post ', 'number', 'comment_attempt', 'soft'),
  t('Comment attempt on unapproved comment ', onPostRest, 'comment_attempt', 'soft'),
  t('Comment post not found ', 'number', 'comment_attempt', 'soft'),
  t('Comments closed on post ', 'number', 'comment_attempt', 'soft'),
  t('Comment ', 'number', 'comment', 'extra'),
  t('Password reset requested for ', 'any', 'password_reset_requested', 'extra'),
  t('Failed password reset for unknown user ', 'any', 'password_reset_failure', 'soft'),
  t('Failed password reset for ', 'any', 'password_reset_failure', 'soft'),
  t('Failed password reset', 'none', 'password_reset_failure', 'soft'),
  t('Untrusted X-Forwarded-For header', 'none', 'untrusted_proxy_header', 'hard'),
  t('Unknown Proxy with X-Forwarded-For', 'none', 'untrusted_proxy_header', 'hard'),
  t('WAF[blocked] ', 'any', 'waf_blocked', 'hard'),
  t('WAF: ', 'any', 'waf_blocked', 'hard'),
  t('WAF rule (level ', wafRuleRest, 'waf_blocked', 'hard'),
];

/**
 * The templates as a tree that looks at one character a level: a node splits its templates by
 * their character at `at`, the first place where they differ and which all of them reach, so a
 * line whose character there is another can match none of them. A node of two templates or fewer,
 * or with no such place, tries its templates in catalogue order. Dispatch is exact: a line is
 * only ever tried against the templates it could match, in the catalogue's order, so the result is
 * the same as trying every template in turn, at a fraction of the comparisons.
 */
interface Dispatch {
  at: number;
  /** the next node by the byte at `at` (templates are ASCII: 128 entries, null where none) */
  next: (Dispatch | null)[] | null;
  templates: readonly Template[];
}

function dispatchFor(templates: readonly Template[]): Dispatch {
  const at = templates.length > 2 ? splitPosition(templates) : -1;
  if (at < 0) return { at, next: null, templates };
  const groups = new Map<number, Template[]>();
  for (const template of templates) {
    const c = template.prefix.charCodeAt(at);
    groups.set(c, [...(groups.get(c) ?? []), template]);
  }
  const next = new Array<Dispatch | null>(128).fill(null);
  for (const [c, group] of groups) next[c] = dispatchFor(group);
  return { at, next, templates: [] };
}

/** The first position every prefix reaches where they do not all agree, or -1. */
function splitPosition(templates: readonly Template[]): number {
  const reach = Math.min(...templates.map((template) => template.prefix.length));
  for (let at = 0; at < reach; at++) {
    const c = templates[0].prefix.charCodeAt(at);
    if (templates.some((template) => template.prefix.charCodeAt(at) !== c)) return at;
  }
  return -1;
}

const DISPATCH = dispatchFor(TEMPLATES);

/** Whether bytes[from, end) is what the template allows after its prefix. */
function restMatches(rest: Rest, bytes: Uint8Array, from: number, end: number): boolean {
  switch (rest) {
    case 'none':
      return from === end;
    case 'any':
      return from < end;
    case 'number':
      return skipDigits(bytes, from, end) === end;
    case 'number_then':
      return skipDigits(bytes, from, end) > 0;
    default:
      return rest(bytes, from, end);
  }
}

export interface Classified {
  readonly kind: EventKind;
  readonly cls: EventClass;
}

const BOGUS_PINGBACK = ascii('; Bogus Pingback');
const BOGUS: Classified = { kind: 'bogus_pingback', cls: 'hard' };
const BLOCKLIST_BLOCK: Classified = { kind: 'blocklist_block', cls: 'hard' };
const BLOCKLIST_ADVISORY: Classified = { kind: 'blocklist_advisory', cls: 'info' };
const PLUGIN_MESSAGE: Classified = { kind: 'plugin_message', cls: 'info' };

/**
 * Classifies bytes[from, end), the text before ` from <ip>` (plugin prefix already removed).
 * Null: no template. `view` is `bytes` as a DataView (made once for a batch or chunk, see viewAt).
 */
export function classify(bytes: Uint8Array, from = 0, end = bytes.length, view = viewOf(bytes)): Classified | null {
  let node: Dispatch | null = DISPATCH;
  // (a byte read past `end` only picks a branch whose prefixes are too long to match)
  while (node !== null && node.next !== null) node = node.next[bytes[from + node.at] & 127] ?? null;
  if (node !== null) {
    for (const template of node.templates) {
      const prefix = template.prefixView;
      if (viewAt(view, prefix, from, end) && restMatches(template.rest, bytes, from + prefix.byteLength, end)) return template;
    }
  }
  if (end - from > BOGUS_PINGBACK.length && endsWithAt(bytes, BOGUS_PINGBACK, from, end)) return BOGUS;
  return null;
}

const BLOCKLIST_SLUG = 'WPf2b++/blocklist';

/** Messages logged through the plugin API: `(<slug>) <text>`. */
export function classifyPluginMessage(slug: string, text: string): Classified {
  if (slug === BLOCKLIST_SLUG) {
    if (text === 'Immediately block connections') return BLOCKLIST_BLOCK;
    if (text === 'Consider blocking connections') return BLOCKLIST_ADVISORY;
  }
  return PLUGIN_MESSAGE;
}
