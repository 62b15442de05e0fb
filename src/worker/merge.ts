// The worker's merge jobs: a merge of cached parents into a new cache entry, the parents' per-tensor distances,
// and the t sweep (merge, score on a benchmark, repeat). Everything streams tensor by tensor through the engine's
// public API (runMerge, openCheckpoint), so memory stays a few tensors whatever the model size.
import { AlloyError, CancelledError, isCancelled, throwIfAborted } from '../common/errors.ts';
import { ProgressMeter, type ProgressFn } from '../io/progress.ts';
import { hasFile, memoryModelFiles, readJson, readText, type ModelFiles } from '../io/model-files.ts';
import { ADAPTER_CONFIG, ADAPTER_WEIGHTS, readPeftAdapter } from '../io/peft.ts';
import { parseModelConfig } from '../io/config.ts';
import { openCheckpoint, type Checkpoint } from '../io/safetensors/checkpoint.ts';
import { loadTokenizer } from '../io/tokenizer.ts';
import type { CachedModelSummary, WeightCache } from '../io/cache/weight-cache.ts';
import { createEntryWriter } from '../io/cache/store.ts';
import type { Lineage } from '../io/cache/names.ts';
import { parseMergeYaml, toMergeYaml, type MergeConfig } from '../engine/merge/config.ts';
import { runMerge, type SlerpAccelerator } from '../engine/merge/run.ts';
import { openParent } from '../engine/merge/parents.ts';
import { withAdapter } from '../engine/lora/fold.ts';
import { gpuSlerpAccelerator } from '../engine/merge/gpu-slerp.ts';
import { slerp } from '../engine/merge/methods/slerp.ts';
import { loadModel, scoreContinuations } from '../engine/model/index.ts';
import { encodePairs, evaluateMultipleChoice, type MultipleChoiceItem } from '../engine/eval/multiple-choice.ts';
import { gpuEngine } from './gpu-state.ts';
import type { StoredAdapterFiles } from './chat.ts';
import type {
  AdapterChoice,
  LayerDistance,
  MergeParent,
  MergeRequest,
  ParentDistances,
  RawTensor,
  SweepPoint,
  SweepRequest,
  TensorDistance,
  TensorKind,
} from './api.ts';

export interface MergeDeps {
  cache(): Promise<WeightCache>;
  files(id: string): Promise<ModelFiles>;
  /** a stored adapter's PEFT files, for `model+lora` parents (train.ts storedAdapter) */
  adapter?(runId: string, step?: number): Promise<StoredAdapterFiles>;
}

/** The file every merged entry carries (run.ts writes it), read back by exportMergeYaml. */
export const MERGE_YAML = 'mergekit_config.yml';

/**
 * SLERP on the GPU only for tensors of at least 2^18 elements, exactly as the CLI's `--device auto` decides:
 * smaller tensors take the CPU path in both, so a merge made here and one made by `alloy merge` are bit-identical.
 */
const GPU_MIN_ELEMENTS = 1 << 18;

function accelerator(): SlerpAccelerator {
  let gpu: Promise<SlerpAccelerator | undefined> | undefined;
  const get = () =>
    (gpu ??= gpuEngine().then(
      (e) => gpuSlerpAccelerator(e.ctx, GPU_MIN_ELEMENTS),
      () => undefined, // no WebGPU: the CPU merges everything
    ));
  return {
    accepts: (n) => n >= GPU_MIN_ELEMENTS,
    slerp: async (t, a, b) => {
      const g = await get();
      return g?.accepts(a.length) ? g.slerp(t, a, b) : slerp(t, a, b);
    },
  };
}

function parseRequestYaml(yaml: string): MergeConfig {
  return parseMergeYaml(yaml, 'merge.yml').config;
}

/** A stored adapter as the PEFT folder a `model+lora_path` reference names (what mergekit would read from disk). */
async function adapterFiles(deps: MergeDeps, choice: AdapterChoice): Promise<ModelFiles> {
  if (!deps.adapter) throw new AlloyError('stored adapters cannot be merge parents here');
  const a = await deps.adapter(choice.runId, choice.step);
  return memoryModelFiles({ [ADAPTER_CONFIG]: a.config, [ADAPTER_WEIGHTS]: a.weights }, `${a.label} (step ${a.step})`);
}

