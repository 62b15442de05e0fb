/**
 * Benchmark prompts as lm-evaluation-harness builds them for a multiple-choice task, with the two options the
 * Benchmark panel offers:
 * - few-shot k: k other items of the same benchmark, each written "Question: …\nAnswer: <its answer>", joined with
 *   the item's own context by a blank line (lm-eval's fewshot_delimiter "\n\n"). The k items are drawn without
 *   replacement by the engine's seeded stream (mulberry32(seed + index)), never the item itself, so a run is
 *   reproducible and every item gets its own examples (lm-eval also samples per document, seed 1234).
 * - chat template: the whole context (examples included) becomes one user turn rendered by the model's own template
 *   with the generation prompt, and the continuation loses its leading space (lm-eval since PR #2475 sets
 *   target_delimiter to "" under apply_chat_template: the template already ends where the answer starts).
 * acc_norm divides each summed log-prob by the UTF-8 byte length of the continuation actually scored.
 * Pure and DOM-free: the worker and the tests build the same requests from the same function.
 */
import { argmaxOf, contextOf, type MultipleChoiceItem, type TextRequest } from './multiple-choice.ts';
import { mulberry32 } from '../random.ts';

/** A multiple-choice item that may carry a category (for per-category breakdowns). */
export interface BenchmarkItem extends MultipleChoiceItem {
  category?: string;
}

export interface PromptOptions {
  /** few-shot examples per item (0 = zero-shot) */
  fewShot: number;
  /** seed of the few-shot draw */
  seed: number;
  /** renders one user message with the model's chat template (generation prompt on); absent = plain text */
  chatTemplate?: (user: string) => string;
}

export const DEFAULT_FEWSHOT_SEED = 1234;

/** The indices of the k few-shot examples of item `index` (k clamped to the other items available). */
export function fewShotIndices(count: number, index: number, k: number, seed: number): number[] {
  const pool: number[] = [];
  for (let i = 0; i < count; i++) if (i !== index) pool.push(i);
  const n = Math.max(0, Math.min(k, pool.length));
  const rand = mulberry32((seed + index) >>> 0);
  // partial Fisher–Yates: the first n of a seeded shuffle
  for (let i = 0; i < n; i++) {
    const j = i + Math.floor(rand() * (pool.length - i));
    [pool[i], pool[j]] = [pool[j]!, pool[i]!];
  }
  return pool.slice(0, n);
}

/** One solved example: the item's context, a space, its correct answer. */
export function exampleText(item: MultipleChoiceItem): string {
  return `${contextOf(item)} ${item.choices[item.answer]}`;
}

/** The text the model reads before each choice of item `index` (`items` is the whole benchmark: the few-shot pool). */
export function contextFor(items: readonly MultipleChoiceItem[], index: number, opts: PromptOptions): string {
  const shots = fewShotIndices(items.length, index, opts.fewShot, opts.seed).map((i) => exampleText(items[i]!));
  const text = [...shots, contextOf(items[index]!)].join('\n\n');
  return opts.chatTemplate ? opts.chatTemplate(text) : text;
}

/** One request per choice: the context and " <choice>" (or "<choice>" under a chat template). */
export function requestsForItem(items: readonly MultipleChoiceItem[], index: number, opts: PromptOptions): TextRequest[] {
  const context = contextFor(items, index, opts);
  const delimiter = opts.chatTemplate ? '' : ' ';
  return items[index]!.choices.map((c) => ({ context, continuation: `${delimiter}${c}` }));
}

const utf8 = new TextEncoder();

export interface ScoredChoices {
  /** argmax of the summed log-probs */
  pred: number;
  /** argmax of log-prob per UTF-8 byte of the continuation */
  predNorm: number;
}

/** acc / acc_norm predictions from each choice's summed log-prob (ties: first index, as numpy's argmax). */
export function predictions(continuations: readonly string[], logprobs: readonly number[]): ScoredChoices {
  const norm = continuations.map((c, i) => logprobs[i]! / Math.max(1, utf8.encode(c).byteLength));
  return { pred: argmaxOf(logprobs), predNorm: argmaxOf(norm) };
}
