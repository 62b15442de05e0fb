/**
 * Multiple-choice benchmarks scored by log-likelihood, as lm-evaluation-harness's `multiple_choice` tasks do:
 * each item becomes one request per choice, (context, target_delimiter + choice); acc is right when the choice
 * with the highest summed log-prob is the answer, acc_norm when the highest log-prob divided by the choice's
 * length is. lm-eval divides by len(choice) in characters, the choice without the delimiter; we divide by its
 * UTF-8 bytes, which is the same for ASCII text and does not depend on how a language counts characters.
 * The default prompt is lm-eval's generic "Question: …\nAnswer:" with " <choice>"; prompts.ts builds the others
 * (few-shot, MMLU, chat template) and hands them in as `prompt`.
 * Pure: the model is behind a `Scorer`, so this runs on a fake in unit tests and on the GPU in the worker.
 */
import { AlloyError, throwIfAborted } from '../../common/errors.ts';
import type { MultipleChoiceItem } from '../../io/benchmarks/types.ts';
import { summarizeByCategory, summarizeWithNorm, type CategorySummary } from './categories.ts';

export type { MultipleChoiceItem } from '../../io/benchmarks/types.ts';
export { parseMultipleChoiceJsonl } from '../../io/benchmarks/multiple-choice.ts';

export interface TextRequest {
  context: string;
  continuation: string;
}

/** Summed log-probs of each continuation given its context, in request order. */
export type Scorer = (requests: TextRequest[]) => Promise<number[]>;

/** One item as the model sees it: lm-eval's (context, [target_delimiter + choice]). */
export interface PromptedItem {
  context: string;
  /** lm-eval's doc_to_choice: the strings after the delimiter; acc_norm divides by their byte length */
  choices: string[];
  /** lm-eval's target_delimiter: " ", or "" under a chat template */
  delimiter: string;
}

export interface ItemResult {
  /** the exact strings scored: context, and one continuation (delimiter + choice) per choice */
  context: string;
  continuations: string[];
  logProbs: number[];
  /** argmax of logProbs */
  pred: number;
  /** argmax of logProbs / byte length of the choice */
  predNorm: number;
  answer: number;
  correct: boolean;
  correctNorm: boolean;
  category?: string;
}

/** acc, acc_norm, lm-eval's stderr of acc and the 95% Wilson interval of acc (categories.ts), overall and per category */
export interface MultipleChoiceScore extends CategorySummary {
  items: ItemResult[];
  /** per item category (MMLU subject), in first-seen order */
  byCategory: Record<string, CategorySummary>;
}

export function contextOf(item: MultipleChoiceItem): string {
  return item.context ?? `Question: ${item.question}\nAnswer:`;
}

/** lm-eval's generic multiple-choice prompt; items that carry their own `context` keep it. */
export function defaultPrompt(item: MultipleChoiceItem): PromptedItem {
  return { context: contextOf(item), choices: item.choices, delimiter: ' ' };
}

export function requestsOf(p: PromptedItem): TextRequest[] {
  return p.choices.map((c) => ({ context: p.context, continuation: p.delimiter + c }));
}

export function requestsFor(item: MultipleChoiceItem): TextRequest[] {
  return requestsOf(defaultPrompt(item));
}

const utf8 = new TextEncoder();

/** First index of the maximum (numpy's argmax breaks ties the same way). */
export function argmaxOf(xs: readonly number[]): number {
  let best = 0;
  for (let i = 1; i < xs.length; i++) if (xs[i]! > xs[best]!) best = i;
  return best;
}

export function scoreItem(item: MultipleChoiceItem, logProbs: readonly number[], prompted: PromptedItem = defaultPrompt(item)): ItemResult {
  // lm-eval: completion_len = len(choice); an empty choice would divide by zero there too, so it counts as 1.
  const norm = prompted.choices.map((c, i) => logProbs[i]! / Math.max(1, utf8.encode(c).byteLength));
  const pred = argmaxOf(logProbs);
  const predNorm = argmaxOf(norm);
  return {
    context: prompted.context,
    continuations: prompted.choices.map((c) => prompted.delimiter + c),
    logProbs: [...logProbs],
    pred,
    predNorm,
    answer: item.answer,
    correct: pred === item.answer,
    correctNorm: predNorm === item.answer,
    ...(item.category !== undefined ? { category: item.category } : {}),
  };
}

