/// <reference lib="webworker" />
// The studio worker: the one place that owns the GPUDevice, the weight cache and every heavy computation.
// Keeping them here leaves the UI thread responsive, and lets the UI free all GPU memory by terminating us.
import * as Comlink from 'comlink';
import { AlloyError } from '../common/errors.ts';
import type { ModelSource } from '../io/sources.ts';
import { WeightCache } from '../io/cache/weight-cache.ts';
import { cacheModel, discardInterrupted, interruptedDownloads } from '../io/cache/ingest.ts';
import { readJson } from '../io/model-files.ts';
import { parseModelConfig, parameterCount } from '../io/config.ts';
import { openCheckpoint } from '../io/safetensors/checkpoint.ts';
import { loadTokenizer } from '../io/tokenizer.ts';
import { tokenPieces } from './token-pieces.ts';
import { gpuEngine, onDeviceLost, requestKernelFamily, requestSubgroups } from './gpu-state.ts';
import { guard, JobTable } from './jobs.ts';
import { benchmarkRuns, datasets } from './stores.ts';
import type { NewStoredDataset } from '../io/cache/datasets.ts';
import type { BenchmarkRun } from '../common/benchmark-run.ts';
import { ChatHost, memory } from './chat.ts';
import * as merge from './merge.ts';
import { runBenchmark } from './benchmark.ts';
import { TrainHost } from './train.ts';
import type { AdapterImportRequest, TrainEventCallback, TrainRequest } from './train-api.ts';
import { runRecipeJob } from './recipe.ts';
import { runKernelBench } from '../engine/kernel-bench/run.ts';
import { findBenchModel } from '../engine/kernel-bench/models.ts';
import type { RecipeEventCallback, RecipeRequest } from './recipe-api.ts';
import { countDatasetTokens, type DatasetTokensRequest } from './dataset.ts';
import * as exporter from './export.ts';
import type { GgufOutType, ImportRequest } from './export-api.ts';
import { quantizeCachedModel, quickPerplexity } from './quantize.ts';
import type { QuantizeRequest, QuickPerplexityRequest } from './quantize-api.ts';
import {
  SAMPLE_CONVERSATION,
  type AdapterChoice,
  type BenchmarkItemCallback,
  type BenchmarkRequest,
  type ConfigSummary,
  type DeviceLossCallback,
  type GenerateRequest,
  type GenerateUpdateCallback,
  type GpuCheckRequest,
  type GpuInfo,
  type MergeParent,
  type MergeRequest,
  type ModelInspection,
  type ProgressCallback,
  type SweepPointCallback,
  type SweepRequest,
  type Result,
  type StorageInfo,
  type StudioApi,
  type TokenizeResult,
} from './api.ts';

type Tokenizer = Awaited<ReturnType<typeof loadTokenizer>>;

let cachePromise: Promise<WeightCache> | null = null;
function cache(): Promise<WeightCache> {
  cachePromise ??= WeightCache.open().catch((e: unknown) => {
    cachePromise = null;
    throw e;
  });
  return cachePromise;
}

// Tokenizers take a while to build from tokenizer.json; the playground calls tokenize on every keystroke.
const tokenizers = new Map<string, Promise<Tokenizer>>();

async function modelFiles(id: string) {
  const m = await (await cache()).get(id);
  if (!m) throw new AlloyError(`No cached model with id ${id} (it may have been deleted in another tab)`);
  return m;
}

function tokenizerFor(id: string): Promise<Tokenizer> {
  let t = tokenizers.get(id);
  if (!t) {
    t = modelFiles(id).then((m) => loadTokenizer(m));
    t.catch(() => tokenizers.delete(id));
    tokenizers.set(id, t);
  }
  return t;
}

const training = new TrainHost({ cache, files: modelFiles, tokenizer: tokenizerFor });
const chat = new ChatHost({ files: modelFiles, tokenizer: tokenizerFor, adapter: (runId, step) => training.storedAdapter(runId, step) });
const mergeDeps: merge.MergeDeps = { cache, files: modelFiles, adapter: (runId, step) => training.storedAdapter(runId, step) };
const exportDeps: exporter.ExportDeps = { cache, files: modelFiles };
const jobs = new JobTable();

