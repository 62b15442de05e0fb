/**
 * MMLU as Hendrycks et al. distribute it: one CSV per subject and split (`college_chemistry_test.csv`), rows
 * `question,A,B,C,D,answer` with no header, answer a letter A–D. The subject comes from the file name.
 * Directory layout: dev/ (the 5 few-shot examples per subject), val/, test/. Quoted fields hold commas and line
 * breaks, so rows go through the RFC 4180 reader of io/datasets/csv.ts (no header here: every record is a row).
 */
import { AlloyError } from '../../common/errors.ts';
import { parseCsvRecords } from '../datasets/csv.ts';
import type { MultipleChoiceItem } from './types.ts';

const LETTERS = ['A', 'B', 'C', 'D'] as const;
const SPLITS = ['test', 'dev', 'val'] as const;
export type MmluSplit = (typeof SPLITS)[number];

/** `…/college_chemistry_test.csv` → { subject: "college_chemistry", split: "test" }; split null if not named. */
export function mmluFileName(path: string): { subject: string; split: MmluSplit | null } {
  const base = path.split(/[\\/]/).pop()!.replace(/\.csv$/i, '');
  for (const s of SPLITS) if (base.endsWith(`_${s}`)) return { subject: base.slice(0, -s.length - 1), split: s };
  return { subject: base, split: null };
}

/** "college_chemistry" → "college chemistry", as lm-eval's task descriptions name the subject. */
export function subjectTitle(subject: string): string {
  return subject.replace(/_/g, ' ');
}

/** Parses one MMLU CSV; every item's category is the subject (from `file` unless given). */
export function parseMmluCsv(text: string, file = 'mmlu.csv', subject = mmluFileName(file).subject): MultipleChoiceItem[] {
  const items = parseCsvRecords(text, file).map(({ fields, line }) => {
    const at = { file, line };
    if (fields.length !== 6) {
      throw new AlloyError(`${file}:${line}: expected 6 fields (question,A,B,C,D,answer), got ${fields.length}`, at);
    }
    const [question, a, b, c, d, answer] = fields as [string, string, string, string, string, string];
    const index = LETTERS.indexOf(answer.trim() as (typeof LETTERS)[number]);
    if (index < 0) throw new AlloyError(`${file}:${line}: answer must be one of A, B, C, D, got ${JSON.stringify(answer)}`, { ...at, field: 'answer' });
    if (!question.trim()) throw new AlloyError(`${file}:${line}: empty question`, { ...at, field: 'question' });
    return { question, choices: [a, b, c, d], answer: index, category: subject };
  });
  if (items.length === 0) throw new AlloyError(`${file}: no items`, { file });
  return items;
}
