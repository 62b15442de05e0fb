/**
 * The recipe's merge: SLERP of the final model with the original one, as the study's merge_SLERP_and_save does
 * (REFERENCE-SEMANTICS.md §5.4): one slice over all layers, base_model = the original (t = 0), the fine-tuned model
 * at t = 1, t possibly a gradient over depth with self_attn / mlp filters. Runs through the merge engine (runMerge),
 * so the result is what `alloy merge` gives for the same YAML.
 */
import type { ByteSink } from '../../io/bytes.ts';
import type { ModelFiles } from '../../io/model-files.ts';
import { AlloyError } from '../../common/errors.ts';
import { toMergeYaml, type MergeConfig } from '../merge/config.ts';
import type { ParameterSetting } from '../merge/params.ts';
import { runMerge, type MergeProgress, type MergeResult, type SlerpAccelerator } from '../merge/run.ts';
import type { TSetting } from './spec.ts';

/** Names the merge config gives the two models unless told otherwise (what mergekit_config.yml records). */
export const ORIGINAL_REF = 'original';
export const TUNED_REF = 'tuned';
/** the config file runMerge writes beside the weights */
export const MERGE_YAML = 'mergekit_config.yml';

/** A TSetting as mergekit's `t` parameter: scalar, anchors, or [{filter: self_attn}, {filter: mlp}, {value}]. */
export function tParameter(t: TSetting): ParameterSetting {
  if (typeof t === 'number' || Array.isArray(t)) return t;
  return [
    ...(t.selfAttn !== undefined ? [{ filter: 'self_attn', value: t.selfAttn }] : []),
    ...(t.mlp !== undefined ? [{ filter: 'mlp', value: t.mlp }] : []),
    { value: t.default },
  ];
}

/**
 * mergekit's `t` back as a TSetting (tParameter's inverse): a scalar or anchors as they are, conditions as the
 * self_attn / mlp / default form; null for what a recipe's t cannot be (another filter, a condition without a
 * default, non-numeric values).
 */
export function tSettingOf(p: ParameterSetting): TSetting | null {
  const numeric = (v: unknown): v is number | number[] => typeof v === 'number' || (Array.isArray(v) && v.length > 0 && v.every((x) => typeof x === 'number'));
  if (numeric(p)) return p;
  const conds = Array.isArray(p) ? p : [p];
  const out: { selfAttn?: number | number[]; mlp?: number | number[]; default?: number | number[] } = {};
  for (const c of conds) {
    if (typeof c !== 'object' || c === null || !('value' in c) || !numeric(c.value)) return null;
    const key = c.filter == null ? 'default' : c.filter === 'self_attn' ? 'selfAttn' : c.filter === 'mlp' ? 'mlp' : null;
    if (key === null || out[key] !== undefined) return null;
    out[key] = c.value;
  }
  if (out.default === undefined) return null;
  return { ...(out.selfAttn !== undefined ? { selfAttn: out.selfAttn } : {}), ...(out.mlp !== undefined ? { mlp: out.mlp } : {}), default: out.default };
}

export function slerpConfig(t: TSetting, numLayers: number, original = ORIGINAL_REF, tuned = TUNED_REF): MergeConfig {
  return {
    mergeMethod: 'slerp',
    slices: [
      {
        sources: [
          { model: tuned, layerRange: [0, numLayers] },
          { model: original, layerRange: [0, numLayers] },
        ],
      },
    ],
    baseModel: original,
    parameters: { t: tParameter(t) },
  };
}

export interface SlerpStepOptions {
  original: ModelFiles;
  tuned: ModelFiles;
  t: TSetting;
  numLayers: number;
  /** the names mergekit_config.yml gives the two models */
  refs?: { original: string; tuned: string };
  openSink: (name: string) => Promise<ByteSink>;
  accelerator?: SlerpAccelerator;
  onProgress?: (p: MergeProgress) => void;
  signal?: AbortSignal;
}

export async function slerpWithOriginal(o: SlerpStepOptions): Promise<MergeResult> {
  const refs = o.refs ?? { original: ORIGINAL_REF, tuned: TUNED_REF };
  if (refs.original === refs.tuned) throw new AlloyError(`the merge's two models need different names, both are "${refs.original}"`, { field: 'model' });
  const config = slerpConfig(o.t, o.numLayers, refs.original, refs.tuned);
  const files: Record<string, ModelFiles> = { [refs.original]: o.original, [refs.tuned]: o.tuned };
  return runMerge({
    config,
    configYaml: toMergeYaml(config),
    resolveModel: async (ref) => {
      const f = files[ref];
      if (!f) throw new AlloyError(`the recipe's merge names "${ref}", which is neither ${refs.original} nor ${refs.tuned}`, { field: 'model' });
      return f;
    },
    openSink: o.openSink,
    ...(o.accelerator ? { accelerator: o.accelerator } : {}),
    ...(o.onProgress ? { onProgress: o.onProgress } : {}),
    ...(o.signal ? { signal: o.signal } : {}),
  });
}
