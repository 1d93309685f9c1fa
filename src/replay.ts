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

/** Lines of a stream (LF or CR LF), in chunks: much faster than readline on big files. */
async function* lines(input: Readable): AsyncGenerator<string> {
  let carry = '';
  input.setEncoding('utf8'); // decodes across chunk boundaries, so split UTF-8 characters survive
  for await (const chunk of input) {
    const text = carry + (typeof chunk === 'string' ? chunk : (chunk as Buffer).toString('utf8'));
    let start = 0;
    for (let end = text.indexOf('\n'); end >= 0; end = text.indexOf('\n', start)) {
      yield text.charCodeAt(end - 1) === 13 ? text.slice(start, end - 1) : text.slice(start, end);
      start = end + 1;
    }
    carry = text.slice(start);
  }
  if (carry) yield carry;
}

/** Collects output and writes it in large pieces, waiting when the reader is slow. */
class BufferedOutput {
  private parts: string[] = [];
  private size = 0;

  constructor(private readonly output: Writable) {}

  async line(text: string): Promise<void> {
    this.parts.push(text, '\n');
    this.size += text.length + 1;
    if (this.size >= 65_536) await this.flush();
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
  for await (const raw of lines(input)) {
    const outcome = pipeline.handle(stripOctetCount(raw), now);
    if (outcome.type !== 'event') continue;
    if (options.events) await print(options.json ? eventJson(outcome.event, outcome.ignored) : eventText(outcome.event, outcome.ignored));
    for (const order of outcome.orders) await print(options.json ? banJson(order) : banText(order));
  }
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

function banJson(order: BanOrder): string {
  return JSON.stringify({ type: 'ban', key: order.key, jail: order.jail, action: order.action, until: order.until, site: order.site });
}

function eventText(event: WpEvent, ignored: string | null): string {
  return `event ${event.kind} (${event.class}) ${event.address} site=${event.site ?? '-'}${ignored ? ` ignored=${ignored}` : ''}`;
}

function banText(order: BanOrder): string {
  return `ban ${order.key} jail=${order.jail} action=${order.action} for ${order.duration}s until ${new Date(order.until * 1000).toISOString()}`;
}
