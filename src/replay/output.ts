import type { Writable } from 'node:stream';
import { formatIp } from '../address/ip';
import type { BanOrder } from '../policy/policy';
import type { ShieldOrder } from '../policy/shield-watch';
import type { WpEvent } from '../wordpress/recognise';

const CHUNK = 65_536;
/** A line's end flushes once this much is waiting. */
const FLUSH_AT = CHUNK - 4096;

/**
 * Replay's output, written as bytes into 64 KiB buffers that go to the stream whole. A replay may
 * print half a million bans: built as strings, joined and encoded, their output cost more than
 * deciding them. Text goes in a character at a time while it is ASCII (cheaper than a native call
 * for the short pieces of a line), and as UTF-8 from its first other character.
 */
export class ByteOutput {
  private buffer = Buffer.allocUnsafeSlow(CHUNK);
  private length = 0;
  private draining: Promise<void> | null = null;

  constructor(private readonly output: Writable) {}

  text(text: string): void {
    const n = text.length;
    // a UTF-16 unit is at most 3 bytes of UTF-8 (a pair, 2 units, is 4)
    if (this.length + n * 3 > CHUNK) {
      this.write();
      if (n * 3 > CHUNK) {
        this.output.write(text);
        return;
      }
    }
    const buffer = this.buffer;
    let at = this.length;
    for (let i = 0; i < n; i++) {
      const c = text.charCodeAt(i);
      if (c >= 0x80) {
        at += buffer.write(text.slice(i), at, 'utf8');
        break;
      }
      buffer[at++] = c;
    }
    this.length = at;
  }

  /** Appends bytes as they are (a line's parts that repeat, encoded once). */
  bytes(bytes: Uint8Array): void {
    if (this.length + bytes.length > CHUNK) {
      this.write();
      if (bytes.length > CHUNK) {
        this.output.write(Buffer.from(bytes));
        return;
      }
    }
    this.buffer.set(bytes, this.length);
    this.length += bytes.length;
  }

  /** A non-negative integer's digits, or its text when it is anything else. */
  integer(value: number): void {
    if (!Number.isSafeInteger(value) || value < 0) return this.text(String(value));
    if (this.length + 16 > CHUNK) this.write();
    let digits = 1;
    for (let rest = value; rest >= 10; rest = Math.floor(rest / 10)) digits++;
    const end = this.length + digits;
    let at = end;
    let rest = value;
    do {
      this.buffer[--at] = 48 + (rest % 10);
      rest = Math.floor(rest / 10);
    } while (rest > 0);
    this.length = end;
  }

  /** Text and the end of its line; as lineEnd, a promise when the output must drain first. */
  line(text: string): Promise<void> | undefined {
    this.text(text);
    return this.lineEnd();
  }

  /** Ends a line. Returns a promise only when the output must drain first. */
  lineEnd(): Promise<void> | undefined {
    if (this.length === CHUNK) this.write();
    this.buffer[this.length++] = 10;
    return this.length >= FLUSH_AT ? this.flush() : undefined;
  }

  /** Writes what is collected; the promise settles when the output has room again (one wait, however many flushes). */
  flush(): Promise<void> {
    this.write();
    return this.draining ?? Promise.resolve();
  }

  private write(): void {
    if (this.length === 0) return;
    // The stream keeps the buffer until it is written out: the next bytes go into a new one.
    const ok = this.output.write(this.buffer.subarray(0, this.length));
    this.buffer = Buffer.allocUnsafeSlow(CHUNK);
    this.length = 0;
    if (!ok) this.draining ??= new Promise<void>((resolve) => this.output.once('drain', () => resolve())).finally(() => (this.draining = null));
  }
}

const encoded = (text: string) => new Uint8Array(Buffer.from(text, 'utf8'));
const BAN_HEAD = encoded('{"type":"ban","key":"');
const MAX_SITE_PARTS = 10_000;

/**
 * Bans as lines of JSON: the same text as JSON.stringify of the object. Built from the bytes of
 * the parts that repeat, copied whole: with half a million bans, encoding each line anew cost more
 * than deciding it. One writer a replay, as it keeps those parts.
 */
export class BanJsonWriter {
  /** the bytes between key and until, by jail and action, and after until, by site */
  private readonly jailParts = new Map<string, Map<string, Uint8Array>>();
  private readonly siteParts = new Map<string | null, Uint8Array>();

  write(out: ByteOutput, order: BanOrder): Promise<void> | undefined {
    out.bytes(BAN_HEAD);
    out.text(order.key);
    out.bytes(this.jailPart(order.jail, order.action));
    out.integer(order.until);
    out.bytes(this.sitePart(order.site));
    return out.lineEnd();
  }

  private jailPart(jail: string, action: string): Uint8Array {
    let byAction = this.jailParts.get(jail);
    if (!byAction) this.jailParts.set(jail, (byAction = new Map()));
    let part = byAction.get(action);
    if (!part) byAction.set(action, (part = encoded(`","jail":${JSON.stringify(jail)},"action":${JSON.stringify(action)},"until":`)));
    return part;
  }

  private sitePart(site: string | null): Uint8Array {
    let part = this.siteParts.get(site);
    if (!part) {
      part = encoded(`,"site":${JSON.stringify(site)}}`);
      if (this.siteParts.size < MAX_SITE_PARTS) this.siteParts.set(site, part);
    }
    return part;
  }
}

export function banText(order: BanOrder): string {
  return `ban ${order.key} jail=${order.jail} action=${order.action} for ${order.duration}s until ${new Date(order.until * 1000).toISOString()}`;
}

export function shieldJson(shield: ShieldOrder): string {
  return JSON.stringify({ type: 'shield', site: shield.site, action: shield.action, until: shield.until });
}

export function shieldText(shield: ShieldOrder): string {
  return `shield ${shield.site} action=${shield.action} until ${new Date(shield.until * 1000).toISOString()}`;
}

export function eventJson(event: WpEvent, ignored: string | null): string {
  const out: Record<string, unknown> = { type: 'event', kind: event.kind, class: event.class, address: formatIp(event.ip), site: event.site };
  if (ignored) out.ignored = ignored;
  return JSON.stringify(out);
}

export function eventText(event: WpEvent, ignored: string | null): string {
  return `event ${event.kind} (${event.class}) ${formatIp(event.ip)} site=${event.site ?? '-'}${ignored ? ` ignored=${ignored}` : ''}`;
}