// Device loss drops the resident model (its buffers died with the device) and tells every UI that asked.
const lossWatchers = new Set<DeviceLossCallback>();
onDeviceLost((info, lost) => {
  const dropped = chat.dropLost(lost);
  const loss = { ...info, modelId: dropped?.id ?? null, modelLabel: dropped?.label ?? null };
  for (const fn of lossWatchers) void Promise.resolve(fn(loss)).catch(() => lossWatchers.delete(fn));
});


const api: StudioApi = {
  gpuInfo: () =>
    guard(async (): Promise<GpuInfo> => {
      const { ctx } = await gpuEngine();
      return {
        vendor: ctx.adapterInfo.vendor,
        architecture: ctx.adapterInfo.architecture,
        description: ctx.adapterInfo.description,
        maxStorageBufferBindingSize: ctx.limits.maxStorageBufferBindingSize,
        maxBufferSize: ctx.limits.maxBufferSize,
        features: [...ctx.features],
        hasShaderF16: ctx.hasShaderF16,
        kernelFamily: ctx.kernelFamily,
        kernelFamilyForced: ctx.kernelFamilyForced,
        subgroups: ctx.subgroups,
        subgroupsForced: ctx.subgroupsForced,
      };
    }),

  listModels: () => guard(async () => (await cache()).list()),

  storage: () =>
    guard(async (): Promise<StorageInfo> => {
      const est = await (await cache()).estimate();
      // persisted() is available to workers; persist() is not (it is Window-only), so the UI asks for it.
      const persisted = navigator.storage?.persisted ? await navigator.storage.persisted() : null;
      return { usage: est?.usage ?? null, quota: est?.quota ?? null, persisted };
    }),

  cacheModel: (jobId: string, source: ModelSource, onProgress?: ProgressCallback) =>
    jobs.run(jobId, [onProgress], async (signal, onProgress) => cacheModel(await cache(), source, { signal, onProgress })),

  async cancel(jobId: string) {
    jobs.cancel(jobId);
  },

  deleteModel: (id: string) =>
    guard(async () => {
      tokenizers.delete(id);
      await (await cache()).delete(id);
    }),

  listPartials: () => guard(async () => interruptedDownloads(await cache())),

  discardPartial: (id: string) => guard(async () => discardInterrupted(await cache(), id)),

  inspectModel: (id: string) =>
    guard(async (): Promise<ModelInspection> => {
      const m = await modelFiles(id);
      const cfg = parseModelConfig(await readJson(m, 'config.json'), 'config.json');
      const ckpt = await openCheckpoint(m);
      const tensors = ckpt.names().map((name) => {
        const { dtype, shape } = ckpt.info(name);
        return { name, dtype: String(dtype), shape: [...shape] };
      });
      const tok = await tokenizerFor(id);
      let chatTemplatePreview: string | null = null;
      let chatTemplateError: string | null = null;
      if (tok.hasChatTemplate) {
        try {
          const rendered = tok.applyChatTemplate(
            SAMPLE_CONVERSATION.map((msg) => ({ ...msg })),
            { addGenerationPrompt: true },
          );
          chatTemplatePreview = String(await rendered);
        } catch (e) {
          chatTemplateError = e instanceof Error ? e.message : String(e);
        }
      }
      const config: ConfigSummary = {
        architecture: cfg.architecture,
        family: cfg.family,
        numLayers: cfg.numLayers,
        hiddenSize: cfg.hiddenSize,
        intermediateSize: cfg.intermediateSize,
        numHeads: cfg.numHeads,
        numKvHeads: cfg.numKvHeads,
        headDim: cfg.headDim,
        vocabSize: cfg.vocabSize,
        tieWordEmbeddings: cfg.tieWordEmbeddings,
        attentionBias: cfg.attentionBias,
        ropeTheta: cfg.ropeTheta,
        maxPositionEmbeddings: cfg.maxPositionEmbeddings,
        torchDtype: cfg.torchDtype ?? null,
      };
      return {
        id,
        label: m.label,
        config,
        parameterCount: parameterCount(cfg),
        tensors,
        tokenizer: {
          vocabSize: tok.vocabSize,
          hasChatTemplate: tok.hasChatTemplate,
          bosTokenId: tok.bosTokenId,
          eosTokenIds: [...tok.eosTokenIds],
        },
        chatTemplatePreview,
        chatTemplateError,
      };
    }),

  tokenize: (id: string, text: string) =>
    guard(async (): Promise<TokenizeResult> => {
      const tok = await tokenizerFor(id);
      const ids = [...(await tok.encode(text))];
      return { ids, pieces: tokenPieces(tok, ids) };
    }),

  loadForChat: (jobId: string, id: string, onProgress?: ProgressCallback) =>
    jobs.run(jobId, [onProgress], (signal, onProgress) => chat.load(id, { signal, onProgress })),

  unloadModel: () => guard(() => chat.unload()),

  setChatAdapter: (choice: AdapterChoice | null) => guard(() => chat.setAdapter(choice)),

  generate: (jobId: string, request: GenerateRequest, onUpdate?: GenerateUpdateCallback) =>
    jobs.run(jobId, [onUpdate], (signal, onUpdate) => chat.generate(request, { signal, onUpdate })),

  gpuMemory: () => guard(async () => memory()),

  async watchDeviceLoss(onLost: DeviceLossCallback) {
    lossWatchers.add(onLost);
  },

  async setKernelFamily(family) {
    requestKernelFamily(family);
  },

  async setSubgroups(on) {
    requestSubgroups(on);
  },

  simulateDeviceLoss: () =>
    guard(async () => {
      (await gpuEngine()).ctx.device.destroy();
    }),

  mergeModels: (jobId: string, request: MergeRequest, onProgress?: ProgressCallback) =>
    jobs.run(jobId, [onProgress], (signal, onProgress) => merge.mergeModels(mergeDeps, request, signal, onProgress)),

  exportMergeYaml: (id: string) => guard(() => merge.exportMergeYaml(mergeDeps, id)),

  parentDistances: (jobId: string, a: string | MergeParent, b: string | MergeParent, onProgress?: ProgressCallback) =>
    jobs.run(jobId, [onProgress], (signal, onProgress) => merge.parentDistances(mergeDeps, a, b, signal, onProgress)),

  mergeSweep: (jobId: string, request: SweepRequest, onPoint?: SweepPointCallback, onProgress?: ProgressCallback) =>
    jobs.run(jobId, [onPoint, onProgress], (signal, onPoint, onProgress) => merge.mergeSweep(mergeDeps, request, signal, onPoint, onProgress)),

  readTensors: (id: string) => guard(() => merge.readTensors(mergeDeps, id)),

  runBenchmark: (jobId: string, request: BenchmarkRequest, onItem?: BenchmarkItemCallback, onProgress?: ProgressCallback) =>
    jobs.run(jobId, [onItem, onProgress], (signal, onItem, onProgress) => runBenchmark({ files: modelFiles, tokenizer: tokenizerFor }, request, signal, onItem, onProgress)),

  planTraining: (request: TrainRequest) => guard(() => training.plan(request)),

  startTraining: (jobId: string, request: TrainRequest, onEvent?: TrainEventCallback) =>
    jobs.run(jobId, [onEvent], (signal, onEvent) => training.start(request, signal, onEvent)),

  resumeTraining: (jobId: string, runId: string, onEvent?: TrainEventCallback) =>
    jobs.run(jobId, [onEvent], (signal, onEvent) => training.resume(runId, signal, onEvent)),

  pauseTraining: (runId: string, paused: boolean) => guard(async () => training.pause(runId, paused)),

  listTrainRuns: () => guard(() => training.list()),

  deleteTrainRun: (runId: string) => guard(() => training.delete(runId)),

  exportAdapter: (runId: string, step?: number) => guard(() => training.exportAdapter(runId, step)),

  foldAdapter: (jobId: string, runId: string, label: string | null, onProgress?: ProgressCallback) =>
    jobs.run(jobId, [onProgress], (signal, onProgress) => training.fold(runId, label, signal, onProgress)),

  importAdapter: (request: AdapterImportRequest) => guard(() => training.importAdapter(request)),

  datasetTokens: (jobId: string, request: DatasetTokensRequest, onProgress?: ProgressCallback) =>
    jobs.run(jobId, [onProgress], (signal, onProgress) => countDatasetTokens({ files: modelFiles, tokenizer: tokenizerFor }, request, signal, onProgress)),

  listDatasets: () => guard(() => datasets.list()),
  saveDataset: (meta: NewStoredDataset, text: string) => guard(() => datasets.save(meta, text)),
  getDataset: (id: string) => guard(() => datasets.get(id)),
  deleteDataset: (id: string) => guard(() => datasets.delete(id)),

  listBenchmarkRuns: () => guard(() => benchmarkRuns.list()),
  saveBenchmarkRun: (run: BenchmarkRun) => guard(() => benchmarkRuns.save(run)),
  getBenchmarkRun: (id: string) => guard(() => benchmarkRuns.get(id)),
  deleteBenchmarkRun: (id: string) => guard(() => benchmarkRuns.delete(id)),

  exportModelZip: (jobId: string, id: string, onProgress?: ProgressCallback) =>
    jobs.run(jobId, [onProgress], (signal, onProgress) => exporter.exportZip(exportDeps, id, signal, onProgress)),

  exportModelFiles: (id: string) => guard(() => exporter.modelBlobs(exportDeps, id)),

  exportModelGguf: (jobId: string, id: string, type: GgufOutType, onProgress?: ProgressCallback) =>
    jobs.run(jobId, [onProgress], (signal, onProgress) => exporter.exportGgufFile(exportDeps, id, type, signal, onProgress)),

  importModel: (jobId: string, request: ImportRequest, onProgress?: ProgressCallback) =>
    jobs.run(jobId, [onProgress], (signal, onProgress) => exporter.importModel(exportDeps, request, signal, onProgress)),

  quantizeModel: (jobId: string, request: QuantizeRequest, onProgress?: ProgressCallback) =>
    jobs.run(jobId, [onProgress], (signal, onProgress) => quantizeCachedModel(exportDeps, request, signal, onProgress)),

  quickPerplexity: (jobId: string, request: QuickPerplexityRequest, onProgress?: ProgressCallback) =>
    jobs.run(jobId, [onProgress], (signal, onProgress) => quickPerplexity(exportDeps, request, signal, onProgress)),

  runRecipe: (jobId: string, request: RecipeRequest, onEvent?: RecipeEventCallback) =>
    jobs.run(jobId, [onEvent], (signal, onEvent) => runRecipeJob({ cache, files: modelFiles }, request, signal, onEvent)),

  gpuCheck: (jobId: string, request: GpuCheckRequest, onProgress?: ProgressCallback) =>
    jobs.run(jobId, [onProgress], async (signal, onProgress) => {
      const { ctx } = await gpuEngine();
      // the bench's cases are large at M = 2048 (the 1.7B's gate|up is 68 GFLOP): a Progress per case, by count
      const report = (p: { done: number; total: number; family: string; case: string }) =>
        onProgress?.({ phase: p.case ? `${p.family} kernels: ${p.case}` : 'done', done: p.done, total: p.total, unit: 'items', rate: 0, etaSeconds: null });
      return runKernelBench(ctx, { models: request.models.map((m) => findBenchModel(m)), rows: request.rows, ...(request.families ? { families: request.families } : {}), signal, onProgress: report });
    }),
};

Comlink.expose(api);
