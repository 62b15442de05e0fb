/**
 * The contract every merge method module implements, in mergekit's shape: a method declares its global
 * parameters (one value per output tensor, e.g. SLERP's `t`) and its per-model parameters (e.g. `weight`,
 * `density`), each with a default or marked required, and merges one tensor at a time on the CPU.
 */

/** A resolved parameter value (after gradients and filters were evaluated for one tensor). */
export type ParamScalar = number | boolean | string;

export interface ParamSpec {
  name: string;
  /** undefined = required (mergekit raises "Missing required parameter") */
  default?: ParamScalar;
}

export interface TensorMergeInput {
  /** output tensor name (for messages and for seeding random methods) */
  name: string;
  /** one float32 tensor per input model, in the slice's source order; all the same length */
  tensors: readonly Float32Array[];
  /** index into `tensors` of the base model, or -1 when the merge has none among its inputs */
  baseIndex: number;
  /** global parameters, every declared name present (defaults applied) */
  params: Readonly<Record<string, ParamScalar>>;
  /** per-model parameters, parallel to `tensors` (the base's required ones may be missing, as in mergekit) */
  modelParams: readonly Readonly<Record<string, ParamScalar | undefined>>[];
  /** random source in [0, 1) for the randomised methods (DARE); deterministic per (seed, tensor, model) */
  random?: (modelIndex: number) => () => number;
}

export interface MergeMethod {
  name: string;
  /** shown in the UI and in errors */
  description: string;
  params: readonly ParamSpec[];
  modelParams: readonly ParamSpec[];
  /** true when a base_model is mandatory (task vectors are taken against it) */
  requiresBase: boolean;
  /** most inputs a tensor may have (SLERP: 2) */
  maxModels?: number;
  merge(input: TensorMergeInput): Float32Array;
}

export function num(v: ParamScalar | undefined, what: string): number {
  if (typeof v === 'number') return v;
  if (typeof v === 'boolean') return v ? 1 : 0; // Python: bool is an int
  throw new RangeError(`parameter ${what} must be a number, got ${JSON.stringify(v)}`);
}

export function bool(v: ParamScalar | undefined, what: string): boolean {
  if (typeof v === 'boolean') return v;
  if (typeof v === 'number') return v !== 0; // a gradient over booleans interpolates to a number, as in mergekit
  throw new RangeError(`parameter ${what} must be true or false, got ${JSON.stringify(v)}`);
}
