// acc_norm and per-category (MMLU: per-subject) breakdowns on top of confidence.ts (acc, lm-eval's stderr
// sqrt(p(1-p)/(n-1)), and the 95% Wilson score interval we report as the confidence interval everywhere),
// categories in first-seen order.
import { summarize, type AccuracySummary } from './confidence.ts';

export type { AccuracySummary, Interval } from './confidence.ts';

export interface CategorySummary extends AccuracySummary {
  accNorm: number;
}

export const summarizeAccuracy = summarize;

export function summarizeWithNorm(correct: readonly boolean[], correctNorm: readonly boolean[]): CategorySummary {
  const n = correctNorm.length;
  return { ...summarize(correct), accNorm: n ? correctNorm.filter(Boolean).length / n : 0 };
}

export function summarizeByCategory(items: readonly { category?: string | undefined; correct: boolean; correctNorm?: boolean }[]): Record<string, CategorySummary> {
  const groups = new Map<string, { correct: boolean[]; norm: boolean[] }>();
  for (const it of items) {
    if (it.category === undefined) continue;
    let g = groups.get(it.category);
    if (!g) groups.set(it.category, (g = { correct: [], norm: [] }));
    g.correct.push(it.correct);
    g.norm.push(it.correctNorm ?? it.correct);
  }
  const out: Record<string, CategorySummary> = {};
  for (const [name, g] of groups) out[name] = summarizeWithNorm(g.correct, g.norm);
  return out;
}
