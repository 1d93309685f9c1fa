import type { Readable, Writable } from 'node:stream';
import type { Config } from './config/schema';
import { createPolicy, Pipeline } from './pipeline';
import type { BanOrder } from './policy/policy';
import type { WpEvent } from './wordpress/recognise';

export interface ReplayOptions {
  json: boolean;
  events: boolean;
  /** reference time for BSD timestamps without a year */
  now?: number;
}

/** A frame written as `LEN <PRI>…` (octet-counted) on a line of its own. */
function stripOctetCount(line: string): string {
  let i = 0;
  while (i < 10 && line.charCodeAt(i) >= 48 && line.charCodeAt(i) <= 57) i++;
  return i > 0 && line.charCodeAt(i) === 32 && line.charCodeAt(i + 1) === 60 ? line.slice(i + 1) : line;
}

/**
 * Calls `each` for every line of a stream (LF or CR LF), a chunk at a time: a per-line async
 * iterator costs more than the parsing. Waits for `each`'s promise only when it returns one.
 */
async function forEachLine(input: Readable, each: (line: string) => Promise<void> | void): Promise<void> {
  let carry = '';
  input.setEncoding('utf8'); // decodes across chunk boundaries, so split UTF-8 characters survive
  for await (const chunk of input) {
    const text = carry + (typeof chunk === 'string' ? chunk : (chunk as Buffer).toString('utf8'));
    let start = 0;
    for (let end = text.indexOf('\n'); end >= 0; end = text.indexOf('\n', start)) {
      const pending = each(text.charCodeAt(end - 1) === 13 ? text.slice(start, end - 1) : text.slice(start, end));
      if (pending) await pending;
      start = end + 1;
    }
    carry = text.slice(start);
  }
  if (carry) {
    const pending = each(carry);
    if (pending) await pending;
  }
}

/** Collects output and writes it in large pieces, waiting when the reader is slow. */
class BufferedOutput {
  private parts: string[] = [];
  private size = 0;

  constructor(private readonly output: Writable) {}

  /** Returns a promise only when the output must drain first. */
  line(text: string): Promise<void> | undefined {
    this.parts.push(text, '\n');
    this.size += text.length + 1;
    return this.size >= 65_536 ? this.flush() : undefined;
  }

  async flush(): Promise<void> {
    if (this.parts.length === 0) return;
    const ok = this.output.write(this.parts.join(''));
    this.parts = [];
    this.size = 0;
    if (!ok) await new Promise<void>((resolve) => this.output.once('drain', () => resolve()));
  }
}

/**
 * Feeds lines (auth.log style, or raw frames one a line) through parser, recogniser and policy,
 * on the lines' own clock, and writes what it would ban. Nothing goes to Cloudflare.
 */
export async function replay(config: Config, input: Readable, output: Writable, options: ReplayOptions): Promise<Pipeline['stats']> {
  const pipeline = new Pipeline(createPolicy(config), 'message', true);
  const now = options.now ?? Date.now();
  const out = new BufferedOutput(output);
  const print = (text: string) => out.line(text);
  await forEachLine(input, (raw) => {
    const outcome = pipeline.handle(stripOctetCount(raw), now);
    if (outcome.type !== 'event') return;
    let pending: Promise<void> | undefined;
    if (options.events) pending = print(options.json ? eventJson(outcome.event, outcome.ignored) : eventText(outcome.event, outcome.ignored));
    for (const order of outcome.orders) pending = print(options.json ? banJson(order) : banText(order)) ?? pending;
    return pending;
  });
  const { stats } = pipeline;
  const ignored = stats.ignored.toObject();
  for (const [reason, count] of stats.rejected.entries()) if (reason !== 'not_wordpress') ignored[reason] = count;
  if (options.json) {
    await print(JSON.stringify({ type: 'summary', lines: stats.lines, events: stats.events, bans: stats.bans, ignored, classes: stats.classes.toObject() }));
  } else {
    await print(`${stats.lines} lines, ${stats.events} events, ${stats.bans} bans`);
    for (const [reason, count] of Object.entries(ignored)) await print(`  ignored ${reason}: ${count}`);
  }
  await out.flush();
  return stats;
}

function eventJson(event: WpEvent, ignored: string | null): string {
  const out: Record<string, unknown> = { type: 'event', kind: event.kind, class: event.class, address: event.address, site: event.site };
  if (ignored) out.ignored = ignored;
  return JSON.stringify(out);
}

/** The same text as JSON.stringify of the object, at a fraction of the cost (one per ban). */
function banJson(order: BanOrder): string {
  return `{"type":"ban","key":"${order.key}","jail":${jsonString(order.jail)},"action":"${order.action}","until":${order.until},"site":${order.site === null ? 'null' : jsonString(order.site)}}`;
}

const jsonStrings = new Map<string, string>();

/** JSON text of a site or jail name; these repeat, so each is encoded once. */
function jsonString(text: string): string {
  let json = jsonStrings.get(text);
  if (json === undefined) {
    json = JSON.stringify(text);
    if (jsonStrings.size < 10_000) jsonStrings.set(text, json);
  }
  return json;
}

function eventText(event: WpEvent, ignored: string | null): string {
  return `event ${event.kind} (${event.class}) ${event.address} site=${event.site ?? '-'}${ignored ? ` ignored=${ignored}` : ''}`;
}

function banText(order: BanOrder): string {
  return `ban ${order.key} jail=${order.jail} action=${order.action} for ${order.duration}s until ${new Date(order.until * 1000).toISOString()}`;
}
