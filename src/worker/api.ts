// The comlink boundary between the studio UI (main thread) and the studio worker.
// Only plain, structured-cloneable data crosses it: no class instances, no GPU objects. Errors travel as
// SerializedError inside a Result, because comlink's own error transfer keeps only name/message/stack and
// would drop `where` (the file/tensor/field a message points at).
import type { SerializedError } from '../common/errors.ts';
import type { Progress } from '../io/progress.ts';
import type { ModelSource } from '../io/sources.ts';
import type { CachedModelSummary, PartialSummary } from '../io/cache/weight-cache.ts';
import type { Lineage } from '../io/cache/names.ts';
import type { KvDtype } from '../engine/kv-dtype.ts';
import type { ActDtype } from '../engine/act-dtype.ts';
import type { PoolStats } from '../engine/gpu/buffer-pool.ts';
import type { KernelFamily } from '../engine/kernel-family.ts';
import type { KernelBenchReport } from '../engine/kernel-bench/run.ts';
import type { MultipleChoiceItem } from '../engine/eval/multiple-choice.ts';
import type { BenchmarkItemResult, BenchmarkRun, RunSummary } from '../common/benchmark-run.ts';
import type { NewStoredDataset, StoredDatasetSummary } from '../io/cache/datasets.ts';
import type {
  AdapterExport,
  AdapterImportRequest,
  AdapterImportResult,
  FoldResult,
  TrainEventCallback,
  TrainOutcome,
  TrainPlan,
  TrainRequest,
  TrainRunSummary,
} from './train-api.ts';
import type { RecipeEventCallback, RecipeOutcome, RecipeRequest } from './recipe-api.ts';
import type { DatasetTokens, DatasetTokensRequest } from './dataset.ts';
import type { ExportFile, GgufExportResult, GgufOutType, ImportRequest, ImportResult, ModelBlobs } from './export-api.ts';
import type { QuantizeRequest, QuantizeResult, QuickPerplexity, QuickPerplexityRequest } from './quantize-api.ts';

export type Result<T> = { ok: true; value: T } | { ok: false; error: SerializedError };

export interface GpuInfo {
  vendor: string;
  architecture: string;
  description: string;
  maxStorageBufferBindingSize: number;
  maxBufferSize: number;
  features: string[];
  hasShaderF16: boolean;
  /** the kernels the device runs: 'software' on a CPU adapter (SwiftShader, WARP, llvmpipe), else 'hardware' */
  kernelFamily: KernelFamily;
  /** whether kernelFamily was forced (?kernels=) rather than chosen by adapter */
  kernelFamilyForced: boolean;
  /** whether the kernels use subgroup operations (the device has `subgroups`; only the hardware family has any) */
  subgroups: boolean;
  /** whether subgroups was forced (?subgroups=on|off) rather than chosen by the device's features */
  subgroupsForced: boolean;
}

export interface StorageInfo {
  /** bytes used by this origin, null when the browser does not say */
  usage: number | null;
  quota: number | null;
  /** navigator.storage.persisted(); null when the API is missing */
  persisted: boolean | null;
}

export interface ConfigSummary {
  architecture: string;
  family: string;
  numLayers: number;
  hiddenSize: number;
  intermediateSize: number;
  numHeads: number;
  numKvHeads: number;
  headDim: number;
  vocabSize: number;
  tieWordEmbeddings: boolean;
  /** q/k/v projection biases (Qwen2) */
  attentionBias: boolean;
  ropeTheta: number;
  maxPositionEmbeddings: number;
  torchDtype: string | null;
}

export interface TensorRow {
  name: string;
  dtype: string;
  shape: number[];
}

export interface TokenizeResult {
  ids: number[];
  /** one decoded piece per id, so the user sees where the tokenizer cut the text */
  pieces: string[];
}

