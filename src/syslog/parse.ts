/**
 * RFC 3164 and RFC 5424 into one shape, tolerant of what rsyslog really sends: RFC 3339 timestamps
 * in 3164 headers, tags cut at 32 characters, the 5424 double space, a trailing LF, no hostname.
 * Index scanning only: no regular expression ever runs on the attacker-controlled part.
 */

export interface SyslogMessage {
  facility: number;
  severity: number;
  /** unix milliseconds, or null when the message carries none */
  timestamp: number | null;
  /** true when the timestamp has a fraction of a second (used to recognise repeats) */
  subSecond: boolean;
  hostname: string | null;
  /** RFC 3164 tag without `[pid]` and `:`, or RFC 5424 APP-NAME */
  tag: string;
  procId: string | null;
  text: string;
}

export type ParseRejection = 'empty' | 'no_pri' | 'bad_pri' | 'bad_header' | 'no_tag';

export type ParseResult = { ok: true; message: SyslogMessage } | { ok: false; reason: ParseRejection };

export interface ParseOptions {
  /** Current time in unix ms; BSD timestamps have no year and take the one that puts them nearest. */
  now: number;
  /** Accept lines without `<PRI>` (auth.log style files for replay). */
  allowMissingPri?: boolean;
}

const MONTHS = ['Jan', 'Feb', 'Mar', 'Apr', 'May', 'Jun', 'Jul', 'Aug', 'Sep', 'Oct', 'Nov', 'Dec'];
/** `Mmm` as three char codes in one number → month index */
const MONTH_BY_CODE = new Map(MONTHS.map((name, index) => [monthCode(name, 0), index]));

function monthCode(text: string, pos: number): number {
  return (text.charCodeAt(pos) << 16) | (text.charCodeAt(pos + 1) << 8) | text.charCodeAt(pos + 2);
}

/**
 * Date.UTC for midnight, remembered for the last two days asked: consecutive lines share their
 * day, and the date arithmetic is a visible cost at a million lines a second. Two, as lines near
 * New Year are tried in this year and then in the last.
 */
const cachedDays = new Float64Array([-1, -1]);
const cachedDayMs = new Float64Array(2);
let cacheNext = 0;

function utcMs(year: number, month: number, day: number, hour: number, minute: number, second: number): number {
  const dayKey = (year * 16 + month) * 32 + day;
  let ms: number;
  if (cachedDays[0] === dayKey) ms = cachedDayMs[0];
  else if (cachedDays[1] === dayKey) ms = cachedDayMs[1];
  else {
    ms = Date.UTC(year, month, day);
    cachedDays[cacheNext] = dayKey;
    cachedDayMs[cacheNext] = ms;
    cacheNext ^= 1;
  }
  return ms + hour * 3_600_000 + minute * 60_000 + second * 1000;
}
const SP = 32;

function reject(reason: ParseRejection): ParseResult {
  return { ok: false, reason };
}

export function parseSyslog(input: Buffer | string, options: ParseOptions): ParseResult {
  const rejected = scanSyslog(typeof input === 'string' ? input : input.toString('utf8'), options);
  return rejected ? reject(rejected) : { ok: true, message: messageOf(scanned) };
}

/**
 * Where scanSyslog found the fields of a line it accepted, as offsets into `line` (the line
 * without its trailer); the text runs to the line's end. One object, overwritten by every call and
 * read only after one that accepted: the decoder's hot path reads the fields in place instead of
 * slicing them out.
 */
export interface ScannedLine {
  line: string;
  facility: number;
  severity: number;
  timestamp: number | null;
  subSecond: boolean;
  /** -1 when the line has no hostname */
  hostStart: number;
  hostEnd: number;
  tagStart: number;
  tagEnd: number;
  /** -1 when the line has no PROCID or `[pid]` */
  pidStart: number;
  pidEnd: number;
  textStart: number;
}

export const scanned: ScannedLine = {
  line: '',
  facility: 0,
  severity: 0,
  timestamp: null,
  subSecond: false,
  hostStart: -1,
  hostEnd: -1,
  tagStart: 0,
  tagEnd: 0,
  pidStart: -1,
  pidEnd: -1,
  textStart: 0,
};

