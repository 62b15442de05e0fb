// Synergy math of the Benchmark panel: a merge's parents from its mergekit config, matched to the run's models by
// repo or label; merge vs each parent and the parents' mean; (score − baseline)/baseline; per-category scores.
import { describe, expect, it } from 'vitest';
import { parseMergeYaml } from '../../../src/engine/merge/config.ts';
import { categoryScores, findLineages, mergeParentRefs, relativeImprovement, synergyOf, type LineageModel } from '../../../src/engine/eval/synergy.ts';

const SLERP = `merge_method: slerp
base_model: alloy-fixtures/tiny-llama
models:
  - model: alloy-fixtures/tiny-llama
  - model: alloy-fixtures/tiny-llama-bf16+adapters/lora
parameters:
  t: 0.5
dtype: float32
`;

describe('mergeParentRefs', () => {
  it('names the base model first, each model once, LoRA suffixes dropped', () => {
    expect(mergeParentRefs(parseMergeYaml(SLERP).config)).toEqual(['alloy-fixtures/tiny-llama', 'alloy-fixtures/tiny-llama-bf16']);
  });
});

describe('findLineages', () => {
  const models: LineageModel[] = [
    { id: 'a', label: 'alloy-fixtures/tiny-llama@main', repo: 'alloy-fixtures/tiny-llama', parents: null },
    { id: 'm', label: 'slerp(tiny-llama, tiny-llama-bf16) t=0.5', repo: 'merge', parents: ['alloy-fixtures/tiny-llama', 'alloy-fixtures/tiny-llama-bf16'] },
    { id: 'b', label: 'alloy-fixtures/tiny-llama-bf16@main', repo: 'alloy-fixtures/tiny-llama-bf16', parents: null },
    { id: 'x', label: 'other merge', repo: 'merge', parents: ['not/cached'] },
  ];
  it('matches parents by repo (or label) among the run, in config order, and lists the rest as missing', () => {
    expect(findLineages(models)).toEqual([{ mergeId: 'm', parentIds: ['a', 'b'], missing: [] }]);
    expect(findLineages(models.filter((m) => m.id !== 'b'))).toEqual([{ mergeId: 'm', parentIds: ['a'], missing: ['alloy-fixtures/tiny-llama-bf16'] }]);
  });
  it('matches by label when the config names a label (two cached models sharing a repo)', () => {
    const ms: LineageModel[] = [
      { id: 'p', label: 'mine', repo: 'r', parents: null },
      { id: 'q', label: 'theirs', repo: 'r', parents: null },
      { id: 'm', label: 'merge', repo: 'merge', parents: ['theirs', 'mine'] },
    ];
    expect(findLineages(ms)).toEqual([{ mergeId: 'm', parentIds: ['q', 'p'], missing: [] }]);
  });
  it("matches by the YAML ref the Merge panel writes for a model made here (a slug of its label, io/cache/names.ts)", () => {
    const ms: LineageModel[] = [
      { id: 'p', label: 'alloy-fixtures/tiny-llama@main', repo: 'alloy-fixtures/tiny-llama', ref: 'alloy-fixtures/tiny-llama', parents: null },
      { id: 'f', label: 'slerp(a, b)', repo: 'merge', ref: 'slerp-a-b', parents: null },
      { id: 'm', label: 'slerp(tiny-llama, slerp(a, b))', repo: 'merge', ref: 'slerp-tiny-llama-slerp-a-b', parents: ['alloy-fixtures/tiny-llama', 'slerp-a-b'] },
    ];
    expect(findLineages(ms)).toEqual([{ mergeId: 'm', parentIds: ['p', 'f'], missing: [] }]);
  });
});

describe('synergyOf', () => {
  const labels = new Map([
    ['a', 'A'],
    ['b', 'B'],
    ['m', 'M'],
  ]);
  it('compares the merge with each parent, their mean and a baseline, as the study reports', () => {
    const score = new Map([
      ['a', 0.5],
      ['b', 0.6],
      ['m', 0.7],
    ]);
    const s = synergyOf({ mergeId: 'm', parentIds: ['a', 'b'], missing: [] }, labels, score, 0.6);
    expect(s.parentMean).toBeCloseTo(0.55, 15);
    expect(s.overParents[0]).toBeCloseTo(0.2, 15);
    expect(s.overParents[1]).toBeCloseTo(0.1, 15);
    expect(s.overMean).toBeCloseTo(0.15, 15);
    expect(s.synergistic).toBe(true);
    expect(s.bars.map((b) => [b.kind, b.label])).toEqual([
      ['parent', 'A'],
      ['parent', 'B'],
      ['mean', 'parents’ mean'],
      ['merge', 'M'],
    ]);
    expect(s.bars.at(-1)!.relative).toBeCloseTo((0.7 - 0.6) / 0.6, 15);
    expect(s.bars[0]!.relative).toBeCloseTo((0.5 - 0.6) / 0.6, 15);
  });
  it('is no synergy when the merge only beats the mean', () => {
    const score = new Map([
      ['a', 0.4],
      ['b', 0.8],
      ['m', 0.7],
    ]);
    const s = synergyOf({ mergeId: 'm', parentIds: ['a', 'b'], missing: [] }, labels, score, 0.4);
    expect(s.overMean).toBeGreaterThan(0);
    expect(s.synergistic).toBe(false);
  });
  it('relative improvement is undefined over a zero baseline', () => {
    expect(relativeImprovement(0.81, 0.675)).toBeCloseTo(0.2, 12); // the study's ">20% relative" scale
    expect(relativeImprovement(0.5, 0)).toBeNull();
  });
});

describe('categoryScores', () => {
  it('scores each category, sorted by name; none when no item has one', () => {
    const items = [
      { category: 'metals', correct: true, correctNorm: false },
      { category: 'bio', correct: false, correctNorm: true },
      { category: 'metals', correct: false, correctNorm: false },
      { correct: true, correctNorm: true },
    ];
    expect(categoryScores(items)).toEqual([
      { category: '(none)', n: 1, acc: 1, accNorm: 1 },
      { category: 'bio', n: 1, acc: 0, accNorm: 1 },
      { category: 'metals', n: 2, acc: 0.5, accNorm: 0 },
    ]);
    expect(categoryScores([{ correct: true, correctNorm: true }])).toEqual([]);
  });
});
