// The worker's training job: LoRA (or, settings.mode 'full', every parameter) on a cached model with a dataset, through the engine's Trainer
// (engine/train/trainer.ts), events streamed to the page, checkpoints in IndexedDB (io/cache/checkpoint-idb.ts)
// under a run id whose record (train-runs.ts) holds the whole request, so a run survives a tab reload and resumes
// from its latest checkpoint with the same loss curve (the Trainer is deterministic and the checkpoint carries the
// data order and the history). Then the adapter goes out as a PEFT zip, or folded into its base as a new cached
// model in the Hugging Face layout, written through the merge's entry writer (complete or absent). A full run has no
// adapter: its result is saved as a new cached model when it ends (train/full-model.ts), and listed with the run.
// A PEFT adapter imported from files (adapter-import.ts) is stored the same way, as a record with one checkpoint,
// so it is listed, exported and folded exactly like a trained one.
//
// One run trains at a time (per worker). While it runs, the worker holds the Web Lock "alloy-train:<run id>", so
// any tab can tell a run that is training somewhere from one whose tab went away ('interrupted').
import { AlloyError, CancelledError, isCancelled, throwIfAborted } from '../common/errors.ts';
import { BlobSink, type ByteSource } from '../io/bytes.ts';
import { ProgressMeter, type ProgressFn } from '../io/progress.ts';
import { hasFile, memoryModelFiles, readBytes, readJson, type ModelFiles } from '../io/model-files.ts';
import { parseModelConfig, type ModelConfig } from '../io/config.ts';
import { ggmlTypesOf, openCheckpoint, writeCheckpoint } from '../io/safetensors/checkpoint.ts';
import { writeSafetensors, type TensorToWrite } from '../io/safetensors/writer.ts';
import { encodeFromF32, type FloatDType } from '../io/safetensors/dtypes.ts';
import { ADAPTER_CONFIG, ADAPTER_WEIGHTS, readPeftAdapter } from '../io/peft.ts';
import type { AlloyTokenizer } from '../io/tokenizer.ts';
import type { CachedModelSummary, WeightCache } from '../io/cache/weight-cache.ts';
import { createEntryWriter } from '../io/cache/store.ts';
import { shortName, slugName, type Lineage } from '../io/cache/names.ts';
import { idbCheckpointStore } from '../io/cache/checkpoint-idb.ts';
import { zipStore } from '../io/zip.ts';
import { writeRange } from '../engine/gpu/buffer-pool.ts';
import { loadModel, type Model } from '../engine/model/index.ts';
import { createLora, peftConfigJson, type GpuLora } from '../engine/lora/adapter.ts';
import type { LoraTarget } from '../engine/lora/targets.ts';
import { foldedDtype, withAdapter } from '../engine/lora/fold.ts';
import { TOKENIZER_FILES } from '../engine/merge/run.ts';
import { IMPORTED_STEP, checkpointAdapterTensors, encodeImportedAdapter } from '../engine/train/checkpoint.ts';
import { TRAIN_DEFAULTS } from '../engine/train/defaults.ts';
import { TrainControl, Trainer } from '../engine/train/trainer.ts';
import { createFullParams, type FullParams } from '../engine/train/full-params.ts';
import { writeFullModel } from '../engine/train/full-model.ts';
import { gpuEngine, type GpuEngine } from './gpu-state.ts';
import { assessPlan, configOf, prepareTrainData, weightDtypeOf, type PreparedData } from './train-data.ts';
import { TrainRunStore } from '../io/cache/train-runs.ts';
import { uploadedAdapterFiles, validateAdapter, type ValidatedAdapter } from './adapter-import.ts';
import type { StoredAdapterFiles } from './chat.ts';
import type {
  AdapterExport,
  AdapterImportRequest,
  AdapterImportResult,
  FoldResult,
  TrainEvent,
  TrainOutcome,
  TrainPlan,
  TrainRequest,
  TrainRunRecord,
  TrainRunSummary,
  TrainSettings,
} from './train-api.ts';

