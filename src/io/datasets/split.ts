/**
 * The train / validation split of the Data panel: the same seeded shuffle as the trainer's held-out split
 * (worker/train-data.ts splitRows, `alloy train --val-split`): mulberry32(seed), Fisher–Yates from the end, the first
 * ⌈fraction·n⌉ shuffled indices held out. It works on row indices, so a preference row (prompt, chosen, rejected)
 * is always one pair on one side. A test holds it equal to the trainer's.
 */
import { AlloyError } from '../../common/errors.ts';
import { mulberry32 } from '../../common/random.ts';

export interface Split {
  /** row indices kept for training, ascending */
  train: number[];
  /** row indices held out, ascending */
  val: number[];
}

export function splitIndices(n: number, fraction: number, seed: number): Split {
  if (!(fraction > 0 && fraction < 1)) throw new AlloyError(`the validation fraction must be in (0, 1), got ${fraction}`, { field: 'fraction' });
  if (!Number.isInteger(seed)) throw new AlloyError(`the seed must be a whole number, got ${seed}`, { field: 'seed' });
  const rand = mulberry32(seed);
  const idx = Array.from({ length: n }, (_, i) => i);
  for (let i = idx.length - 1; i > 0; i--) {
    const j = Math.floor(rand() * (i + 1));
    [idx[i], idx[j]] = [idx[j]!, idx[i]!];
  }
  const k = Math.ceil(fraction * n);
  if (k >= n) throw new AlloyError(`a validation fraction of ${fraction} leaves no training rows out of ${n}`, { field: 'fraction' });
  const held = new Set(idx.slice(0, k));
  const train: number[] = [];
  const val: number[] = [];
  for (let i = 0; i < n; i++) (held.has(i) ? val : train).push(i);
  return { train, val };
}
