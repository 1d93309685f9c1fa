/** Held once: under jest's sandbox a global `Math` lookup per call made the hash loops 100× slower. */
const imul = Math.imul;

/** A well-mixed 32-bit hash of a 64-bit key given as two unsigned 32-bit halves (murmur3's finaliser). */
export function pairHash(hi: number, lo: number): number {
  let h = imul(lo ^ imul(hi, 0x9e3779b1), 0x85ebca6b);
  h ^= h >>> 13;
  h = imul(h, 0xc2b2ae35);
  return h ^ (h >>> 16);
}
