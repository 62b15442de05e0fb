// The Merge panel's settings as plain data, and the one translation between them and a mergekit config. The
// t-curves shown are evaluated with the engine's own params.ts on the tensor names the merge reads, so the chart
// is the merge, not a drawing of it. Pure (no Svelte, no DOM): unit-tested in tests/app/merge-settings.test.ts.
import { toMergeYaml, type MergeConfig, type ModelSpec } from '../../engine/merge/config.ts';
import { evaluateSetting, interpolate, isCondition, layerFraction, type Condition, type ParameterSetting, type Parameters } from '../../engine/merge/params.ts';
import { getMethod } from '../../engine/merge/registry.ts';
import type { ParamScalar } from '../../engine/merge/methods/types.ts';
import type { TrainRunSummary } from '../../worker/train-api.ts';

/** The methods the panel offers, SLERP first (the study's merge). */
export const PANEL_METHODS = ['slerp', 'linear', 'task_arithmetic', 'ties', 'dare_ties', 'dare_linear'] as const;

/** The tensor-name filters SLERP's t commonly takes (mergekit's examples); anything else uses the fallback. */
export const CURVE_FILTERS = ['self_attn', 'mlp'] as const;
export type CurveFilter = (typeof CURVE_FILTERS)[number];

export interface Curve {
  enabled: boolean;
  /** anchors evenly spaced over layer depth (mergekit's gradient list) */
  anchors: number[];
}

export interface MergeSettings {
  method: string;
  /** model references (as written in the YAML) */
  base: string;
  other: string;
  /** SLERP's t: a curve per filter, and the value for every other tensor */
  t: { curves: Record<CurveFilter, Curve>; fallback: number };
  /** the method's global parameters other than t (defaults included) */
  params: Record<string, ParamScalar>;
  /** per-model parameters (weight, density, …) by model reference */
  modelParams: Record<string, Record<string, ParamScalar>>;
  /** '' = as stored (the base's dtype) */
  dtype: '' | 'float32' | 'bfloat16' | 'float16';
}

/** What a new per-model parameter starts at when the method has no default (mergekit requires `weight`). */
const MODEL_PARAM_START: Record<string, number> = { weight: 1, density: 1 };

export function defaultSettings(method: string, base: string, other: string): MergeSettings {
  const m = getMethod(method);
  const params: Record<string, ParamScalar> = {};
  for (const p of m.params) if (p.name !== 't' && p.default !== undefined) params[p.name] = p.default;
  const modelParams: Record<string, Record<string, ParamScalar>> = {};
  for (const ref of [base, other]) {
    // Task-vector methods never read the base's weight (mergekit exempts it); linear reads both.
    if (m.requiresBase && ref === base) continue;
    if (m.modelParams.length === 0) continue; // SLERP: nothing per model
    modelParams[ref] = Object.fromEntries(m.modelParams.map((p) => [p.name, p.default ?? MODEL_PARAM_START[p.name] ?? 1]));
  }
  return {
    method,
    base,
    other,
    t: {
      curves: { self_attn: { enabled: true, anchors: [0, 0.5, 0.3, 0.7, 1] }, mlp: { enabled: true, anchors: [1, 0.5, 0.7, 0.3, 0] } },
      fallback: 0.5,
    },
    params,
    modelParams,
    dtype: '',
  };
}

/** SLERP's `t` as mergekit takes it: a scalar when no curve is on, else filter conditions ending in the fallback. */
export function tSetting(s: MergeSettings): ParameterSetting {
  const conds: Condition[] = [];
  for (const f of CURVE_FILTERS) {
    const c = s.t.curves[f];
    if (c.enabled) conds.push({ filter: f, value: [...c.anchors] });
  }
  if (conds.length === 0) return s.t.fallback;
  conds.push({ value: s.t.fallback });
  return conds;
}

