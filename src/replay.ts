import type { Readable, Writable } from 'node:stream';
import type { Config } from './config/schema';
import { DecodeThread } from './ingest/decode-thread';
import { FramePacker } from './ingest/frame-batch';
import { createPolicy, Decoded, Pipeline } from './pipeline';
import type { BanOrder } from './policy/policy';
import type { WpEvent } from './wordpress/recognise';

export interface ReplayOptions {
  json: boolean;
  events: boolean;
  /** reference time for BSD timestamps without a year */
  now?: number;
}

/** A frame written as `LEN <PRI>…` (octet-counted) on a line of its own: the frame. */
function stripOctetCount(line: Buffer): Buffer {
  let i = 0;
  while (i < 10 && line[i] >= 48 && line[i] <= 57) i++;
  return i > 0 && line[i] === 32 && line[i + 1] === 60 ? line.subarray(i + 1) : line;
}

/**
 * The lines of a stream (LF or CR LF) as bytes, a chunk's worth at a time. Splitting bytes at LF
 * is safe for UTF-8 (no multi-byte character holds one); each line is decoded where it is parsed.
 */
async function* lineChunks(input: Readable): AsyncGenerator<Buffer[]> {
  let carry: Buffer | null = null;
  for await (const chunk of input) {
    const bytes: Buffer = carry ? Buffer.concat([carry, chunk as Buffer]) : (chunk as Buffer);
    const lines: Buffer[] = [];
    let start = 0;
    for (let end = bytes.indexOf(10); end >= 0; end = bytes.indexOf(10, start)) {
      lines.push(bytes.subarray(start, end > start && bytes[end - 1] === 13 ? end - 1 : end));
      start = end + 1;
    }
    carry = start < bytes.length ? Buffer.from(bytes.subarray(start)) : null;
    yield lines;
  }
  if (carry) yield [carry];
}

/** Collects output and writes it in large pieces, waiting when the reader is slow. */
class BufferedOutput {
  private parts: string[] = [];
  private size = 0;
  private draining: Promise<void> | null = null;

  constructor(private readonly output: Writable) {}

  /** Returns a promise only when the output must drain first. */
  line(text: string): Promise<void> | undefined {
    this.parts.push(text, '\n');
    this.size += text.length + 1;
    return this.size >= 65_536 ? this.flush() : undefined;
  }

  /** Writes what is collected; the promise settles when the output has room again (one wait, however many flushes). */
  flush(): Promise<void> {
    if (this.parts.length > 0) {
      const ok = this.output.write(this.parts.join(''));
      this.parts = [];
      this.size = 0;
      if (!ok) this.draining ??= new Promise<void>((resolve) => this.output.once('drain', () => resolve())).finally(() => (this.draining = null));
    }
    return this.draining ?? Promise.resolve();
  }
}

/** Lines waiting in the decode thread before reading stops for a while. */
const REPLAY_BACKLOG = 100_000;

/**
 * Feeds lines (auth.log style, or raw frames one a line) through parser, recogniser and policy,
 * on the lines' own clock, and writes what it would ban. Nothing goes to Cloudflare. Parsing and
 * recognition run in the decode thread while this thread keeps the policy and the output, in the
 * lines' order.
 */
export async function replay(config: Config, input: Readable, output: Writable, options: ReplayOptions): Promise<Pipeline['stats']> {
  const pipeline = new Pipeline(createPolicy(config), 'message', true);
  const now = options.now ?? Date.now();
  const out = new BufferedOutput(output);
  const print = (text: string) => out.line(text);
  let printing: Promise<void> | undefined;
  const decoding = new DecodeThread(pipeline.decoder, () => undefined);
  const ready = decoding.start(); // meanwhile the input is opened, and an error in it is ours to report
  const show = (decoded: Decoded[]) => {
    for (const line of decoded) {
      const outcome = pipeline.account(line);
      if (outcome.type !== 'event') continue;
      if (options.events) printing = print(options.json ? eventJson(outcome.event, outcome.ignored) : eventText(outcome.event, outcome.ignored)) ?? printing;
      for (const order of outcome.orders) printing = print(options.json ? banJson(order) : banText(order)) ?? printing;
    }
  };
  const packer = new FramePacker();
  const submit = () => decoding.submit({ ...packer.take(), mayRepeat: true }, show);
  try {
    for await (const lines of lineChunks(input)) {
      await ready;
      for (const line of lines) {
        const frame = stripOctetCount(line);
        if (!packer.fits(frame.length)) submit();
        packer.add(frame, now);
      }
      if (packer.size > 0) submit();
      await decoding.below(REPLAY_BACKLOG);
      if (printing) await printing; // a slow reader holds the replay
      printing = undefined;
    }
    await decoding.below(0);
  } finally {
    await decoding.stop();
  }
  if (printing) await printing;
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
