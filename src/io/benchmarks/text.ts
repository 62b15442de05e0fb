/**
 * Held-out text for perplexity: a plain text file is one document; JSONL is one document per line, {text} (with
 * an optional category), as lm-eval's wikitext docs are one page each.
 */
import { AlloyError } from '../../common/errors.ts';
import type { TextDocument } from './types.ts';
import { categoryOf, readJsonl, rowError } from './jsonl.ts';

export function parseTextDocument(text: string, file = 'text.txt'): TextDocument[] {
  if (!text.trim()) throw new AlloyError(`${file}: no text`, { file });
  return [{ text }];
}

export function parseTextJsonl(text: string, file = 'text.jsonl'): TextDocument[] {
  return readJsonl(text, file).map(({ value: o, line }) => {
    if (typeof o.text !== 'string' || !o.text) throw rowError(file, line, '"text" must be a non-empty string', 'text');
    return { text: o.text, ...categoryOf(o, file, line) };
  });
}
