/**
 * Open questions answered by greedy generation, as lm-eval's generate_until tasks: the prompt is
 * "Question: …\nAnswer:" (after any shots "Question: …\nAnswer: <answer>\n\n"), the model generates until a
 * newline (lm-eval's `until: ["\n"]`-style stop) or the token limit, and the text is checked by the item's rule:
 *   exact     the normalized output equals the normalized answer
 *   contains  the normalized answer occurs in the normalized output
 *   numeric   the first number in the output is within `tolerance` of the answer
 * Normalized = lower case, whitespace collapsed, trimmed, trailing ".", "!" or "?" dropped (lm-eval's exact_match
 * with ignore_case and the usual strip; no punctuation removal inside the text, so "3.5" stays a number).
 */
import { AlloyError, throwIfAborted } from '../../common/errors.ts';
import type { OpenQuestionItem } from '../../io/benchmarks/types.ts';
import { FEWSHOT_DELIMITER, TARGET_DELIMITER, type ApplyChatTemplate } from './prompts.ts';
import { summarizeAccuracy, summarizeByCategory, type AccuracySummary, type CategorySummary } from './categories.ts';

export function normalizeAnswer(s: string): string {
  return s.toLowerCase().replace(/\s+/g, ' ').trim().replace(/[.!?]+$/, '').trim();
}

/** The first decimal number in a text (commas as thousands separators are dropped first), or null. */
export function firstNumber(s: string): number | null {
  const m = /[-+]?(?:\d+\.?\d*|\.\d+)(?:[eE][-+]?\d+)?/.exec(s.replace(/(\d),(?=\d{3}\b)/g, '$1'));
  return m ? Number(m[0]) : null;
}

export function matchAnswer(item: OpenQuestionItem, output: string): boolean {
  switch (item.match) {
    case 'exact':
      return normalizeAnswer(output) === normalizeAnswer(item.answer);
    case 'contains':
      return normalizeAnswer(output).includes(normalizeAnswer(item.answer));
    case 'numeric': {
      const want = Number(item.answer.trim());
      const got = firstNumber(output);
      if (got === null) return false;
      const tol = item.tolerance ?? 1e-6 * Math.max(1, Math.abs(want));
      return Math.abs(got - want) <= tol;
    }
  }
}

export function openContext(item: OpenQuestionItem, shots: readonly OpenQuestionItem[] = [], chat?: ApplyChatTemplate | null): string {
  const text = (q: OpenQuestionItem) => `Question: ${q.question}\nAnswer:`;
  const fewshot = shots.map((s) => text(s) + TARGET_DELIMITER + s.answer + FEWSHOT_DELIMITER).join('');
  if (!chat) return fewshot + text(item);
  return chat([{ role: 'user', content: fewshot + text(item) }], { addGenerationPrompt: true });
}

/** Greedy continuation of a prompt, cut at the first stop string by the generator. */
export type Generator = (context: string) => Promise<string>;

export interface OpenItemResult {
  context: string;
  output: string;
  answer: string;
  match: OpenQuestionItem['match'];
  correct: boolean;
  category?: string;
}

export interface OpenQuestionsScore extends AccuracySummary {
  items: OpenItemResult[];
  byCategory: Record<string, CategorySummary>;
}

export interface OpenOptions {
  shots?: number;
  chat?: ApplyChatTemplate | null;
  onItem?: (r: OpenItemResult, index: number) => void;
  signal?: AbortSignal;
}

export async function evaluateOpenQuestions(items: readonly OpenQuestionItem[], gen: Generator, opts: OpenOptions = {}): Promise<OpenQuestionsScore> {
  const k = Math.max(0, Math.floor(opts.shots ?? 0));
  const results: OpenItemResult[] = [];
  for (const [i, item] of items.entries()) {
    throwIfAborted(opts.signal, 'evaluation');
    // first_n shots from the items themselves, skipping the one asked
    const shots = k ? items.slice(0, k + 1).filter((s) => s !== item).slice(0, k) : [];
    const context = openContext(item, shots, opts.chat);
    const output = await gen(context);
    if (typeof output !== 'string') throw new AlloyError(`generator returned no text for item ${i + 1}`);
    const r: OpenItemResult = {
      context,
      output,
      answer: item.answer,
      match: item.match,
      correct: matchAnswer(item, output),
      ...(item.category !== undefined ? { category: item.category } : {}),
    };
    results.push(r);
    opts.onItem?.(r, i);
  }
  return { ...summarizeAccuracy(results.map((r) => r.correct)), items: results, byCategory: summarizeByCategory(results) };
}