/**
 * References as the engine resolves them: a model reference (and the model half of `model+lora`) is a key of
 * `parents`; the lora half is a key of `adapters`, a stored adapter whose files are those the Train panel exports.
 */
export function resolver(deps: MergeDeps, parents: Record<string, string>, adapters: Record<string, AdapterChoice> = {}) {
  return async (ref: string): Promise<ModelFiles> => {
    const adapter = adapters[ref];
    if (adapter) return adapterFiles(deps, adapter);
    const id = parents[ref];
    if (id === undefined) {
      const known = [...Object.keys(parents), ...Object.keys(adapters)].join(', ');
      throw new AlloyError(`the merge names model "${ref}", which is not one of the chosen parents (${known})`, { field: 'model' });
    }
    return deps.files(id);
  };
}

/** One merge into a new cache entry; the entry is committed only after the last file closed. */
async function mergeInto(
  deps: MergeDeps,
  config: MergeConfig,
  yaml: string,
  parents: Record<string, string>,
  adapters: Record<string, AdapterChoice> | undefined,
  name: { label: string; lineage?: Lineage },
  signal: AbortSignal,
  onProgress?: ProgressFn,
  debugDelayMs = 0,
): Promise<CachedModelSummary> {
  const writer = await createEntryWriter(await deps.cache(), { ...name, source: 'merge', repo: 'merge' });
  let meter: ProgressMeter | null = null;
  try {
    await runMerge({
      config,
      configYaml: yaml,
      resolveModel: resolver(deps, parents, adapters),
      openSink: async (name) => {
        const sink = await writer.openSink(name);
        if (debugDelayMs <= 0) return sink;
        return { write: async (b) => (await sink.write(b), await new Promise((r) => setTimeout(r, debugDelayMs))), close: () => sink.close() };
      },
      accelerator: accelerator(),
      signal,
      onProgress: (p) => {
        meter ??= new ProgressMeter(p.tensorsTotal, onProgress, 'merging', 'items');
        meter.add(p.tensorsDone - meter.value, p.tensor);
      },
    });
    throwIfAborted(signal, 'merge');
    return await writer.commit();
  } catch (e) {
    await writer.abort().catch(() => undefined);
    throw isCancelled(e) && !(e instanceof CancelledError) ? new CancelledError('merge') : e;
  }
}

export function defaultLabel(config: MergeConfig): string {
  const refs = [...new Set([config.baseModel, ...(config.models ?? []).map((m) => m.model), ...(config.slices ?? []).flatMap((s) => s.sources.map((x) => x.model))])]
    .filter((r): r is string => !!r)
    .map((r) => r.split('/').at(-1));
  return `${config.mergeMethod}(${refs.join(', ')})`;
}

/** A merge's lineage as its config says: the method, the base and the other parent (a sweep adds its t). */
export function mergeLineage(config: MergeConfig, t?: number): Lineage {
  const others = [...new Set([...(config.models ?? []).map((m) => m.model), ...(config.slices ?? []).flatMap((s) => s.sources.map((x) => x.model))])].filter((r) => r !== config.baseModel);
  return {
    stage: config.mergeMethod,
    ...(config.baseModel ? { base: config.baseModel } : {}),
    ...(others.length ? { other: others.join(', ') } : {}),
    ...(t !== undefined ? { t: String(t) } : {}),
  };
}

export function mergeModels(deps: MergeDeps, req: MergeRequest, signal: AbortSignal, onProgress?: ProgressFn): Promise<CachedModelSummary> {
  const config = parseRequestYaml(req.yaml);
  const name = { label: req.label ?? defaultLabel(config), lineage: req.lineage ?? mergeLineage(config) };
  return mergeInto(deps, config, req.yaml, req.parents, req.adapters, name, signal, onProgress, req.debugDelayMs);
}

