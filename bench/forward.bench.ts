// Forward throughput and GPU memory: prefill tokens/s, KV-cache decode tokens/s and the BufferPool's peak bytes, for
// the tiny fixture and for SmolLM2-135M / 360M / 1.7B shapes with random BF16 weights (the synthetic checkpoint
// below: each tensor generated only when loadModel reads it, so the CPU never holds more than one tensor).
// Real shapes load with a 128 MiB binding limit (WebGPU's default, what a browser grants without asking), so the
// 1.7B embedding / tied lm_head (192 MiB) runs split in two chunks. Next to the measurements: planInferenceMemory.
// ALLOY_BENCH_FORWARD=tiny,135M,360M,1.7B picks models; ALLOY_BENCH_FORWARD_RUN=135M,360M those that also run a
// prefill and decode (SwiftShader is slow; the others are load-only memory figures).
import { join } from 'node:path';
import { it } from 'vitest';
import { ensureFixtures, OWNER, REVISION } from '../scripts/fixtures/index.ts';
import { parseModelConfig, type ModelConfig } from '../src/io/config.ts';
import { readJson } from '../src/io/model-files.ts';
import { dirModelFiles } from '../src/io/node/dir-model-files.ts';
import { openCheckpoint, type Checkpoint } from '../src/io/safetensors/checkpoint.ts';
import { SMOLLM2, smolConfig, syntheticCheckpoint } from './synthetic.ts';
import { acquireNodeDevice } from '../src/engine/gpu/node-gpu.ts';
import { BufferPool } from '../src/engine/gpu/buffer-pool.ts';
import { KernelRegistry } from '../src/engine/gpu/kernels.ts';
import type { GpuContext } from '../src/engine/gpu/device.ts';
import { loadModel, planInferenceMemory, prefill, step, type Model, type WeightDtype } from '../src/engine/model/index.ts';
import { writeSuite, type BenchRow } from './report.ts';

const MiB = 2 ** 20;
const PREFILL_T = 16;
const DECODE_STEPS = 2;

const mb = (b: number) => `${(b / 1e6).toFixed(1)} MB`;
const seconds = async (fn: () => Promise<unknown>) => {
  const t0 = performance.now();
  await fn();
  return (performance.now() - t0) / 1000;
};
const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;

/** A prompt of T ids spread over the vocabulary. */
const promptOf = (T: number, V: number) => Array.from({ length: T }, (_, i) => (i * 7919 + 13) % V);

interface Measured {
  prefillS: number;
  decodeS: number;
}

async function prefillAndDecode(model: Model, T: number, runs: number): Promise<Measured> {
  const prompt = promptOf(T, model.config.vocabSize);
  const pre: number[] = [];
  const dec: number[] = [];
  for (let r = 0; r < runs; r++) {
    let result!: Awaited<ReturnType<typeof prefill>>;
    pre.push(await seconds(async () => (result = await prefill(model, [prompt], { capacity: T + DECODE_STEPS }))));
    try {
      for (let s = 0; s < DECODE_STEPS; s++) dec.push(await seconds(() => step(result.cache, [(s * 31 + 5) % model.config.vocabSize])));
    } finally {
      result.cache.release();
    }
  }
  return { prefillS: median(pre), decodeS: median(dec) };
}

