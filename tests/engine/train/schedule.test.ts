// LR schedules against values worked by hand from transformers' get_*_schedule_with_warmup (optimization.py):
// N = 10 total steps, W = 2 warm-up steps, lr = 1, λ indexed by the 0-based optimizer step as LambdaLR does.
import { describe, expect, it } from 'vitest';
import { learningRate, lrLambda, warmupStepsFromRatio, type ScheduleSpec } from '../../../src/engine/train/schedule.ts';

const spec = (kind: ScheduleSpec['kind']): ScheduleSpec => ({ kind, lr: 1, totalSteps: 10, warmupSteps: 2 });

describe('LR schedules (HF semantics)', () => {
  it('warm-up is s / W from 0, for every kind', () => {
    for (const k of ['cosine', 'linear', 'constant'] as const) {
      expect(lrLambda(spec(k), 0)).toBe(0);
      expect(lrLambda(spec(k), 1)).toBe(0.5);
      expect(lrLambda(spec(k), 2)).toBe(1);
    }
  });
  it('cosine: ½(1 + cos(π·p)), p = (s − W)/(N − W)', () => {
    const s = spec('cosine');
    expect(lrLambda(s, 3)).toBeCloseTo(0.9619397662556434, 14); // p = 1/8
    expect(lrLambda(s, 6)).toBeCloseTo(0.5, 14); // p = 1/2
    expect(lrLambda(s, 9)).toBeCloseTo(0.038060233744356624, 14); // p = 7/8
    expect(lrLambda(s, 10)).toBe(0);
  });
  it('linear: (N − s)/(N − W), never below 0', () => {
    const s = spec('linear');
    expect(lrLambda(s, 3)).toBe(0.875);
    expect(lrLambda(s, 9)).toBe(0.125);
    expect(lrLambda(s, 12)).toBe(0);
  });
  it('constant after warm-up; without warm-up the first step already has the full lr', () => {
    expect(lrLambda(spec('constant'), 7)).toBe(1);
    expect(lrLambda({ kind: 'cosine', lr: 1, totalSteps: 4, warmupSteps: 0 }, 0)).toBe(1);
  });
  it('1-based optimizer step s uses λ(s − 1): the first step of a warm-up runs at lr 0', () => {
    const s = { ...spec('cosine'), lr: 3e-4 };
    expect(learningRate(s, 1)).toBe(0);
    expect(learningRate(s, 2)).toBeCloseTo(1.5e-4, 18);
    expect(learningRate(s, 3)).toBe(3e-4);
  });
  it('warm-up ratio → ceil(ratio · N), as TrainingArguments.get_warmup_steps', () => {
    expect(warmupStepsFromRatio(0.1, 25)).toBe(3);
    expect(warmupStepsFromRatio(0.1, 100)).toBe(10);
    expect(warmupStepsFromRatio(0, 100)).toBe(0);
    expect(() => warmupStepsFromRatio(1.5, 10)).toThrow(/warm-up ratio/);
  });
});
