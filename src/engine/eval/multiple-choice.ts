/**
 * Multiple-choice benchmarks scored by log-likelihood, as lm-evaluation-harness's `multiple_choice` tasks do:
 * each item becomes one request per choice with context "Question: …\nAnswer:" and continuation " <choice>";
 * acc is right when the choice with the highest summed log-prob is the answer, acc_norm when the highest
 * log-prob divided by the continuation's length is. lm-eval divides by len(str) (characters); we divide by UTF-8
 * bytes, which is the same for ASCII text and does not depend on how a language counts characters.
 * Pure: the model is behind a `Scorer`, so this runs on a fake in unit tests and on the GPU in the worker.
 */
import { AlloyError, throwIfAborted } from '../../io/errors.ts';

export interface MultipleChoiceItem {
  question: string;
  choices: string[];
  /** index into choices */
  answer: number;
}

export interface TextRequest {
  context: string;
  continuation: string;
}

/** Summed log-probs of each continuation given its context, in request order. */
export type Scorer = (requests: TextRequest[]) => Promise<number[]>;

export interface ItemResult {
  logProbs: number[];
  /** argmax of logProbs */
  pred: number;
  /** argmax of logProbs / byte length */
  predNorm: number;
  answer: number;
}

export interface MultipleChoiceScore {
  n: number;
  acc: number;
  accNorm: number;
  items: ItemResult[];
}

export function contextOf(item: MultipleChoiceItem): string {
  return `Question: ${item.question}\nAnswer:`;
}

export function requestsFor(item: MultipleChoiceItem): TextRequest[] {
  const context = contextOf(item);
  return item.choices.map((c) => ({ context, continuation: ` ${c}` }));
}

const utf8 = new TextEncoder();

/** First index of the maximum (numpy's argmax breaks ties the same way). */
export function argmaxOf(xs: readonly number[]): number {
  let best = 0;
  for (let i = 1; i < xs.length; i++) if (xs[i]! > xs[best]!) best = i;
  return best;
}

export function scoreItem(item: MultipleChoiceItem, logProbs: readonly number[]): ItemResult {
  const norm = item.choices.map((c, i) => logProbs[i]! / utf8.encode(` ${c}`).byteLength);
  return { logProbs: [...logProbs], pred: argmaxOf(logProbs), predNorm: argmaxOf(norm), answer: item.answer };
}

export interface EvaluateOptions {
  /** items per scorer call (each item sends one request per choice) */
  itemsPerBatch?: number;
  onProgress?: (done: number, total: number) => void;
  signal?: AbortSignal;
}

export async function evaluateMultipleChoice(items: readonly MultipleChoiceItem[], scorer: Scorer, opts: EvaluateOptions = {}): Promise<MultipleChoiceScore> {
  const per = Math.max(1, opts.itemsPerBatch ?? 8);
  const results: ItemResult[] = [];
  for (let i = 0; i < items.length; i += per) {
    throwIfAborted(opts.signal, 'evaluation');
    const batch = items.slice(i, i + per);
    const reqs = batch.flatMap(requestsFor);
    const lps = await scorer(reqs);
    if (lps.length !== reqs.length) throw new AlloyError(`scorer returned ${lps.length} scores for ${reqs.length} requests`);
    let at = 0;
    for (const item of batch) {
      results.push(scoreItem(item, lps.slice(at, at + item.choices.length)));
      at += item.choices.length;
    }
    opts.onProgress?.(results.length, items.length);
  }
  const n = results.length;
  const count = (f: (r: ItemResult) => boolean) => results.filter(f).length;
  return {
    n,
    acc: n ? count((r) => r.pred === r.answer) / n : 0,
    accNorm: n ? count((r) => r.predNorm === r.answer) / n : 0,
    items: results,
  };
}

/** Parses a JSONL benchmark ({question, choices, answer} per line), naming the line of any bad item. */
export function parseMultipleChoiceJsonl(text: string, file = 'benchmark.jsonl'): MultipleChoiceItem[] {
  const items: MultipleChoiceItem[] = [];
  text.split('\n').forEach((raw, i) => {
    const line = raw.trim();
    if (!line) return;
    const at = { file, line: i + 1 };
    let o: unknown;
    try {
      o = JSON.parse(line);
    } catch {
      throw new AlloyError(`${file}:${i + 1}: not valid JSON`, at);
    }
    const { question, choices, answer } = (o ?? {}) as Record<string, unknown>;
    if (typeof question !== 'string' || !question) throw new AlloyError(`${file}:${i + 1}: "question" must be a non-empty string`, at);
    if (!Array.isArray(choices) || choices.length < 2 || !choices.every((c) => typeof c === 'string' && c !== '')) {
      throw new AlloyError(`${file}:${i + 1}: "choices" must list at least two non-empty strings`, at);
    }
    if (typeof answer !== 'number' || !Number.isInteger(answer) || answer < 0 || answer >= choices.length) {
      throw new AlloyError(`${file}:${i + 1}: "answer" must be the index of one of the ${choices.length} choices`, at);
    }
    items.push({ question, choices: choices as string[], answer });
  });
  if (items.length === 0) throw new AlloyError(`${file}: no items`, { file });
  return items;
}

/**
 * Token ids for one request, as lm-eval's _encode_pair: the continuation's tokens are those of the whole text
 * after the context's, so a token spanning the boundary is not split differently than the model would see it.
 */
export function encodePair(encode: (text: string) => number[], req: TextRequest): { context: number[]; continuation: number[] } {
  const whole = encode(req.context + req.continuation);
  // lm-eval cuts at the context's own length; clamped so there is always a continuation token to score.
  const cut = Math.max(1, Math.min(encode(req.context).length, whole.length - 1));
  return { context: whole.slice(0, cut), continuation: whole.slice(cut) };
}