export interface ModelInspection {
  id: string;
  label: string;
  config: ConfigSummary;
  parameterCount: number;
  tensors: TensorRow[];
  tokenizer: { vocabSize: number; hasChatTemplate: boolean; bosTokenId: number | null; eosTokenIds: number[] };
  /** the sample conversation rendered by the model's chat template; null when it has none */
  chatTemplatePreview: string | null;
  /** why the preview could not be rendered, when the template exists but failed */
  chatTemplateError: string | null;
}

export type ProgressCallback = (p: Progress) => void;

/** The BufferPool's byte accounting: live (handed out), pooled (kept for reuse) and the peak of their sum. */
export type GpuMemory = PoolStats;

/** The model resident on the GPU for chat (one at a time). */
export interface LoadedModel {
  id: string;
  label: string;
  /** bytes of weights on the GPU (16-bit checkpoints stay 16-bit) */
  weightBytes: number;
  memory: GpuMemory;
  hasChatTemplate: boolean;
  /** max_position_embeddings: prompt + reply must fit in it */
  contextLength: number;
}

/** A stored LoRA adapter to apply to the resident model: a training run's (or imported adapter's) checkpoint. */
export interface AdapterChoice {
  runId: string;
  /** the checkpoint's step; omitted: the run's latest */
  step?: number;
}

/** The adapter applied to the resident model, as the Chat panel shows it and each reply records it. */
export interface ActiveAdapter {
  runId: string;
  /** the run's (or imported adapter's) label */
  label: string;
  step: number;
  /** an adapter imported from PEFT files (its one checkpoint, step 0, is not a training step) */
  imported: boolean;
  /** e.g. "r 4, alpha 8, q_proj, v_proj, 3 modules" */
  summary: string;
}

/** What setChatAdapter leaves on the GPU: the adapter now applied (null: the base model) and the pool's bytes. */
export interface ChatAdapterState {
  adapter: ActiveAdapter | null;
  memory: GpuMemory;
}

export interface ChatTurn {
  role: 'system' | 'user' | 'assistant';
  content: string;
}

export interface SamplingSettings {
  maxTokens: number;
  /** 0 = greedy */
  temperature: number;
  /** 0 = off */
  topK: number;
  /** 1 = off */
  topP: number;
  seed: number;
  /**
   * how the run's KV cache stores keys and values: f16 halves it, rounding each to f16 (engine/model/kv-dtype.ts);
   * default the model's (f32)
   */
  kvCache?: KvDtype;
}

/** Chat: the conversation is rendered by the model's chat template with a generation prompt; text: continue `prompt`. */
export type GenerateRequest = SamplingSettings &
  ({ mode: 'chat'; messages: ChatTurn[] } | { mode: 'text'; prompt: string });

/**
 * One streamed step: replace the reply from character `at` on with `delta`. Almost always `at` is the length
 * already shown (a plain append); it is smaller when decoding one more token rewrote the tail (a multi-byte
 * character completed, or the decoder's clean-up changed a space), so the UI never shows a broken character.
 */
export interface GenerateUpdate {
  at: number;
  delta: string;
  /** tokens generated so far */
  tokens: number;
  /** since generation started (prefill included) */
  seconds: number;
}

export type GenerateUpdateCallback = (u: GenerateUpdate) => void;

/** 'context': the reply reached the end of the model's context before max tokens. */
export type FinishReason = 'eos' | 'length' | 'context' | 'stopped';

export interface GenerateSummary {
  /** the whole decoded reply (special tokens skipped) */
  text: string;
  tokens: number;
  promptTokens: number;
  seconds: number;
  tokensPerSecond: number;
  finishReason: FinishReason;
  memory: GpuMemory;
  /** the adapter the reply was generated with; null: the base model */
  adapter: ActiveAdapter | null;
}

export interface DeviceLoss {
  /** GPUDeviceLostInfo.reason: 'destroyed' or 'unknown' */
  reason: string;
  message: string;
  /** the model that was resident and is gone with the device; null when none was */
  modelId: string | null;
  modelLabel: string | null;
}

