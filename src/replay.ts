import { createInterface } from 'node:readline';
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
 * Feeds lines (auth.log style, or raw frames one a line) through parser, recogniser and policy,
 * on the lines' own clock, and writes what it would ban. Nothing goes to Cloudflare.
 */
export async function replay(config: Config, input: Readable, output: Writable, options: ReplayOptions): Promise<Pipeline['stats']> {
  const pipeline = new Pipeline(createPolicy(config), 'message', true);
  const now = options.now ?? Date.now();
  const print = (text: string) => output.write(`${text}\n`);
  const lines = createInterface({ input, crlfDelay: Infinity });
  for await (const raw of lines) {
    const outcome = pipeline.handle(stripOctetCount(raw), now);
    if (outcome.type !== 'event') continue;
    if (options.events) print(options.json ? eventJson(outcome.event, outcome.ignored) : eventText(outcome.event, outcome.ignored));
    for (const order of outcome.orders) print(options.json ? banJson(order) : banText(order));
  }
  const { stats } = pipeline;
  const ignored = stats.ignored.toObject();
  for (const [reason, count] of stats.rejected.counts) if (reason !== 'not_wordpress') ignored[reason] = count;
  if (options.json) {
    print(JSON.stringify({ type: 'summary', lines: stats.lines, events: stats.events, bans: stats.bans, ignored }));
  } else {
    print(`${stats.lines} lines, ${stats.events} events, ${stats.bans} bans`);
    for (const [reason, count] of Object.entries(ignored)) print(`  ignored ${reason}: ${count}`);
  }
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