export async function exportMergeYaml(deps: MergeDeps, id: string): Promise<string | null> {
  const m = await deps.files(id);
  return hasFile(m, MERGE_YAML) ? readText(m, MERGE_YAML) : null;
}

const LAYER = /^model\.layers\.(\d+)\./;

export function tensorKind(name: string): TensorKind {
  if (name.includes('.self_attn.')) return 'attention';
  if (name.includes('.mlp.')) return 'mlp';
  return 'other';
}

/** cosine and angle of two tensors as flattened vectors, accumulated in float64. */
export function cosineOf(a: Float32Array, b: Float32Array): { cosine: number; angleDeg: number } {
  let ab = 0;
  let aa = 0;
  let bb = 0;
  for (let i = 0; i < a.length; i++) {
    const x = a[i]!;
    const y = b[i]!;
    ab += x * y;
    aa += x * x;
    bb += y * y;
  }
  const denom = Math.sqrt(aa) * Math.sqrt(bb);
  // Two zero tensors point the same way as far as SLERP is concerned (it falls back to linear).
  const cosine = denom > 0 ? Math.max(-1, Math.min(1, ab / denom)) : 1;
  return { cosine, angleDeg: (Math.acos(cosine) * 180) / Math.PI };
}

/** Mean angle per layer and kind: where SLERP bends the most (each tensor is interpolated on its own arc). */
export function groupByLayer(tensors: readonly TensorDistance[]): LayerDistance[] {
  const layers = new Map<number, { attention: number[]; mlp: number[] }>();
  for (const t of tensors) {
    if (t.layer === null || t.kind === 'other') continue;
    const g = layers.get(t.layer) ?? { attention: [], mlp: [] };
    g[t.kind].push(t.angleDeg);
    layers.set(t.layer, g);
  }
  const mean = (xs: number[]) => (xs.length ? xs.reduce((s, x) => s + x, 0) / xs.length : null);
  return [...layers].sort((a, b) => a[0] - b[0]).map(([layer, g]) => ({ layer, attention: mean(g.attention), mlp: mean(g.mlp) }));
}

/** What a parent's tensors are: the cached model's, with a stored adapter folded in for `model+lora`. */
async function parentCheckpoint(deps: MergeDeps, p: string | MergeParent): Promise<Checkpoint> {
  const spec = typeof p === 'string' ? { modelId: p } : p;
  const stored = await openCheckpoint(await deps.files(spec.modelId));
  return spec.adapter ? withAdapter(stored, await readPeftAdapter(await adapterFiles(deps, spec.adapter))) : stored;
}

export async function parentDistances(deps: MergeDeps, pa: string | MergeParent, pb: string | MergeParent, signal: AbortSignal, onProgress?: ProgressFn): Promise<ParentDistances> {
  const a = await parentCheckpoint(deps, pa);
  const b = await parentCheckpoint(deps, pb);
  const skipped: string[] = [];
  const names = a.names().filter((n) => {
    const ok = b.tensors.has(n) && a.info(n).shape.join() === b.info(n).shape.join();
    if (!ok) skipped.push(n);
    return ok;
  });
  for (const n of b.names()) if (!a.tensors.has(n)) skipped.push(n);
  const meter = new ProgressMeter(names.length, onProgress, 'comparing', 'items');
  const tensors: TensorDistance[] = [];
  for (const name of names) {
    throwIfAborted(signal, 'comparison');
    // One pair of tensors in memory at a time.
    const { cosine, angleDeg } = cosineOf(await a.readF32(name), await b.readF32(name));
    const m = LAYER.exec(name);
    tensors.push({ name, layer: m ? Number(m[1]) : null, kind: tensorKind(name), cosine, angleDeg, elements: a.info(name).shape.reduce((x, y) => x * y, 1) });
    meter.add(1, name);
  }
  return { tensors, layers: groupByLayer(tensors), skipped };
}

/**
 * Scores one cached model (or `checkpoint`, a parent with its adapter folded in, with `files`' config and tokenizer)
 * on a benchmark on the GPU; the model is uploaded for this and disposed after.
 */
