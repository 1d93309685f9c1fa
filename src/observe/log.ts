import { createHmac, randomBytes } from 'node:crypto';
import pino from 'pino';
import { parseIp } from '../address/ip';

export type AddressMode = 'pseudonymize' | 'omit' | 'plain';

/**
 * How addresses appear in logs. `pseudonymize` is a keyed hash whose key is made at start and never
 * stored: one run's lines can be correlated, not reversed, and not linked across restarts.
 */
export class AddressMask {
  private readonly key = randomBytes(32);

  constructor(public mode: AddressMode) {}

  /**
   * An address or a ban key as the log may show it. A key of one address (`/32`, `/128`) is that
   * address: one client has one pseudonym a run, in its event lines and its ban lines alike.
   */
  show(address: string): string {
    switch (this.mode) {
      case 'plain':
        return address;
      case 'omit':
        return '-';
      default:
        return this.pseudonym(address);
    }
  }

  /** The address's pseudonym whatever the mode: the same one the log shows in `pseudonymize`. */
  pseudonym(address: string): string {
    return `~${createHmac('sha256', this.key).update(singleAddress(address)).digest('hex').slice(0, 12)}`;
  }

  /**
   * Free text that may hold addresses (an API error, an exception's message) with each address,
   * or prefix, shown as `show` shows it. Not for the hot path: a regular expression finds them.
   */
  scrub(text: string): string {
    if (this.mode === 'plain') return text;
    return text.replace(ADDRESS_LIKE, (match) => (parseIp(match.split('/')[0]) ? this.show(match) : match));
  }
}

/** IPv4 dotted quads and IPv6 hex-and-colon runs (two colons at least), with an optional prefix length. */
const ADDRESS_LIKE =
  /(?:\b\d{1,3}(?:\.\d{1,3}){3}\b|(?<![\w:])[0-9A-Fa-f]{0,4}(?::[0-9A-Fa-f]{0,4}){2,7}(?:\d{1,3}(?:\.\d{1,3}){3})?(?![\w:.]))(?:\/\d{1,3})?/g;

function singleAddress(key: string): string {
  if (key.endsWith('/32') && !key.includes(':')) return key.slice(0, -3);
  if (key.endsWith('/128')) return key.slice(0, -4);
  return key;
}

export type Logger = pino.Logger;

export type LogFormat = 'json' | 'pretty';

/**
 * pino to stdout (systemd's journal takes it from there); nothing is written to a file. `json` is
 * for machines (the journal, a collector), `pretty` for a person at a terminal: the default picks
 * by whether stdout is one.
 */
export function createLogger(
  level = process.env.EDGEBAN_LOG_LEVEL ?? 'info',
  destination?: pino.DestinationStream,
  format: LogFormat = process.stdout.isTTY ? 'pretty' : 'json',
): Logger {
  const out =
    destination ?? (format === 'pretty' ? { write: (line: string) => process.stdout.write(prettyLine(line)) } : pino.destination({ fd: 1, sync: false }));
  return pino({ level, base: { name: 'edgeban' }, timestamp: pino.stdTimeFunctions.isoTime, formatters: { level: (label) => ({ level: label }) } }, out);
}

/** One of pino's JSON lines as a person reads it: `12:03:04.567 WARN  message  key=value …`. */
export function prettyLine(json: string): string {
  let entry: Record<string, unknown>;
  try {
    entry = JSON.parse(json) as Record<string, unknown>;
  } catch {
    return json; // not a line pino wrote: as it came
  }
  const { time, level, msg, name: _name, ...fields } = entry;
  const clock = typeof time === 'string' ? time.slice(11, 23) : '';
  const rest = Object.entries(fields).map(([key, value]) => `${key}=${typeof value === 'string' ? value : JSON.stringify(value)}`);
  return `${[
    clock,
    String(level ?? '')
      .toUpperCase()
      .padEnd(5),
    String(msg ?? ''),
    ...rest,
  ].join('  ')}\n`;
}
