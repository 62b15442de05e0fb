/**
 * Open questions, JSONL: {question, answer, match?: "exact" | "contains" | "numeric", tolerance?, category?}.
 * The model answers by greedy generation; engine/eval/open-questions.ts checks the answer by `match`.
 */
import type { MatchRule, OpenQuestionItem } from './types.ts';
import { categoryOf, readJsonl, rowError } from './jsonl.ts';

const RULES: readonly MatchRule[] = ['exact', 'contains', 'numeric'];

export function parseOpenQuestionsJsonl(text: string, file = 'questions.jsonl'): OpenQuestionItem[] {
  return readJsonl(text, file).map(({ value: o, line }) => {
    const fail = (msg: string, field: string) => rowError(file, line, msg, field);
    if (typeof o.question !== 'string' || !o.question) throw fail('"question" must be a non-empty string', 'question');
    const answer = typeof o.answer === 'number' && Number.isFinite(o.answer) ? String(o.answer) : o.answer;
    if (typeof answer !== 'string' || !answer.trim()) throw fail('"answer" must be a non-empty string or a number', 'answer');
    const match = o.match ?? 'exact';
    if (!RULES.includes(match as MatchRule)) throw fail(`"match" must be one of ${RULES.join(', ')}, got ${JSON.stringify(match)}`, 'match');
    const item: OpenQuestionItem = { question: o.question, answer, match: match as MatchRule, ...categoryOf(o, file, line) };
    if (match === 'numeric' && !Number.isFinite(Number(answer.trim()))) throw fail(`"answer" ${JSON.stringify(answer)} is not a number (match "numeric")`, 'answer');
    if (o.tolerance !== undefined) {
      if (match !== 'numeric') throw fail('"tolerance" applies only to match "numeric"', 'tolerance');
      if (typeof o.tolerance !== 'number' || !(o.tolerance >= 0)) throw fail('"tolerance" must be a number ≥ 0', 'tolerance');
      item.tolerance = o.tolerance;
    }
    return item;
  });
}
