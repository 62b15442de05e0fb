/// <reference lib="webworker" />
// The studio worker: the one place that owns the GPUDevice, the weight cache and every heavy computation.
// Keeping them here leaves the UI thread responsive, and lets the UI free all GPU memory by terminating us.
import * as Comlink from 'comlink';
import { serializeError, AlloyError } from '../io/errors.ts';
import type { Progress } from '../io/progress.ts';
import type { ModelSource } from '../io/sources.ts';
import { WeightCache } from '../io/cache/weight-cache.ts';
import { cacheModel, discardInterrupted, interruptedDownloads } from '../io/cache/ingest.ts';
import { readJson } from '../io/model-files.ts';
import { parseModelConfig, parameterCount } from '../io/config.ts';
import { openCheckpoint } from '../io/safetensors/checkpoint.ts';
import { loadTokenizer } from '../io/tokenizer.ts';
import { acquireDevice, type GpuContext } from '../engine/gpu/device.ts';
import {
  SAMPLE_CONVERSATION,
  type ConfigSummary,
  type GpuInfo,
  type ModelInspection,
  type ProgressCallback,
  type Result,
  type StorageInfo,
  type StudioApi,
  type TokenizeResult,
} from './api.ts';

type Tokenizer = Awaited<ReturnType<typeof loadTokenizer>>;

/** Runs `fn` and folds any throw into a Result, so errors keep their name and location across comlink. */
async function guard<T>(fn: () => Promise<T>): Promise<Result<T>> {
  try {
    return { ok: true, value: await fn() };
  } catch (e) {
    return { ok: false, error: serializeError(e) };
  }
}

// The device is acquired on first use, not at start-up: merely opening the studio should not claim a GPU.
let gpu: Promise<GpuContext> | null = null;
function device(): Promise<GpuContext> {
  if (!gpu) {
    gpu = acquireDevice().catch((e: unknown) => {
      gpu = null; // let a later call retry (e.g. after the user enables WebGPU)
      const reason = e instanceof Error ? e.message : String(e);
      throw new AlloyError(reason.startsWith('WebGPU unavailable') ? reason : `WebGPU unavailable: ${reason}`, {}, { cause: e });
    });
    void gpu.then(
      (ctx) =>
        // A lost device (driver reset, OOM) is gone for good; the next call acquires a fresh one.
        ctx.lost.then(() => {
          gpu = null;
        }),
      () => {},
    );
  }
  return gpu;
}

let cachePromise: Promise<WeightCache> | null = null;
function cache(): Promise<WeightCache> {
  cachePromise ??= WeightCache.open().catch((e: unknown) => {
    cachePromise = null;
    throw e;
  });
  return cachePromise;
}

const jobs = new Map<string, AbortController>();
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

function pieces(tok: Tokenizer, ids: number[]): string[] {
  return ids.map((id) => tok.decode([id]));
}

const api: StudioApi = {
  gpuInfo: () =>
    guard(async (): Promise<GpuInfo> => {
      const ctx = await device();
      return {
        vendor: ctx.adapterInfo.vendor,
        architecture: ctx.adapterInfo.architecture,
        description: ctx.adapterInfo.description,
        maxStorageBufferBindingSize: ctx.limits.maxStorageBufferBindingSize,
        maxBufferSize: ctx.limits.maxBufferSize,
        features: [...ctx.features],
        hasShaderF16: ctx.hasShaderF16,
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
    guard(async () => {
      const controller = new AbortController();
      jobs.set(jobId, controller);
      try {
        return await cacheModel(await cache(), source, {
          signal: controller.signal,
          // Fire and forget: awaiting each report would pace the download by the UI's round trips.
          onProgress: onProgress ? (p: Progress) => void onProgress(p) : undefined,
        });
      } finally {
        jobs.delete(jobId);
        // The callback is a comlink proxy holding a MessagePort; release it so it can be collected.
        (onProgress as unknown as Partial<Comlink.ProxyMethods> | undefined)?.[Comlink.releaseProxy]?.();
      }
    }),

  async cancel(jobId: string) {
    jobs.get(jobId)?.abort();
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
      return { ids, pieces: pieces(tok, ids) };
    }),
};

Comlink.expose(api);
