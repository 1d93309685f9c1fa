import fc from 'fast-check';
import { bytesAt, indexIn, SP, spaceIn, viewAt, viewOf } from '../src/common/bytes';

// The word-at-a-time searches read four bytes in one load: they must answer as the byte loops do,
// wherever the bytes start in their buffer and whatever bytes lie around a space (the bit trick
// has tripped on neighbours of a space, 0x1f and 0x21, on 0xa0 = 0x20 | 0x80, and on a byte 0 or
// 0xff next to it, in other hands), and read nothing outside [from, to).
const tricky = fc.constantFrom(SP, 0x1f, 0x21, 0xa0, 0x00, 0xff, 0x01, 0x80, 0x7f, 0x61);
const byte = fc.oneof(tricky, fc.integer({ min: 0, max: 255 }));

/** bytes at an odd place in a larger buffer, its neighbours all spaces (read past an end, they would be found) */
function placed(values: number[], offset: number): Uint8Array {
  const buffer = new Uint8Array(values.length + offset + 8).fill(SP);
  buffer.set(values, offset);
  return buffer.subarray(offset, offset + values.length);
}

describe('spaceIn', () => {
  test('finds the first space in [from, to) as a byte loop does, wherever the bytes lie', () => {
    fc.assert(
      fc.property(fc.array(byte, { maxLength: 80 }), fc.nat(7), fc.nat(), fc.nat(), (values, offset, a, b) => {
        const bytes = placed(values, offset);
        const from = values.length ? a % (values.length + 1) : 0;
        const to = from + (values.length - from ? b % (values.length - from + 1) : 0);
        expect(spaceIn(bytes, viewOf(bytes), from, to)).toBe(indexIn(bytes, SP, from, to));
      }),
      { numRuns: 5000 },
    );
  });

  test('a space in each of the four places of a word, and past the last whole word', () => {
    for (let at = 0; at < 11; at++) {
      const bytes = new Uint8Array(11).fill(0x61);
      bytes[at] = SP;
      expect(spaceIn(bytes, viewOf(bytes), 0, 11)).toBe(at);
      expect(spaceIn(bytes, viewOf(bytes), 0, at)).toBe(-1);
    }
  });
});

describe('viewAt', () => {
  test('answers as bytesAt, wherever the bytes lie and whatever the pattern length', () => {
    fc.assert(
      fc.property(fc.array(byte, { maxLength: 40 }), fc.array(byte, { maxLength: 12 }), fc.nat(7), fc.nat(), fc.nat(), (values, pattern, offset, a, b) => {
        const bytes = placed(values, offset);
        // half the time the pattern is cut from the bytes, so that matches are tried too
        const at = (a % (values.length + 2)) - 1;
        const cut = b % 2 === 0 && at >= 0 ? values.slice(at, at + pattern.length) : pattern;
        const patternBytes = Uint8Array.from(cut);
        const end = b % (values.length + 1);
        expect(viewAt(viewOf(bytes), viewOf(patternBytes), at, end)).toBe(bytesAt(bytes, patternBytes, at, end));
      }),
      { numRuns: 5000 },
    );
  });
});
