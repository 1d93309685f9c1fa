/**
 * Reading lines as bytes. The decoder scans a line's UTF-8 bytes where they arrived and makes no
 * string of it: a JavaScript loop over a Uint8Array runs at about twice the speed of one over a
 * string's charCodeAt, and a string a line cost as much again (measured). Every structural
 * character of syslog and of WP fail2ban's messages is ASCII, and UTF-8 never puts an ASCII byte
 * inside a multi-byte character, so scanning bytes finds what scanning the decoded text finds.
 *
 * Searches are loops bounded by the line's end: a batch holds many lines, and a native search
 * would run on past the line (a batch of hostile lines would cost its length squared).
 */

export const SP = 32;

/** The first index of byte `c` in bytes[from, to), or -1. */
export function indexIn(bytes: Uint8Array, c: number, from: number, to: number): number {
  for (let i = from; i < to; i++) if (bytes[i] === c) return i;
  return -1;
}

/**
 * The index of the first space in bytes[from, to), or -1; `view` is `bytes` as a DataView (viewOf).
 * Reads four bytes at a time while they hold no space: a word XOR four spaces has a zero byte
 * exactly where a space was, and (x - 0x01010101) & ~x & 0x80808080 is non-zero exactly when x has
 * a zero byte. A tag of fifty bytes is then a dozen steps, not fifty.
 */
export function spaceIn(bytes: Uint8Array, view: DataView, from: number, to: number): number {
  let i = from;
  for (; i + 4 <= to; i += 4) {
    const x = view.getUint32(i, true) ^ 0x20202020;
    if ((((x - 0x01010101) | 0) & ~x & 0x80808080) !== 0) break;
  }
  for (; i < to; i++) if (bytes[i] === SP) return i;
  return -1;
}

/** The last index of byte `c` in bytes[from, to), or -1. */
export function lastIndexIn(bytes: Uint8Array, c: number, from: number, to: number): number {
  for (let i = to - 1; i >= from; i--) if (bytes[i] === c) return i;
  return -1;
}

/** Whether `pattern` is in bytes[at, end) at `at`. */
export function bytesAt(bytes: Uint8Array, pattern: Uint8Array, at: number, end: number): boolean {
  const n = pattern.length;
  if (at < 0 || at + n > end) return false;
  for (let k = 0; k < n; k++) if (bytes[at + k] !== pattern[k]) return false;
  return true;
}

/** `bytes` as a DataView, to compare four bytes at a time (viewAt). */
export function viewOf(bytes: Uint8Array): DataView {
  return new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
}

/**
 * bytesAt, four bytes at a time, for the long patterns every line is compared with (a template's
 * prefix, a tag): `view` is the bytes compared as a DataView, `pattern` the pattern's. A DataView
 * reads four bytes wherever they start, in one load; the views are made once (a batch's or a
 * chunk's before its lines are decoded, a pattern's when it is), as one made for each call costs
 * more than the bytes it saves.
 */
export function viewAt(view: DataView, pattern: DataView, at: number, end: number): boolean {
  const n = pattern.byteLength;
  if (at < 0 || at + n > end) return false;
  let k = 0;
  for (; k + 4 <= n; k += 4) if (view.getUint32(at + k, true) !== pattern.getUint32(k, true)) return false;
  for (; k < n; k++) if (view.getUint8(at + k) !== pattern.getUint8(k)) return false;
  return true;
}

/** Whether bytes[from, end) ends with `pattern`. */
export function endsWithAt(bytes: Uint8Array, pattern: Uint8Array, from: number, end: number): boolean {
  return end - pattern.length >= from && bytesAt(bytes, pattern, end - pattern.length, end);
}

/**
 * The same memory as a plain Uint8Array. The scanning functions here are compiled for the one kind
 * of array they meet; a Buffer is another kind to V8 (another map), and meeting both throws their
 * optimised code away and compiles it again, in the middle of the first megabytes of a replay.
 */
export function plainBytes(view: Uint8Array): Uint8Array<ArrayBuffer> {
  return new Uint8Array(view.buffer as ArrayBuffer, view.byteOffset, view.byteLength);
}

/** An ASCII constant as bytes. */
export function ascii(text: string): Uint8Array {
  return Uint8Array.from(text, (c) => c.charCodeAt(0));
}

/** bytes[from, to) decoded as UTF-8 (invalid sequences as U+FFFD), for the few fields kept as text. */
export function textOf(bytes: Uint8Array, from: number, to: number): string {
  return Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength).toString('utf8', from, to);
}

/** Index after the digits starting at `from` (and before `end`), or -1 when there are none. */
export function skipDigits(bytes: Uint8Array, from: number, end: number): number {
  let i = from;
  while (i < end && bytes[i] >= 48 && bytes[i] <= 57) i++;
  return i > from ? i : -1;
}
