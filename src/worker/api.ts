// The comlink boundary between the studio UI (main thread) and the studio worker.
// Only plain, structured-cloneable data crosses it: no class instances, no GPU objects. Errors travel as
// SerializedError inside a Result, because comlink's own error transfer keeps only name/message/stack and
// would drop `where` (the file/tensor/field a message points at).
import type { SerializedError } from '../io/errors.ts';
import type { Progress } from '../io/progress.ts';
import type { ModelSource } from '../io/sources.ts';
import type { CachedModelSummary, PartialSummary } from '../io/cache/weight-cache.ts';

export type Result<T> = { ok: true; value: T } | { ok: false; error: SerializedError };

export interface GpuInfo {
  vendor: string;
  architecture: string;
  description: string;
  maxStorageBufferBindingSize: number;
  maxBufferSize: number;
  features: string[];
  hasShaderF16: boolean;
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

/** What the worker exposes. Every method resolves (never rejects) with a Result. */
export interface StudioApi {
  gpuInfo(): Promise<Result<GpuInfo>>;
  listModels(): Promise<Result<CachedModelSummary[]>>;
  storage(): Promise<Result<StorageInfo>>;
  cacheModel(jobId: string, source: ModelSource, onProgress?: ProgressCallback): Promise<Result<CachedModelSummary>>;
  /** Aborts a running cacheModel job; the job then resolves with a CancelledError. Unknown ids are ignored. */
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
}

/** The sample conversation every chat template preview renders, so models can be compared side by side. */
export const SAMPLE_CONVERSATION = [
  { role: 'system', content: 'You are a materials science assistant.' },
  { role: 'user', content: 'What makes an alloy stronger than its base metal?' },
  { role: 'assistant', content: 'Solute atoms strain the lattice and pin dislocations.' },
  { role: 'user', content: 'Give one example.' },
] as const;
