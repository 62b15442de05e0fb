/**
 * Perplexity of held-out text as lm-evaluation-harness's `loglikelihood_rolling` + wikitext metrics:
 * the document is encoded without special tokens, split by get_rolling_token_windows(max_seq_len = model
 * length, context_len = 1) and make_disjoint_window, so every token is predicted exactly once; the first window is
 * conditioned on the prefix token (BOS, else EOS), each later full window on the one token before it, and the last,
 * shorter window keeps the model's whole length as context (the only overlap). The windows' summed log-probs give
 *   word_perplexity = exp(−Σ ll / Σ words)   words = len(re.split(r"\s+", doc))
 *   byte_perplexity = exp(−Σ ll / Σ bytes)   UTF-8 bytes
 *   bits_per_byte   = −Σ ll / Σ bytes / ln 2
 * summed over documents before dividing (lm-eval's weighted_perplexity), so long documents weigh more.
 */
import { AlloyError, throwIfAborted } from '../../common/errors.ts';
import type { TextDocument } from '../../io/benchmarks/types.ts';

export interface TokenRequest {
  context: number[];
  continuation: number[];
}

/** Summed log-prob of each continuation given its context, in request order. */
export type TokenScorer = (requests: TokenRequest[]) => Promise<number[]>;

/** lm-eval's get_rolling_token_windows followed by make_disjoint_window. */
export function rollingWindows(tokens: readonly number[], prefixToken: number, maxSeqLen: number, contextLen = 1): TokenRequest[] {
  if (!(contextLen >= 1 && contextLen <= maxSeqLen)) throw new RangeError(`context length ${contextLen} not in [1, ${maxSeqLen}]`);
  const out: TokenRequest[] = [];
  if (tokens.length === 0) return out;
  const predLen = maxSeqLen - contextLen + 1;
  const disjoint = (input: number[], pred: number[]): TokenRequest => ({ context: input.slice(0, input.length - pred.length + 1), continuation: pred });
  const first = Math.min(maxSeqLen, tokens.length);
  out.push(disjoint([prefixToken, ...tokens.slice(0, first - 1)], tokens.slice(0, first)));
  let predicted = first;
  while (predicted < tokens.length) {
    const n = Math.min(tokens.length - predicted, predLen);
    const end = predicted + n;
    out.push(disjoint(tokens.slice(Math.max(0, end - maxSeqLen - 1), end - 1), tokens.slice(end - n, end)));
    predicted += n;
  }
  return out;
}

/** lm-eval's word count: len(re.split(r"\s+", doc)) (leading/trailing whitespace counts an empty word, as there). */
export function countWords(text: string): number {
  return text.split(/\s+/).length;
}

export interface DocumentResult {
  logProb: number;
  tokens: number;
  words: number;
  bytes: number;
  windows: number;
  category?: string;
}

export interface PerplexityScore {
  n: number;
  logProb: number;
  tokens: number;
  words: number;
  bytes: number;
  wordPerplexity: number;
  bytePerplexity: number;
  bitsPerByte: number;
  /** exp(−Σ ll / Σ tokens): depends on the tokenizer, so only comparable within one model family */
  tokenPerplexity: number;
  docs: DocumentResult[];
}

export interface PerplexityOptions {
  /** encode without special tokens */
  encode: (text: string) => number[];
  /** BOS if the tokenizer has one, else EOS (lm-eval's prefix_token_id) */
  prefixToken: number;
  /** the model's length (max_position_embeddings) */
  maxLength: number;
  /** windows per scorer call (default 4) */
  windowsPerBatch?: number;
  onDocument?: (result: DocumentResult, index: number) => void;
  signal?: AbortSignal;
}

const utf8 = new TextEncoder();

export function perplexityOf(docs: readonly DocumentResult[]): Omit<PerplexityScore, 'docs'> {
  const sum = (f: (d: DocumentResult) => number) => docs.reduce((a, d) => a + f(d), 0);
  const logProb = sum((d) => d.logProb);
  const words = sum((d) => d.words);
  const bytes = sum((d) => d.bytes);
  const tokens = sum((d) => d.tokens);
  return {
    n: docs.length,
    logProb,
    tokens,
    words,
    bytes,
    wordPerplexity: Math.exp(-logProb / words),
    bytePerplexity: Math.exp(-logProb / bytes),
    bitsPerByte: -logProb / bytes / Math.LN2,
    tokenPerplexity: Math.exp(-logProb / tokens),
  };
}

export async function evaluatePerplexity(docs: readonly TextDocument[], scorer: TokenScorer, opts: PerplexityOptions): Promise<PerplexityScore> {
  const per = Math.max(1, opts.windowsPerBatch ?? 4);
  const results: DocumentResult[] = [];
  for (const [index, doc] of docs.entries()) {
    const tokens = opts.encode(doc.text);
    const windows = rollingWindows(tokens, opts.prefixToken, opts.maxLength);
    let logProb = 0;
    for (let i = 0; i < windows.length; i += per) {
      throwIfAborted(opts.signal, 'evaluation');
      const batch = windows.slice(i, i + per);
      const lps = await scorer(batch);
      if (lps.length !== batch.length) throw new AlloyError(`scorer returned ${lps.length} scores for ${batch.length} windows`);
      for (const lp of lps) logProb += lp;
    }
    const r: DocumentResult = {
      logProb,
      tokens: tokens.length,
      words: countWords(doc.text),
      bytes: utf8.encode(doc.text).byteLength,
      windows: windows.length,
      ...(doc.category !== undefined ? { category: doc.category } : {}),
    };
    results.push(r);
    opts.onDocument?.(r, index);
  }
  return { ...perplexityOf(results), docs: results };
}