export type DeviceLossCallback = (loss: DeviceLoss) => void;

/**
 * A merge of cached models: mergekit YAML whose model references are keys of `parents`, or `model+lora` with the
 * model a key of `parents` and the lora a key of `adapters` (a stored adapter folded into that model).
 */
export interface MergeRequest {
  yaml: string;
  /** model reference as written in the YAML → cache entry id */
  parents: Record<string, string>;
  /** lora_path as written in a `model+lora_path` reference → stored adapter */
  adapters?: Record<string, AdapterChoice>;
  /** the new entry's label; default "<method>(<refs>)" (numbered if the cache has one so named) */
  label?: string;
  /** shown beside the label (names.ts); default: the method and the parents the YAML names */
  lineage?: Lineage;
  /** tests only: pause this long after each write, so a cancel can land mid-merge on tiny fixtures */
  debugDelayMs?: number;
}

export type TensorKind = 'attention' | 'mlp' | 'other';

/** A merge parent: a cached model, or a cached model with a stored adapter folded in (mergekit's `model+lora`). */
export interface MergeParent {
  modelId: string;
  adapter?: AdapterChoice;
}

/** How far apart two parents' tensors are, computed in float64 over the flattened tensors. */
export interface TensorDistance {
  name: string;
  /** decoder layer index; null for embeddings, final norm, lm_head */
  layer: number | null;
  kind: TensorKind;
  cosine: number;
  /** arccos(cosine) in degrees: the angle SLERP walks along */
  angleDeg: number;
  elements: number;
}

/** Per layer: the mean angle (degrees) of its attention and MLP tensors; null when the layer has none of a kind. */
export interface LayerDistance {
  layer: number;
  attention: number | null;
  mlp: number | null;
}

export interface ParentDistances {
  tensors: TensorDistance[];
  layers: LayerDistance[];
  /** tensors only one parent has, or whose shapes differ (not compared) */
  skipped: string[];
}

export interface SweepRequest {
  /** the merge to sweep: its `t` is replaced by each value of `ts` (a scalar over every tensor) */
  yaml: string;
  parents: Record<string, string>;
  /** as MergeRequest.adapters */
  adapters?: Record<string, AdapterChoice>;
  ts: number[];
  benchmark: { name: string; items: MultipleChoiceItem[] };
  /** keep every merged model in the cache (otherwise each is deleted once scored) */
  keep: boolean;
  /** label of the merged models (numbered when kept; each one's t is in its lineage) */
  label: string;
}

/** One point of the score-versus-t curve; the parents come first as kind 'base' (t = 0) and 'other' (t = 1). */
export interface SweepPoint {
  kind: 'base' | 'other' | 'merge';
  t: number;
  acc: number;
  accNorm: number;
  n: number;
  /** the cached merged model when kept, else null */
  modelId: string | null;
}

export type SweepPointCallback = (p: SweepPoint) => void;

/** A stored tensor as its bytes (for tests and debugging: comparing a merge bit for bit). */
export interface RawTensor {
  name: string;
  dtype: string;
  shape: number[];
  bytes: Uint8Array;
}

/** Several cached models scored on the same multiple-choice items, one model on the GPU at a time. */
export interface BenchmarkRequest {
  /** in the order they are scored (and shown) */
  models: { id: string; label: string }[];
  /**
   * every item of the benchmark: the first `limit` are scored, few-shot examples come from all of them; 'mmlu' items
   * are put in lm-eval's MMLU template (subject description, lettered choices), 'jsonl' in its generic one
   */
  benchmark: { name: string; format: 'jsonl' | 'mmlu'; items: MultipleChoiceItem[] };
  /** null = all items */
  limit: number | null;
  /** few-shot examples per item: lm-eval's first_n (the benchmark's first k items, skipping the item itself) */
  fewShot: number;
  /** render each prompt with the model's chat template (as lm-eval --apply_chat_template) */
  chatTemplate: boolean;
  /** how the scoring forwards store their activations (engine/act-dtype.ts); default f32 */
  activations?: ActDtype;
  /** tests only: pause this long after each item, so a cancel can land mid-run on tiny fixtures */
  debugDelayMs?: number;
}

