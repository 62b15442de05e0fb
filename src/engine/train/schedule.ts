/**
 * Learning-rate schedules with the semantics of transformers' get_{constant,linear,cosine}_schedule_with_warmup
 * (src/transformers/optimization.py), which wrap a LambdaLR: the optimizer step with 0-based index s uses
 * lr · λ(s), where
 *   warm-up (s < W):  λ = s / max(1, W)            (so the very first step runs at lr 0 when W > 0, as in HF)
 *   constant:         λ = 1
 *   linear:           λ = max(0, (N − s) / max(1, N − W))
 *   cosine:           λ = max(0, ½·(1 + cos(π · 2c · p))),  p = (s − W) / max(1, N − W),  c = 0.5 cycles
 * N = total optimizer steps, W = warm-up steps. A warm-up ratio becomes W = ceil(ratio · N), as
 * TrainingArguments.get_warmup_steps does.
 */
import { AlloyError } from '../../common/errors.ts';
import type { ScheduleKind } from './defaults.ts';

export interface ScheduleSpec {
  kind: ScheduleKind;
  /** peak learning rate */
  lr: number;
  /** optimizer steps in the whole run (N) */
  totalSteps: number;
  warmupSteps: number;
  /** cosine cycles (HF default 0.5: one half-cosine from lr to 0) */
  cycles?: number;
}

export function warmupStepsFromRatio(ratio: number, totalSteps: number): number {
  if (!(ratio >= 0 && ratio <= 1)) throw new AlloyError(`warm-up ratio must be in [0, 1], got ${ratio}`, { field: 'warmup_ratio' });
  return Math.ceil(totalSteps * ratio);
}

/** λ(s) for the 0-based optimizer step s. */
export function lrLambda(spec: ScheduleSpec, s: number): number {
  const W = spec.warmupSteps;
  const N = spec.totalSteps;
  if (s < W) return s / Math.max(1, W);
  switch (spec.kind) {
    case 'constant':
      return 1;
    case 'linear':
      return Math.max(0, (N - s) / Math.max(1, N - W));
    case 'cosine': {
      const p = (s - W) / Math.max(1, N - W);
      return Math.max(0, 0.5 * (1 + Math.cos(Math.PI * (spec.cycles ?? 0.5) * 2 * p)));
    }
  }
}

/** The learning rate of the 1-based optimizer step `step` (what AdamW uses for that step). */
export function learningRate(spec: ScheduleSpec, step: number): number {
  return spec.lr * lrLambda(spec, step - 1);
}

export function parseScheduleKind(s: string): ScheduleKind {
  if (s === 'cosine' || s === 'linear' || s === 'constant') return s;
  throw new AlloyError(`schedule must be cosine, linear or constant, got "${s}"`, { field: 'lr_scheduler_type' });
}
