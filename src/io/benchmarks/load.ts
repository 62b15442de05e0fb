/**
 * One entry point for benchmark files: the kind follows from the name and, for JSONL, the first item's fields.
 *   *.csv   MMLU subject file (multiple choice)
 *   *.txt   held-out text (perplexity)
 *   *.jsonl multiple choice (choices/endings), open questions ({question, answer} without choices) or text ({text})
 */
import { AlloyError } from '../../common/errors.ts';
import { parseMmluCsv } from './mmlu.ts';
import { parseMultipleChoiceJsonl } from './multiple-choice.ts';
import { parseOpenQuestionsJsonl } from './open-questions.ts';
import { parseTextDocument, parseTextJsonl } from './text.ts';
import { readJsonl } from './jsonl.ts';
import type { MultipleChoiceItem, OpenQuestionItem, TextDocument } from './types.ts';

export type Benchmark =
  | { kind: 'multiple-choice'; format: 'mmlu' | 'jsonl'; items: MultipleChoiceItem[] }
  | { kind: 'open'; items: OpenQuestionItem[] }
  | { kind: 'perplexity'; docs: TextDocument[] };

export type BenchmarkKind = Benchmark['kind'];

/** The kind of a JSONL benchmark from the fields of its first item. */
export function jsonlKind(first: Record<string, unknown>): BenchmarkKind | null {
  if ('choices' in first || 'endings' in first || 'answerKey' in first || 'gold' in first) return 'multiple-choice';
  if (typeof first.question === 'string' && 'answer' in first) return 'open';
  if (typeof first.text === 'string') return 'perplexity';
  return null;
}

export function parseBenchmark(text: string, file: string): Benchmark {
  const lower = file.toLowerCase();
  if (lower.endsWith('.csv')) return { kind: 'multiple-choice', format: 'mmlu', items: parseMmluCsv(text, file) };
  if (lower.endsWith('.txt')) return { kind: 'perplexity', docs: parseTextDocument(text, file) };
  if (lower.endsWith('.jsonl') || lower.endsWith('.json')) {
    const first = readJsonl(text, file)[0]!;
    switch (jsonlKind(first.value)) {
      case 'multiple-choice':
        return { kind: 'multiple-choice', format: 'jsonl', items: parseMultipleChoiceJsonl(text, file) };
      case 'open':
        return { kind: 'open', items: parseOpenQuestionsJsonl(text, file) };
      case 'perplexity':
        return { kind: 'perplexity', docs: parseTextJsonl(text, file) };
      default:
        throw new AlloyError(
          `${file}:${first.line}: not a benchmark item: expected choices (multiple choice), {question, answer} (open question) or {text} (perplexity)`,
          { file, line: first.line },
        );
    }
  }
  throw new AlloyError(`${file}: unknown benchmark format (expected .jsonl, .csv for MMLU, or .txt for perplexity)`, { file });
}
