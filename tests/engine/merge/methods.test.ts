// Merge methods against mergekit's worked values (REFERENCE-SEMANTICS §1.1, §1.4), hand-computed cases and a
// straightforward float64 reference on random tensors. DARE's masks cannot bit-match torch's RNG, so its
// statistics are checked instead.
import { describe, expect, it } from 'vitest';
import { slerp, slerpCoefficients, dots } from '../../../src/engine/merge/methods/slerp.ts';
import { linearMerge } from '../../../src/engine/merge/methods/linear.ts';
import { magnitudeOutliers } from '../../../src/engine/merge/methods/sparsify.ts';
import { tensorRandom } from '../../../src/engine/merge/methods/prng.ts';
import { getMethod, methodNames, type TensorMergeInput } from '../../../src/engine/merge/registry.ts';
import { randomArray } from '../../helpers/gpu.ts';

const f32 = (...x: number[]) => new Float32Array(x);

function close(got: ArrayLike<number>, want: ArrayLike<number>, tol: number): void {
  expect(got.length).toBe(want.length);
  for (let i = 0; i < want.length; i++) {
    if (Math.abs(got[i]! - want[i]!) > tol * Math.max(1, Math.abs(want[i]!))) {
      throw new Error(`element ${i}: got ${got[i]}, want ${want[i]} (tol ${tol})`);
    }
  }
}

/** SLERP written from the formula alone, float64. */
function slerpRef(t: number, a: ArrayLike<number>, b: ArrayLike<number>): Float64Array {
  const norm = (v: ArrayLike<number>) => Math.sqrt(Array.from(v).reduce((s, x) => s + x * x, 0));
  const na = norm(a) > 1e-8 ? norm(a) : 1;
  const nb = norm(b) > 1e-8 ? norm(b) : 1;
  let dot = 0;
  for (let i = 0; i < a.length; i++) dot += (a[i]! / na) * (b[i]! / nb);
  const out = new Float64Array(a.length);
  if (Math.abs(dot) > 0.9995) {
    for (let i = 0; i < a.length; i++) out[i] = (1 - t) * a[i]! + t * b[i]!;
    return out;
  }
  const th = Math.acos(dot);
  for (let i = 0; i < a.length; i++) out[i] = (Math.sin((1 - t) * th) * a[i]! + Math.sin(t * th) * b[i]!) / Math.sin(th);
  return out;
}

function input(tensors: Float32Array[], baseIndex: number, params: TensorMergeInput['params'], modelParams: TensorMergeInput['modelParams'], seed = 0): TensorMergeInput {
  return { name: 'model.layers.0.mlp.up_proj.weight', tensors, baseIndex, params, modelParams, random: tensorRandom(seed, 'model.layers.0.mlp.up_proj.weight') };
}

/** A method's defaults plus overrides, as the planner hands them over. */
function paramsOf(method: string, over: Record<string, number | boolean> = {}) {
  const m = getMethod(method);
  return { ...Object.fromEntries(m.params.filter((p) => p.default !== undefined).map((p) => [p.name, p.default!])), ...over };
}

describe('slerp', () => {
  it('reproduces mergekit\'s worked values', () => {
    close(slerp(0.3, f32(1, 2, 3, 4), f32(4, 3, 2, 1)), [2.08481, 2.49491, 2.90501, 3.3151], 1e-5);
    close(slerp(0.5, f32(2, 0), f32(0, 1)), [1.41421, 0.70711], 1e-5); // norms are not renormalised
    close(slerp(0.5, f32(1, 0), f32(0, 1)), [0.70711, 0.70711], 1e-5);
  });

  it('falls back to plain lerp for (anti)colinear tensors, exactly', () => {
    const a = randomArray(37, 1);
    const b2 = a.map((x) => 2 * x);
    const neg = a.map((x) => -x);
    for (const [b, sign] of [[b2, 1], [neg, -1]] as const) {
      const c = slerpCoefficients(0.3, ...dots(a, b));
      expect(c.linear).toBe(true);
      expect(Math.sign(c.dot)).toBe(sign);
      const want = a.map((x, i) => Math.fround(Math.fround(0.7) * x) + Math.fround(Math.fround(0.3) * b[i]!));
      expect(Array.from(slerp(0.3, a, b))).toEqual(Array.from(want));
    }
    // just inside the threshold the spherical branch is taken
    const c = slerpCoefficients(0.5, 1, 1, 0.999);
    expect(c.linear).toBe(false);
  });

  it('does not normalise a (near-)zero tensor and stays finite', () => {
    const z = new Float32Array(5);
    const b = randomArray(5, 2);
    const got = slerp(0.5, z, b);
    close(got, slerpRef(0.5, z, b), 1e-6);
    expect(got.every(Number.isFinite)).toBe(true);
  });

  it('matches the float64 reference on random tensors of awkward sizes, and t=0/1 give the parents exactly', () => {
    for (const [n, seed] of [[1, 3], [7, 4], [257, 5], [1000, 6]] as const) {
      const a = randomArray(n, seed);
      const b = randomArray(n, seed + 100);
      for (const t of [0.1, 0.5, 0.77, 1.3, -0.2]) close(slerp(t, a, b), slerpRef(t, a, b), 2e-6);
      if (n > 1) {
        expect(Array.from(slerp(0, a, b))).toEqual(Array.from(a));
        expect(Array.from(slerp(1, a, b))).toEqual(Array.from(b));
      }
    }
  });

  it('the slerp method takes the base as v0 wherever it sits among the inputs', () => {
    const m = getMethod('slerp');
    const a = randomArray(64, 7);
    const b = randomArray(64, 8);
    const inBaseFirst = m.merge(input([a, b], 0, { t: 0.25 }, [{}, {}]));
    const inBaseSecond = m.merge(input([b, a], 1, { t: 0.25 }, [{}, {}]));
    expect(Array.from(inBaseSecond)).toEqual(Array.from(inBaseFirst));
    close(inBaseFirst, slerpRef(0.25, a, b), 2e-6);
  });
});

