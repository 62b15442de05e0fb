// LoRA training throughput and GPU memory: Alloy's Trainer (forward, backward, clipping, AdamW on the GPU) against
// the same LoRA step written with TF.js ops on TF.js's WebGPU backend (bench/tfjs-lora.ts) on the same Dawn
// adapter, on the tiny fixture; Alloy alone on SmolLM2-135M shapes (random BF16 weights) at a short sequence; and
// the memory plan at the setting (seq 512, batch 4, r = 16 on all seven projections) for 135M/360M/1.7B,
// with and without per-layer recomputation. SwiftShader runs WGSL on the CPU, so the absolute numbers say little
// about a real GPU; the ratio against TF.js on the same adapter is the point.
// ALLOY_BENCH_TRAIN_RUN=135M also runs the 135M step (minutes on SwiftShader); default: tiny only.
import { join } from 'node:path';
import { it } from 'vitest';
import { ensureFixtures, OWNER, REVISION } from '../scripts/fixtures/index.ts';
import { parseModelConfig, type ModelConfig } from '../src/io/config.ts';
import { readJson } from '../src/io/model-files.ts';
import { dirModelFiles } from '../src/io/node/dir-model-files.ts';
import { openCheckpoint, type Checkpoint } from '../src/io/safetensors/checkpoint.ts';
import { acquireNodeDevice, nodeGpu } from '../src/engine/gpu/node-gpu.ts';
import { BufferPool } from '../src/engine/gpu/buffer-pool.ts';
import { KernelRegistry } from '../src/engine/gpu/kernels.ts';
import type { GpuContext } from '../src/engine/gpu/device.ts';
import { loadModel } from '../src/engine/model/index.ts';
import { createLora, LORA_TARGETS } from '../src/engine/lora/adapter.ts';
import { Trainer, trainConfig } from '../src/engine/train/trainer.ts';
import { planTrainingMemory } from '../src/engine/train/memory.ts';
import type { Sequence } from '../src/engine/train/objectives.ts';
import { smolConfig, syntheticCheckpoint } from './synthetic.ts';
import { tfLoraModel } from './tfjs-lora.ts';
import { writeSuite, type BenchRow } from './report.ts';

const R = 16;
const ALPHA = 32;
const TARGETS = [...LORA_TARGETS];
const STEPS = 3; // timed optimizer steps, after one warm-up step
const mb = (b: number) => `${(b / 1e6).toFixed(1)} MB`;

/** B rows of T token ids spread over the vocabulary (CPT: every position after the first is scored). */
function batchOf(B: number, T: number, V: number): Sequence[] {
  return Array.from({ length: B }, (_, b) => ({ ids: Array.from({ length: T }, (_, t) => (b * 131 + t * 7919 + 13) % V), promptLen: 0 }));
}

interface Measured {
  tokPerSec: number;
  peak: number;
  loss0: number;
  lossN: number;
}

/** Median tokens/s of STEPS optimizer steps (one warm-up first), and the pool's peak bytes. */
async function alloySteps(ctx: GpuContext, kernels: KernelRegistry, config: ModelConfig, ck: Checkpoint, B: number, T: number): Promise<Measured> {
  const pool = new BufferPool(ctx.device);
  const model = await loadModel(ctx, kernels, pool, ck, config);
  const lora = createLora(model, { r: R, alpha: ALPHA, targets: TARGETS, seed: 0 });
  const data = { train: batchOf(B, T, config.vocabSize) };
  const rates: number[] = [];
  const losses: number[] = [];
  const trainer = new Trainer(model, lora, trainConfig({ method: 'cpt', steps: STEPS + 1, lr: 1e-3, microBatch: B, warmupSteps: 0 }), data, {
    onEvent: (e) => {
      if (e.type !== 'step') return;
      losses.push(e.loss);
      if (e.step > 1) rates.push(e.tokensPerSec);
    },
  });
  try {
    await trainer.run();
    rates.sort((a, b) => a - b);
    return { tokPerSec: rates[Math.floor(rates.length / 2)]!, peak: pool.stats().peakBytes, loss0: losses[0]!, lossN: losses[losses.length - 1]! };
  } finally {
    trainer.dispose();
    lora.dispose();
    model.dispose();
    pool.destroyAll();
  }
}

