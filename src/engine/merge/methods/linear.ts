/**
 * mergekit's `linear` (merge_methods/linear.py): W = Σ wᵢ·Wᵢ, divided by Σ wᵢ when `normalize` (default true).
 * Every input takes part, the base model included when it is one of the inputs; float32 arithmetic.
 */
import type { MergeMethod } from './types.ts';
import { bool, num } from './types.ts';

export function linearMerge(tensors: readonly Float32Array[], weights: readonly number[], normalize: boolean): Float32Array {
  const n = tensors[0]!.length;
  const out = new Float32Array(n);
  const w = weights.map((x) => Math.fround(x));
  // torch sums the stacked weighted tensors along dim 0 in float32: one rounding per product and per add.
  for (let k = 0; k < tensors.length; k++) {
    const t = tensors[k]!;
    for (let i = 0; i < n; i++) out[i] = out[i]! + Math.fround(w[k]! * t[i]!);
  }
  if (normalize) {
    let sum = 0;
    for (const x of w) sum = Math.fround(sum + x);
    for (let i = 0; i < n; i++) out[i] = out[i]! / sum;
  }
  return out;
}

export const linearMethod: MergeMethod = {
  name: 'linear',
  description: 'weighted average of the models (Σ wᵢ·Wᵢ / Σ wᵢ with normalize)',
  params: [{ name: 'normalize', default: true }],
  modelParams: [{ name: 'weight' }],
  requiresBase: false,
  merge({ tensors, params, modelParams }) {
    const weights = modelParams.map((p, i) => num(p.weight, `weight of model ${i + 1}`));
    return linearMerge(tensors, weights, bool(params.normalize, 'normalize'));
  },
};
