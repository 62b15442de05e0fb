/**
 * mergekit's parameter resolution (config.py::evaluate_setting and ConfigReader.parameter, plan.py):
 * - a setting is a scalar, a list of anchors (numbers, read piecewise-linearly at the layer fraction p), a list of
 *   other scalars (stepped: a[⌊p·(n−1)⌋]), or a list of {filter, value} conditions (the first whose filter is
 *   absent, "*" or a plain substring of the tensor name wins; its value is evaluated at the same p);
 * - scopes: source (per-model parameters only) > output slice > top level; the first non-undefined value wins;
 * - p = idx/(n−1) within each output slice (1 for a one-layer slice); pre-weights (embed_tokens) use p = 0 with
 *   the first slice's scopes; post-weights (final norm, lm_head) the last slice's, at p = 1 in mergekit
 *   v0.0.4…v0.1.1 (the 2024 releases) or p = 0 from v0.1.2 on.
 */
import type { ParamScalar } from './methods/types.ts';

export interface Condition {
  filter?: string | null;
  value: ScalarOrList;
}
export type ScalarOrList = ParamScalar | ParamScalar[];
export type ParameterSetting = ScalarOrList | Condition | Condition[];
export type Parameters = Record<string, ParameterSetting>;

/** Where post-weights sit on the layer axis: 'v0.0.x' = p 1 (mergekit ≤ v0.1.1), 'head' = p 0 (≥ v0.1.2). */
export type PostWeightsPosition = 'v0.0.x' | 'head';
export const DEFAULT_POST_WEIGHTS: PostWeightsPosition = 'v0.0.x';

export function isCondition(x: unknown): x is Condition {
  return typeof x === 'object' && x !== null && !Array.isArray(x) && 'value' in x;
}

const isScalar = (x: unknown): x is ParamScalar => typeof x === 'number' || typeof x === 'boolean' || typeof x === 'string';

/** The layer fraction of layer idx in an output slice of n layers. */
export function layerFraction(idx: number, n: number): number {
  return n > 1 ? idx / (n - 1) : 1;
}

/** Reads an anchor list at p: s = p·(n−1), i0 = ⌊s⌋, i1 = min(n−1, i0+1), (1−f)·a[i0] + f·a[i1]. */
export function interpolate(anchors: readonly number[], p: number): number {
  const scaled = p * (anchors.length - 1);
  const i0 = Math.trunc(scaled);
  const i1 = Math.min(anchors.length - 1, i0 + 1);
  const frac = scaled - i0;
  return (1 - frac) * anchors[i0]! + frac * anchors[i1]!;
}

/** evaluate_setting: the value for one tensor at layer fraction p, or undefined when no condition matched. */
export function evaluateSetting(tensorName: string, setting: ParameterSetting, p: number): ParamScalar | undefined {
  if (isScalar(setting)) return setting;
  if (isCondition(setting)) return evaluateSetting(tensorName, [setting], p);
  if (setting.length === 0) return undefined;
  // Python counts bools as ints, so mergekit interpolates [true, false] too; we follow it.
  if (setting.every((e) => typeof e === 'number' || typeof e === 'boolean')) {
    return interpolate(setting.map((e) => Number(e)), p);
  }
  if (setting.every(isScalar)) return setting[Math.trunc(p * (setting.length - 1))];
  for (const cond of setting as Condition[]) {
    const f = cond.filter;
    if (f === undefined || f === null || f === '*' || tensorName.includes(f)) return evaluateSetting(tensorName, cond.value, p);
  }
  return undefined;
}

/** The scopes a lookup walks, most specific first. */
export interface ParameterScopes {
  /** the source's own parameters (consulted only for per-model parameters) */
  source?: Parameters;
  slice?: Parameters;
  top?: Parameters;
}

export function resolveParameter(name: string, tensorName: string, p: number, scopes: ParameterScopes, perModel: boolean): ParamScalar | undefined {
  const order = perModel ? [scopes.source, scopes.slice, scopes.top] : [scopes.slice, scopes.top];
  for (const scope of order) {
    if (!scope || !Object.hasOwn(scope, name)) continue;
    const v = evaluateSetting(tensorName, scope[name]!, p);
    if (v !== undefined) return v;
  }
  return undefined;
}
