import { indexIn, lastIndexIn, SP, spaceIn, textOf, viewOf } from '../common/bytes';

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

/**
 * What a timestamp that is none reads as. A constant of the module, not `Number.NaN`: that is a
 * property read, and one no line had taken before the code was compiled threw the code away.
 */
const NO_TIME = Number.NaN;

const MONTHS = ['Jan', 'Feb', 'Mar', 'Apr', 'May', 'Jun', 'Jul', 'Aug', 'Sep', 'Oct', 'Nov', 'Dec'];
/** `Mmm` as three char codes in one number → month index */
const MONTH_BY_CODE = new Map(MONTHS.map((name, index) => [monthCode(Buffer.from(name), 0), index]));

/** Three bytes in one number (a fourth byte past the line's end would make no month). */
function monthCode(bytes: Uint8Array, pos: number): number {
  return (bytes[pos] << 16) | (bytes[pos + 1] << 8) | bytes[pos + 2];
}

function reject(reason: ParseRejection): ParseResult {
  return { ok: false, reason };
}

/** One line into its fields as text (tests, tools); the decoder reads them in place through a SyslogScanner. */
export function parseSyslog(input: Buffer | string, options: ParseOptions): ParseResult {
  const bytes = typeof input === 'string' ? Buffer.from(input, 'utf8') : input;
  const scanner = new SyslogScanner();
  const rejected = scanner.scan(bytes, 0, bytes.length, options.now, options.allowMissingPri ?? false);
  return rejected ? reject(rejected) : { ok: true, message: messageOf(bytes, scanner) };
}

/**
 * Where SyslogScanner.scan found the fields of a line it accepted, as offsets into the bytes it was given,
 * which hold the line (and may hold others around it); the message text runs to `end`, the line's
 * end without its trailer. One object, overwritten by every call and read only after one that accepted: the
 * decoder's hot path reads the fields in place instead of slicing them out.
 */
