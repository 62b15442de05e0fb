// The Recipe panel's trade-off chart as data: the t-sweep path runs from the original (t = 0) through the sweep's
// merges in order of t to the last stage's model (t = 1); the other variants are points; x is ln(perplexity).
import { describe, expect, it } from 'vitest';
import { tradeoff } from '../../src/app/lib/recipe-tradeoff.ts';
import { variantScore } from '../../src/engine/recipe/summary.ts';
import type { RecipeSummary } from '../../src/engine/recipe/runner.ts';
import type { PerplexityScore } from '../../src/engine/eval/perplexity.ts';
import { demoRecipe } from '../../src/engine/recipe/presets.ts';

const ppl = (tokenPerplexity: number): PerplexityScore => ({ n: 1, logProb: 0, tokens: 10, words: 5, bytes: 20, wordPerplexity: 1, bytePerplexity: 1, bitsPerByte: 1, tokenPerplexity, docs: [] });
const item = (correct: boolean) => ({ logProbs: [0, -1], pred: correct ? 0 : 1, predNorm: 0, answer: 0, correct, correctNorm: correct, context: '', continuations: [] });

function summary(withPerplexity: boolean): RecipeSummary {
  const v = (id: string, kind: 'base' | 'stage' | 'merge', acc: boolean[], p: number, t?: number) => variantScore(id, `m-${id}`, kind, acc.map(item), withPerplexity ? ppl(p) : null, t);
  return {
    recipe: demoRecipe(),
    recipeYaml: '',
    base: 'm',
    stepsScale: 1,
    stages: ['CPT', 'SFT', 'ORPO'].map((name) => ({ name, method: 'cpt', steps: 1, losses: [], history: [], variant: { id: name, label: name, kind: 'stage', name, parents: [] }, adapterName: '', seconds: 0 })),
    merge: null,
    benchmark: { file: 'b.jsonl', items: 2 },
    perplexity: withPerplexity ? { file: 'g.jsonl', docs: 1 } : null,
    variants: [
      v('base', 'base', [false, false], 4),
      v('CPT', 'stage', [true, false], 10),
      v('SFT', 'stage', [true, true], 1000),
      v('ORPO', 'stage', [true, true], 200),
      v('SLERP', 'merge', [true, false], 13),
      v('SLERP-t0.75', 'merge', [true, true], 100, 0.75),
      v('SLERP-t0.25', 'merge', [false, false], 5, 0.25),
    ],
    synergy: null,
    seconds: 0,
  };
}

describe('tradeoff', () => {
  it('the sweep path: original (t = 0), the sweep by t, the last stage (t = 1); the rest as points; x = ln perplexity', () => {
    const t = tradeoff(summary(true))!;
    expect(t.sweep.map((p) => [p.t, p.id, p.acc, p.ppl])).toEqual([
      [0, 'base', 0, 4],
      [0.25, 'SLERP-t0.25', 0, 5],
      [0.75, 'SLERP-t0.75', 1, 100],
      [1, 'ORPO', 1, 200],
    ]);
    expect(t.sweep[0]!.nats).toBeCloseTo(Math.log(4), 15);
    expect(t.others.map((p) => [p.id, p.acc])).toEqual([
      ['CPT', 0.5],
      ['SFT', 1],
      ['SLERP', 0.5],
    ]);
  });

  it('no chart without perplexity', () => {
    expect(tradeoff(summary(false))).toBeNull();
  });
});
