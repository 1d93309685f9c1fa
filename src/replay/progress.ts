import type { Writable } from 'node:stream';

/** How often the line is rewritten: often enough to see it move, rarely enough to cost nothing. */
const EVERY_MS = 500;

/**
 * Progress of a long replay, for a person watching a terminal: one line on stderr, rewritten in
 * place (lines a second and, for a file, the share read), cleared at the end. Never in the
 * output, which may be piped on.
 */
export class Progress {
  private bytes = 0;
  private lastShown: number;
  private shown = false;
  private readonly started: number;

  constructor(
    private readonly terminal: Writable,
    /** the input's size in bytes; 0 when unknown (stdin) */
    private readonly totalBytes: number,
    private readonly lines: () => number,
    private readonly now: () => number = Date.now,
  ) {
    this.started = this.lastShown = now();
  }

  /** `bytes` more of the input were read. */
  advance(bytes: number): void {
    this.bytes += bytes;
    const now = this.now();
    if (now - this.lastShown < EVERY_MS) return;
    this.lastShown = now;
    const perSecond = Math.round(this.lines() / ((now - this.started) / 1000));
    const share = this.totalBytes > 0 ? `${Math.min(100, Math.floor((this.bytes / this.totalBytes) * 100))}% read, ` : '';
    this.terminal.write(`\r\x1b[K${share}${perSecond.toLocaleString('en-US')} lines/s`);
    this.shown = true;
  }

  /** Clears the line, so that what follows starts clean. */
  done(): void {
    if (this.shown) this.terminal.write('\r\x1b[K');
    this.shown = false;
  }
}
