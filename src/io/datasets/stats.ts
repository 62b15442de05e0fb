/**
 * Token counts of a dataset for the Data panel: each row tokenised exactly as training will (rowsToSequences, so the
 * numbers are the trainer's), the summary a person reads (total, per row min / median / max, how many rows a
 * sequence length would cut) and a length histogram. A row that cannot be tokenised (an empty completion, a chat row
 * without a template) is reported with its line; the others are still counted.
 */
import { AlloyError } from '../../common/errors.ts';
import type { Method } from '../../common/training-data.ts';
import { rowsToSequences, type JsonlRow, type RowTokenizer } from './rows.ts';
import type { DatasetIssue } from './inspect.ts';

export interface RowTokens {
  line: number;
  /** tokens of every sequence the row becomes (a preference row: chosen + rejected) */
  tokens: number;
  /** its longest sequence: what a sequence length cuts */
  longest: number;
}

export interface RowTokenCounts {
  rows: RowTokens[];
  issues: DatasetIssue[];
  issueCount: number;
}

/** Every row tokenised on its own as `method` trains it; rows that fail are issues, not errors. */
export function rowTokenCounts(
  method: Method,
  rows: readonly JsonlRow[],
  tok: RowTokenizer,
  vocab: number,
  file = 'dataset',
  maxIssues = 100,
  onRow?: (done: number) => void,
): RowTokenCounts {
  const out: RowTokens[] = [];
  const issues: DatasetIssue[] = [];
  let issueCount = 0;
  rows.forEach((r, i) => {
    try {
      const seqs = rowsToSequences(method, [r], tok, vocab, file);
      out.push({ line: r.line, tokens: seqs.reduce((s, x) => s + x.ids.length, 0), longest: Math.max(...seqs.map((x) => x.ids.length)) });
    } catch (e) {
      issueCount++;
      if (issues.length < maxIssues) {
        const where = `${file} line ${r.line}: `;
        const msg = (e as Error).message;
        const field = e instanceof AlloyError ? e.where.field : undefined;
        issues.push({ line: r.line, reason: msg.startsWith(where) ? msg.slice(where.length) : msg, ...(field ? { field } : {}) });
      }
    }
    onRow?.(i + 1);
  });
  return { rows: out, issues, issueCount };
}

export interface TokenStats {
  rows: number;
  total: number;
  min: number;
  /** numpy's median: the mean of the two middle values for an even count */
  median: number;
  max: number;
  /** rows whose longest sequence is longer than seqLen (training keeps their start) */
  over: number;
  seqLen: number;
}

export function tokenStats(counts: readonly Pick<RowTokens, 'tokens' | 'longest'>[], seqLen: number): TokenStats {
  const n = counts.length;
  const sorted = counts.map((c) => c.longest).sort((a, b) => a - b);
  const median = n === 0 ? 0 : n % 2 ? sorted[(n - 1) / 2]! : (sorted[n / 2 - 1]! + sorted[n / 2]!) / 2;
  return {
    rows: n,
    total: counts.reduce((s, c) => s + c.tokens, 0),
    min: n ? sorted[0]! : 0,
    median,
    max: n ? sorted[n - 1]! : 0,
    over: sorted.filter((x) => x > seqLen).length,
    seqLen,
  };
}

export interface HistogramBin {
  /** inclusive integer bounds */
  lo: number;
  hi: number;
  count: number;
}

/**
 * Integer values in at most `maxBins` bins of equal integer width, from the smallest value to the largest: bin i
 * holds [min + i·w, min + (i+1)·w − 1] with w = ⌈(max − min + 1) / maxBins⌉. Every value lands in exactly one bin.
 */
export function histogram(values: readonly number[], maxBins = 20): HistogramBin[] {
  if (values.length === 0) return [];
  let min = Infinity;
  let max = -Infinity;
  for (const v of values) {
    if (v < min) min = v;
    if (v > max) max = v;
  }
  const w = Math.max(1, Math.ceil((max - min + 1) / maxBins));
  const n = Math.floor((max - min) / w) + 1;
  const bins = Array.from({ length: n }, (_, i) => ({ lo: min + i * w, hi: min + (i + 1) * w - 1, count: 0 }));
  for (const v of values) bins[Math.floor((v - min) / w)]!.count++;
  return bins;
}
