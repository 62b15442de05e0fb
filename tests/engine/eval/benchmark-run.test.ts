// The Benchmark panel's downloads: JSON with lm-eval's per-model shape {"items": [{context, continuations,
// logprobs, correct, …}], "accuracy", "acc_norm"}, CSV with one row per item × model (RFC 4180 quoting, numbers
// that parse back to the same doubles); and the stored-run summary.
import { describe, expect, it } from 'vitest';
import { runFileName, runReport, runToCsv, runToJson } from '../../../src/engine/eval/benchmark-run.ts';
import type { BenchmarkRun } from '../../../src/common/benchmark-run.ts';
import { wilsonInterval } from '../../../src/engine/eval/confidence.ts';
import { parseCsvRecords } from '../../../src/io/datasets/csv.ts';
import { summarizeRun } from '../../../src/engine/eval/benchmark-run.ts';

const item = (index: number, logprobs: number[], answer: number, extra: { category?: string; question?: string } = {}) => {
  const pred = logprobs.indexOf(Math.max(...logprobs));
  return {
    index,
    question: extra.question ?? `q${index}`,
    ...(extra.category ? { category: extra.category } : {}),
    context: `Question: q${index}\nAnswer:`,
    continuations: logprobs.map((_, i) => ` c${i}`),
    logprobs,
    answer,
    pred,
    predNorm: pred,
    correct: pred === answer,
    correctNorm: pred === answer,
  };
};

const run: BenchmarkRun = {
  id: 'r1',
  createdAt: Date.UTC(2026, 10, 29, 9, 30, 5),
  seconds: 12.5,
  benchmark: { name: 'materials-bio-mc.jsonl', source: 'built-in', format: 'jsonl', items: 3 },
  options: { limit: 3, fewShot: 1, chatTemplate: false },
  models: [
    {
      model: { id: 'a', label: 'tiny, "quoted"', repo: 'alloy-fixtures/tiny-llama', parents: null },
      items: [
        item(0, [-1.5, -0.1234567890123, -3], 1, { category: 'metals', question: 'Why, "exactly"?\nTwo lines' }),
        item(1, [-2, -1], 0),
        item(2, [-0.5, -4, -9, -1e-7], 3, { category: 'bio' }),
      ],
    },
    {
      model: { id: 'm', label: 'merge', repo: 'merge', parents: ['alloy-fixtures/tiny-llama'] },
      items: [item(0, [-1, -2, -3], 1), item(1, [-2, -1], 0), item(2, [-5, -4, -3, -2], 0)],
    },
  ],
};

describe('runReport / runToJson', () => {
  it('has lm-eval’s per-model shape and the run’s numbers unchanged', () => {
    const back = JSON.parse(runToJson(run)) as ReturnType<typeof runReport>;
    expect(back.models).toHaveLength(2);
    const [a, m] = back.models;
    expect(Object.keys(a!)).toEqual(expect.arrayContaining(['items', 'accuracy', 'acc_norm', 'accuracy_ci95', 'accuracy_stderr', 'n', 'model']));
    expect(Object.keys(a!.items[0]!)).toEqual(expect.arrayContaining(['context', 'continuations', 'logprobs', 'correct', 'correct_norm', 'pred', 'answer']));
    expect(a!.accuracy).toBeCloseTo(2 / 3, 15);
    expect(m!.accuracy).toBeCloseTo(0, 15);
    expect(a!.accuracy_ci95).toEqual([wilsonInterval(2, 3).lo, wilsonInterval(2, 3).hi]);
    expect(a!.items[0]!.logprobs).toEqual(run.models[0]!.items[0]!.logprobs);
    expect(a!.items[0]!.category).toBe('metals');
    expect(a!.items[1]).not.toHaveProperty('category');
    expect(m!.parents).toEqual(['alloy-fixtures/tiny-llama']);
    expect(back.options).toEqual(run.options);
  });
});

describe('runToCsv', () => {
  it('writes one row per item × model, quoted where needed, with round-tripping numbers', () => {
    const recs = parseCsvRecords(runToCsv(run), 'run.csv');
    const [header, ...rows] = recs.map((r) => r.fields);
    expect(header!.slice(0, 10)).toEqual(['model', 'model_id', 'item', 'category', 'question', 'answer', 'pred', 'pred_norm', 'correct', 'correct_norm']);
    // four choices at most → continuation_1..4 and logprob_1..4
    expect(header!.slice(10)).toEqual(['continuation_1', 'continuation_2', 'continuation_3', 'continuation_4', 'logprob_1', 'logprob_2', 'logprob_3', 'logprob_4']);
    expect(rows).toHaveLength(6);
    const first = Object.fromEntries(header!.map((h, i) => [h, rows[0]![i]]));
    expect(first).toMatchObject({ model: 'tiny, "quoted"', model_id: 'a', item: '0', category: 'metals', question: 'Why, "exactly"?\nTwo lines', correct: 'true' });
    expect(Number(first.logprob_2)).toBe(-0.1234567890123);
    expect(first.logprob_4).toBe('');
    const last = Object.fromEntries(header!.map((h, i) => [h, rows[5]![i]]));
    expect(last).toMatchObject({ model: 'merge', item: '2', pred: '3', correct: 'false' });
    expect(Number(rows[2]![header!.indexOf('logprob_4')])).toBe(-1e-7);
  });
});

describe('summarizeRun / runFileName', () => {
  it('summarizes each model for the Past runs list', () => {
    const s = summarizeRun(run);
    expect(s.models).toEqual([
      { id: 'a', label: 'tiny, "quoted"', n: 3, acc: 2 / 3, accNorm: 2 / 3 },
      { id: 'm', label: 'merge', n: 3, acc: 0, accNorm: 0 },
    ]);
    expect(s).toMatchObject({ id: 'r1', benchmark: run.benchmark, options: run.options });
  });
  it('names the files after the benchmark and the time', () => {
    expect(runFileName(run, 'csv')).toBe('materials-bio-mc-2026-11-29-09-30-05.csv');
  });
});
