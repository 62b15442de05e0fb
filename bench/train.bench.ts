// LoRA training throughput and GPU memory: Alloy's Trainer (forward, backward, clipping, AdamW on the GPU) against
// the same LoRA step written with TF.js ops on TF.js's WebGPU backend (bench/tfjs-lora.ts) on the same Dawn
// adapter, on the tiny fixture; and the memory plan at the setting (seq 512, batch 4, r = 16 on all seven
// projections) for SmolLM2-135M/360M/1.7B, with and without per-layer recomputation. SwiftShader runs WGSL on the
// CPU, so the absolute numbers say little about a real GPU; the ratio against TF.js on the same adapter is the
// point. SmolLM2 shapes at seq 512 × batch 4 are timed by train-smol.bench.ts (opt-in: it takes an hour here).
import { join } from 'node:path';
import { it } from 'vitest';
import { ensureFixtures, OWNER, REVISION } from '../scripts/fixtures/index.ts';
import { parseModelConfig } from '../src/io/config.ts';
import { readJson } from '../src/io/model-files.ts';
import { dirModelFiles } from '../src/io/node/dir-model-files.ts';
import { openCheckpoint } from '../src/io/safetensors/checkpoint.ts';
import { acquireNodeDevice, nodeGpu } from '../src/engine/gpu/node-gpu.ts';
import { KernelRegistry } from '../src/engine/gpu/kernels.ts';
import { planTrainingMemory } from '../src/engine/train/memory.ts';
import { smolConfig } from './synthetic.ts';
import { alloySteps, ALPHA, batchOf, R, TARGETS } from './train-steps.ts';
import { tfLoraModel } from './tfjs-lora.ts';
import { writeSuite, type BenchRow } from './report.ts';

const STEPS = 3; // timed optimizer steps, after one warm-up step
const mb = (b: number) => `${(b / 1e6).toFixed(1)} MB`;

it('train: Alloy LoRA steps vs TF.js WebGPU, and the memory plan', async () => {
  const ctx = await acquireNodeDevice();
  const kernels = new KernelRegistry(ctx.device);
  const rows: BenchRow[] = [];

  await ensureFixtures('public/hub');
  const files = dirModelFiles(join('public/hub', OWNER, 'tiny-llama', 'resolve', REVISION));
  const tiny = parseModelConfig(await readJson(files, 'config.json'));
  const tinyCk = await openCheckpoint(files);
  const [B, T] = [4, tiny.maxPositionEmbeddings]; // 4 × 128 tokens per step
  const ours = await alloySteps(ctx, kernels, tiny, tinyCk, B, T, { steps: STEPS, warmup: 1 });

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

  for (const size of ['135M', '360M', '1.7B']) {
    const config = smolConfig(size);
    const full = planTrainingMemory(config, { dtype: 'bf16', rows: 4, seqLen: 512, r: R, targets: TARGETS });
    const re = planTrainingMemory(config, { dtype: 'bf16', rows: 4, seqLen: 512, r: R, targets: TARGETS, recompute: true });
    rows.push({
      model: `SmolLM2-${size} shapes (BF16)`,
      'batch × seq': 'plan only',
      'Alloy tok/s': '—',
      'TF.js tok/s': '—',
      'speed-up': '—',
      'loss first → last': '—',
      'pool peak': '—',
      plan: '—',
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
      `SmolLM2 shapes at that setting are timed in the next table.`,
    rows,
  });
});