export interface EvaluateOptions {
  /** items per scorer call (each item sends one request per choice) */
  itemsPerBatch?: number;
  /** how an item becomes (context, choices); default lm-eval's "Question: …\nAnswer:" */
  prompt?: (item: MultipleChoiceItem, index: number) => PromptedItem;
  onProgress?: (done: number, total: number) => void;
  /** each item's result as soon as its batch is scored, in item order (streams into the CLI and the UI) */
  onItem?: (result: ItemResult, index: number) => void;
  signal?: AbortSignal;
}

export async function evaluateMultipleChoice(items: readonly MultipleChoiceItem[], scorer: Scorer, opts: EvaluateOptions = {}): Promise<MultipleChoiceScore> {
  const per = Math.max(1, opts.itemsPerBatch ?? 8);
  const prompt = opts.prompt ?? defaultPrompt;
  const results: ItemResult[] = [];
  for (let i = 0; i < items.length; i += per) {
    throwIfAborted(opts.signal, 'evaluation');
    const batch = items.slice(i, i + per);
    const prompted = batch.map((item, j) => prompt(item, i + j));
    prompted.forEach((p, j) => {
      if (p.choices.length !== batch[j]!.choices.length) {
        throw new AlloyError(`item ${i + j + 1}: the prompt gives ${p.choices.length} choices for ${batch[j]!.choices.length}`);
      }
    });
    const reqs = prompted.flatMap(requestsOf);
    const lps = await scorer(reqs);
    if (lps.length !== reqs.length) throw new AlloyError(`scorer returned ${lps.length} scores for ${reqs.length} requests`);
    let at = 0;
    batch.forEach((item, j) => {
      const r = scoreItem(item, lps.slice(at, at + item.choices.length), prompted[j]!);
      at += item.choices.length;
      results.push(r);
      opts.onItem?.(r, i + j);
    });
    opts.onProgress?.(results.length, items.length);
  }
  return {
    ...summarizeWithNorm(
      results.map((r) => r.correct),
      results.map((r) => r.correctNorm),
    ),
    items: results,
    byCategory: summarizeByCategory(results),
  };
}

/**
 * Token ids for one request, as lm-eval's _encode_pair: trailing whitespace of the context moves to the front of
 * the continuation (a chat template's "…assistant\n" then scores the newline with the answer, as lm-eval does), and
 * the continuation's tokens are those of the whole text after the context's, so a token spanning the boundary is
 * not split differently than the model would see it.
 */
export function encodePair(encode: (text: string) => number[], req: TextRequest): { context: number[]; continuation: number[] } {
  let { context, continuation } = req;
  const spaces = context.length - context.trimEnd().length;
  if (spaces > 0) {
    continuation = context.slice(-spaces) + continuation;
    context = context.slice(0, -spaces);
  }
  const whole = encode(context + continuation);
  // lm-eval cuts at the context's own length; clamped so there is always a continuation token to score.
  const cut = Math.max(1, Math.min(encode(context).length, whole.length - 1));
  return { context: whole.slice(0, cut), continuation: whole.slice(cut) };
}

/**
 * encodePair over a batch of requests, each distinct text encoded once: an item's choices share their context, so
 * its encoding is reused (5 encodes an MMLU item instead of 8).
 */
export function encodePairs(encode: (text: string) => number[], reqs: readonly TextRequest[]): { context: number[]; continuation: number[] }[] {
  const seen = new Map<string, number[]>();
  const once = (text: string) => {
    let ids = seen.get(text);
    if (!ids) seen.set(text, (ids = encode(text)));
    return ids;
  };
  return reqs.map((r) => encodePair(once, r));
}
