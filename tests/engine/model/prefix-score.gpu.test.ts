// Scoring with a shared prefix (score.ts: the context runs once into a KV cache, forked per choice) against the
// plain batched path: multiple-choice items with four multi-token choices on a 40-token context, scored both ways.
// Log-probs must agree within 2e-5 (the scoring tolerance, decode.gpu.test.ts) and is_greedy exactly; the row
// counts show the saving. KvCache.fork is checked on its own: a forked row continues exactly as the original.
import { afterAll, describe, expect, it } from 'vitest';
import { prefill, scoreContinuations, step, type ScoreStats } from '../../../src/engine/model/index.ts';

import { logSoftmaxRow } from '../../../src/engine/reference/forward.ts';
import { gpuShared, loadFixture, maxAbsDiff, referenceGreedy, type Fixture } from './model-fixtures.ts';

const TOL = 2e-5;
let loaded: Promise<Fixture> | undefined;
const fixture = () => (loaded ??= loadFixture('tiny-llama'));

afterAll(async () => {
  if (loaded) (await loaded).model.dispose();
  (await gpuShared()).pool.destroyAll();
});

describe('prefix-shared scoring', () => {
  it('four multi-token choices on a 40-token context: equal to the plain path, fewer rows', async () => {
    const f = await fixture();
    const V = f.config.vocabSize;
    const context = (seed: number) => Array.from({ length: 40 }, (_, i) => (i * 7 + seed * 13 + 3) % V);
    const items = [0, 1].map((seed) => {
      const ctx = context(seed);
      const greedy = referenceGreedy(f, ctx, 3).tokens; // the model's own continuation: is_greedy = true
      const choices = [greedy, [5, 17, 44, 300], [72], [101, 2]];
      return choices.map((continuation) => ({ context: ctx, continuation }));
    });
    // a request alone (plain path) and a duplicate choice (shares its row) ride along
    const requests = [...items.flat(), { context: [1, 72, 101], continuation: [300, 108] }, items[0]![1]!];
    const shared: ScoreStats = { forwards: 0, rows: 0 };
    const plain: ScoreStats = { forwards: 0, rows: 0 };
    const a = await scoreContinuations(f.model, requests, { batchSize: 4, stats: shared });
    const b = await scoreContinuations(f.model, requests, { batchSize: 4, stats: plain, sharePrefix: false });

    let diff = 0;
    let refErr = 0;
    for (const [i, r] of requests.entries()) {
      diff = Math.max(diff, maxAbsDiff(a[i]!.tokenLogProbs, b[i]!.tokenLogProbs), Math.abs(a[i]!.logProb - b[i]!.logProb));
      expect(a[i]!.greedy).toBe(b[i]!.greedy);
      const logits = f.reference([...r.context, ...r.continuation].slice(0, -1));
      r.continuation.forEach((tok, j) => {
        const lp = logSoftmaxRow(logits, (r.context.length - 1 + j) * V, V);
        refErr = Math.max(refErr, Math.abs(a[i]!.tokenLogProbs[j]! - lp[tok]!));
      });
    }
    expect(a[0]!.greedy).toBe(true);
    expect(a[requests.length - 1]).toEqual(a[1]);
    console.log(
      `prefix-shared vs plain scoring: max|Δ log-prob| = ${diff.toExponential(2)} (vs reference ${refErr.toExponential(2)}); ` +
        `rows run ${shared.rows} in ${shared.forwards} forwards vs ${plain.rows} in ${plain.forwards}`,
    );
    expect(diff).toBeLessThanOrEqual(TOL);
    expect(refErr).toBeLessThanOrEqual(TOL);
    // per item: the 39-token prefix once + 4 suffixes padded to 4 rows, where the plain path runs 4 inputs of 40–43
    expect(shared.rows).toBeLessThan(plain.rows / 2);
  });

  it('items that open with the same few-shot examples share them: one prefix for all, equal to the plain path', async () => {
    const f = await fixture();
    const V = f.config.vocabSize;
    const shots = Array.from({ length: 30 }, (_, i) => (i * 19 + 5) % V);
    const item = (seed: number, choices: number[][]) => {
      const ctx = [...shots, ...Array.from({ length: 6 + seed }, (_, i) => (i * 23 + seed * 31 + 7) % V)];
      return choices.map((continuation) => ({ context: ctx, continuation }));
    };
    // MMLU-like items (single-token choices: one distinct input each, whose prefix is the whole context), an item
    // with multi-token choices, and an unrelated request that must keep the plain path
    const requests = [
      ...item(0, [[7], [8], [9], [10]]),
      ...item(1, [[7], [8], [9], [10]]),
      ...item(2, [[44, 3], [45], [46, 9, 9]]),
      { context: [3, 1, 4, 1, 5, 9, 2, 6], continuation: [5, 3] },
    ];
    const shared: ScoreStats = { forwards: 0, rows: 0 };
    const plain: ScoreStats = { forwards: 0, rows: 0 };
    const a = await scoreContinuations(f.model, requests, { batchSize: 8, stats: shared });
    const b = await scoreContinuations(f.model, requests, { batchSize: 8, stats: plain, sharePrefix: false });
    let diff = 0;
    for (const [i, r] of a.entries()) {
      diff = Math.max(diff, maxAbsDiff(r.tokenLogProbs, b[i]!.tokenLogProbs));
      expect(r.greedy).toBe(b[i]!.greedy);
    }
    console.log(`few-shot prefix shared across items: max|Δ log-prob| = ${diff.toExponential(2)}; rows ${shared.rows} in ${shared.forwards} forwards vs ${plain.rows} in ${plain.forwards}`);
    expect(diff).toBeLessThanOrEqual(TOL);
    // the 30 shared tokens once, then 5 inputs (items 0 and 1 one each, item 2 three) padded to the longest rest
    // (item 2's 8 + 2 − 1 + 1 = 10 tokens past the shots) + the lone request's 9 on the plain path
    expect(shared).toEqual({ forwards: 3, rows: 30 + 5 * 10 + 9 });
    expect(plain.rows).toBeGreaterThan(2 * shared.rows);
  });

  it('single-token choices (MMLU) keep the one shared row; a lone request keeps the plain path', async () => {
    const f = await fixture();
    const ctx = Array.from({ length: 20 }, (_, i) => (i * 5 + 1) % f.config.vocabSize);
    const stats: ScoreStats = { forwards: 0, rows: 0 };
    await scoreContinuations(f.model, [7, 8, 9, 10].map((t) => ({ context: ctx, continuation: [t] })), { stats });
    expect(stats).toEqual({ forwards: 1, rows: 20 });
  });

  it('a forked cache row continues exactly as the cache it was forked from', async () => {
    const f = await fixture();
    const prompt = Array.from({ length: 12 }, (_, i) => (i * 11 + 2) % f.config.vocabSize);
    const { cache } = await prefill(f.model, [prompt], { capacity: 16 });
    const forked = cache.fork(3);
    try {
      const want = await step(cache, [9]);
      const got = await step(forked, [4, 9, 9]);
      // a batch of 3 may tile the matmuls differently from a batch of 1: equal within the logits' tolerance
      const d = maxAbsDiff(got[1]!, want[0]!);
      console.log(`forked row vs original: max|Δ logit| = ${d.toExponential(2)}`);
      expect(d).toBeLessThanOrEqual(1e-5);
      expect(maxAbsDiff(got[2]!, got[1]!)).toBe(0);
      expect(maxAbsDiff(got[0]!, want[0]!)).toBeGreaterThan(1e-3);
      expect(forked.used).toBe(13);
    } finally {
      forked.release();
      cache.release();
    }
  });
});
