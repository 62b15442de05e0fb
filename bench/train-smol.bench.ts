// LoRA training at the setting on SmolLM2 shapes (random BF16 weights, seq 512 × batch 4, r = 16 on all
// seven projections, CPT), loaded with WebGPU's default 128 MiB binding limit so the 1.7B's tied lm_head comes in
// two chunks and its 384 MiB of logits in row blocks, as in a browser.
//
// A full-depth step takes from ~20 minutes (135M) to hours (1.7B) on SwiftShader, so each model is measured at
// depth 1 and depth 2 (the same widths, heads and vocabulary, fewer layers) and extended linearly in depth: every
// layer runs the same kernels on the same shapes, so step time and pool peak are t(L) = t(1) + (L − 1)·(t(2) − t(1)).
// The depth-1 and depth-2 steps are measured; the full-depth figures are that extension, and say so.
// Opt-in (an hour on this host): ALLOY_BENCH_TRAIN_RUN=135M,360M,1.7B npm run bench -- bench/train-smol.bench.ts
import { it } from 'vitest';
import { acquireNodeDevice } from '../src/engine/gpu/node-gpu.ts';
import { KernelRegistry } from '../src/engine/gpu/kernels.ts';
import { logitRowsPerBlock, planRowChunks } from '../src/engine/model/split.ts';
import { planTrainingMemory } from '../src/engine/train/memory.ts';
import { smolConfig, SMOLLM2, syntheticCheckpoint } from './synthetic.ts';
import { alloySteps, R, TARGETS } from './train-steps.ts';
import { writeSuite, type BenchRow } from './report.ts';

const [B, T] = [4, 512];
const BINDING = 128 * 2 ** 20;
const mb = (b: number) => `${(b / 1e6).toFixed(1)} MB`;
const running = (process.env.ALLOY_BENCH_TRAIN_RUN ?? '').split(',').filter((s) => s in SMOLLM2);

it.skipIf(running.length === 0)('train-smol: SmolLM2 shapes at seq 512 × batch 4, depth 1 and 2, extended to full depth', async () => {
  const ctx = await acquireNodeDevice();
  const kernels = new KernelRegistry(ctx.device);
  const rows: BenchRow[] = [];
  for (const size of running) {
    const L = smolConfig(size).numLayers;
    const plan = (layers: number, recompute = false) =>
      planTrainingMemory(smolConfig(size, layers), { dtype: 'bf16', rows: B, seqLen: T, r: R, targets: TARGETS, recompute, maxBindingBytes: BINDING });
    const at = async (layers: number) => {
      const config = smolConfig(size, layers);
      const m = await alloySteps(ctx, kernels, config, syntheticCheckpoint(config), B, T, { steps: 1, warmup: 0, maxBindingBytes: BINDING });
      console.log(`${size} depth ${layers}: ${m.stepSec.toFixed(1)} s/step, ${m.tokPerSec.toFixed(2)} tok/s, pool peak ${mb(m.peak)}, plan ${mb(plan(layers).poolTotal)}`);
      return m;
    };
    const d1 = await at(1);
    const d2 = await at(2);
    const perLayer = d2.stepSec - d1.stepSec;
    const fullSec = d1.stepSec + (L - 1) * perLayer;
    const fullPeak = d1.peak + (L - 1) * (d2.peak - d1.peak);
    const cfg = smolConfig(size);
    rows.push({
      model: `SmolLM2-${size} shapes (random BF16)`,
      'logit blocks × lm_head chunks': `${Math.ceil((B * T) / logitRowsPerBlock(cfg.vocabSize, BINDING))} × ${planRowChunks(cfg.vocabSize, cfg.hiddenSize, 'bf16', BINDING).length}`,
      'step s, depth 1': d1.stepSec,
      'step s, depth 2': d2.stepSec,
      's per layer': perLayer,
      [`step s, full depth (extended)`]: fullSec,
      'tok/s, full depth (extended)': (B * T) / fullSec,
      'pool peak depth 2 / plan': `${mb(d2.peak)} / ${mb(plan(2).poolTotal)}`,
      'pool peak full depth (extended) / plan': `${mb(fullPeak)} / ${mb(plan(L).poolTotal)}`,
      'plan with recompute': mb(plan(L, true).poolTotal),
    });
    writeSuite({
      suite: 'train-smol',
      adapter: ctx.adapterInfo.description,
      note:
        `LoRA training steps at seq ${T} × batch ${B} (CPT, r = ${R}, all seven projections, AdamW, clipping), SmolLM2 shapes with ` +
        `random BF16 weights loaded under a ${BINDING / 2 ** 20} MiB binding limit (a browser's default: vocabulary tables and ` +
        `logits split to fit). One optimizer step per depth (shader compiles included, seconds against minutes). Depth 1 and 2 ` +
        `are measured; full depth is t(1) + (L − 1)·(t(2) − t(1)) (same kernels on the same shapes in every layer), for time ` +
        `and for BufferPool peak, against planTrainingMemory in pool size classes. SwiftShader runs WGSL on two CPU cores ` +
        `(~2 GFLOP/s in our matmul), so these times say what this host does, not what a GPU does.`,
      rows,
    });
  }
});
