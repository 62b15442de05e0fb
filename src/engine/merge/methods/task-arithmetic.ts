/**
 * mergekit's generalized task arithmetic (merge_methods/generalized_task_arithmetic.py), which task_arithmetic,
 * ties, dare_ties, dare_linear and breadcrumbs(_ties) are configurations of:
 *   δᵢ = Wᵢ − W_base (the base itself is not a task vector), optionally sparsified per model (density),
 *   D = wᵢ·δᵢ; with sign consensus: keep entries whose sign equals the majority sign of Σᵢ Dᵢ (≥ 0 → +),
 *   mixed = Σ D·mask, divisor = Σ w·mask (0 → 1); without: mixed = Σ D, divisor = Σ w (|·| < 1e-8 → 1);
 *   normalize → mixed /= divisor; mixed *= lambda; W = W_base + mixed. float32 throughout.
 */
import { bernoulli, magnitude, magnitudeOutliers } from './sparsify.ts';
import type { MergeMethod, ParamSpec, TensorMergeInput } from './types.ts';
import { bool, num } from './types.ts';

export type Sparsification = 'magnitude' | 'random' | 'magnitude_outliers' | null;

export interface GtaOptions {
  sparsify: Sparsification;
  consensus: 'sum' | null;
}

export function gtaMerge(input: TensorMergeInput, opts: GtaOptions): Float32Array {
  const { name, tensors, baseIndex, params, modelParams } = input;
  if (baseIndex < 0) throw new RangeError(`${name}: this method needs base_model among the inputs`);
  const base = tensors[baseIndex]!;
  const n = base.length;
  const rescale = bool(params.rescale, 'rescale');
  const deltas: Float32Array[] = [];
  const weights: number[] = [];
  tensors.forEach((t, k) => {
    if (k === baseIndex) return;
    const p = modelParams[k]!;
    let delta: Float32Array = new Float32Array(n);
    for (let i = 0; i < n; i++) delta[i] = t[i]! - base[i]!;
    const density = p.density === undefined ? 1 : num(p.density, 'density');
    if (opts.sparsify === 'magnitude') delta = magnitude(delta, density, rescale);
    else if (opts.sparsify === 'magnitude_outliers') {
      delta = magnitudeOutliers(delta, density, rescale, p.gamma === undefined ? 0.01 : num(p.gamma, 'gamma'));
    } else if (opts.sparsify === 'random') {
      if (!input.random) throw new RangeError(`${name}: a random sparsification needs a seeded random source`);
      delta = bernoulli(delta, density, rescale, input.random(k));
    }
    deltas.push(delta);
    weights.push(Math.fround(num(p.weight, `weight of model ${k + 1}`)));
  });
  if (deltas.length === 0) return Float32Array.from(base);

  const weighted = deltas.map((d, j) => {
    const out = new Float32Array(n);
    for (let i = 0; i < n; i++) out[i] = weights[j]! * d[i]!;
    return out;
  });
  const normalize = bool(params.normalize, 'normalize');
  const lambda = Math.fround(num(params.lambda, 'lambda'));
  const out = new Float32Array(n);
  for (let i = 0; i < n; i++) {
    let mixed = 0;
    let divisor = 0;
    if (opts.consensus === 'sum') {
      let s = 0;
      for (const d of weighted) s = Math.fround(s + d[i]!);
      const majority = s >= 0 ? 1 : -1;
      for (let j = 0; j < weighted.length; j++) {
        const v = weighted[j]![i]!;
        if (Math.sign(v) === majority) {
          mixed = Math.fround(mixed + v);
          divisor = Math.fround(divisor + weights[j]!);
        }
      }
      if (divisor === 0) divisor = 1;
    } else {
      for (let j = 0; j < weighted.length; j++) {
        mixed = Math.fround(mixed + weighted[j]![i]!);
        divisor = Math.fround(divisor + weights[j]!);
      }
      if (Math.abs(divisor) < 1e-8) divisor = 1;
    }
    if (normalize) mixed = Math.fround(mixed / divisor);
    if (lambda !== 1) mixed = Math.fround(mixed * lambda);
    out[i] = base[i]! + mixed;
  }
  return out;
}

function gtaMethod(name: string, description: string, opts: GtaOptions, normalize: boolean, rescale: boolean, extra: ParamSpec[] = []): MergeMethod {
  return {
    name,
    description,
    params: [
      { name: 'int8_mask', default: false }, // memory option in mergekit; no effect on values
      { name: 'normalize', default: normalize },
      { name: 'lambda', default: 1 },
      { name: 'rescale', default: rescale },
    ],
    modelParams: [{ name: 'weight' }, { name: 'density', default: 1 }, ...extra],
    requiresBase: true,
    merge: (input) => gtaMerge(input, opts),
  };
}

// Defaults from mergekit's registry (REFERENCE-SEMANTICS §1.4).
export const taskArithmeticMethod = gtaMethod('task_arithmetic', 'base + Σ wᵢ·(Wᵢ − base)', { sparsify: null, consensus: null }, false, false);
export const tiesMethod = gtaMethod('ties', 'TIES: trim task vectors by magnitude (density), elect sign, disjoint mean', { sparsify: 'magnitude', consensus: 'sum' }, true, false);
export const dareTiesMethod = gtaMethod('dare_ties', 'DARE drop-and-rescale (density, seeded) with TIES sign election', { sparsify: 'random', consensus: 'sum' }, false, true);
export const dareLinearMethod = gtaMethod('dare_linear', 'DARE drop-and-rescale (density, seeded), summed linearly', { sparsify: 'random', consensus: null }, false, true);
export const breadcrumbsMethod = gtaMethod('breadcrumbs', 'model breadcrumbs: drop the largest γ and the smallest of each task vector', { sparsify: 'magnitude_outliers', consensus: null }, false, false, [{ name: 'gamma', default: 0.01 }]);
export const breadcrumbsTiesMethod = gtaMethod('breadcrumbs_ties', 'breadcrumbs with TIES sign election', { sparsify: 'magnitude_outliers', consensus: 'sum' }, false, false, [{ name: 'gamma', default: 0.01 }]);
