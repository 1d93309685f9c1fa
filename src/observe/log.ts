import { createHmac, randomBytes } from 'node:crypto';
import pino from 'pino';

export type AddressMode = 'pseudonymize' | 'omit' | 'plain';

/**
 * How addresses appear in logs. `pseudonymize` is a keyed hash whose key is made at start and never
 * stored: one run's lines can be correlated, not reversed, and not linked across restarts.
 */
export class AddressMask {
  private readonly key = randomBytes(32);

  constructor(public mode: AddressMode) {}

  show(address: string): string {
    switch (this.mode) {
      case 'plain':
        return address;
      case 'omit':
        return '-';
      default:
        return `~${createHmac('sha256', this.key).update(address).digest('hex').slice(0, 12)}`;
    }
  }
}

export type Logger = pino.Logger;

/** pino to stdout (systemd's journal takes it from there); nothing is written to a file. */
export function createLogger(level = process.env.EDGEBAN_LOG_LEVEL ?? 'info', destination?: pino.DestinationStream): Logger {
  return pino(
    { level, base: { name: 'edgeban' }, timestamp: pino.stdTimeFunctions.isoTime, formatters: { level: (label) => ({ level: label }) } },
    destination ?? pino.destination({ fd: 1, sync: false }),
  );
}