/** Reads a line's header into `scanned`; null when accepted, else why not. */
export function scanSyslog(input: string, options: ParseOptions): ParseRejection | null {
  const line = trimTrailer(input);
  if (line.length === 0) return 'empty';
  let facility = 1; // user.notice when no PRI, as RFC 3164 §4.3.3 suggests
  let severity = 5;
  let pos = 0;
  if (line.charCodeAt(0) === 60 /* < */) {
    const close = line.indexOf('>', 1);
    if (close < 2 || close > 4) return 'bad_pri';
    const pri = digitsValue(line, 1, close);
    if (pri < 0 || pri > 191) return 'bad_pri';
    facility = pri >> 3;
    severity = pri & 7;
    pos = close + 1;
  } else if (!options.allowMissingPri) {
    return 'no_pri';
  }
  const is5424 = isDigit(line.charCodeAt(pos)) && line.charCodeAt(pos + 1) === SP && line.charCodeAt(pos) !== 48;
  const rejected = is5424 ? scan5424(line, pos + 2) : scan3164(line, pos, options.now);
  if (rejected) return rejected;
  scanned.line = line;
  scanned.facility = facility;
  scanned.severity = severity;
  return null;
}

/** The fields of a scanned line, sliced out. */
function messageOf(fields: ScannedLine): SyslogMessage {
  const { line } = fields;
  return {
    facility: fields.facility,
    severity: fields.severity,
    timestamp: fields.timestamp,
    subSecond: fields.subSecond,
    hostname: fields.hostStart < 0 ? null : line.slice(fields.hostStart, fields.hostEnd),
    tag: line.slice(fields.tagStart, fields.tagEnd),
    procId: fields.pidStart < 0 ? null : line.slice(fields.pidStart, fields.pidEnd),
    text: line.slice(fields.textStart),
  };
}

/** Drops the LF (5424 templates), CR, NUL and trailing spaces that framing and senders leave. */
function trimTrailer(line: string): string {
  let end = line.length;
  while (end > 0) {
    const c = line.charCodeAt(end - 1);
    if (c !== 10 && c !== 13 && c !== 0 && c !== SP) break;
    end--;
  }
  return end === line.length ? line : line.slice(0, end);
}

function isDigit(c: number): boolean {
  return c >= 48 && c <= 57;
}

function digitsValue(text: string, from: number, to: number): number {
  if (to <= from) return -1;
  let value = 0;
  for (let i = from; i < to; i++) {
    const c = text.charCodeAt(i);
    if (!isDigit(c)) return -1;
    value = value * 10 + c - 48;
  }
  return value;
}

function skipSpaces(line: string, pos: number): number {
  while (line.charCodeAt(pos) === SP) pos++;
  return pos;
}

function tokenEnd(line: string, pos: number): number {
  const space = line.indexOf(' ', pos);
  return space < 0 ? line.length : space;
}

// ---------------------------------------------------------------- RFC 5424

/** The header scanners fill `scanned` but for the line and PRI, which the caller sets. */
function scan5424(line: string, pos: number): ParseRejection | null {
  // TIMESTAMP HOSTNAME APP-NAME PROCID MSGID; several spaces between fields are tolerated.
  const starts = fieldStarts;
  const ends = fieldEnds;
  for (let i = 0; i < 5; i++) {
    pos = skipSpaces(line, pos);
    if (pos >= line.length) return 'bad_header';
    starts[i] = pos;
    pos = ends[i] = tokenEnd(line, pos);
  }
  pos = skipSpaces(line, pos);
  const sdEnd = structuredDataEnd(line, pos);
  if (sdEnd < 0) return 'bad_header';
  const noTime = isNil(line, starts[0], ends[0]);
  const timestamp = noTime ? null : readRfc3339(line, starts[0], ends[0]);
  if (timestamp !== null && Number.isNaN(timestamp)) return 'bad_header';
  if (isNil(line, starts[2], ends[2])) return 'no_tag';
  let textStart = skipSpaces(line, sdEnd);
  if (line.charCodeAt(textStart) === 0xfeff) textStart++; // BOM
  scanned.timestamp = timestamp;
  scanned.subSecond = noTime ? false : lastHadFraction;
  const noHost = isNil(line, starts[1], ends[1]);
  scanned.hostStart = noHost ? -1 : starts[1];
  scanned.hostEnd = noHost ? -1 : ends[1];
  scanned.tagStart = starts[2];
  scanned.tagEnd = ends[2];
  const noPid = isNil(line, starts[3], ends[3]);
  scanned.pidStart = noPid ? -1 : starts[3];
  scanned.pidEnd = noPid ? -1 : ends[3];
  scanned.textStart = textStart;
  return null;
}

/** Where scan5424 found its header fields. */
const fieldStarts = new Int32Array(5);
const fieldEnds = new Int32Array(5);

/** Whether line[from, to) is the NILVALUE `-`. */
function isNil(line: string, from: number, to: number): boolean {
  return to === from + 1 && line.charCodeAt(from) === 45 /* - */;
}

