/**
 * Planning a merge (mergekit's MergePlanner): the config normalised to output slices, every output tensor with
 * the input tensors it reads and its resolved parameters, and every refusal decided here, from headers and
 * configs alone, before a single output byte is written.
 */
import { expectedTensorShapes } from '../../io/config.ts';
import { AlloyError } from '../../common/errors.ts';
import type { DType, FloatDType } from '../../io/safetensors/dtypes.ts';
import { dtypeName, type DtypeName, type MergeConfig, type SourceSpec } from './config.ts';
import type { MergeMethod, ParamScalar } from './methods/types.ts';
import { DEFAULT_POST_WEIGHTS, layerFraction, resolveParameter, type Parameters, type PostWeightsPosition } from './params.ts';
import type { Parent } from './parents.ts';
import { getMethod } from './registry.ts';
import type { OutputVocab } from './vocab.ts';

export interface PlannedInput {
  ref: string;
  /** tensor name in that model (layer index shifted by the source's layer_range) */
  tensor: string;
}

export interface PlannedTensor {
  name: string;
  shape: number[];
  inputs: PlannedInput[];
  baseIndex: number;
  params: Record<string, ParamScalar>;
  modelParams: Record<string, ParamScalar | undefined>[];
  /** dtype tensors are rounded to before merging (config dtype), or null to use them as stored */
  loadDtype: FloatDType | null;
  /** dtype written */
  outDtype: FloatDType;
  /** layer fraction used for this tensor's parameters */
  p: number;
  /** an embedding whose rows are permuted into the output vocabulary before merging (tokenizer rule) */
  permute: boolean;
}

export interface MergePlan {
  method: MergeMethod;
  baseRef: string;
  tensors: PlannedTensor[];
  numLayers: number;
  /** torch_dtype for config.json */
  torchDtype: string | null;
  warnings: string[];
}

export interface PlanOptions {
  postWeights?: PostWeightsPosition;
  /** mergekit's --allow-crimes: merge models of different architectures (tensor shapes must still agree) */
  allowCrimes?: boolean;
  /** the output vocabulary when the config has a tokenizer rule (buildOutputVocab) */
  vocab?: OutputVocab | null;
}

interface OutSlice {
  sources: SourceSpec[];
  baseRef: string | undefined;
  parameters?: Parameters;
}

const DTYPE_OF: Record<DtypeName, FloatDType> = { float32: 'F32', float16: 'F16', bfloat16: 'BF16' };
const NAME_OF: Record<FloatDType, DtypeName> = { F32: 'float32', F16: 'float16', BF16: 'bfloat16' };
const LAYER = /^model\.layers\.(\d+)\.(.+)$/;
const EMBED = 'model.embed_tokens.weight';
const LM_HEAD = 'lm_head.weight';

function fail(msg: string, where: ConstructorParameters<typeof AlloyError>[1] = {}): AlloyError {
  return new AlloyError(msg, where);
}

/** Every model reference the config names, base first. */
export function referencedModels(c: MergeConfig): string[] {
  const refs = new Set<string>();
  if (c.baseModel) refs.add(c.baseModel);
  for (const m of c.models ?? []) refs.add(m.model);
  for (const s of c.slices ?? []) {
    if (s.baseModel) refs.add(s.baseModel);
    for (const src of s.sources) refs.add(src.model);
  }
  return [...refs];
}

function normaliseSlices(c: MergeConfig, parents: Map<string, Parent>): OutSlice[] {
  if (c.slices) return c.slices.map((s) => ({ sources: s.sources, baseRef: s.baseModel ?? c.baseModel, parameters: s.parameters }));
  // mergekit's normalize_config: `models:` is one slice over every model's whole depth, plus the base when absent.
  const sources: SourceSpec[] = c.models!.map((m) => ({
    model: m.model,
    layerRange: [0, parents.get(m.model)!.config.numLayers],
    ...(m.parameters ? { parameters: m.parameters } : {}),
  }));
  if (c.baseModel && !sources.some((s) => s.model === c.baseModel)) {
    sources.push({ model: c.baseModel, layerRange: [0, parents.get(c.baseModel)!.config.numLayers] });
  }
  const lengths = sources.map((s) => s.layerRange[1]);
  if (!lengths.every((n) => n === lengths[0])) {
    throw fail(`the models have different numbers of layers (${sources.map((s, i) => `${s.model}: ${lengths[i]}`).join(', ')}); use slices with layer_range to say which layers merge`, { field: 'models' });
  }
  return [{ sources, baseRef: c.baseModel }];
}

