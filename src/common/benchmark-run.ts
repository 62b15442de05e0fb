/**
 * A benchmark run as plain data: what the worker streams, IndexedDB keeps (io/cache/benchmark-runs.ts) and the
 * downloads write (engine/eval/benchmark-run.ts). Types only, shared by io/ and the engine.
 */

export interface BenchmarkItemResult {
  /** the item's index in the benchmark file */
  index: number;
  question: string;
  category?: string;
  /** what the model read before each choice (few-shot examples and chat template included) */
  context: string;
  /** the scored continuation of each choice */
  continuations: string[];
  /** Σ log p(continuation | context) per choice, as the engine computed it */
  logprobs: number[];
  answer: number;
  pred: number;
  predNorm: number;
  correct: boolean;
  correctNorm: boolean;
}

export interface RunModel {
  /** the cache entry id at run time */
  id: string;
  label: string;
  repo: string;
  /** how the Merge panel's YAML names it (io/cache/names.ts modelRefs); absent in runs stored before it */
  ref?: string;
  /** for a merged model: the models its mergekit_config.yml names (repos or labels), base model first; else null */
  parents: string[] | null;
}

export interface ModelRun {
  model: RunModel;
  items: BenchmarkItemResult[];
}

export interface RunOptions {
  /** the first `limit` items (null = all) */
  limit: number | null;
  /** few-shot examples per item (lm-eval's first_n: the benchmark's first k, skipping the item itself) */
  fewShot: number;
  chatTemplate: boolean;
  /**
   * how the forwards stored their activations (engine/act-dtype.ts: f16 on the hardware kernel family halves their
   * bytes; its ActDtype, spelled out here since common imports nothing outside itself); absent in runs stored before
   * the option existed, which ran f32
   */
  activations?: 'f32' | 'f16';
}

export interface BenchmarkRun {
  id: string;
  createdAt: number;
  seconds: number;
  /** `items`: how many were scored per model; `format`: which lm-eval template the prompts follow */
  benchmark: { name: string; source: 'built-in' | 'file'; format: 'jsonl' | 'mmlu'; items: number };
  options: RunOptions;
  models: ModelRun[];
}

export interface RunSummary {
  id: string;
  createdAt: number;
  seconds: number;
  benchmark: BenchmarkRun['benchmark'];
  options: BenchmarkRun['options'];
  models: { id: string; label: string; n: number; acc: number; accNorm: number }[];
}