describe('linear and task arithmetic', () => {
  it('linear: Σ wᵢ·Wᵢ / Σ wᵢ, or unnormalised', () => {
    const a = f32(1, 2, -4);
    const b = f32(5, 0, 4);
    close(linearMerge([a, b], [1, 3], true), [4, 0.5, 2], 1e-7);
    close(linearMerge([a, b], [1, 3], false), [16, 2, 8], 1e-7);
    const m = getMethod('linear');
    close(m.merge(input([a, b], -1, paramsOf('linear'), [{ weight: 1 }, { weight: 3 }])), [4, 0.5, 2], 1e-7);
  });

  it('task_arithmetic: base + Σ wᵢ·(Wᵢ − base), lambda scales, normalize divides by Σ w', () => {
    const base = f32(1, 1, 1);
    const x = f32(2, 0, 1);
    const y = f32(1, 3, -1);
    const m = getMethod('task_arithmetic');
    const mp = [{}, { weight: 0.5 }, { weight: 2 }];
    close(m.merge(input([base, x, y], 0, paramsOf('task_arithmetic'), mp)), [1.5, 4.5, -3], 1e-7);
    close(m.merge(input([base, x, y], 0, paramsOf('task_arithmetic', { lambda: 2 }), mp)), [2, 8, -7], 1e-7);
    close(m.merge(input([base, x, y], 0, paramsOf('task_arithmetic', { normalize: true }), mp)), [1.2, 2.4, -0.6], 1e-6);
  });

  it('linear and task_arithmetic match a float64 reference on random tensors', () => {
    const n = 333;
    const ts = [1, 2, 3].map((s) => randomArray(n, 40 + s));
    const w = [0.2, 0.5, 1.3];
    const lin = getMethod('linear').merge(input(ts, -1, paramsOf('linear'), w.map((weight) => ({ weight }))));
    const ta = getMethod('task_arithmetic').merge(input(ts, 1, paramsOf('task_arithmetic'), w.map((weight) => ({ weight }))));
    const wantLin = new Float64Array(n);
    const wantTa = new Float64Array(n);
    for (let i = 0; i < n; i++) {
      wantLin[i] = (w[0]! * ts[0]![i]! + w[1]! * ts[1]![i]! + w[2]! * ts[2]![i]!) / (w[0]! + w[1]! + w[2]!);
      wantTa[i] = ts[1]![i]! + w[0]! * (ts[0]![i]! - ts[1]![i]!) + w[2]! * (ts[2]![i]! - ts[1]![i]!);
    }
    close(lin, wantLin, 1e-6);
    close(ta, wantTa, 1e-6);
  });
});

describe('ties', () => {
  it('trims by magnitude, elects the sign by sum, and takes the disjoint mean (worked by hand)', () => {
    const base = f32(0, 0, 0, 0);
    const m1 = f32(1, -2, 3, 0.5); // density 0.5 keeps -2 and 3
    const m2 = f32(-1.5, -1, 2, 0.1); // keeps -1.5 and 2
    const got = getMethod('ties').merge(input([base, m1, m2], 0, paramsOf('ties'), [{}, { weight: 1, density: 0.5 }, { weight: 1, density: 0.5 }]));
    // Σ = [-1.5, -2, 5, 0] → signs [-, -, +, + (0 counts as +)]; mixed / count of agreeing models (0 → 1)
    close(got, [-1.5, -2, 2.5, 0], 1e-7);
  });

  it('weights enter the election and the divisor', () => {
    const base = f32(1, 1);
    const m1 = f32(2, 0); // δ [1, -1]
    const m2 = f32(0, 3); // δ [-1, 2]
    const got = getMethod('ties').merge(input([base, m1, m2], 0, paramsOf('ties'), [{}, { weight: 3 }, { weight: 1 }]));
    // weighted δ: m1 [3, -3], m2 [-1, 2]; Σ [2, -1] → [+, -]; element 0: 3/3, element 1: -3/3
    close(got, [2, 0], 1e-7);
  });
});