/** Tensor names the output has, from the base's config: [pre, per-layer suffixes, post]. */
function tensorLayout(base: Parent): { pre: string[]; layer: string[]; post: string[] } {
  const names = [...expectedTensorShapes({ ...base.config, numLayers: 1 }).keys()];
  const pre: string[] = [];
  const layer: string[] = [];
  const post: string[] = [];
  for (const n of names) {
    const m = LAYER.exec(n);
    if (m) layer.push(m[2]!);
    else (layer.length === 0 ? pre : post).push(n);
  }
  // lm_head is optional in mergekit: written when any input has it, whatever the base's tie flag says.
  if (!post.includes(LM_HEAD)) post.push(LM_HEAD);
  return { pre, layer, post };
}

/** The model the output's config (and, by default, tokenizer) comes from: base_model, else the first source. */
export function baseRefOf(c: MergeConfig): string {
  return c.baseModel ?? (c.slices ? c.slices[0]!.sources[0]!.model : c.models![0]!.model);
}

export function planMerge(config: MergeConfig, parents: Map<string, Parent>, opts: PlanOptions = {}): MergePlan {
  const method = getMethod(config.mergeMethod);
  const warnings: string[] = [];
  const all = [...parents.values()];
  const slices = normaliseSlices(config, parents);
  const baseRef = baseRefOf(config);
  const base = parents.get(baseRef)!;

  const archs = new Set(all.map((p) => p.config.architecture));
  if (archs.size > 1) {
    const list = all.map((p) => `${p.ref}: ${p.config.architecture}`).join(', ');
    if (!opts.allowCrimes) throw fail(`the models have different architectures (${list}); mergekit refuses this too unless --allow-crimes`, { field: 'models' });
    warnings.push(`merging different architectures (${list}) because of --allow-crimes`);
  }

  slices.forEach((s, i) => {
    const where = config.slices ? `slice ${i + 1}` : 'models';
    if (method.requiresBase) {
      if (!s.baseRef) throw fail(`merge_method ${method.name} needs base_model`, { field: 'base_model' });
      if (!s.sources.some((src) => src.model === s.baseRef)) {
        throw fail(`${where}: base_model ${s.baseRef} is not one of its sources, but ${method.name} takes its task vectors against it`, { field: 'base_model' });
      }
    }
    if (method.maxModels !== undefined && s.sources.length > method.maxModels) {
      throw fail(`${where}: ${method.name} merges exactly ${method.maxModels} models, but ${s.sources.length} are given (${s.sources.map((x) => x.model).join(', ')})`, { field: 'models' });
    }
    for (const src of s.sources) {
      const n = parents.get(src.model)!.config.numLayers;
      if (src.layerRange[1] > n) throw fail(`${where}: layer_range [${src.layerRange.join(', ')}] of ${src.model} runs past its ${n} layers`, { field: 'layer_range' });
    }
  });

  const loadName = config.dtype ? dtypeName(config.dtype)! : null;
  const outName = config.outDtype ? dtypeName(config.outDtype)! : null;
  const loadDtype = loadName ? DTYPE_OF[loadName] : null;
  const vocab = opts.vocab ?? null;
  if (!vocab && (config.tokenizerSource !== undefined || config.tokenizer !== undefined)) {
    throw fail('the config has a tokenizer rule but no output vocabulary was built for it (buildOutputVocab)', { field: 'tokenizer_source' });
  }
  const post = opts.postWeights ?? DEFAULT_POST_WEIGHTS;
  const layout = tensorLayout(base);
  const tensors: PlannedTensor[] = [];

  const plan = (name: string, inputs: PlannedInput[], s: OutSlice, p: number, optional: boolean) => {
    // lm_head: skipped when no input has it; inputs without it read their (tied) embeddings, as mergekit does.
    const has = inputs.map((x) => parents.get(x.ref)!.checkpoint.tensors.has(x.tensor));
    if (optional && name === LM_HEAD) {
      if (!has.some(Boolean)) return;
      inputs = inputs.map((x, i) => (has[i] ? x : { ...x, tensor: EMBED }));
    } else {
      const missing = inputs.findIndex((_, i) => !has[i]);
      if (missing >= 0) {
        const x = inputs[missing]!;
        throw fail(`${x.ref} has no tensor "${x.tensor}" (needed for output tensor "${name}")`, { tensor: x.tensor });
      }
    }
    const baseIndex = s.baseRef ? s.sources.findIndex((src) => src.model === s.baseRef) : -1;
    const ref = inputs[Math.max(0, baseIndex)]!;
    const refInfo = parents.get(ref.ref)!.checkpoint.info(ref.tensor);
    const permute = vocab !== null && (name === EMBED || name === LM_HEAD);
    for (const x of inputs) {
      const shape = parents.get(x.ref)!.checkpoint.info(x.tensor).shape;
      if (shape.join() === refInfo.shape.join() && !permute) continue;
      if ((name === EMBED || name === LM_HEAD) && shape.length === 2 && shape[1] === refInfo.shape[1]) {
        if (permute) continue;
        throw fail(
          `"${name}": the vocabularies differ (${x.ref} has ${shape[0]} rows, ${ref.ref} ${refInfo.shape[0]}); set tokenizer_source (base, union or a model) to say which vocabulary the merge gets`,
          { tensor: name, field: 'tokenizer_source' },
        );
      }
      throw fail(`tensor "${name}" has shape [${shape.join(', ')}] in ${x.ref} ("${x.tensor}") but [${refInfo.shape.join(', ')}] in ${ref.ref}`, { tensor: name });
    }
    const params: Record<string, ParamScalar> = {};
    for (const spec of method.params) {
      const v = resolveParameter(spec.name, name, p, { slice: s.parameters, top: config.parameters }, false) ?? spec.default;
      if (v === undefined) throw fail(`missing required parameter ${spec.name} for ${name}`, { field: `parameters.${spec.name}`, tensor: name });
      params[spec.name] = v;
    }
    const modelParams = inputs.map((x, i) => {
      const src = s.sources[i]!;
      const out: Record<string, ParamScalar | undefined> = {};
      for (const spec of method.modelParams) {
        // per-model parameters are looked up under the INPUT tensor's name (mergekit's weight_in)
        const v = resolveParameter(spec.name, x.tensor, p, { source: src.parameters, slice: s.parameters, top: config.parameters }, true) ?? spec.default;
        // mergekit exempts the base (task-vector methods never read its weight); linear reads every model's
        if (v === undefined && !(method.requiresBase && i === baseIndex)) {
          throw fail(`missing required parameter ${spec.name} for ${src.model}.${x.tensor}`, { field: `parameters.${spec.name}`, tensor: x.tensor });
        }
        out[spec.name] = v;
      }
      return out;
    });
    const stored = parents.get(ref.ref)!.stored;
    const storedDtype: DType = stored.tensors.has(ref.tensor) ? stored.info(ref.tensor).dtype : refInfo.dtype;
    const castTo = loadDtype ?? asFloat(storedDtype, name);
    tensors.push({
      name,
      shape: permute ? [vocab!.size, refInfo.shape[1]!] : [...refInfo.shape],
      permute,
      inputs,
      baseIndex,
      params,
      modelParams,
      loadDtype,
      outDtype: outName ? DTYPE_OF[outName] : castTo,
      p,
    });
  };

  const first = slices[0]!;
  for (const n of layout.pre) plan(n, first.sources.map((s) => ({ ref: s.model, tensor: n })), first, 0, false);
  let outLayer = 0;
  for (const s of slices) {
    const len = s.sources[0]!.layerRange[1] - s.sources[0]!.layerRange[0];
    for (let idx = 0; idx < len; idx++, outLayer++) {
      const p = layerFraction(idx, len);
      for (const suffix of layout.layer) {
        plan(`model.layers.${outLayer}.${suffix}`, s.sources.map((src) => ({ ref: src.model, tensor: `model.layers.${src.layerRange[0] + idx}.${suffix}` })), s, p, false);
      }
    }
  }
  const last = slices[slices.length - 1]!;
  const pPost = post === 'head' ? 0 : 1;
  for (const n of layout.post) plan(n, last.sources.map((s) => ({ ref: s.model, tensor: n })), last, pPost, n === LM_HEAD);

  const torchDtype = outName ?? loadName ?? base.config.torchDtype;
  return { method, baseRef, tensors, numLayers: outLayer, torchDtype, warnings };
}

function asFloat(d: DType, tensor: string): FloatDType {
  if (d === 'F32' || d === 'F16' || d === 'BF16') return d;
  throw fail(`tensor "${tensor}" is stored as ${d}; merges read and write only F32, F16 and BF16`, { tensor });
}

export function dtypeNameOf(d: FloatDType): DtypeName {
  return NAME_OF[d];
}