async function scoreModel(files: ModelFiles, items: MultipleChoiceItem[], signal: AbortSignal, checkpoint?: Checkpoint) {
  const config = parseModelConfig(await readJson(files, 'config.json'), `${files.label}/config.json`);
  checkpoint ??= await openCheckpoint(files);
  const tok = await loadTokenizer(files);
  const engine = await gpuEngine();
  const model = await loadModel(engine.ctx, engine.kernels, engine.pool, checkpoint, config);
  try {
    return await evaluateMultipleChoice(
      items,
      async (reqs) => {
        const ids = encodePairs((text) => tok.encode(text), reqs);
        return (await scoreContinuations(model, ids)).map((s) => s.logProb);
      },
      { signal },
    );
  } finally {
    model.dispose();
    engine.pool.trim();
  }
}

/** The config with `t` a plain scalar everywhere (the sweep's point), other parameters untouched. */
export function withScalarT(config: MergeConfig, t: number): MergeConfig {
  const c = structuredClone(config);
  c.parameters = { ...c.parameters, t };
  for (const s of c.slices ?? []) if (s.parameters) delete s.parameters.t;
  return c;
}

export async function mergeSweep(
  deps: MergeDeps,
  req: SweepRequest,
  signal: AbortSignal,
  onPoint?: (p: SweepPoint) => void,
  onProgress?: ProgressFn,
): Promise<SweepPoint[]> {
  const config = parseRequestYaml(req.yaml);
  if (config.mergeMethod !== 'slerp') throw new AlloyError('a t sweep needs merge_method slerp', { field: 'merge_method' });
  if (req.ts.length === 0) throw new AlloyError('the sweep has no t values', { field: 't' });
  const base = config.baseModel;
  // the references as the config writes them (a `model+lora` parent is not itself a key of parents)
  const other = (config.models?.map((m) => m.model) ?? Object.keys(req.parents)).find((r) => r !== base);
  if (!base || !other) throw new AlloyError('a t sweep needs a base_model and one other model', { field: 'base_model' });
  const items = req.benchmark.items;
  // steps: both parents scored, then for each t one merge and one scoring
  const meter = new ProgressMeter(2 + 2 * req.ts.length, onProgress, `sweep on ${req.benchmark.name}`, 'items');
  const points: SweepPoint[] = [];
  const emit = (p: SweepPoint) => {
    points.push(p);
    onPoint?.(p);
  };

  for (const [kind, ref, t] of [['base', base, 0], ['other', other, 1]] as const) {
    throwIfAborted(signal, 'sweep');
    const parent = await openParent(ref, resolver(deps, req.parents, req.adapters));
    const s = await scoreModel(parent.files, items, signal, parent.checkpoint);
    meter.add(1, `${ref} scored`);
    emit({ kind, t, acc: s.acc, accNorm: s.accNorm, n: s.n, modelId: null });
  }
  for (const t of req.ts) {
    throwIfAborted(signal, 'sweep');
    const c = withScalarT(config, t);
    const entry = await mergeInto(deps, c, toMergeYaml(c), req.parents, req.adapters, { label: req.label, lineage: mergeLineage(c, t) }, signal);
    meter.add(1, `merged t=${t}`);
    let kept = false;
    try {
      const s = await scoreModel(await deps.files(entry.id), items, signal);
      meter.add(1, `scored t=${t}`);
      kept = req.keep;
      emit({ kind: 'merge', t, acc: s.acc, accNorm: s.accNorm, n: s.n, modelId: kept ? entry.id : null });
    } finally {
      // A temporary entry goes as soon as it is scored, or when the sweep stops while scoring it.
      if (!kept) await (await deps.cache()).delete(entry.id);
    }
  }
  return points;
}

export async function readTensors(deps: MergeDeps, id: string): Promise<RawTensor[]> {
  const ck = await openCheckpoint(await deps.files(id));
  const out: RawTensor[] = [];
  for (const name of ck.names()) {
    const { dtype, shape } = ck.info(name);
    out.push({ name, dtype: String(dtype), shape: [...shape], bytes: await ck.readRaw(name) });
  }
  return out;
}