export interface TrainDeps {
  cache(): Promise<WeightCache>;
  files(id: string): Promise<ModelFiles>;
  tokenizer(id: string): Promise<AlloyTokenizer>;
}

const lockName = (runId: string) => `alloy-train:${runId}`;
const locks = (): LockManager | undefined => (globalThis.navigator as Navigator | undefined)?.locks;

function newRunId(prefix = 'run'): string {
  return `${prefix}-${globalThis.crypto?.randomUUID?.() ?? `${Date.now().toString(36)}-${Math.random().toString(36).slice(2)}`}`;
}

const slug = (s: string) => s.replace(/[^A-Za-z0-9._-]+/g, '-').replace(/^-+|-+$/g, '');

/** Holds the run's Web Lock until the returned function is called (no-op without Web Locks). */
async function holdLock(runId: string): Promise<() => void> {
  const lm = locks();
  if (!lm?.request) return () => {};
  let release!: () => void;
  const held = new Promise<void>((r) => (release = r));
  let got = false;
  await new Promise<void>((acquired) => {
    void lm.request(lockName(runId), { ifAvailable: true }, (lock) => {
      got = lock !== null;
      acquired();
      return got ? held : undefined;
    });
  });
  if (!got) throw new AlloyError('this run is training in another tab');
  return release;
}

async function isHeld(runId: string): Promise<boolean> {
  const lm = locks();
  if (!lm?.query) return false;
  const q = await lm.query();
  return (q.held ?? []).some((l) => l.name === lockName(runId));
}

interface Active {
  runId: string;
  control: TrainControl;
}

export class TrainHost {
  #runs: Promise<TrainRunStore<TrainRunRecord>> | null = null;
  #active: Active | null = null;

  constructor(private readonly deps: TrainDeps) {}

