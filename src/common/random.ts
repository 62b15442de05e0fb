/**
 * The engine's one seeded random stream (sampling, LoRA initialisation, DARE masks, test data): mulberry32 —
 * small, fast, and the same sequence in every JS engine, so a seed reproduces a run anywhere. Draws in [0, 1).
 */
export function mulberry32(seed: number): () => number {
  let s = seed >>> 0;
  return () => {
    s = (s + 0x6d2b79f5) >>> 0;
    let t = s;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}
