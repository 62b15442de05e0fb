/**
 * Multiple-choice benchmarks as JSONL, one item per line, in the shapes the common datasets ship:
 *   {question, choices: [..], answer}                       answer = index, letter ("B") or the choice's text
 *   {question: {stem, choices: [{label, text}]}, answerKey}  ARC as AI2 distributes it
 *   {question, choices: {label: [..], text: [..]}, answerKey} ARC on the Hugging Face Hub
 *   {query, choices, gold}                                  lm-eval's processed docs: `query` is the whole prompt
 *   {ctx, endings, label} (+ activity_label, ctx_a, ctx_b)  HellaSwag, prompt built as lm-eval's hellaswag task
 * Any item may carry a `category` or `subject` string for the per-category breakdown.
 */
import type { MultipleChoiceItem } from './types.ts';
import { categoryOf, readJsonl, rowError } from './jsonl.ts';

const SHAPES =
  'expected {question, choices, answer}, {question: {stem, choices}, answerKey}, {question, choices: {label, text}, answerKey}, ' +
  '{query, choices, gold} or {ctx, endings, label}';

/** Parses a JSONL multiple-choice benchmark, naming the file and line of any bad item. */
export function parseMultipleChoiceJsonl(text: string, file = 'benchmark.jsonl'): MultipleChoiceItem[] {
  return readJsonl(text, file).map(({ value, line }) => ({ ...parseItem(value, file, line), ...categoryOf(value, file, line) }));
}

function parseItem(o: Record<string, unknown>, file: string, line: number): MultipleChoiceItem {
  const fail = (msg: string, field?: string) => rowError(file, line, msg, field);
  const strings = (v: unknown, what: string, field: string): string[] => {
    if (!Array.isArray(v) || v.length < 2 || !v.every((c) => typeof c === 'string' && c !== '')) {
      throw fail(`"${what}" must list at least two non-empty strings`, field);
    }
    return v as string[];
  };

  // ARC as AI2 ships it: the question object holds the stem and labelled choices.
  if (o.question !== null && typeof o.question === 'object' && !Array.isArray(o.question)) {
    const q = o.question as Record<string, unknown>;
    if (typeof q.stem !== 'string' || !q.stem) throw fail('"question.stem" must be a non-empty string', 'question');
    if (!Array.isArray(q.choices)) throw fail('"question.choices" must be a list of {label, text}', 'question');
    const labels: string[] = [];
    const texts: string[] = [];
    for (const c of q.choices as unknown[]) {
      const { label, text } = (c ?? {}) as Record<string, unknown>;
      if (typeof label !== 'string' || typeof text !== 'string' || !text) throw fail('"question.choices" must be a list of {label, text}', 'question');
      labels.push(label);
      texts.push(text);
    }
    const choices = strings(texts, 'question.choices', 'question');
    return { question: q.stem, choices, answer: resolveAnswer(o.answerKey, choices, labels, 'answerKey', fail) };
  }

  if (typeof o.question === 'string') {
    if (!o.question) throw fail('"question" must be a non-empty string', 'question');
    // ARC on the Hub: choices as parallel label/text lists.
    if (o.choices !== null && typeof o.choices === 'object' && !Array.isArray(o.choices)) {
      const { label, text } = o.choices as Record<string, unknown>;
      const choices = strings(text, 'choices.text', 'choices');
      if (!Array.isArray(label) || label.length !== choices.length || !label.every((l) => typeof l === 'string')) {
        throw fail('"choices.label" must list one string label per choice', 'choices');
      }
      return { question: o.question, choices, answer: resolveAnswer(o.answerKey ?? o.answer, choices, label as string[], 'answerKey', fail) };
    }
    const choices = strings(o.choices, 'choices', 'choices');
    return { question: o.question, choices, answer: resolveAnswer(o.answer, choices, null, 'answer', fail) };
  }

  // lm-eval's processed docs: the query is already the prompt.
  if (typeof o.query === 'string') {
    if (!o.query) throw fail('"query" must be a non-empty string', 'query');
    const choices = strings(o.choices, 'choices', 'choices');
    return { question: o.query, context: o.query, choices, answer: resolveAnswer(o.gold, choices, null, 'gold', fail) };
  }

  if (typeof o.ctx === 'string' || typeof o.ctx_a === 'string') {
    const endings = strings(o.endings, 'endings', 'endings').map(hellaswagPreprocess);
    const context = hellaswagContext(o);
    if (!context) throw fail('"ctx" must be a non-empty string', 'ctx');
    return { question: context, context, choices: endings, answer: resolveAnswer(o.label, endings, null, 'label', fail) };
  }

  throw fail(SHAPES);
}

/**
 * The answer as an index. Accepted: an integer index; a label from the item's own labels (ARC's "A"/"1"); the
 * exact text of a choice; a letter A–Z; an integer as a string (HellaSwag's "2"). A string that is both a choice's
 * text and the letter of a different choice is refused as ambiguous.
 */
export function resolveAnswer(
  raw: unknown,
  choices: readonly string[],
  labels: readonly string[] | null,
  field: string,
  fail: (msg: string, field?: string) => Error,
): number {
  const n = choices.length;
  const bad = () => fail(`"${field}" must be the index, letter or text of one of the ${n} choices, got ${JSON.stringify(raw)}`, field);
  if (typeof raw === 'number') {
    if (Number.isInteger(raw) && raw >= 0 && raw < n) return raw;
    throw bad();
  }
  if (typeof raw !== 'string' || raw === '') throw bad();
  if (labels) {
    const at = labels.indexOf(raw);
    if (at >= 0) return at;
    throw fail(`"${field}" ${JSON.stringify(raw)} is not one of the labels ${labels.join(', ')}`, field);
  }
  const byText = choices.indexOf(raw);
  const byLetter = /^[A-Z]$/.test(raw) && raw.charCodeAt(0) - 65 < n ? raw.charCodeAt(0) - 65 : -1;
  if (byText >= 0 && byLetter >= 0 && byText !== byLetter) {
    throw fail(`"${field}" ${JSON.stringify(raw)} is both the text of choice ${byText + 1} and letter of choice ${byLetter + 1}; give the index`, field);
  }
  if (byText >= 0) return byText;
  if (byLetter >= 0) return byLetter;
  if (/^\d+$/.test(raw) && Number(raw) < n) return Number(raw);
  throw bad();
}

/** lm-eval's hellaswag `preprocess`: strip, " [title]" → ". ", drop [bracketed] markup, collapse double spaces. */
export function hellaswagPreprocess(text: string): string {
  return text.trim().replace(/ \[title\]/g, '. ').replace(/\[.*?\]/g, '').replace(/ {2}/g, ' ');
}

/** lm-eval's hellaswag query: preprocess(activity_label + ": " + ctx_a + " " + ctx_b.capitalize()). */
function hellaswagContext(o: Record<string, unknown>): string {
  let ctx: string;
  if (typeof o.ctx_a === 'string') {
    const b = typeof o.ctx_b === 'string' ? o.ctx_b : '';
    // Python's str.capitalize(): first character upper, the rest lower.
    ctx = o.ctx_a + ' ' + (b.charAt(0).toUpperCase() + b.slice(1).toLowerCase());
  } else {
    ctx = o.ctx as string;
  }
  const label = typeof o.activity_label === 'string' && o.activity_label ? `${o.activity_label}: ` : '';
  return hellaswagPreprocess(label + ctx);
}
