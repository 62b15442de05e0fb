/**
 * Accuracy statistics for benchmark runs.
 * - stderr as lm-evaluation-harness reports it for acc (mean_stderr: sample standard deviation with n − 1, over
 *   √n), i.e. √(p(1−p)/(n−1)) for 0/1 scores;
 * - the 95% confidence interval shown in the studio is Wilson's score interval. On the small benchmarks a browser
 *   runs (tens of items) the normal interval p ± 1.96·stderr leaves [0, 1] and collapses to a point at 0/n and n/n;
 *   Wilson's stays inside [0, 1] and keeps a width at the ends.
 */

/** the two-sided 95% normal quantile */
export const Z95 = 1.959963984540054;

export interface Interval {
  lo: number;
  hi: number;
}

/** Wilson score interval for k successes in n trials; [0, 1] when n = 0. */
export function wilsonInterval(k: number, n: number, z = Z95): Interval {
  if (n <= 0) return { lo: 0, hi: 1 };
  const p = k / n;
  const z2 = z * z;
  const denom = 1 + z2 / n;
  const centre = (p + z2 / (2 * n)) / denom;
  const half = (z / denom) * Math.sqrt((p * (1 - p)) / n + z2 / (4 * n * n));
  // exact ends at 0/n and n/n (the formula gives them up to rounding)
  return { lo: k <= 0 ? 0 : Math.max(0, centre - half), hi: k >= n ? 1 : Math.min(1, centre + half) };
}

/** lm-eval's stderr of a mean of 0/1 scores; null below two items (undefined with n − 1 = 0). */
export function accuracyStderr(k: number, n: number): number | null {
  if (n < 2) return null;
  const p = k / n;
  return Math.sqrt((p * (1 - p)) / (n - 1));
}

export interface RunningPoint {
  /** items so far */
  n: number;
  acc: number;
  lo: number;
  hi: number;
}

/** Accuracy and its Wilson interval after each item, in order. */
export function runningAccuracy(correct: readonly boolean[]): RunningPoint[] {
  let k = 0;
  return correct.map((c, i) => {
    if (c) k++;
    const n = i + 1;
    const { lo, hi } = wilsonInterval(k, n);
    return { n, acc: k / n, lo, hi };
  });
}

export interface AccuracySummary {
  n: number;
  correct: number;
  acc: number;
  ci95: Interval;
  stderr: number | null;
}

export function summarize(correct: readonly boolean[]): AccuracySummary {
  const n = correct.length;
  const k = correct.filter(Boolean).length;
  return { n, correct: k, acc: n ? k / n : 0, ci95: wilsonInterval(k, n), stderr: accuracyStderr(k, n) };
}