/** One item scored by one model, streamed as soon as its batch is done. */
export interface BenchmarkItemUpdate {
  /** index into BenchmarkRequest.models */
  model: number;
  modelId: string;
  item: BenchmarkItemResult;
}

export type BenchmarkItemCallback = (u: BenchmarkItemUpdate) => void;

export interface BenchmarkResult {
  /** items scored per model */
  items: number;
  seconds: number;
  models: { id: string; seconds: number; peakBytes: number }[];
}

/** What the worker exposes. Every method resolves (never rejects) with a Result. */
export interface StudioApi {
  gpuInfo(): Promise<Result<GpuInfo>>;
  listModels(): Promise<Result<CachedModelSummary[]>>;
  storage(): Promise<Result<StorageInfo>>;
  cacheModel(jobId: string, source: ModelSource, onProgress?: ProgressCallback): Promise<Result<CachedModelSummary>>;
  /** Aborts a running job (cacheModel, loadForChat, generate). Unknown ids are ignored. */
  cancel(jobId: string): Promise<void>;
  deleteModel(id: string): Promise<Result<void>>;
  /**
   * Downloads that stopped before completing (cancelled, cut off, tab closed) and are not running anywhere now,
   * newest first. Resuming one is cacheModel with its rebuilt source (io/cache/resume.ts).
   */
  listPartials(): Promise<Result<PartialSummary[]>>;
  /** Deletes an interrupted download's chunks and record; fails if that download is running (any tab). */
  discardPartial(id: string): Promise<Result<void>>;
  inspectModel(id: string): Promise<Result<ModelInspection>>;
  tokenize(id: string, text: string): Promise<Result<TokenizeResult>>;

  /**
   * Uploads a cached model's weights to the GPU for chat, with progress over weight bytes. One model is resident
   * at a time: loading another stops any generation and disposes the previous one first.
   */
  loadForChat(jobId: string, id: string, onProgress?: ProgressCallback): Promise<Result<LoadedModel>>;
  /** Disposes the resident model and gives its memory back to the driver. */
  unloadModel(): Promise<Result<GpuMemory | null>>;
  /**
   * Applies a stored LoRA adapter (trained or imported for the resident model) to it without reloading the weights,
   * or with null goes back to the base model; later generations use it. Refused for an adapter of another base.
   */
  setChatAdapter(choice: AdapterChoice | null): Promise<Result<ChatAdapterState>>;
  /** Generates with the resident model, streaming decoded text; cancel(jobId) stops it with finishReason 'stopped'. */
  generate(jobId: string, request: GenerateRequest, onUpdate?: GenerateUpdateCallback): Promise<Result<GenerateSummary>>;
  /** The pool's byte accounting; null while no device has been acquired. */
  gpuMemory(): Promise<Result<GpuMemory | null>>;
  /** Calls `onLost` every time the device is lost (the resident model is dropped; the weight cache is untouched). */
  watchDeviceLoss(onLost: DeviceLossCallback): Promise<void>;
  /**
   * Forces a kernel family (the studio's ?kernels=) on every device acquired from now on; null goes back to
   * choosing by adapter. Sent first, before anything acquires the device: a device already held keeps its family.
   */
  setKernelFamily(family: KernelFamily | null): Promise<void>;
  /**
   * Forces the subgroup variants of the kernels on or off (the studio's ?subgroups=) on every device acquired from
   * now on; null goes back to "when the device has the feature". Sent first, as setKernelFamily; on without the
   * feature makes acquiring the device fail with a message saying so.
   */
  setSubgroups(on: boolean | null): Promise<void>;
  /** Destroys the device, as a driver reset would: lets tests and developers exercise the recovery path. */
  simulateDeviceLoss(): Promise<Result<void>>;