export function toMergeConfig(s: MergeSettings): MergeConfig {
  const m = getMethod(s.method);
  const model = (ref: string): ModelSpec => {
    const p = s.modelParams[ref];
    return p && Object.keys(p).length > 0 ? { model: ref, parameters: { ...p } } : { model: ref };
  };
  const parameters: Parameters = {};
  if (s.method === 'slerp') parameters.t = tSetting(s);
  for (const spec of m.params) {
    const v = s.params[spec.name];
    // Defaults are left out, as a person writing the YAML would; mergekit applies the same defaults.
    if (spec.name !== 't' && v !== undefined && v !== spec.default) parameters[spec.name] = v;
  }
  const c: MergeConfig = { mergeMethod: s.method, models: [model(s.base), model(s.other)], baseModel: s.base };
  if (Object.keys(parameters).length > 0) c.parameters = parameters;
  if (s.dtype) c.dtype = s.dtype;
  return c;
}

export function settingsToYaml(s: MergeSettings): string {
  return toMergeYaml(toMergeConfig(s));
}

const isNumList = (v: unknown): v is number[] => Array.isArray(v) && v.length > 0 && v.every((x) => typeof x === 'number');

/** Reads SLERP's t back into curves; null when it takes a shape the editor cannot show (it is then kept as YAML). */
function tFromSetting(v: ParameterSetting | undefined): MergeSettings['t'] | null {
  const off = (): Curve => ({ enabled: false, anchors: [0.5, 0.5] });
  const t: MergeSettings['t'] = { curves: { self_attn: off(), mlp: off() }, fallback: 0.5 };
  if (v === undefined) return null;
  if (typeof v === 'number') return { ...t, fallback: v };
  const conds = isCondition(v) ? [v] : Array.isArray(v) && v.every(isCondition) ? (v as Condition[]) : null;
  if (!conds) return null;
  let fallback: number | undefined;
  for (const c of conds) {
    const f = c.filter ?? undefined;
    if (f === undefined || f === '*') {
      if (typeof c.value !== 'number') return null;
      fallback = c.value;
      break; // later conditions are never reached
    }
    if (!(CURVE_FILTERS as readonly string[]).includes(f) || t.curves[f as CurveFilter].enabled) return null;
    const anchors = typeof c.value === 'number' ? [c.value, c.value] : isNumList(c.value) ? (c.value.length === 1 ? [c.value[0]!, c.value[0]!] : c.value) : null;
    if (!anchors) return null;
    t.curves[f as CurveFilter] = { enabled: true, anchors: [...anchors] };
  }
  if (fallback === undefined) return null; // mergekit would fail on tensors no filter matches
  return { ...t, fallback };
}

/**
 * A pasted config as panel settings, or null when it says more than the panel can show (slices, more than two
 * models, gradients on other parameters, …): the panel then merges the pasted YAML as it is.
 */
export function fromMergeConfig(c: MergeConfig): MergeSettings | null {
  if (!(PANEL_METHODS as readonly string[]).includes(c.mergeMethod) || !c.models || c.models.length !== 2 || !c.baseModel) return null;
  if (c.tokenizer || c.tokenizerSource || c.chatTemplate || c.outDtype) return null;
  const refs = c.models.map((m) => m.model);
  if (!refs.includes(c.baseModel) || refs[0] === refs[1]) return null;
  const other = refs.find((r) => r !== c.baseModel)!;
  const s = defaultSettings(c.mergeMethod, c.baseModel, other);
  const m = getMethod(c.mergeMethod);
  for (const [k, v] of Object.entries(c.parameters ?? {})) {
    if (k === 't' && c.mergeMethod === 'slerp') {
      const t = tFromSetting(v);
      if (!t) return null;
      s.t = t;
    } else if (m.params.some((p) => p.name === k) && (typeof v === 'number' || typeof v === 'boolean')) {
      s.params[k] = v;
    } else return null;
  }
  if (c.mergeMethod === 'slerp' && c.parameters?.t === undefined) return null; // t is required
  for (const spec of c.models) {
    for (const [k, v] of Object.entries(spec.parameters ?? {})) {
      if (!m.modelParams.some((p) => p.name === k) || typeof v !== 'number') return null;
      (s.modelParams[spec.model] ??= {})[k] = v;
    }
  }
  if (c.dtype) {
    const d = c.dtype.replace(/^torch\./, '');
    if (d !== 'float32' && d !== 'bfloat16' && d !== 'float16') return null;
    s.dtype = d;
  }
  return s;
}

