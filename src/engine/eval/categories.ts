// Accuracy summaries for scored items: acc, acc_norm, lm-eval's stderr of acc, sqrt(p(1-p)/(n-1)), and the 95%
// Wilson score interval, which we report as the confidence interval everywhere (it stays inside [0, 1] and keeps a
// width at 0/n and n/n, where p ± 1.96·stderr collapses on the small benchmarks a browser runs); overall and per
// category (MMLU: per subject), categories in first-seen order.

/** the two-sided 95% normal quantile */
const Z95 = 1.959963984540054;

export interface Interval {
  lo: number;
  hi: number;
}

export interface AccuracySummary {
  n: number;
  correct: number;
  acc: number;
  /** 95% Wilson score interval of acc */
  ci95: Interval;
  /** lm-eval's acc_stderr; null below two items */
  stderr: number | null;
}

export interface CategorySummary extends AccuracySummary {
  accNorm: number;
}

function wilson(k: number, n: number): Interval {
  if (n <= 0) return { lo: 0, hi: 1 };
  const p = k / n;
  const z2 = Z95 * Z95;
  const denom = 1 + z2 / n;
  const centre = (p + z2 / (2 * n)) / denom;
  const half = (Z95 / denom) * Math.sqrt((p * (1 - p)) / n + z2 / (4 * n * n));
  return { lo: Math.max(0, centre - half), hi: Math.min(1, centre + half) };
}

export function summarizeAccuracy(correct: readonly boolean[]): AccuracySummary {
  const n = correct.length;
  const k = correct.filter(Boolean).length;
  const p = n ? k / n : 0;
  return { n, correct: k, acc: p, ci95: wilson(k, n), stderr: n < 2 ? null : Math.sqrt((p * (1 - p)) / (n - 1)) };
}

export function summarizeWithNorm(correct: readonly boolean[], correctNorm: readonly boolean[]): CategorySummary {
  const n = correctNorm.length;
  return { ...summarizeAccuracy(correct), accNorm: n ? correctNorm.filter(Boolean).length / n : 0 };
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