  /**
   * Merges cached models into a new cache entry (progress over tensors). Cancel or failure leaves no entry; the
   * parents are only read. The entry holds mergekit_config.yml (exportMergeYaml).
   */
  mergeModels(jobId: string, request: MergeRequest, onProgress?: ProgressCallback): Promise<Result<CachedModelSummary>>;
  /** The mergekit YAML a merged entry was made from; null for a model that is not a merge. */
  exportMergeYaml(id: string): Promise<Result<string | null>>;
  /** Per-tensor cosine similarity and angle between two cached models, grouped by layer (streamed tensor by tensor). */
  parentDistances(jobId: string, a: string | MergeParent, b: string | MergeParent, onProgress?: ProgressCallback): Promise<Result<ParentDistances>>;
  /** Merges at each t and scores each merge (and both parents) on a multiple-choice benchmark, point by point. */
  mergeSweep(jobId: string, request: SweepRequest, onPoint?: SweepPointCallback, onProgress?: ProgressCallback): Promise<Result<SweepPoint[]>>;
  /** Every tensor of a cached model as stored (tests compare merges bit for bit through it). */
  readTensors(id: string): Promise<Result<RawTensor[]>>;

  /** Scores cached models on a multiple-choice benchmark, one on the GPU at a time, streaming every item's result. */
  runBenchmark(jobId: string, request: BenchmarkRequest, onItem?: BenchmarkItemCallback, onProgress?: ProgressCallback): Promise<Result<BenchmarkResult>>;

  /** The dataset's shape and token counts and the memory plan of a training request, with why it cannot run. */
  planTraining(request: TrainRequest): Promise<Result<TrainPlan>>;
  /** Trains a LoRA adapter (train-api.ts); events stream to onEvent; cancel(jobId) stops it after the current step. */
  startTraining(jobId: string, request: TrainRequest, onEvent?: TrainEventCallback): Promise<Result<TrainOutcome>>;
  /** Continues a stored run from its latest IndexedDB checkpoint. */
  resumeTraining(jobId: string, runId: string, onEvent?: TrainEventCallback): Promise<Result<TrainOutcome>>;
  /** Pauses (between optimizer steps) or resumes the run training in this worker. */
  pauseTraining(runId: string, paused: boolean): Promise<Result<void>>;
  /** Stored runs, newest first; a running run whose tab went away is 'interrupted'. */
  listTrainRuns(): Promise<Result<TrainRunSummary[]>>;
  /** Deletes a run's record and checkpoints (never a model folded from it). */
  deleteTrainRun(runId: string): Promise<Result<void>>;
  /** The adapter of a checkpoint (default: the latest) as a PEFT zip. */
  exportAdapter(runId: string, step?: number): Promise<Result<AdapterExport>>;
  /** Base + adapter folded into a new cached model (the base's dtype, Hugging Face layout); cancel leaves no entry. */
  foldAdapter(jobId: string, runId: string, label: string | null, onProgress?: ProgressCallback): Promise<Result<FoldResult>>;
  /**
   * A PEFT adapter from files (a folder, its two files or a .zip), checked against a cached base model and stored
   * beside the training runs (status 'imported'); a refusal names the file, tensor and shapes and stores nothing.
   */
  importAdapter(request: AdapterImportRequest): Promise<Result<AdapterImportResult>>;

  /** Data panel: every good row of a dataset file tokenised with a cached model's tokenizer as `method` trains it. */
  datasetTokens(jobId: string, request: DatasetTokensRequest, onProgress?: ProgressCallback): Promise<Result<DatasetTokens>>;