/** A tensor of layer i that the filter matches (names as config.ts's expectedTensorShapes writes them). */
export function sampleTensor(filter: CurveFilter | 'other', layer: number): string {
  if (filter === 'self_attn') return `model.layers.${layer}.self_attn.q_proj.weight`;
  if (filter === 'mlp') return `model.layers.${layer}.mlp.gate_proj.weight`;
  return `model.layers.${layer}.input_layernorm.weight`;
}

/** The t each layer's tensors of this kind get in the merge, read through params.ts exactly as plan.ts does. */
export function tPerLayer(s: MergeSettings, filter: CurveFilter | 'other', numLayers: number): number[] {
  const setting = tSetting(s);
  return Array.from({ length: numLayers }, (_, i) => {
    const v = evaluateSetting(sampleTensor(filter, i), setting, layerFraction(i, numLayers));
    return typeof v === 'number' ? v : Number(v);
  });
}

/** n anchors that follow the curve of `anchors` (used to add or remove an anchor without changing its shape much). */
export function resampleAnchors(anchors: readonly number[], n: number): number[] {
  if (n < 2) throw new RangeError('a curve has at least two anchors');
  return Array.from({ length: n }, (_, k) => round(interpolate(anchors, k / (n - 1))));
}

/** Values the editor writes are rounded to 3 decimals, so the YAML stays readable. */
export function round(x: number): number {
  return Math.round(x * 1000) / 1000;
}

export function clamp01(x: number): number {
  return Math.min(1, Math.max(0, x));
}

/** "0, 0.5, 1" → [0, 0.5, 1]; null when any entry is not a number in [0, 1]. */
export function parseTList(text: string): number[] | null {
  const parts = text.split(/[,\s]+/).filter(Boolean);
  if (parts.length === 0) return null;
  const ts = parts.map(Number);
  return ts.every((t) => Number.isFinite(t) && t >= 0 && t <= 1) ? ts : null;
}

/** t = 0, 0.1, …, 1 */
export const DEFAULT_SWEEP = Array.from({ length: 11 }, (_, i) => i / 10);

/**
 * A stored LoRA adapter offered as a merge parent "model + adapter": mergekit's `model: base+lora_path`, the
 * adapter folded into its base model before the merge (engine/merge/parents.ts, as `alloy merge` reads it).
 */
export interface AdapterParent {
  /** the picker's value for it (never a cache id) */
  key: string;
  runId: string;
  step: number;
  /** lora_path as the YAML writes it: a folder name to export the adapter into for mergekit */
  ref: string;
  /** the cached base model it was trained or imported for */
  modelId: string;
  /** e.g. "alloy-fixtures/tiny-llama@main + story-lora" */
  label: string;
  /** e.g. "story-lora" or "SFT · tiny · data.jsonl (step 40)" */
  adapterLabel: string;
}

export const adapterKey = (runId: string, step: number) => `adapter:${runId}@${step}`;

const slug = (s: string) => s.replace(/[^A-Za-z0-9._-]+/g, '-').replace(/^[-.]+|-+$/g, '');

/**
 * Every checkpoint of every stored adapter whose base model is cached, newest checkpoint first, each with a
 * lora_path unique among them: `adapters/<label>` for an imported adapter, `adapters/<label>-step<N>` for a
 * trained run's checkpoint. The path holds no "+" (mergekit splits a reference on it).
 */
export function adapterParents(
  runs: readonly Pick<TrainRunSummary, 'id' | 'label' | 'modelId' | 'checkpoints' | 'imported'>[],
  models: readonly { id: string; label: string }[],
): AdapterParent[] {
  const out: AdapterParent[] = [];
  const used = new Set<string>();
  for (const r of runs) {
    const model = models.find((m) => m.id === r.modelId);
    if (!model) continue; // its base model was deleted: nothing to fold it into
    for (const step of [...r.checkpoints].reverse()) {
      const name = slug(r.label) || 'adapter';
      let ref = `adapters/${r.imported ? name : `${name}-step${step}`}`;
      for (let n = 2; used.has(ref); n++) ref = `adapters/${r.imported ? name : `${name}-step${step}`}-${n}`;
      used.add(ref);
      const adapterLabel = `${r.label}${r.imported ? '' : ` (step ${step})`}`;
      out.push({ key: adapterKey(r.id, step), runId: r.id, step, ref, modelId: model.id, label: `${model.label} + ${adapterLabel}`, adapterLabel });
    }
  }
  return out;
}