  #store(): Promise<TrainRunStore<TrainRunRecord>> {
    this.#runs ??= TrainRunStore.open<TrainRunRecord>().catch((e: unknown) => {
      this.#runs = null;
      throw e;
    });
    return this.#runs;
  }

  async #modelInfo(id: string): Promise<{ files: ModelFiles; config: ModelConfig; summary: CachedModelSummary }> {
    const summary = await (await this.deps.cache()).getSummary(id);
    if (!summary) throw new AlloyError(`the model ${id} is not in the cache (deleted?): pick another one`, { field: 'model' });
    const files = await this.deps.files(id);
    const config = parseModelConfig(await readJson(files, 'config.json'), `${files.label}/config.json`);
    return { files, config, summary };
  }

  async #prepare(req: TrainRequest): Promise<{ data: PreparedData; plan: TrainPlan; config: ModelConfig; files: ModelFiles; summary: CachedModelSummary }> {
    const { files, config, summary } = await this.#modelInfo(req.modelId);
    const tok = await this.deps.tokenizer(req.modelId);
    const data = prepareTrainData(req.data, req.valData, req.settings, tok, config);
    const ck = await openCheckpoint(files);
    const dtype = weightDtypeOf(String(ck.info('model.embed_tokens.weight').dtype));
    const { ctx } = await gpuEngine();
    const plan = assessPlan(config, dtype, req.settings, data.stats, ctx.limits, req.memoryBudget, ggmlTypesOf(ck));
    return { data, plan, config, files, summary };
  }

  /** The dataset's numbers and the memory plan of a request, with the reason it cannot run (if any). */
  async plan(req: TrainRequest): Promise<TrainPlan> {
    return (await this.#prepare(req)).plan;
  }

  async list(): Promise<TrainRunSummary[]> {
    const runs = await (await this.#store()).list();
    const out: TrainRunSummary[] = [];
    for (const r of runs) {
      const cp = await idbCheckpointStore(r.id);
      let checkpoints: number[];
      try {
        checkpoints = await cp.steps();
      } finally {
        cp.close();
      }
      const live = this.#active?.runId === r.id || (await isHeld(r.id));
      const status = (r.status === 'running' || r.status === 'paused') && !live ? 'interrupted' : r.status;
      const { request: _request, ...rest } = r;
      out.push({ ...rest, status, checkpoints });
    }
    return out;
  }

  async delete(runId: string): Promise<void> {
    if (this.#active?.runId === runId || (await isHeld(runId))) throw new AlloyError('this run is training: cancel it first');
    const cp = await idbCheckpointStore(runId);
    try {
      for (const s of await cp.steps()) await cp.delete(s);
    } finally {
      cp.close();
    }
    await (await this.#store()).delete(runId);
  }

  pause(runId: string, paused: boolean): void {
    const a = this.#active;
    if (!a || a.runId !== runId) throw new AlloyError('this run is not training in this tab');
    if (paused) a.control.pause();
    else a.control.resume();
  }

  /** Starts a new run. */
  async start(req: TrainRequest, signal: AbortSignal, onEvent?: (e: TrainEvent) => void): Promise<TrainOutcome> {
    return this.#run(req, null, signal, onEvent);
  }

  /** Continues a stored run from its latest checkpoint (after a reload, a pause in a closed tab, a cancel). */
  async resume(runId: string, signal: AbortSignal, onEvent?: (e: TrainEvent) => void): Promise<TrainOutcome> {
    const rec = await (await this.#store()).get(runId);
    if (!rec) throw new AlloyError(`no training run ${runId} (deleted in another tab?)`);
    if (!rec.request) throw new AlloyError(`${rec.label} is an imported adapter: there is no training to resume`);
    return this.#run(rec.request, rec, signal, onEvent);
  }

  async #run(req: TrainRequest, existing: TrainRunRecord | null, signal: AbortSignal, onEvent?: (e: TrainEvent) => void): Promise<TrainOutcome> {
    if (this.#active) throw new AlloyError('a training run is already going in this tab: pause or cancel it first');
    const control = new TrainControl();
    const runId = existing?.id ?? newRunId();
    this.#active = { runId, control };
    const onAbort = () => control.cancel();
    signal.addEventListener('abort', onAbort);
    let release: (() => void) | null = null;
    let runs: TrainRunStore<TrainRunRecord> | null = null;
    // Record writes are queued so they land in order while steps keep running.
    let writes: Promise<unknown> = Promise.resolve();
    const patch = (p: Partial<TrainRunRecord>) => (writes = writes.then(() => runs?.update(runId, p)).catch(() => undefined));
    let model: Model | null = null;
    let lora: GpuLora | null = null;
    let params: FullParams | null = null;
    let trainer: Trainer | null = null;
    let cp: Awaited<ReturnType<typeof idbCheckpointStore>> | null = null;
    let engine: GpuEngine | null = null;
    try {
      runs = await this.#store();
      cp = await idbCheckpointStore(runId);
      engine = await gpuEngine();
      throwIfAborted(signal, 'training');
      const { data, plan, config, files, summary } = await this.#prepare(req);
      if (plan.refusal) throw new AlloyError(`this run cannot fit: ${plan.refusal}`, { field: 'memory' });
      const s = req.settings;
      const cfg = configOf(s, !!data.val);
      release = await holdLock(runId);
      if (!existing) {
        const now = Date.now();
        await runs.put({
          id: runId,
          label: `${shortName(summary)} · ${s.method.toUpperCase()}${s.mode === 'full' ? ' full' : ''} · ${req.data.name}`,
          modelId: req.modelId,
          modelLabel: summary.label,
          modelRepo: summary.repo,
          dataName: req.data.name,
          settings: s,
          createdAt: now,
          updatedAt: now,
          status: 'running',
          step: 0,
          message: null,
          lastLoss: null,
          folded: [],
          request: req,
        });
      } else patch({ status: 'running', message: null });

      model = await loadModel(engine.ctx, engine.kernels, engine.pool, await openCheckpoint(files), config);
      throwIfAborted(signal, 'training');
      // (a stored run from before full fine-tuning has no mode: LoRA)
      const full = s.mode === 'full';
      if (full) params = createFullParams(model);
      else lora = createLora(model, { r: s.rank, alpha: s.alpha, targets: s.targets, seed: s.seed, dropout: s.dropout });
      // the test hook poisons a trained f32 tensor (LoRA's A, or a full run's first norm weight)
      const poisoned = () => lora?.modules[0]!.a ?? params!.params.find((p) => p.weight.dtype === 'f32')!.weight.buffer;
      trainer = new Trainer(model, params ?? lora!, cfg, { train: data.train, ...(data.val ? { val: data.val } : {}) }, {
        store: cp,
        onEvent: (e) => {
          if (e.type === 'step' && e.step === req.debugPoisonAfterStep) writeRange(model!.device, poisoned(), new Float32Array([NaN]));
          if (e.type === 'step') patch({ step: e.step, lastLoss: e.loss });
          else if (e.type === 'paused') patch({ status: 'paused' });
          else if (e.type === 'resumed') patch({ status: 'running' });
          onEvent?.(e);
        },
      });
      const resumedFrom = existing ? await trainer.restore() : null;
      onEvent?.({ type: 'started', runId, step: trainer.step, steps: cfg.steps, history: [...trainer.history], plan, resumedFrom });
      const res = await trainer.run(control);
      let checkpoint: number | null = null;
      if (res.status === 'nan') checkpoint = res.lastGoodStep ?? null;
      else checkpoint = await saveLatest(trainer, cp);
      const lastLoss = trainer.history.at(-1)?.loss ?? null;
      patch({ status: res.status, step: res.step, lastLoss, message: res.message ?? null });
      await writes;
      // a full run's result is the model: as trained, or after a non-finite loss the last good checkpoint's
      let saved: FoldResult | null = null;
      if (params && checkpoint !== null) {
        if (res.status === 'nan' && (await trainer.restore()) !== checkpoint) checkpoint = null;
        if (checkpoint !== null) saved = await this.#saveFull(runId, files, summary, model, params, checkpoint, signal);
      }
      return { runId, status: res.status, step: res.step, message: res.message ?? null, lastGoodStep: res.lastGoodStep ?? null, checkpoint, saved };
    } catch (e) {
      const cancelled = isCancelled(e);
      // only the tab holding the run's lock writes its status (a resume refused because another tab trains it must not)
      if (release) patch({ status: cancelled ? 'cancelled' : 'failed', message: (e as Error).message });
      await writes;
      throw cancelled && !(e instanceof CancelledError) ? new CancelledError('training') : e;
    } finally {
      signal.removeEventListener('abort', onAbort);
      trainer?.dispose();
      lora?.dispose();
      params?.dispose();
      model?.dispose();
      engine?.pool.trim();
      cp?.close();
      release?.();
      this.#active = null;
    }
  }

  /**
   * A full run's model (every parameter as trained, in the base's dtypes, config and tokenizer copied) as a new cached
   * model, listed with the run. Complete or absent.
   */
  async #saveFull(runId: string, files: ModelFiles, base: CachedModelSummary, model: Model, params: FullParams, step: number, signal: AbortSignal): Promise<FoldResult> {
    const runs = await this.#store();
    const rec = await runs.get(runId);
    if (!rec) throw new AlloyError(`no training run ${runId}`);
    const method = rec.settings.method;
    const name = { label: `${shortName(base)}-${method}-full-step${step}`, lineage: { base: base.label, stage: `${method.toUpperCase()} full`, step } };
    const writer = await createEntryWriter(await this.deps.cache(), { ...name, source: 'merge', repo: 'train' });
    try {
      await writeFullModel(files, model, params, (f) => writer.openSink(f), signal);
      throwIfAborted(signal, 'save');
      const entry = await writer.commit();
      await runs.update(runId, { folded: [...rec.folded, entry.id] });
      return { entry, step };
    } catch (e) {
      await writer.abort().catch(() => undefined);
      throw e;
    }
  }

  /**
   * A PEFT adapter from files, checked against a cached base model (adapter-import.ts) and stored as a record with
   * one checkpoint: the checkpoint (one transaction) first, the record that lists it last, so the adapter is listed
   * complete or not at all; a refused adapter writes nothing.
   */
  async importAdapter(req: AdapterImportRequest): Promise<AdapterImportResult> {
    const { files: baseFiles, config, summary } = await this.#modelInfo(req.modelId);
    const files = await uploadedAdapterFiles(req.name, req.files);
    const v = await validateAdapter(files, { label: summary.label, repo: summary.repo, config, checkpoint: await openCheckpoint(baseFiles) });
    const blob = await encodeImportedAdapter(v.tensors, { r: v.config.r, alpha: v.config.loraAlpha, useRslora: v.config.useRslora, targets: v.targets, dropout: v.config.loraDropout ?? 0 }, v.configText);
    const runs = await this.#store();
    const id = newRunId('adapter');
    const now = Date.now();
    const rec: TrainRunRecord = {
      id,
      label: req.label?.trim() || req.name.replace(/\.zip$/i, '') || 'adapter',
      modelId: req.modelId,
      modelLabel: summary.label,
      modelRepo: summary.repo,
      dataName: '',
      settings: importedSettings(v),
      createdAt: now,
      updatedAt: now,
      status: 'imported',
      step: IMPORTED_STEP,
      message: null,
      lastLoss: null,
      folded: [],
      request: null,
      imported: {
        files: req.files.map((f) => f.path),
        baseModelName: v.baseModelName,
        useRslora: v.config.useRslora,
        modules: v.modules,
        dtypes: v.dtypes,
      },
    };
    const cp = await idbCheckpointStore(id);
    try {
      await cp.save(IMPORTED_STEP, blob);
      try {
        await runs.put(rec);
      } catch (e) {
        await cp.delete(IMPORTED_STEP).catch(() => undefined);
        throw new AlloyError(`could not store the adapter (IndexedDB: ${(e as Error).message})`, {}, { cause: e });
      }
    } finally {
      cp.close();
    }
    const { request: _request, ...rest } = rec;
    const layers = new Set(v.tensors.map((t) => /\.layers\.(\d+)\./.exec(t.name)?.[1])).size;
    return {
      run: { ...rest, checkpoints: [IMPORTED_STEP] },
      summary: `r ${v.config.r}, alpha ${v.config.loraAlpha}${v.config.useRslora ? ' (rsLoRA)' : ''}, ${v.targets.join(', ')} on ${layers} layer${layers === 1 ? '' : 's'} (${v.modules} modules), ${v.dtypes.join('/')}`,
      warnings: v.warnings,
    };
  }

  /** The adapter of a run's checkpoint (default: the latest) as PEFT files. */
  async #adapterFiles(runId: string, step?: number): Promise<{ rec: TrainRunRecord; step: number; config: Uint8Array; weights: Uint8Array }> {
    const rec = await (await this.#store()).get(runId);
    if (!rec) throw new AlloyError(`no training run ${runId}`);
    const cp = await idbCheckpointStore(runId);
    try {
      const steps = await cp.steps();
      const at = step ?? steps.at(-1);
      if (at === undefined || !steps.includes(at)) throw new AlloyError(step === undefined ? `${rec.label} has no checkpoint yet` : `${rec.label} has no checkpoint of step ${step}`);
      return { rec, step: at, ...(await peftFilesOf(await cp.open(at), rec.modelRepo, rec.settings.dropout)) };
    } finally {
      cp.close();
    }
  }

  /** A run's adapter as PEFT files with what it was made for (the Chat panel applies it to the resident model). */
  async storedAdapter(runId: string, step?: number): Promise<StoredAdapterFiles> {
    const a = await this.#adapterFiles(runId, step);
    const { rec } = a;
    return { runId, label: rec.label, modelId: rec.modelId, modelLabel: rec.modelLabel, step: a.step, imported: rec.imported !== undefined, config: a.config, weights: a.weights };
  }

  async exportAdapter(runId: string, step?: number): Promise<AdapterExport> {
    const a = await this.#adapterFiles(runId, step);
    const bytes = zipStore([
      { name: ADAPTER_CONFIG, data: a.config },
      { name: ADAPTER_WEIGHTS, data: a.weights },
    ]);
    const fileName = a.rec.imported ? `${slug(a.rec.label) || 'adapter'}-lora.zip` : `${slug(`${a.rec.settings.method}-${a.rec.modelLabel}`)}-step${a.step}-lora.zip`;
    return { fileName, bytes, step: a.step };
  }

  /**
   * Base + adapter folded (W + α/r·B·A, engine/lora/fold.ts) as a new cached model in the Hugging Face layout, each
   * tensor in the base's dtype; config and tokenizer files copied from the base. Complete or absent.
   */
  async fold(runId: string, label: string | null, signal: AbortSignal, onProgress?: ProgressFn, step?: number): Promise<FoldResult> {
    const a = await this.#adapterFiles(runId, step);
    const adapter = await readPeftAdapter(memoryModelFiles({ [ADAPTER_CONFIG]: a.config, [ADAPTER_WEIGHTS]: a.weights }, `${a.rec.label} adapter`));
    const { files, summary } = await this.#modelInfo(a.rec.modelId);
    const base = await openCheckpoint(files);
    const folded = withAdapter(base, adapter);
    const adapted = new Set(adapter.pairs.map((p) => p.target));
    const writer = await createEntryWriter(await this.deps.cache(), { ...foldName(summary, a.rec, a.step, label), source: 'merge', repo: 'train' });
    const meter = new ProgressMeter(base.names().length, onProgress, 'folding', 'items');
    try {
      const tensors: TensorToWrite[] = base.names().map((t) => {
        const info = base.info(t);
        const dtype = foldedDtype(info);
        return {
          name: t,
          dtype,
          shape: info.shape,
          data: async () => {
            throwIfAborted(signal, 'fold');
            const reencode = adapted.has(t) || info.ggmlType !== undefined;
            const bytes = reencode ? encodeFromF32(dtype as FloatDType, await folded.readF32(t)) : await base.readRaw(t);
            meter.add(1, t);
            return bytes;
          },
        };
      });
      await writeCheckpoint(tensors, { openSink: (f) => writer.openSink(f), metadata: { format: 'pt' } });
      for (const f of ['config.json', ...TOKENIZER_FILES]) {
        if (!hasFile(files, f)) continue;
        throwIfAborted(signal, 'fold');
        const sink = await writer.openSink(f);
        await sink.write(await readBytes(files, f));
        await sink.close();
      }
      const card = await writer.openSink('README.md');
      await card.write(new TextEncoder().encode(modelCard(a.rec, a.step, a.config)));
      await card.close();
      throwIfAborted(signal, 'fold');
      const entry = await writer.commit();
      meter.finish();
      await (await this.#store()).update(runId, { folded: [...a.rec.folded, entry.id] });
      return { entry, step: a.step };
    } catch (e) {
      await writer.abort().catch(() => undefined);
      throw isCancelled(e) && !(e instanceof CancelledError) ? new CancelledError('fold') : e;
    }
  }
}

/**
 * A stored checkpoint's adapter as PEFT's two files: the tensors as stored; the config written from the checkpoint's
 * LoRA settings, or for an imported adapter the adapter_config.json it came with.
 */
export async function peftFilesOf(checkpoint: ByteSource, modelRepo: string, dropout: number): Promise<{ config: Uint8Array; weights: Uint8Array }> {
  const { meta, tensors, peftConfig } = await checkpointAdapterTensors(checkpoint);
  const sink = new BlobSink();
  await writeSafetensors(sink, tensors, { format: 'pt' });
  const weights = new Uint8Array(await sink.blob().arrayBuffer());
  if (peftConfig !== null) return { config: new TextEncoder().encode(peftConfig), weights };
  const l = meta.lora;
  if (!l) throw new AlloyError(`${checkpoint.name}: the checkpoint is of a full fine-tune, which has no adapter files (its result is a model)`);
  // peftConfigJson reads only these fields of a GpuLora; the checkpoint's metadata has them all
  const adapterOf = { r: l.r, alpha: l.alpha, useRslora: l.useRslora, targets: l.targets as LoraTarget[], dropout } as GpuLora;
  return { config: new TextEncoder().encode(JSON.stringify(peftConfigJson(adapterOf, modelRepo), null, 2) + '\n'), weights };
}

/**
 * An imported adapter's record needs TrainSettings: its rank, alpha, dropout and targets are real; the rest are the
 * defaults and mean nothing (nothing was trained; the list and the fold read `imported` instead).
 */
function importedSettings(v: ValidatedAdapter): TrainSettings {
  const d = TRAIN_DEFAULTS;
  return {
    method: 'sft',
    mode: 'lora',
    rank: v.config.r,
    alpha: v.config.loraAlpha,
    dropout: v.config.loraDropout ?? 0,
    targets: v.targets,
    lr: 0,
    schedule: d.schedule,
    warmupSteps: 0,
    steps: 0,
    microBatch: d.microBatch,
    accum: d.accum,
    maxGradNorm: d.maxGradNorm,
    weightDecay: d.weightDecay,
    seqLen: 0,
    recompute: false,
    seed: d.seed,
    beta: d.beta,
    labelSmoothing: d.labelSmoothing,
    assistantOnlyLoss: d.assistantOnlyLoss,
    evalEvery: 0,
    valSplit: 0,
    checkpointEvery: 0,
    keepCheckpoints: 1,
  };
}

/** Writes a checkpoint of the trainer's current state unless the store already has one of this step. */
async function saveLatest(trainer: Trainer, cp: Awaited<ReturnType<typeof idbCheckpointStore>>): Promise<number | null> {
  const steps = await cp.steps();
  if (trainer.step === 0 || steps.includes(trainer.step)) return steps.at(-1) ?? null;
  await cp.save(trainer.step, await trainer.checkpointBlob());
  return trainer.step;
}

/**
 * A folded model's short name and lineage: "stories260K-sft-step30" (or "stories260K-<adapter>" for an imported
 * adapter), the user's own name if given; the base, the stage and the step go to the lineage.
 */
export function foldName(base: CachedModelSummary, rec: Pick<TrainRunRecord, 'label' | 'imported' | 'settings'>, step: number, label: string | null): { label: string; lineage: Lineage } {
  const stage = rec.imported ? `LoRA ${rec.label}` : `${rec.settings.method.toUpperCase()} LoRA`;
  const auto = rec.imported ? `${shortName(base)}-${slugName(rec.label) || 'lora'}` : `${shortName(base)}-${rec.settings.method}-step${step}`;
  return { label: label?.trim() || auto, lineage: { base: base.label, stage, ...(rec.imported ? {} : { step }) } };
}

function modelCard(rec: TrainRunRecord, step: number, adapterConfig: Uint8Array): string {
  const s = rec.settings;
  const about = rec.imported
    ? [`# ${rec.modelLabel} + ${rec.label} (LoRA)`, '', `${rec.modelLabel} with the PEFT LoRA adapter ${rec.label} (imported from ${rec.imported.files.join(' + ')}) folded in (W + alpha/r · B·A): rank ${s.rank}, alpha ${s.alpha}${rec.imported.useRslora ? ' (rsLoRA)' : ''}, targets ${s.targets.join(', ')}.`]
    : [
        `# ${rec.modelLabel} + ${s.method.toUpperCase()} LoRA`,
        '',
        `${rec.modelLabel} with a LoRA adapter folded in (W + alpha/r · B·A), trained in the Alloy studio: ${s.method.toUpperCase()} on ` +
          `${rec.dataName}, ${step} of ${s.steps} steps, lr ${s.lr} (${s.schedule}), rank ${s.rank}, alpha ${s.alpha}, targets ${s.targets.join(', ')}, seed ${s.seed}.`,
      ];
  return [
    ...about,
    'Tensors keep the base model\'s dtype.',
    '',
    'The adapter\'s adapter_config.json:',
    '',
    '```json',
    new TextDecoder().decode(adapterConfig).trimEnd(),
    '```',
    '',
  ].join('\n');
}