/** End of STRUCTURED-DATA (`-` or `[…]…`, with `\"`, `\\` and `\]` escapes in values), or -1. */
function structuredDataEnd(line: string, pos: number): number {
  if (line.charCodeAt(pos) === 45 /* - */) return pos + 1;
  if (line.charCodeAt(pos) !== 91 /* [ */) return -1;
  while (line.charCodeAt(pos) === 91) {
    let inValue = false;
    pos++;
    for (;;) {
      if (pos >= line.length) return -1;
      const c = line.charCodeAt(pos);
      if (inValue && c === 92 /* \ */) {
        pos += 2;
        continue;
      }
      if (c === 34 /* " */) inValue = !inValue;
      else if (c === 93 /* ] */ && !inValue) break;
      pos++;
    }
    pos++;
  }
  return pos;
}

// ---------------------------------------------------------------- RFC 3164

function scan3164(line: string, pos: number, now: number): ParseRejection | null {
  pos = skipSpaces(line, pos);
  let timestamp: number | null = null;
  let subSecond = false;
  if (isDigit(line.charCodeAt(pos)) && line.charCodeAt(pos + 4) === 45 /* - */) {
    const end = tokenEnd(line, pos);
    timestamp = readRfc3339(line, pos, end);
    if (Number.isNaN(timestamp)) return 'bad_header';
    subSecond = lastHadFraction;
    pos = skipSpaces(line, end);
  } else {
    const ms = parseBsdTimestamp(line, pos, now);
    if (!Number.isNaN(ms)) {
      timestamp = ms;
      pos = skipSpaces(line, bsdEnd);
    }
  }
  // HOSTNAME, unless the token already looks like a tag (the host-less local-socket format).
  let hostStart = -1;
  let hostEnd = -1;
  let end = tokenEnd(line, pos);
  if (end < line.length && looksLikeHostname(line, pos, end)) {
    hostStart = pos;
    hostEnd = end;
    pos = skipSpaces(line, end);
    end = tokenEnd(line, pos);
  }
  if (pos >= line.length) return 'no_tag';
  const tagEnd = splitTag(line, pos, end);
  if (tagEnd === pos) return 'no_tag';
  scanned.timestamp = timestamp;
  scanned.subSecond = subSecond;
  scanned.hostStart = hostStart;
  scanned.hostEnd = hostEnd;
  scanned.tagStart = pos;
  scanned.tagEnd = tagEnd;
  scanned.textStart = skipSpaces(line, end);
  return null;
}

/** Host names and literal addresses: letters, digits, `.`, `-`, `_`, `:` and no trailing `:`. */
function looksLikeHostname(line: string, from: number, to: number): boolean {
  for (let i = from; i < to; i++) {
    const c = line.charCodeAt(i);
    const ok = (c >= 97 && c <= 122) || (c >= 65 && c <= 90) || isDigit(c) || c === 46 || c === 45 || c === 95 || c === 58;
    if (!ok) return false;
  }
  return line.charCodeAt(to - 1) !== 58;
}

/**
 * `tag[pid]:` in line[from, to) → the tag's end, with the pid's bounds in scanned.pidStart/pidEnd;
 * tolerates a missing `:`, `]` or the whole `[pid]` (the 32-character cut). In `name(host)[pid]`
 * the pid bracket comes after the `)`, since a host may hold `[::1]`.
 */
function splitTag(line: string, from: number, to: number): number {
  scanned.pidStart = -1;
  scanned.pidEnd = -1;
  const end = line.charCodeAt(to - 1) === 58 /* : */ ? to - 1 : to;
  let searchFrom = from + 1;
  const paren = line.indexOf('(', from);
  if (paren >= 0 && paren < to) {
    const close = line.lastIndexOf(')', end);
    if (close < from) return end;
    searchFrom = close + 1;
  }
  const open = line.indexOf('[', searchFrom);
  if (open < 0 || open >= end) return end;
  const pidEnd = line.charCodeAt(end - 1) === 93 /* ] */ ? end - 1 : end;
  if (pidEnd > open + 1) {
    scanned.pidStart = open + 1;
    scanned.pidEnd = pidEnd;
  }
  return open;
}

/** Where parseBsdTimestamp's timestamp ended, to spare a result object a line. */
let bsdEnd = 0;

/**
 * `Mmm dd hh:mm:ss` (day space-padded), optionally followed by a year as rsyslog allows: unix ms
 * (its end in bsdEnd), or NaN.
 */
