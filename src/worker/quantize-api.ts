// What crosses the comlink boundary for "load as 4-bit" (plain data).
import type { CachedModelSummary } from '../io/cache/weight-cache.ts';
import type { QuantizePreset, QuantizeSummary } from '../io/quantize-model.ts';

export type { QuantizePreset, QuantizeSummary };

export interface QuantizeRequest {
  modelId: string;
  type: QuantizePreset;
  /** tests only: pause this long after each tensor written, so a cancel can land mid-quantisation on tiny models */
  debugDelayMs?: number;
}

export interface QuantizeResult {
  /** the new cache entry ("<model> Q4_K_M") */
  entry: CachedModelSummary;
  /** per storage type count and bytes, total bytes vs the source's weights, tensors kept at higher precision */
  summary: QuantizeSummary;
  /** the source entry's total bytes (every file), beside entry.totalBytes */
  sourceTotalBytes: number;
  /** tensors the GPU will de-quantise to f32 at load (and so hold in more memory than the source's 16 bits) */
  gpuWarnings: string[];
}

export interface QuickPerplexityRequest {
  modelIds: string[];
  /** held-out documents, scored with each model's own tokenizer (rolling windows over its length) */
  docs: { text: string }[];
}

export interface QuickPerplexity {
  modelId: string;
  /** exp(−Σ log p / tokens) */
  tokenPerplexity: number;
  bitsPerByte: number;
  tokens: number;
  seconds: number;
}
