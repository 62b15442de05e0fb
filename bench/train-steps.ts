// One training run timed for the training benchmarks: the Trainer (forward, backward, clipping, AdamW on the GPU)
// on a fresh BufferPool, LoRA (or mode full: every parameter), CPT on synthetic rows, every token of the batch
// counted in tokens/s.
import type { GpuContext } from '../src/engine/gpu/device.ts';
import { BufferPool } from '../src/engine/gpu/buffer-pool.ts';
import type { KernelRegistry } from '../src/engine/gpu/kernels.ts';
import { loadModel } from '../src/engine/model/index.ts';
import { createLora } from '../src/engine/lora/adapter.ts';
import { createFullParams } from '../src/engine/train/full-params.ts';
import { LORA_TARGETS } from '../src/engine/lora/targets.ts';
import { Trainer, TrainControl, trainConfig } from '../src/engine/train/trainer.ts';
import type { Sequence } from '../src/common/training-data.ts';
import type { ModelConfig } from '../src/io/config.ts';
import type { Checkpoint } from '../src/io/safetensors/checkpoint.ts';

export const R = 16;
export const ALPHA = 32;
export const TARGETS = [...LORA_TARGETS];

/** B rows of T token ids spread over the vocabulary (CPT: every position after the first is scored). */
export function batchOf(B: number, T: number, V: number): Sequence[] {
  return Array.from({ length: B }, (_, b) => ({ ids: Array.from({ length: T }, (_, t) => (b * 131 + t * 7919 + 13) % V), promptLen: 0 }));
}

export interface Measured {
  /** median tokens/s of the timed steps */
  tokPerSec: number;
  /** median wall seconds of the timed steps */
  stepSec: number;
  peak: number;
  loss0: number;
  lossN: number;
}

export interface StepOptions {
  /** timed optimizer steps */
  steps: number;
  /** untimed steps first (shader compiles) */
  warmup: number;
  /** storage binding limit the model is loaded with (tables and logits split to fit it) */
  maxBindingBytes?: number;
  /** LoRA rank and alpha (default R, ALPHA) */
  r?: number;
  alpha?: number;
  /** called after each optimizer step's work (step counts from 1, warm-up included), e.g. to count its API calls */
  onStep?: (step: number) => void;
  /** 'full': every parameter trained (no adapter); default LoRA */
  mode?: 'lora' | 'full';
  /** per-layer recomputation */
  recompute?: boolean;
}

/** Median tokens/s and step time of `steps` optimizer steps after `warmup` ones, and the pool's peak bytes. */
export async function alloySteps(ctx: GpuContext, kernels: KernelRegistry, config: ModelConfig, ck: Checkpoint, B: number, T: number, o: StepOptions): Promise<Measured> {
  const pool = new BufferPool(ctx.device);
  const model = await loadModel(ctx, kernels, pool, ck, config, o.maxBindingBytes ? { maxBindingBytes: o.maxBindingBytes } : {});
  const full = o.mode === 'full' ? createFullParams(model) : null;
  const lora = full ? null : createLora(model, { r: o.r ?? R, alpha: o.alpha ?? ALPHA, targets: TARGETS, seed: 0 });
  const data = { train: batchOf(B, T, config.vocabSize) };
  const rates: number[] = [];
  const secs: number[] = [];
  const losses: number[] = [];
  const cfg = trainConfig({ method: 'cpt', steps: o.steps + o.warmup, lr: 1e-3, microBatch: B, warmupSteps: 0, recompute: o.recompute ?? false });
  const trainer = new Trainer(model, full ?? lora!, cfg, data, {
    onEvent: (e) => {
      if (e.type !== 'step') return;
      o.onStep?.(e.step);
      losses.push(e.loss);
      if (e.step > o.warmup) {
        rates.push(e.tokensPerSec);
        secs.push(e.tokens / e.tokensPerSec);
      }
    },
  });
  try {
    await trainer.run();
    const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;
    return { tokPerSec: median(rates), stepSec: median(secs), peak: pool.stats().peakBytes, loss0: losses[0]!, lossN: losses[losses.length - 1]! };
  } finally {
    trainer.dispose();
    lora?.dispose();
    full?.dispose();
    model.dispose();
    pool.destroyAll();
  }
}

/** A LoRA run held open so its optimizer steps can be timed one at a time, interleaved with another run's. */
export interface OpenSteps {
  /** runs one more optimizer step; its wall seconds (the Trainer's own t0..t1 around the step) */
  step(): Promise<number>;
  /** the loss of every step so far */
  readonly losses: readonly number[];
  /** the pool's peak bytes so far */
  peak(): number;
  dispose(): void;
}

/**
 * The Trainer over a fresh load of `ck` (LoRA on all seven projections, CPT on B × T tokens), able to run `steps`
 * optimizer steps in all, each started by step(). The Trainer's run() loop is stopped after every step by a
 * TrainControl cancelled from the step event, and resumed by the next run() (it continues from `trainer.step`).
 */
export async function openSteps(ctx: GpuContext, kernels: KernelRegistry, config: ModelConfig, ck: Checkpoint, B: number, T: number, o: { steps: number; r?: number; alpha?: number }): Promise<OpenSteps> {
  const pool = new BufferPool(ctx.device);
  const model = await loadModel(ctx, kernels, pool, ck, config);
  const lora = createLora(model, { r: o.r ?? R, alpha: o.alpha ?? ALPHA, targets: TARGETS, seed: 0 });
  const losses: number[] = [];
  let control = new TrainControl();
  let sec = NaN;
  const cfg = trainConfig({ method: 'cpt', steps: o.steps, lr: 1e-3, microBatch: B, warmupSteps: 0, recompute: false });
  const trainer = new Trainer(model, lora, cfg, { train: batchOf(B, T, config.vocabSize) }, {
    onEvent: (e) => {
      if (e.type !== 'step') return;
      losses.push(e.loss);
      sec = e.tokens / e.tokensPerSec;
      control.cancel();
    },
  });
  return {
    async step() {
      if (trainer.step >= o.steps) throw new Error(`openSteps: all ${o.steps} steps were run`);
      const before = trainer.step;
      control = new TrainControl();
      sec = NaN;
      const r = await trainer.run(control);
      if (trainer.step !== before + 1) throw new Error(`openSteps: step ${before + 1} did not finish (${r.status}${r.message ? `: ${r.message}` : ''})`);
      return sec;
    },
    losses,
    peak: () => pool.stats().peakBytes,
    dispose() {
      trainer.dispose();
      lora.dispose();
      model.dispose();
      pool.destroyAll();
    },
  };
}
