/**
 * Prompts as lm-evaluation-harness builds them for `multiple_choice` tasks:
 *   context = description + Σ_shots (doc_to_text(shot) + target_delimiter + choice(shot) + fewshot_delimiter)
 *             + doc_to_text(doc)
 *   continuations = target_delimiter + choice, for each of doc_to_choice(doc)
 * with target_delimiter " " and fewshot_delimiter "\n\n" (lm-eval's defaults). Shots are the first k of a pool
 * (lm-eval's `first_n` sampler, which MMLU uses); when the pool is the evaluated split itself, lm-eval draws k + 1
 * and drops the item being evaluated, and so do we.
 *
 * Under a chat template (lm-eval's --apply_chat_template, fewshot_as_multiturn off) the description is a system
 * turn, shots + question one user turn, then the generation prompt; target_delimiter becomes "" (the template's
 * assistant header already ends the context). A template that refuses a system turn gets none, as lm-eval does.
 */
import type { ChatMessage } from '../../io/tokenizer.ts';
import type { MultipleChoiceItem } from '../../io/benchmarks/types.ts';
import { subjectTitle } from '../../io/benchmarks/mmlu.ts';
import { contextOf, type PromptedItem } from './multiple-choice.ts';

export const TARGET_DELIMITER = ' ';
export const FEWSHOT_DELIMITER = '\n\n';

/** A task's prompt template (lm-eval's description, doc_to_text, doc_to_choice). */
export interface TaskFormat {
  description: string;
  docToText(item: MultipleChoiceItem): string;
  docToChoice(item: MultipleChoiceItem): string[];
}

/** lm-eval's generic question-answer prompt ("Question: …\nAnswer:" + " <choice>"), or the item's own context. */
export const GENERIC_FORMAT: TaskFormat = {
  description: '',
  docToText: contextOf,
  docToChoice: (item) => item.choices,
};

const MMLU_LETTERS = ['A', 'B', 'C', 'D'];

/** lm-eval's mmlu task ("default" variant): description names the subject; continuations " A" … " D". */
export function mmluFormat(subject: string): TaskFormat {
  return {
    description: `The following are multiple choice questions (with answers) about ${subjectTitle(subject)}.\n\n`,
    docToText: mmluDocToText,
    docToChoice: () => MMLU_LETTERS,
  };
}

/** lm-eval mmlu doc_to_text: "{{question.strip()}}\nA. {{choices[0]}}\nB. …\nD. {{choices[3]}}\nAnswer:". */
export function mmluDocToText(item: MultipleChoiceItem): string {
  const lines = item.choices.map((c, i) => `${MMLU_LETTERS[i]}. ${c}`);
  return `${item.question.trim()}\n${lines.join('\n')}\nAnswer:`;
}

/** lm-eval's first_n sampler: the first k of the pool, skipping the item itself when the pool holds it. */
export function selectShots(pool: readonly MultipleChoiceItem[], k: number, item: MultipleChoiceItem): MultipleChoiceItem[] {
  if (k <= 0) return [];
  return pool
    .slice(0, k + 1)
    .filter((s) => !sameItem(s, item))
    .slice(0, k);
}

function sameItem(a: MultipleChoiceItem, b: MultipleChoiceItem): boolean {
  return a === b || (a.question === b.question && a.answer === b.answer && a.choices.join('\u0000') === b.choices.join('\u0000'));
}

export interface PromptParts {
  description: string;
  /** the labelled shots, each ending in the few-shot delimiter */
  fewshot: string;
  /** doc_to_text of the item */
  text: string;
  choices: string[];
}

export function promptParts(format: TaskFormat, item: MultipleChoiceItem, shots: readonly MultipleChoiceItem[]): PromptParts {
  const fewshot = shots
    .map((s) => format.docToText(s) + TARGET_DELIMITER + format.docToChoice(s)[s.answer]! + FEWSHOT_DELIMITER)
    .join('');
  return { description: format.description, fewshot, text: format.docToText(item), choices: format.docToChoice(item) };
}

export function renderPlain(p: PromptParts): PromptedItem {
  return { context: p.description + p.fewshot + p.text, choices: p.choices, delimiter: TARGET_DELIMITER };
}

export type ApplyChatTemplate = (messages: readonly ChatMessage[], options: { addGenerationPrompt: boolean }) => string;

/** The chat messages lm-eval builds for one item (system = description, one user turn = shots + question). */
export function chatMessages(p: PromptParts): ChatMessage[] {
  const user: ChatMessage = { role: 'user', content: p.fewshot + p.text };
  return p.description ? [{ role: 'system', content: p.description }, user] : [user];
}

export function renderChat(p: PromptParts, apply: ApplyChatTemplate): PromptedItem {
  const messages = chatMessages(p);
  let context: string;
  try {
    context = apply(messages, { addGenerationPrompt: true });
  } catch (e) {
    if (messages.length === 1) throw e;
    // lm-eval: a template that rejects the system role is applied again without it.
    context = apply(messages.slice(1), { addGenerationPrompt: true });
  }
  return { context, choices: p.choices, delimiter: '' };
}

export interface PromptOptions {
  /** k, the number of shots (default 0) */
  shots?: number;
  /** where an item's shots come from (MMLU: its subject's dev split); default the evaluated items themselves */
  pool?: (item: MultipleChoiceItem) => readonly MultipleChoiceItem[];
  /** the task template for an item (MMLU: by subject); default GENERIC_FORMAT */
  format?: (item: MultipleChoiceItem) => TaskFormat;
  /** wrap in the model's chat template */
  chat?: ApplyChatTemplate | null;
}

/** The `prompt` option of evaluateMultipleChoice for these settings. */
export function buildPrompt(items: readonly MultipleChoiceItem[], opts: PromptOptions = {}): (item: MultipleChoiceItem) => PromptedItem {
  const k = Math.max(0, Math.floor(opts.shots ?? 0));
  const pool = opts.pool ?? (() => items);
  const format = opts.format ?? (() => GENERIC_FORMAT);
  return (item) => {
    const parts = promptParts(format(item), item, selectShots(pool(item), k, item));
    return opts.chat ? renderChat(parts, opts.chat) : renderPlain(parts);
  };
}
