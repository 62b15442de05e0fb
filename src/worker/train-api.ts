// The training part of the comlink boundary (api.ts re-exports nothing from here; StudioApi imports these types).
// Plain, structured-cloneable data only.
import type { ShapeOf } from '../engine/train/settings.ts';
import type { TrainingMemoryPlan, TrainMode } from '../engine/train/memory.ts';
import type { StepEvent, TrainerEvent } from '../engine/train/trainer.ts';
import type { CachedModelSummary } from '../io/cache/weight-cache.ts';

export type { StepEvent };

/** A dataset file as text (a built-in demo file fetched by the page, or a file the user picked). */
export interface TrainDataFile {
  name: string;
  text: string;
}

/**
 * Every hyperparameter of a run: the schema's 'settings' fields (engine/train/settings.ts holds each one's type,
 * default, range, help and its names in TRL / PEFT, the CLI and the recipe). The form's defaults come from
 * engine/train/defaults.ts (app/lib/train-settings.ts). Runs stored before labelSmoothing and assistantOnlyLoss
 * existed lack them (they trained with 0 / on every token): readers fall back to the default.
 */
export type TrainSettings = ShapeOf<'settings'>;

export interface TrainRequest {
  /** cached model (weight cache id) */
  modelId: string;
  data: TrainDataFile;
  /** a held-out file; when given, valSplit is ignored */
  valData: TrainDataFile | null;
  settings: TrainSettings;
  /** bytes of GPU memory the run may plan for (WebGPU does not say how much the GPU has) */
  memoryBudget: number;
  /** tests only: write a NaN into the adapter after this step, so the next step's loss is NaN (the NaN stop path) */
  debugPoisonAfterStep?: number;
}

export interface DatasetStats {
  file: string;
  format: string;
  /** the shape detected in the file (before conversion to TRL's shapes) */
  shape: { id: string; label: string; fields: string };
  /** training units: rows (CPT/SFT) or chosen/rejected pairs (DPO/ORPO) */
  rows: number;
  /** tokens of the training sequences after truncation to seqLen */
  tokens: number;
  /** tokens scored by the objective (completion only for prompt/completion rows, assistant turns only with assistantOnlyLoss) */
  scoredTokens: number;
  longest: number;
  /** sequences cut at seqLen */
  truncated: number;
  /** the longest sequence before the cut: the sequence length that keeps every row whole */
  needed: number;
  valRows: number;
  valTokens: number;
  /** where the validation rows came from */
  valSource: 'none' | 'split' | 'file';
}

export interface TrainPlan {
  dataset: DatasetStats;
  memory: TrainingMemoryPlan;
  /** the plan's total (pool-rounded) with the other choice of per-layer recomputation */
  otherRecomputeTotal: number;
  /** what trains, and the plan's total (pool-rounded) with the other mode (LoRA ↔ every parameter) */
  mode: TrainMode;
  otherModeTotal: number;
  /** the AdamW moments (m, v) inside memory.adapter */
  optimizerBytes: number;
  /** activations and their gradients: kept + backward + head + logits */
  activationBytes: number;
  /** sequences per forward and padded length the plan assumed (worst case: the longest sequence) */
  rowsPerForward: number;
  seqLen: number;
  limits: { maxStorageBufferBindingSize: number; maxBufferSize: number; budget: number };
  /** the biggest single buffer of a step (the logits) */
  largestBuffer: { what: string; bytes: number };
  /** why this run cannot fit, said before anything is allocated; null when it fits */
  refusal: string | null;
}

/** 'imported': not a run but a PEFT adapter brought in from files (TrainRunSummary.imported says what it is) */
export type RunStatus = 'running' | 'paused' | 'interrupted' | 'done' | 'cancelled' | 'nan' | 'failed' | 'imported';

/** What an imported PEFT adapter is (its settings hold only its rank, alpha, dropout and targets). */
export interface ImportedAdapterInfo {
  /** the files it came from, e.g. ["my-adapter.zip"] or ["adapter_config.json", "adapter_model.safetensors"] */
  files: string[];
  /** adapter_config.json's base_model_name_or_path */
  baseModelName: string | null;
  useRslora: boolean;
  /** adapted modules (A/B pairs) */
  modules: number;
  /** dtypes of its tensors as stored, e.g. ["BF16"] */
  dtypes: string[];
}

export interface TrainRunSummary {
  id: string;
  label: string;
  modelId: string;
  modelLabel: string;
  /** the base model's repo (PEFT's base_model_name_or_path) */
  modelRepo: string;
  dataName: string;
  settings: TrainSettings;
  createdAt: number;
  updatedAt: number;
  /** 'running'/'paused' only while a worker of some tab holds the run; a run whose tab went away is 'interrupted' */
  status: RunStatus;
  /** optimizer steps done (as far as the record knows) */
  step: number;
  /** steps with a checkpoint in IndexedDB, ascending */
  checkpoints: number[];
  message: string | null;
  lastLoss: number | null;
  /** cached models folded from this run */
  folded: string[];
  /** set for an adapter imported from PEFT files rather than trained here (status 'imported', one checkpoint at step 0) */
  imported?: ImportedAdapterInfo;
}

/** What the run store keeps: the summary's fields without the derived ones, and the request to rebuild the run from. */
export interface TrainRunRecord extends Omit<TrainRunSummary, 'checkpoints' | 'status'> {
  status: Exclude<TrainRunSummary['status'], 'interrupted'>;
  /** null for an imported adapter (nothing to resume) */
  request: TrainRequest | null;
}

export type TrainEvent =
  | {
      type: 'started';
      runId: string;
      /** step the run starts from (the checkpoint's on a resume) */
      step: number;
      steps: number;
      /** the curve so far (from the checkpoint on a resume) */
      history: StepEvent[];
      plan: TrainPlan;
      resumedFrom: number | null;
    }
  | TrainerEvent;

export type TrainEventCallback = (e: TrainEvent) => void;

export interface TrainOutcome {
  runId: string;
  status: 'done' | 'cancelled' | 'nan';
  step: number;
  message: string | null;
  lastGoodStep: number | null;
  /** the step of the checkpoint that now holds the run's final adapter (null: none) */
  checkpoint: number | null;
  /** a full run's result: the model saved from that checkpoint (null for a LoRA run, or when nothing was saved) */
  saved: FoldResult | null;
}

/** A PEFT adapter as a store-only zip (adapter_config.json + adapter_model.safetensors). */
export interface AdapterExport {
  fileName: string;
  bytes: Uint8Array;
  step: number;
}

/** PEFT adapter files the page picked up, to store as an adapter for a cached base model (checked against it first). */
export interface AdapterImportRequest {
  /** the cached base model (weight cache id) */
  modelId: string;
  /** what the user brought, e.g. the folder's or zip's name (the stored adapter's default label) */
  name: string;
  /** the files with their paths inside what was picked or dropped; a single .zip is opened */
  files: { path: string; blob: Blob }[];
  label?: string | null;
}

export interface AdapterImportResult {
  run: TrainRunSummary;
  /** one line saying what was imported, e.g. "r 8, alpha 16, q_proj, v_proj on 2 layers (4 modules), F32" */
  summary: string;
  warnings: string[];
}

export interface FoldResult {
  entry: CachedModelSummary;
  step: number;
}