async function benchModel(
  ctx: GpuContext,
  kernels: KernelRegistry,
  label: string,
  config: ModelConfig,
  checkpoint: Checkpoint,
  dtype: WeightDtype,
  opts: { run: boolean; runs: number; maxBindingBytes?: number },
): Promise<BenchRow> {
  const pool = new BufferPool(ctx.device);
  let model!: Model;
  const tLoad = await seconds(async () => (model = await loadModel(ctx, kernels, pool, checkpoint, config, { maxBindingBytes: opts.maxBindingBytes })));
  const loadPeak = pool.stats().peakBytes;
  const plan = planInferenceMemory(config, {
    dtype,
    batch: 1,
    seqLen: PREFILL_T,
    kvCapacity: PREFILL_T + DECODE_STEPS,
    logitRows: 1,
    maxBindingBytes: model.maxBindingBytes,
  });
  let measured: Measured | null = null;
  try {
    if (opts.run) measured = await prefillAndDecode(model, PREFILL_T, opts.runs);
  } finally {
    model.dispose();
  }
  const peak = pool.stats().peakBytes;
  pool.destroyAll();
  const row: BenchRow = {
    model: label,
    params: `${(plan.params / 1e6).toFixed(1)} M`,
    'weights (plan)': mb(plan.weights),
    'plan total, T=16': mb(plan.total),
    'embed chunks': String(model.embed.chunks.length),
    'pool peak after load': mb(loadPeak),
    'pool peak after run': measured ? mb(peak) : 'not run',
    'load s': tLoad,
    [`prefill T=${PREFILL_T} tok/s`]: measured ? PREFILL_T / measured.prefillS : 'not run',
    'decode tok/s': measured ? 1 / measured.decodeS : 'not run',
  };
  console.log(row);
  return row;
}

it('forward: tokens/s and peak GPU bytes', async () => {
  const pick = (process.env.ALLOY_BENCH_FORWARD ?? 'tiny,135M,360M,1.7B').split(',');
  const running = new Set((process.env.ALLOY_BENCH_FORWARD_RUN ?? 'tiny,135M,360M,1.7B').split(','));
  const ctx = await acquireNodeDevice();
  const kernels = new KernelRegistry(ctx.device); // shared: pipelines compiled by the tiny run serve the rest
  const rows: BenchRow[] = [];

  if (pick.includes('tiny')) {
    const root = 'public/hub';
    await ensureFixtures(root);
    for (const name of ['tiny-llama', 'tiny-llama-bf16']) {
      const files = dirModelFiles(join(root, OWNER, name, 'resolve', REVISION), `${OWNER}/${name}`);
      const config = parseModelConfig(await readJson(files, 'config.json'));
      const checkpoint = await openCheckpoint(files);
      const dtype: WeightDtype = name.endsWith('bf16') ? 'bf16' : 'f32';
      // Warm-up (pipeline compilation), then the median of 3.
      await benchModel(ctx, kernels, name, config, checkpoint, dtype, { run: true, runs: 1 });
      rows.push(await benchModel(ctx, kernels, name, config, checkpoint, dtype, { run: true, runs: 3 }));
    }
  }
  for (const size of ['135M', '360M', '1.7B']) {
    if (!pick.includes(size)) continue;
    const config = smolConfig(size);
    rows.push(
      await benchModel(ctx, kernels, `SmolLM2-${size} shapes (random BF16)`, config, syntheticCheckpoint(config), 'bf16', {
        run: running.has(size),
        runs: 1,
        maxBindingBytes: 128 * MiB,
      }),
    );
  }

  writeSuite({
    suite: 'forward',
    adapter: ctx.adapterInfo.description,
    note:
      `Forward on the GPU engine, batch 1: prefill of T=${PREFILL_T} tokens into a KV cache (tokens/s = T / wall time, ` +
      `submit to logits read back), then ${DECODE_STEPS} single-token decode steps (tokens/s = 1 / median step). ` +
      `Tiny fixtures: median of 3 after a warm-up; SmolLM2 shapes: random BF16 weights generated as they load, ` +
      `one run, loaded with a 128 MiB binding limit (WebGPU's default: the 1.7B embedding/tied lm_head then runs in ` +
      `2 chunks); "not run" = load-only memory figures (ALLOY_BENCH_FORWARD_RUN left the model out). A decode ` +
      `step is one row through every matmul (the mat-vec kernels), so its tokens/s are one step's. Pool peak = BufferPool's highest ` +
      `live + pooled bytes (buffers rounded up to size classes); plan = planInferenceMemory for the same run (exact ` +
      `tensor bytes).`,
    rows,
  });
});
