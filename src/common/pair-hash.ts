/** Hashing and sizing for open-addressing tables keyed by 64-bit keys in two halves (the track store, the shield's attackers). */

/** Held once: under jest's sandbox a global `Math` lookup per call made the hash loops 100× slower. */
const imul = Math.imul;

/** A well-mixed 32-bit hash of a 64-bit key given as two unsigned 32-bit halves (murmur3's finaliser). */
export function pairHash(hi: number, lo: number): number {
  let h = imul(lo ^ imul(hi, 0x9e3779b1), 0x85ebca6b);
  h ^= h >>> 13;
  h = imul(h, 0xc2b2ae35);
  return h ^ (h >>> 16);
}

/** A power of two at least twice the slots: the table stays at most half full. */
export function tableSizeFor(slots: number): number {
  let size = 16;
  while (size < slots * 2) size *= 2;
  return size;
}
