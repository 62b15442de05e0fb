/**
 * A benchmark run as the studio keeps it (IndexedDB "Past runs") and hands it out (JSON and CSV downloads): per
 * model, every item's context, continuations, summed log-probs, predictions and correctness, exactly as the engine
 * computed them. The JSON report per model has lm-eval's shape: {"items": [{"context", "continuations", "logprobs",
 * "correct", …}], "accuracy", "acc_norm", …}; the CSV has one row per item × model. Pure and DOM-free.
 */
import { summarize, type AccuracySummary } from './confidence.ts';
import type { BenchmarkRun, ModelRun, RunSummary } from '../../common/benchmark-run.ts';

export interface ModelScores {
  acc: AccuracySummary;
  accNorm: AccuracySummary;
}

export function scoresOf(m: ModelRun): ModelScores {
  return { acc: summarize(m.items.map((i) => i.correct)), accNorm: summarize(m.items.map((i) => i.correctNorm)) };
}

/** What the "Past runs" list shows of a run (kept beside it by io/cache/benchmark-runs.ts): settings and each model's acc / acc_norm. */
export function summarizeRun(run: BenchmarkRun): RunSummary {
  return {
    id: run.id,
    createdAt: run.createdAt,
    seconds: run.seconds,
    benchmark: { ...run.benchmark },
    options: { ...run.options },
    models: run.models.map((m) => {
      const s = scoresOf(m);
      return { id: m.model.id, label: m.model.label, n: s.acc.n, acc: s.acc.acc, accNorm: s.accNorm.acc };
    }),
  };
}

/** The JSON download: the run's settings, then per model its items and scores. */
export function runReport(run: BenchmarkRun) {
  return {
    benchmark: run.benchmark,
    options: run.options,
    created: new Date(run.createdAt).toISOString(),
    seconds: run.seconds,
    models: run.models.map((m) => {
      const s = scoresOf(m);
      return {
        model: m.model.label,
        id: m.model.id,
        repo: m.model.repo,
        parents: m.model.parents,
        n: s.acc.n,
        accuracy: s.acc.acc,
        accuracy_stderr: s.acc.stderr,
        accuracy_ci95: [s.acc.ci95.lo, s.acc.ci95.hi],
        acc_norm: s.accNorm.acc,
        acc_norm_stderr: s.accNorm.stderr,
        acc_norm_ci95: [s.accNorm.ci95.lo, s.accNorm.ci95.hi],
        items: m.items.map((i) => ({
          index: i.index,
          question: i.question,
          ...(i.category === undefined ? {} : { category: i.category }),
          context: i.context,
          continuations: i.continuations,
          logprobs: i.logprobs,
          answer: i.answer,
          pred: i.pred,
          pred_norm: i.predNorm,
          correct: i.correct,
          correct_norm: i.correctNorm,
        })),
      };
    }),
  };
}

export type RunReport = ReturnType<typeof runReport>;

export function runToJson(run: BenchmarkRun): string {
  return `${JSON.stringify(runReport(run), null, 2)}\n`;
}

/** RFC 4180: quote a field holding a comma, quote or line break; double its quotes. */
export function csvField(v: string | number | boolean | null | undefined): string {
  const s = v === null || v === undefined ? '' : String(v);
  return /[",\r\n]/.test(s) ? `"${s.replace(/"/g, '""')}"` : s;
}

/**
 * One row per item × model (models in run order, items in benchmark order); choice_i / logprob_i columns up to the
 * most choices any item has. Numbers are written as JavaScript's shortest round-trip form, so they parse back to
 * the same doubles as the JSON.
 */
export function runToCsv(run: BenchmarkRun): string {
  const k = Math.max(0, ...run.models.flatMap((m) => m.items.map((i) => i.continuations.length)));
  const cols = (p: string) => Array.from({ length: k }, (_, i) => `${p}_${i + 1}`);
  const header = ['model', 'model_id', 'item', 'category', 'question', 'answer', 'pred', 'pred_norm', 'correct', 'correct_norm', ...cols('continuation'), ...cols('logprob')];
  const rows = [header.join(',')];
  for (const m of run.models) {
    for (const i of m.items) {
      const pad = <T,>(xs: T[]) => Array.from({ length: k }, (_, j) => xs[j]);
      rows.push(
        [m.model.label, m.model.id, i.index, i.category, i.question, i.answer, i.pred, i.predNorm, i.correct, i.correctNorm, ...pad(i.continuations), ...pad(i.logprobs)]
          .map(csvField)
          .join(','),
      );
    }
  }
  return `${rows.join('\r\n')}\r\n`;
}

/** A file name for the downloads: benchmark, date, extension. */
export function runFileName(run: BenchmarkRun, ext: 'json' | 'csv'): string {
  const stamp = new Date(run.createdAt).toISOString().slice(0, 19).replace(/[:T]/g, '-');
  const name = run.benchmark.name.replace(/\.[a-z]+$/i, '').replace(/[^\w.-]+/g, '-').replace(/^-+|-+$/g, '') || 'benchmark';
  return `${name}-${stamp}.${ext}`;
}