export interface ScannedLine {
  end: number;
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

/** The fields of a line scanned in `bytes`, decoded as text. */
function messageOf(bytes: Uint8Array, fields: ScannedLine): SyslogMessage {
  return {
    facility: fields.facility,
    severity: fields.severity,
    timestamp: fields.timestamp,
    subSecond: fields.subSecond,
    hostname: fields.hostStart < 0 ? null : textOf(bytes, fields.hostStart, fields.hostEnd),
    tag: textOf(bytes, fields.tagStart, fields.tagEnd),
    procId: fields.pidStart < 0 ? null : textOf(bytes, fields.pidStart, fields.pidEnd),
    text: textOf(bytes, fields.textStart, fields.end),
  };
}

/** Where bytes[start, end) ends without the LF (5424 templates), CR, NUL and trailing spaces that framing and senders leave. */
function trimmedEnd(bytes: Uint8Array, start: number, end: number): number {
  while (end > start) {
    const c = bytes[end - 1];
    if (c !== 10 && c !== 13 && c !== 0 && c !== SP) break;
    end--;
  }
  return end;
}

function isDigit(c: number): boolean {
  return c >= 48 && c <= 57;
}

function digitsValue(text: Uint8Array, from: number, to: number): number {
  if (to <= from) return -1;
  let value = 0;
  for (let i = from; i < to; i++) {
    const c = text[i];
    if (!isDigit(c)) return -1;
    value = value * 10 + c - 48;
  }
  return value;
}

function skipSpaces(line: Uint8Array, pos: number, end: number): number {
  while (pos < end && line[pos] === SP) pos++;
  return pos;
}

function tokenEnd(line: Uint8Array, view: DataView, pos: number, end: number): number {
  const space = spaceIn(line, view, pos, end);
  return space < 0 ? end : space;
}

// ---------------------------------------------------------------- RFC 5424

/** Whether line[from, to) is the NILVALUE `-`. */
function isNil(line: Uint8Array, from: number, to: number): boolean {
  return to === from + 1 && line[from] === 45; /* - */
}

/** End of STRUCTURED-DATA (`-` or `[…]…`, with `\"`, `\\` and `\]` escapes in values), or -1. */
function structuredDataEnd(line: Uint8Array, pos: number, end: number): number {
  if (pos >= end) return -1;
  if (line[pos] === 45 /* - */) return pos + 1;
  if (line[pos] !== 91 /* [ */) return -1;
  while (pos < end && line[pos] === 91) {
    let inValue = false;
    pos++;
    for (;;) {
      if (pos >= end) return -1;
      const c = line[pos];
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

/** Host names and literal addresses: letters, digits, `.`, `-`, `_`, `:` and no trailing `:`. */
function looksLikeHostname(line: Uint8Array, from: number, to: number): boolean {
  for (let i = from; i < to; i++) {
    const c = line[i];
    const ok = (c >= 97 && c <= 122) || (c >= 65 && c <= 90) || isDigit(c) || c === 46 || c === 45 || c === 95 || c === 58;
    if (!ok) return false;
  }
  return line[to - 1] !== 58;
}

/**
 * Unix ms of a UTC date and time, `month` 0 to 11; a day past its month's end runs on into the
 * next, as with Date.UTC (whose years 0 to 99 mean 1900 to 1999; here a year is the year).
 */
export function utcMs(year: number, month: number, day: number, hour: number, minute: number, second: number): number {
  return daysFromCivil(year, month, day) * 86_400_000 + hour * 3_600_000 + minute * 60_000 + second * 1000;
}

/**
 * Days from 1970-01-01 to a date of the Gregorian calendar (Howard Hinnant's days_from_civil), in
 * arithmetic that every date runs through alike. A cache of the last days asked took another way
 * on the first line of a new day, a way the compiled code had never seen taken: the tenth of the
 * month, or a log's second day, threw away the decoder's compiled code and had it compiled again.
 */
function daysFromCivil(year: number, month: number, day: number): number {
  // The year counted from March, so that February's leap day ends it, and five eras of 400 years
  // on, so that it is never negative: every division then truncates (`| 0`), which V8 compiles
  // as integer division whatever its first results were (a quotient that had always come out
  // whole was compiled as one, and the first that did not threw the code away).
  const beforeMarch = month < 2 ? 1 : 0;
  const y = year - beforeMarch + 5 * 400;
  const era = (y / 400) | 0;
  const yearOfEra = y - era * 400;
  const monthFromMarch = month + 12 * beforeMarch - 2;
  const dayOfYear = (((153 * monthFromMarch + 2) / 5) | 0) + day - 1;
  const dayOfEra = yearOfEra * 365 + ((yearOfEra / 4) | 0) - ((yearOfEra / 100) | 0) + dayOfYear;
  return (era - 5) * 146_097 + dayOfEra - 719_468;
}

/** A digit's value, or a negative number large enough that a two-digit value built on it stays negative. */
function digitAt(text: Uint8Array, at: number): number {
  const c = text[at];
  return c >= 48 && c <= 57 ? c - 48 : -1000;
}

/**
 * Reads syslog headers: `scan` finds the fields of a line and leaves them in this object's
 * ScannedLine fields, as offsets into the bytes it was given, which hold the line (and may hold
 * others around it); the message text runs to `end`, the line's end without its trailer. They are
 * overwritten by every call and read only after one that accepted: the decoder's hot path reads
 * the fields in place instead of slicing them out, and no result object is made a line. One
 * scanner a decoder (each thread has its own); its cache of the year is its own.
 */
export class SyslogScanner implements ScannedLine {
  end = 0;
  facility = 0;
  severity = 0;
  timestamp: number | null = null;
  subSecond = false;
  hostStart = -1;
  hostEnd = -1;
  tagStart = 0;
  tagEnd = 0;
  pidStart = -1;
  pidEnd = -1;
  textStart = 0;

  /** the UTC year of the last time asked, and the span it holds */
  private yearOf = { from: 0, to: -1, year: 0 };
  /** where scan5424 found its header fields */
  private readonly fieldStarts = new Int32Array(5);
  private readonly fieldEnds = new Int32Array(5);
  /** where parseBsdTimestamp's timestamp ended */
  private bsdEnd = 0;
  /** whether the last timestamp readRfc3339 accepted had a fraction of a second */
  private lastHadFraction = false;

  /**
   * Reads the header of the line bytes[start, end) (UTF-8) into this scanner's fields; null when accepted, else
   * why not. The line may be one of many in `bytes` (a batch): nothing is read outside it, and no
   * search runs past it, so a batch of hostile lines costs what its lines cost one by one. `view` is
   * `bytes` as a DataView, which a decoder makes once for a batch.
   */
  scan(bytes: Uint8Array, start: number, end: number, now: number, allowMissingPri: boolean, view = viewOf(bytes)): ParseRejection | null {
    end = trimmedEnd(bytes, start, end);
    if (end === start) return 'empty';
    let facility = 1; // user.notice when no PRI, as RFC 3164 section 4.3.3 suggests
    let severity = 5;
    let pos = start;
    if (bytes[start] === 60 /* < */) {
      const close = indexIn(bytes, 62 /* > */, start + 1, Math.min(end, start + 5));
      if (close < start + 2) return 'bad_pri';
      const pri = digitsValue(bytes, start + 1, close);
      if (pri < 0 || pri > 191) return 'bad_pri';
      facility = pri >> 3;
      severity = pri & 7;
      pos = close + 1;
    } else if (!allowMissingPri) {
      return 'no_pri';
    }
    const is5424 = pos + 1 < end && isDigit(bytes[pos]) && bytes[pos + 1] === SP && bytes[pos] !== 48;
    const rejected = is5424 ? this.scan5424(bytes, view, pos + 2, end) : this.scan3164(bytes, view, pos, end, now);
    if (rejected) return rejected;
    this.end = end;
    this.facility = facility;
    this.severity = severity;
    return null;
  }

  /** The header scanners fill the fields but for the line's end and PRI, which the caller sets. */
  private scan5424(line: Uint8Array, view: DataView, pos: number, end: number): ParseRejection | null {
    // TIMESTAMP HOSTNAME APP-NAME PROCID MSGID; several spaces between fields are tolerated.
    const starts = this.fieldStarts;
    const ends = this.fieldEnds;
    for (let i = 0; i < 5; i++) {
      pos = skipSpaces(line, pos, end);
      if (pos >= end) return 'bad_header';
      starts[i] = pos;
      pos = ends[i] = tokenEnd(line, view, pos, end);
    }
    pos = skipSpaces(line, pos, end);
    const sdEnd = structuredDataEnd(line, pos, end);
    if (sdEnd < 0) return 'bad_header';
    const noTime = isNil(line, starts[0], ends[0]);
    const timestamp = noTime ? null : this.readRfc3339(line, starts[0], ends[0]);
    if (timestamp !== null && Number.isNaN(timestamp)) return 'bad_header';
    if (isNil(line, starts[2], ends[2])) return 'no_tag';
    let textStart = skipSpaces(line, sdEnd, end);
    if (textStart + 2 < end && line[textStart] === 0xef && line[textStart + 1] === 0xbb && line[textStart + 2] === 0xbf) textStart += 3; // BOM
    this.timestamp = timestamp;
    this.subSecond = noTime ? false : this.lastHadFraction;
    const noHost = isNil(line, starts[1], ends[1]);
    this.hostStart = noHost ? -1 : starts[1];
    this.hostEnd = noHost ? -1 : ends[1];
    this.tagStart = starts[2];
    this.tagEnd = ends[2];
    const noPid = isNil(line, starts[3], ends[3]);
    this.pidStart = noPid ? -1 : starts[3];
    this.pidEnd = noPid ? -1 : ends[3];
    this.textStart = textStart;
    return null;
  }

  private scan3164(line: Uint8Array, view: DataView, pos: number, lineEnd: number, now: number): ParseRejection | null {
    pos = skipSpaces(line, pos, lineEnd);
    let timestamp: number | null = null;
    let subSecond = false;
    if (pos + 4 < lineEnd && isDigit(line[pos]) && line[pos + 4] === 45 /* - */) {
      const end = tokenEnd(line, view, pos, lineEnd);
      timestamp = this.readRfc3339(line, pos, end);
      if (Number.isNaN(timestamp)) return 'bad_header';
      subSecond = this.lastHadFraction;
      pos = skipSpaces(line, end, lineEnd);
    } else {
      const ms = this.parseBsdTimestamp(line, pos, lineEnd, now);
      if (!Number.isNaN(ms)) {
        timestamp = ms;
        pos = skipSpaces(line, this.bsdEnd, lineEnd);
      }
    }
    // HOSTNAME, unless the token already looks like a tag (the host-less local-socket format).
    let hostStart = -1;
    let hostEnd = -1;
    let end = tokenEnd(line, view, pos, lineEnd);
    if (end < lineEnd && looksLikeHostname(line, pos, end)) {
      hostStart = pos;
      hostEnd = end;
      pos = skipSpaces(line, end, lineEnd);
      end = tokenEnd(line, view, pos, lineEnd);
    }
    if (pos >= lineEnd) return 'no_tag';
    const tagEnd = this.splitTag(line, pos, end);
    if (tagEnd === pos) return 'no_tag';
    this.timestamp = timestamp;
    this.subSecond = subSecond;
    this.hostStart = hostStart;
    this.hostEnd = hostEnd;
    this.tagStart = pos;
    this.tagEnd = tagEnd;
    this.textStart = skipSpaces(line, end, lineEnd);
    return null;
  }

  /**
   * `tag[pid]:` in line[from, to) → the tag's end, with the pid's bounds in this.pidStart/pidEnd;
   * tolerates a missing `:`, `]` or the whole `[pid]` (the 32-character cut). In `name(host)[pid]`
   * the pid bracket comes after the `)`, since a host may hold `[::1]`.
   */
  private splitTag(line: Uint8Array, from: number, to: number): number {
    this.pidStart = -1;
    this.pidEnd = -1;
    const end = line[to - 1] === 58 /* : */ ? to - 1 : to;
    let searchFrom = from + 1;
    if (indexIn(line, 40 /* ( */, from, to) >= 0) {
      const close = lastIndexIn(line, 41 /* ) */, from, end);
      if (close < 0) return end;
      searchFrom = close + 1;
    }
    const open = indexIn(line, 91 /* [ */, searchFrom, end);
    if (open < 0) return end;
    const pidEnd = line[end - 1] === 93 /* ] */ ? end - 1 : end;
    if (pidEnd > open + 1) {
      this.pidStart = open + 1;
      this.pidEnd = pidEnd;
    }
    return open;
  }

  /**
   * `Mmm dd hh:mm:ss` (day space-padded), optionally followed by a year as rsyslog allows: unix ms
   * (its end in this.bsdEnd), or NaN.
   */
  private parseBsdTimestamp(line: Uint8Array, pos: number, end: number, now: number): number {
    const month = MONTH_BY_CODE.get(monthCode(line, pos));
    if (month === undefined || line[pos + 3] !== SP) return NO_TIME;
    let p = pos + 4;
    if (line[p] === SP) p++;
    // Both readings of the day are computed, one digit and two: a month's first nine days (code
    // compiled then) and the rest take the same arithmetic. An operation never run before the
    // code was compiled has no type feedback: the tenth of the month threw the code away.
    const oneDigit = digitAt(line, p);
    const twoDigits = oneDigit * 10 + digitAt(line, p + 1);
    const wide = line[p + 1] !== SP;
    const day = wide ? twoDigits : oneDigit;
    p += wide ? 2 : 1;
    // p + 8 is the last place read: a line that ends before it has no such timestamp, whatever follows it
    if (day < 1 || day > 31 || p + 9 > end || line[p] !== SP || line[p + 3] !== 58 || line[p + 6] !== 58) return NO_TIME;
    const hour = digitAt(line, p + 1) * 10 + digitAt(line, p + 2);
    const minute = digitAt(line, p + 4) * 10 + digitAt(line, p + 5);
    const second = digitAt(line, p + 7) * 10 + digitAt(line, p + 8);
    if (hour < 0 || hour > 23 || minute < 0 || minute > 59 || second < 0 || second > 60) return NO_TIME;
    p += 9;
    let year = this.utcYear(now);
    const explicitYear = p + 5 < end && line[p] === SP ? digitsValue(line, p + 1, p + 5) : -1;
    if (explicitYear >= 1970 && line[p + 5] === SP) {
      year = explicitYear;
      p += 5;
    }
    // No zone in a BSD timestamp: edgeban reads it as UTC. Without a year, a date more than a day in
    // the future belongs to last year (the New Year case).
    let ms = utcMs(year, month, day, hour, minute, second);
    if (explicitYear < 0 && ms > now + 86_400_000) ms = utcMs(year - 1, month, day, hour, minute, second);
    this.bsdEnd = p;
    return ms;
  }

  /** The UTC year of a time, without a Date for every line. */
  private utcYear(ms: number): number {
    if (ms < this.yearOf.from || ms >= this.yearOf.to) {
      const year = new Date(ms).getUTCFullYear();
      this.yearOf = { from: Date.UTC(year, 0, 1), to: Date.UTC(year + 1, 0, 1), year };
    }
    return this.yearOf.year;
  }

  /** RFC 3339 `YYYY-MM-DDThh:mm:ss[.frac](Z|±hh:mm)` in text[from, to) → unix ms, or NaN. Reads in place: no slice, no result object. */
  private readRfc3339(text: Uint8Array, from: number, to: number): number {
    if (to - from < 20 || text[from + 4] !== 45 || text[from + 7] !== 45) return NO_TIME;
    const t = text[from + 10];
    if ((t !== 84 && t !== 116) || text[from + 13] !== 58 || text[from + 16] !== 58) return NO_TIME;
    const year = digitsValue(text, from, from + 4);
    const month = digitsValue(text, from + 5, from + 7);
    const day = digitsValue(text, from + 8, from + 10);
    const hour = digitsValue(text, from + 11, from + 13);
    const minute = digitsValue(text, from + 14, from + 16);
    const second = digitsValue(text, from + 17, from + 19);
    if (year < 0 || month < 1 || month > 12 || day < 1 || day > 31 || hour < 0 || hour > 23) return NO_TIME;
    if (minute < 0 || minute > 59 || second < 0 || second > 60) return NO_TIME;
    let p = from + 19;
    let fraction = 0;
    let subSecond = false;
    if (text[p] === 46 /* . */) {
      let scale = 100;
      p++;
      const start = p;
      while (p < to && isDigit(text[p])) {
        fraction += (text[p] - 48) * scale;
        scale /= 10;
        p++;
      }
      if (p === start) return NO_TIME;
      subSecond = true;
    }
    let offsetMinutes = 0;
    const z = text[p];
    if (z === 90 || z === 122) {
      p++;
    } else if ((z === 43 || z === 45) && text[p + 3] === 58) {
      const oh = digitsValue(text, p + 1, p + 3);
      const om = digitsValue(text, p + 4, p + 6);
      if (oh < 0 || oh > 23 || om < 0 || om > 59) return NO_TIME;
      offsetMinutes = (z === 45 ? -1 : 1) * (oh * 60 + om);
      p += 6;
    } else {
      return NO_TIME;
    }
    if (p !== to) return NO_TIME;
    this.lastHadFraction = subSecond;
    return utcMs(year, month - 1, day, hour, minute, second) + Math.floor(fraction) - offsetMinutes * 60_000;
  }
}