describe('DARE (seeded; statistics, since torch\'s RNG cannot be reproduced)', () => {
  const n = 100_000;
  const base = new Float32Array(n);
  const model = new Float32Array(n).fill(1);

  it('dare_linear keeps ≈ density of the elements and rescales to the same L1 norm', () => {
    const got = getMethod('dare_linear').merge(input([base, model], 0, paramsOf('dare_linear'), [{}, { weight: 1, density: 0.3 }], 7));
    const kept = got.filter((x) => x !== 0);
    expect(kept.length / n).toBeGreaterThan(0.29);
    expect(kept.length / n).toBeLessThan(0.31);
    const l1 = got.reduce((s, x) => s + Math.abs(x), 0);
    expect(l1 / n).toBeCloseTo(1, 4); // ‖masked‖₁ rescaled to ‖δ‖₁
    expect(kept[0]).toBeCloseTo(n / kept.length, 3);
  });

  it('is deterministic per seed and differs across seeds', () => {
    const m = getMethod('dare_ties');
    const run = (seed: number) => m.merge(input([base, model], 0, paramsOf('dare_ties'), [{}, { weight: 1, density: 0.5 }], seed));
    expect(Array.from(run(1))).toEqual(Array.from(run(1)));
    expect(Array.from(run(1))).not.toEqual(Array.from(run(2)));
  });

  it('dare_ties applies the sign election after the drop', () => {
    const small = 4000;
    const b = new Float32Array(small);
    const up = new Float32Array(small).fill(1);
    const down = new Float32Array(small).fill(-0.5);
    const got = getMethod('dare_ties').merge(input([b, up, down], 0, paramsOf('dare_ties', { rescale: false }), [{}, { weight: 1, density: 0.5 }, { weight: 1, density: 0.5 }], 3));
    // where both survive, + wins (1 − 0.5 > 0) and only the +1 is kept; where one survives it stands alone
    expect(new Set(Array.from(got))).toEqual(new Set([0, 1, -0.5]));
    expect(got.filter((x) => x === 1).length / small).toBeGreaterThan(0.45);
    expect(got.filter((x) => x === -0.5).length / small).toBeGreaterThan(0.2); // ≈ 0.25: only `down` kept
  });
});

describe('breadcrumbs', () => {
  it('drops the γ largest and then the smallest, keeping density', () => {
    const d = Float32Array.from({ length: 100 }, (_, i) => i + 1);
    const got = magnitudeOutliers(d, 0.9, false, 0.01);
    expect(got[99]).toBe(0); // the largest (γ·100 = 1) is dropped
    expect(Array.from(got.subarray(0, 9))).toEqual(new Array(9).fill(0)); // then the 9 smallest
    expect(got.filter((x) => x !== 0).length).toBe(90);
  });

  it('reproduces mergekit\'s n_top = 0 slice quirk (indices[n_bot:-0] is empty)', () => {
    const d = Float32Array.from({ length: 50 }, (_, i) => i + 1);
    expect(magnitudeOutliers(d, 0.5, false, 0.01).every((x) => x === 0)).toBe(true);
  });
});

describe('registry', () => {
  it('has every method by name with mergekit\'s defaults (§1.4)', () => {
    expect(methodNames()).toEqual(expect.arrayContaining(['slerp', 'linear', 'task_arithmetic', 'ties', 'dare_ties', 'dare_linear', 'breadcrumbs', 'breadcrumbs_ties']));
    const defaults = (name: string) => paramsOf(name);
    expect(defaults('linear')).toEqual({ normalize: true });
    expect(defaults('task_arithmetic')).toMatchObject({ normalize: false, rescale: false, lambda: 1 });
    expect(defaults('ties')).toMatchObject({ normalize: true, rescale: false });
    expect(defaults('dare_ties')).toMatchObject({ normalize: false, rescale: true });
    expect(defaults('dare_linear')).toMatchObject({ normalize: false, rescale: true });
    expect(getMethod('slerp').params).toEqual([{ name: 't' }]);
    expect(getMethod('ties').modelParams).toEqual([{ name: 'weight' }, { name: 'density', default: 1 }]);
    expect(() => getMethod('model_soup')).toThrow(/merge_method "model_soup" is not supported; Alloy has slerp, linear/);
  });
});
