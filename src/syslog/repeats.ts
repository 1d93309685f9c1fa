const WINDOW_MS = 60_000;

/**
 * rsyslog delivers at least once and repeats messages after a reconnect. A frame identical to one
 * seen in the last 60 seconds is a repeat when it carries a sub-second timestamp: two real events
 * with the same microsecond, address and text are not plausible, while second-resolution
 * timestamps can legitimately repeat.
 *
 * Two generations of a plain Map (frame → first seen), rotated every 60 s, so every frame is
 * remembered for at least 60 s and looked up in native time. When a generation fills
 * up (a flood) it rotates early: memory stays bounded, and the cost is that a repeat older than
 * the flood can slip through and count twice.
 */
export class RepeatFilter {
  private current = new Map<string, number>();
  private previous = new Map<string, number>();
  private rotatedAt = -Infinity;

  constructor(private readonly maxPerGeneration = 100_000) {}

  /** True when this message text was already seen within the window. */
  isRepeat(text: string, subSecond: boolean, now: number): boolean {
    if (!subSecond) return false;
    this.rotate(now);
    const seenAt = this.current.get(text) ?? this.previous.get(text);
    if (seenAt !== undefined && now - seenAt <= WINDOW_MS) return true;
    if (this.current.size >= this.maxPerGeneration) this.shift(now);
    this.current.set(text, now);
    return false;
  }

  purgeStale(now: number): void {
    this.rotate(now);
  }

  get size(): number {
    return this.current.size + this.previous.size;
  }

  private rotate(now: number): void {
    if (now - this.rotatedAt < WINDOW_MS) return;
    // Both generations are older than the window once two periods have passed.
    if (now - this.rotatedAt >= 2 * WINDOW_MS) this.current = new Map();
    this.shift(now);
  }

  private shift(now: number): void {
    this.previous = this.current;
    this.current = new Map();
    this.rotatedAt = now;
  }
}
