/**
 * Seeded randomness for DARE. torch's Bernoulli sampler cannot be reproduced bit for bit outside torch, so a
 * DARE merge made here and one made by mergekit with the same --random-seed keep different elements; both keep
 * each element with probability `density`, which is what the tests check (statistics, not bits).
 * The stream depends only on (seed, tensor name, model index), so the result does not depend on merge order.
 */

import { mulberry32 } from '../../../common/random.ts';

/** FNV-1a over the UTF-16 code units, to turn a tensor name into 32 bits. */
function hash32(s: string, h = 0x811c9dc5): number {
  for (let i = 0; i < s.length; i++) h = Math.imul(h ^ s.charCodeAt(i), 0x01000193) >>> 0;
  return h >>> 0;
}

export function tensorRandom(seed: number, tensor: string): (modelIndex: number) => () => number {
  return (modelIndex) => mulberry32(hash32(`${modelIndex}:${tensor}`, hash32(String(seed >>> 0))));
}