it('train: Alloy LoRA steps vs TF.js WebGPU, and the memory plan', async () => {
  const ctx = await acquireNodeDevice();
  const kernels = new KernelRegistry(ctx.device);
  const rows: BenchRow[] = [];

  await ensureFixtures('public/hub');
  const files = dirModelFiles(join('public/hub', OWNER, 'tiny-llama', 'resolve', REVISION));
  const tiny = parseModelConfig(await readJson(files, 'config.json'));
  const tinyCk = await openCheckpoint(files);
  const [B, T] = [4, tiny.maxPositionEmbeddings]; // 4 × 128 tokens per step
  const ours = await alloySteps(ctx, kernels, tiny, tinyCk, B, T);

  Object.defineProperty(globalThis, 'navigator', { value: { gpu: await nodeGpu(), userAgent: 'node' }, configurable: true });
  const tf = await import('@tensorflow/tfjs-core');
  // the union package @tensorflow/tfjs registers the gradient functions; tfjs-core alone does not
  await import('@tensorflow/tfjs-core/dist/register_all_gradients');
  await import('@tensorflow/tfjs-backend-webgpu');
  await tf.setBackend('webgpu');
  await tf.ready();
  const weights = new Map<string, Float32Array>();
  for (const n of tinyCk.names()) weights.set(n, await tinyCk.readF32(n));
  const theirs = tfLoraModel(tf, tiny, weights, { r: R, alpha: ALPHA, targets: TARGETS, lr: 1e-3 });
  const ids = Int32Array.from(batchOf(B, T, tiny.vocabSize).flatMap((s) => s.ids));
  await theirs.step(ids, B, T); // warm-up (shader compiles)
  const times: number[] = [];
  for (let i = 0; i < STEPS; i++) {
    const t0 = performance.now();
    await theirs.step(ids, B, T);
    times.push(performance.now() - t0);
  }
  theirs.dispose();
  times.sort((a, b) => a - b);
  const tfTokPerSec = (B * T) / (times[Math.floor(times.length / 2)]! / 1000);
  const tinyPlan = planTrainingMemory(tiny, { dtype: 'f32', rows: B, seqLen: T, r: R, targets: TARGETS });
  rows.push({
    model: 'tiny-llama (fixture, f32)',
    'batch × seq': `${B} × ${T}`,
    'Alloy tok/s': ours.tokPerSec,
    'TF.js tok/s': tfTokPerSec,
    'speed-up': ours.tokPerSec / tfTokPerSec,
    'loss first → last': `${ours.loss0.toFixed(3)} → ${ours.lossN.toFixed(3)}`,
    'pool peak': mb(ours.peak),
    plan: mb(tinyPlan.poolTotal),
    'plan, seq 512 × 4': '—',
    'plan with recompute': '—',
  });

  const running = new Set((process.env.ALLOY_BENCH_TRAIN_RUN ?? '').split(',').filter(Boolean));
  for (const size of ['135M', '360M', '1.7B']) {
    const config = smolConfig(size);
    const full = planTrainingMemory(config, { dtype: 'bf16', rows: 4, seqLen: 512, r: R, targets: TARGETS });
    const re = planTrainingMemory(config, { dtype: 'bf16', rows: 4, seqLen: 512, r: R, targets: TARGETS, recompute: true });
    let measured: Measured | null = null;
    const [b, t] = [1, 64];
    if (running.has(size)) measured = await alloySteps(ctx, kernels, config, syntheticCheckpoint(config), b, t);
    const short = planTrainingMemory(config, { dtype: 'bf16', rows: b, seqLen: t, r: R, targets: TARGETS });
    rows.push({
      model: `SmolLM2-${size} shapes (random BF16)`,
      'batch × seq': measured ? `${b} × ${t}` : 'not run',
      'Alloy tok/s': measured ? measured.tokPerSec : '—',
      'TF.js tok/s': '—',
      'speed-up': '—',
      'loss first → last': measured ? `${measured.loss0.toFixed(3)} → ${measured.lossN.toFixed(3)}` : '—',
      'pool peak': measured ? mb(measured.peak) : '—',
      plan: measured ? mb(short.poolTotal) : '—',
      'plan, seq 512 × 4': mb(full.total),
      'plan with recompute': mb(re.total),
    });
  }

  writeSuite({
    suite: 'train',
    adapter: ctx.adapterInfo.description,
    note:
      `LoRA training steps (CPT loss, r = ${R}, alpha = ${ALPHA}, all seven projections, AdamW, clipping), median of ${STEPS} ` +
      `optimizer steps after a warm-up step; tokens/s counts every token of the batch. TF.js = the same LoRA step ` +
      `written with @tensorflow/tfjs-core ops (autodiff backward, Adam) on @tensorflow/tfjs-backend-webgpu 4.22, same ` +
      `Dawn adapter, same process. "pool peak" = BufferPool's highest live + pooled bytes during the run; "plan" = ` +
      `planTrainingMemory for the same run (pool size classes); the last two columns plan the issue's setting (seq 512, ` +
      `batch 4, 16-bit base) in exact bytes, keeping every layer's activations or recomputing each layer in the backward. ` +
      `SmolLM2 steps on SwiftShader take minutes, so they run only with ALLOY_BENCH_TRAIN_RUN=135M.`,
    rows,
  });
});