function parseBsdTimestamp(line: string, pos: number, now: number): number {
  const month = MONTH_BY_CODE.get(monthCode(line, pos));
  if (month === undefined || line.charCodeAt(pos + 3) !== SP) return Number.NaN;
  let p = pos + 4;
  if (line.charCodeAt(p) === SP) p++;
  let day = digitAt(line, p++);
  if (line.charCodeAt(p) !== SP) day = day * 10 + digitAt(line, p++);
  if (day < 1 || day > 31 || line.charCodeAt(p) !== SP || line.charCodeAt(p + 3) !== 58 || line.charCodeAt(p + 6) !== 58) return Number.NaN;
  const hour = digitAt(line, p + 1) * 10 + digitAt(line, p + 2);
  const minute = digitAt(line, p + 4) * 10 + digitAt(line, p + 5);
  const second = digitAt(line, p + 7) * 10 + digitAt(line, p + 8);
  if (hour < 0 || hour > 23 || minute < 0 || minute > 59 || second < 0 || second > 60) return Number.NaN;
  p += 9;
  let year = utcYear(now);
  const explicitYear = line.charCodeAt(p) === SP ? digitsValue(line, p + 1, p + 5) : -1;
  if (explicitYear >= 1970 && line.charCodeAt(p + 5) === SP) {
    year = explicitYear;
    p += 5;
  }
  // No zone in a BSD timestamp: edgeban reads it as UTC. Without a year, a date more than a day in
  // the future belongs to last year (the New Year case).
  let ms = utcMs(year, month, day, hour, minute, second);
  if (explicitYear < 0 && ms > now + 86_400_000) ms = utcMs(year - 1, month, day, hour, minute, second);
  bsdEnd = p;
  return ms;
}

/** A digit's value, or a negative number large enough that a two-digit value built on it stays negative. */
function digitAt(text: string, at: number): number {
  const c = text.charCodeAt(at);
  return c >= 48 && c <= 57 ? c - 48 : -1000;
}

let yearOf = { from: 0, to: -1, year: 0 };

/** The UTC year of a time, without a Date for every line. */
function utcYear(ms: number): number {
  if (ms < yearOf.from || ms >= yearOf.to) {
    const year = new Date(ms).getUTCFullYear();
    yearOf = { from: Date.UTC(year, 0, 1), to: Date.UTC(year + 1, 0, 1), year };
  }
  return yearOf.year;
}

/** Whether the last timestamp readRfc3339 accepted had a fraction of a second. */
let lastHadFraction = false;

/** RFC 3339 `YYYY-MM-DDThh:mm:ss[.frac](Z|±hh:mm)` in text[from, to) → unix ms, or NaN. Reads in place: no slice, no result object. */
function readRfc3339(text: string, from: number, to: number): number {
  if (to - from < 20 || text.charCodeAt(from + 4) !== 45 || text.charCodeAt(from + 7) !== 45) return Number.NaN;
  const t = text.charCodeAt(from + 10);
  if ((t !== 84 && t !== 116) || text.charCodeAt(from + 13) !== 58 || text.charCodeAt(from + 16) !== 58) return Number.NaN;
  const year = digitsValue(text, from, from + 4);
  const month = digitsValue(text, from + 5, from + 7);
  const day = digitsValue(text, from + 8, from + 10);
  const hour = digitsValue(text, from + 11, from + 13);
  const minute = digitsValue(text, from + 14, from + 16);
  const second = digitsValue(text, from + 17, from + 19);
  if (year < 0 || month < 1 || month > 12 || day < 1 || day > 31 || hour < 0 || hour > 23) return Number.NaN;
  if (minute < 0 || minute > 59 || second < 0 || second > 60) return Number.NaN;
  let p = from + 19;
  let fraction = 0;
  let subSecond = false;
  if (text.charCodeAt(p) === 46 /* . */) {
    let scale = 100;
    p++;
    const start = p;
    while (p < to && isDigit(text.charCodeAt(p))) {
      fraction += (text.charCodeAt(p) - 48) * scale;
      scale /= 10;
      p++;
    }
    if (p === start) return Number.NaN;
    subSecond = true;
  }
  let offsetMinutes = 0;
  const z = text.charCodeAt(p);
  if (z === 90 || z === 122) {
    p++;
  } else if ((z === 43 || z === 45) && text.charCodeAt(p + 3) === 58) {
    const oh = digitsValue(text, p + 1, p + 3);
    const om = digitsValue(text, p + 4, p + 6);
    if (oh < 0 || oh > 23 || om < 0 || om > 59) return Number.NaN;
    offsetMinutes = (z === 45 ? -1 : 1) * (oh * 60 + om);
    p += 6;
  } else {
    return Number.NaN;
  }
  if (p !== to) return Number.NaN;
  lastHadFraction = subSecond;
  return utcMs(year, month - 1, day, hour, minute, second) + Math.floor(fraction) - offsetMinutes * 60_000;
}
