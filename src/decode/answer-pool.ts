import { EVENT_STRIDE } from './event-codec';

/** The arrays a decoded batch is written into: a code, a fingerprint and a time a line, a row of numbers an event. */
export interface AnswerArrays {
  codes: Uint8Array<ArrayBuffer>;
  fingerprints: Float64Array<ArrayBuffer>;
  repeatAts: Float64Array<ArrayBuffer>;
  numbers: Float64Array<ArrayBuffer>;
}

/** Answers' arrays kept for writing again: those of the answers in flight, and a few more. */
const MAX_SPARES = 16;

/**
 * Answers' memory, written again instead of made anew. On a virtual machine the first write to a
 * fresh page costs thousands of times a write to a page in use (the hypervisor maps it), and
 * answers made new for every chunk of a replay came to about as many fresh pages as its input. The
 * reader hands each answer's arrays back (see DecodeRequest.spares) once it has read them.
 */
export class AnswerPool {
  private readonly spares: AnswerArrays[] = [];

  /** Keeps arrays handed back, whole (an answer's are views of its lines only). */
  give(answers: readonly AnswerArrays[]): void {
    for (const answer of answers) {
      if (this.spares.length >= MAX_SPARES) return;
      this.spares.push(wholeArrays(answer));
    }
  }

  /**
   * Arrays for `lines` lines, as views of that many: a spare's when one is large enough (one too
   * small is dropped), else new ones with room for a quarter more, as chunks differ in lines.
   */
  take(lines: number): AnswerArrays {
    let whole: AnswerArrays | undefined;
    while ((whole = this.spares.pop()) && whole.codes.length < lines);
    return linesOf(whole ?? newArrays(lines + (lines >> 2)), lines);
  }
}

/** What an answer's arrays are, a line a cell: new arrays hold only zeros, a spare's whatever was last written. */
export function newArrays(lines: number): AnswerArrays {
  return {
    codes: new Uint8Array(lines),
    fingerprints: new Float64Array(lines),
    repeatAts: new Float64Array(lines),
    numbers: new Float64Array(lines * EVENT_STRIDE),
  };
}

/** The buffers of an answer's arrays, for postMessage's transfer list. */
export function answerBuffers(answers: readonly AnswerArrays[]): ArrayBuffer[] {
  return answers.flatMap((answer) => [answer.codes.buffer, answer.fingerprints.buffer, answer.repeatAts.buffer, answer.numbers.buffer]);
}

function wholeArrays({ codes, fingerprints, repeatAts, numbers }: AnswerArrays): AnswerArrays {
  return {
    codes: new Uint8Array(codes.buffer),
    fingerprints: new Float64Array(fingerprints.buffer),
    repeatAts: new Float64Array(repeatAts.buffer),
    numbers: new Float64Array(numbers.buffer),
  };
}

function linesOf(whole: AnswerArrays, lines: number): AnswerArrays {
  return {
    codes: whole.codes.subarray(0, lines),
    fingerprints: whole.fingerprints.subarray(0, lines),
    repeatAts: whole.repeatAts.subarray(0, lines),
    numbers: whole.numbers.subarray(0, lines * EVENT_STRIDE),
  };
}