  /** Datasets saved from the Data panel (io/cache/datasets.ts), newest first. */
  listDatasets(): Promise<Result<StoredDatasetSummary[]>>;
  /** Stores a dataset's text (chunks and summary in one transaction). */
  saveDataset(meta: NewStoredDataset, text: string): Promise<Result<StoredDatasetSummary>>;
  /** A saved dataset's summary and text; null when it was deleted meanwhile. */
  getDataset(id: string): Promise<Result<{ summary: StoredDatasetSummary; text: string } | null>>;
  deleteDataset(id: string): Promise<Result<void>>;

  /** Finished benchmark runs (io/cache/benchmark-runs.ts), newest first, as the "Past runs" list shows them. */
  listBenchmarkRuns(): Promise<Result<RunSummary[]>>;
  /** Stores a finished run with its summary (computed in the worker). */
  saveBenchmarkRun(run: BenchmarkRun): Promise<Result<RunSummary>>;
  /** A stored run; null when it was deleted meanwhile. */
  getBenchmarkRun(id: string): Promise<Result<BenchmarkRun | null>>;
  deleteBenchmarkRun(id: string): Promise<Result<void>>;

  /** A cached model's folder as a store-only zip Blob (export-api.ts); progress over the bytes checksummed. */
  exportModelZip(jobId: string, id: string, onProgress?: ProgressCallback): Promise<Result<ExportFile>>;
  /** A cached model's files as Blobs of its cached chunks (nothing read), for writing into a folder. */
  exportModelFiles(id: string): Promise<Result<ModelBlobs>>;
  /** A cached model as one GGUF file (f32/f16/bf16/q8_0/q6_k/q5_k_m/q4_k_m/q4_0); cancel(jobId) stops it. */
  exportModelGguf(jobId: string, id: string, type: GgufOutType, onProgress?: ProgressCallback): Promise<Result<GgufExportResult>>;
  /** A GGUF or llama2.c file converted into a new cached model; a refusal or cancel leaves no entry. */
  importModel(jobId: string, request: ImportRequest, onProgress?: ProgressCallback): Promise<Result<ImportResult>>;
  /**
   * "Load as 4-bit": a cached 16/32-bit model quantised tensor by tensor (Q4_0, Q4_K_M or Q8_0, llama-quantize's
   * per-tensor rules) into a new cached model; a refusal or cancel leaves no entry.
   */
  quantizeModel(jobId: string, request: QuantizeRequest, onProgress?: ProgressCallback): Promise<Result<QuantizeResult>>;
  /** Perplexity of the same held-out documents under each model, one on the GPU at a time. */
  quickPerplexity(jobId: string, request: QuickPerplexityRequest, onProgress?: ProgressCallback): Promise<Result<QuickPerplexity[]>>;

  /** Runs a recipe (recipe-api.ts) on a cached model: every stage's model and the merge become cache entries. */
  runRecipe(jobId: string, request: RecipeRequest, onEvent?: RecipeEventCallback): Promise<Result<RecipeOutcome>>;

  /** The GPU check (engine/kernel-bench): each case checked, then timed, per kernel family; cancel(jobId) stops it. */
  gpuCheck(jobId: string, request: GpuCheckRequest, onProgress?: ProgressCallback): Promise<Result<KernelBenchReport>>;
}

export interface GpuCheckRequest {
  /** bench model names (SmolLM2-135M, …) */
  models: string[];
  /** rows of the batched products and of a training micro-batch's tokens */
  rows: number;
  /** default both */
  families?: KernelFamily[];
}

/** The sample conversation every chat template preview renders, so models can be compared side by side. */
export const SAMPLE_CONVERSATION = [
  { role: 'system', content: 'You are a materials science assistant.' },
  { role: 'user', content: 'What makes an alloy stronger than its base metal?' },
  { role: 'assistant', content: 'Solute atoms strain the lattice and pin dislocations.' },
  { role: 'user', content: 'Give one example.' },
] as const;
