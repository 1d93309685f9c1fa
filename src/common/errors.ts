/**
 * edgeban's own failures, each with a stable `code` that logs and tests can rely on, whatever the
 * wording of the message. `retryable`: the same call may succeed later without a change (a network
 * failure, a 5xx), as opposed to one that needs a person (a refused token, a bad config).
 */
export type EdgebanErrorCode = 'EDGEBAN_CONFIG' | 'EDGEBAN_CLOUDFLARE' | 'EDGEBAN_FOREIGN_RULE' | 'EDGEBAN_DECODE';

export abstract class EdgebanError extends Error {
  abstract readonly code: EdgebanErrorCode;
  readonly retryable: boolean = false;

  override get name(): string {
    return this.constructor.name;
  }
}

/** An invalid config: `key` names the offending setting (`listen.udp[0]`), `reason` says why. */
export class ConfigError extends EdgebanError {
  readonly code = 'EDGEBAN_CONFIG';

  constructor(
    readonly key: string,
    readonly reason: string,
  ) {
    super(key ? `${key}: ${reason}` : reason);
  }
}

/** A rule another party made covers the address: edgeban leaves it alone, and never retries. */
export class ForeignRuleError extends EdgebanError {
  readonly code = 'EDGEBAN_FOREIGN_RULE';
}

/** The parser or recogniser threw on a line: a bug there, never the sender's fault. */
export class DecodeError extends EdgebanError {
  readonly code = 'EDGEBAN_DECODE';

  constructor(readonly thrown: unknown) {
    super(`a line made the decoder throw: ${describeError(thrown)}`);
  }

  /** What a bug report needs, as text that can cross to another thread: the code and the stack of what was thrown. */
  get report(): string {
    return `${this.code}: ${this.thrown instanceof Error ? (this.thrown.stack ?? this.thrown.message) : this.message}`;
  }
}

/**
 * The message of anything thrown, for a log line: an Error's message (also one of another realm,
 * as a thread's error arrives under jest), else its text.
 */
export function describeError(error: unknown): string {
  if (error instanceof Error) return error.message;
  if (typeof error === 'object' && error !== null && 'message' in error && typeof error.message === 'string') return error.message;
  if (typeof error === 'string') return error;
  try {
    return JSON.stringify(error) ?? String(error);
  } catch {
    return String(error); // a value JSON cannot write (a cycle, a BigInt): its plain text
  }
}

/** An Error for anything thrown: itself, or an Error saying what it was. */
export function asError(error: unknown): Error {
  return error instanceof Error ? error : new Error(describeError(error));
}

/** The errno code of a system error (`EADDRINUSE`, `EPIPE`), if it is one. */
export function errnoCode(error: unknown): string | undefined {
  const code = (error as { code?: unknown } | null)?.code;
  return typeof code === 'string' ? code : undefined;
}

/**
 * What only a bug in edgeban throws (reading a field of undefined, calling what is not a function):
 * trying again cannot help, and its stack is what a report needs.
 */
export function isProgrammingError(error: unknown): boolean {
  return error instanceof TypeError || error instanceof RangeError || error instanceof ReferenceError || error instanceof SyntaxError;
}

/**
 * Whether a failed call may be tried again. edgeban's errors say so themselves; a bug never;
 * anything else (a socket reset below the client) is taken as passing.
 */
export function isRetryable(error: unknown): boolean {
  if (error instanceof EdgebanError) return error.retryable;
  return !isProgrammingError(error);
}
