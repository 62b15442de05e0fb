// LoRA training at the setting on SmolLM2 shapes (random BF16 weights, seq 512 × batch 4, r = 16 on all
// seven projections, CPT), loaded with WebGPU's default 128 MiB binding limit so the 1.7B's tied lm_head comes in
// two chunks and its 384 MiB of logits in row blocks, as in a browser.
//
// SwiftShader runs our matmul at ~2 GFLOP/s on this host's two cores: a full-depth step takes ~11 minutes for 135M
// and about an hour and a half for 1.7B. So 135M is measured at full depth, and the larger two at two depths (the
// same widths, heads and vocabulary, fewer layers), extended linearly: every layer runs the same kernels on the
// same shapes, so step time and pool peak are t(L) = t(a) + (L − a)·(t(b) − t(a))/(b − a). The depths are far
// enough apart that the layers' share (≈ 40 s per 360M layer, ≈ 5 min per 1.7B layer) dwarfs run-to-run noise
// (±10 s on a shared host); the table says which figures are measured and which extended.
// Opt-in (about 50 minutes here): ALLOY_BENCH_TRAIN_RUN=135M,360M,1.7B npm run bench -- bench/train-smol.bench.ts
import { it } from 'vitest';
import { acquireNodeDevice } from '../src/engine/gpu/node-gpu.ts';
import { KernelRegistry } from '../src/engine/gpu/kernels.ts';
import { logitRowsPerBlock, planRowChunks } from '../src/engine/model/split.ts';
import { planTrainingMemory } from '../src/engine/train/memory.ts';
import { smolConfig, SMOLLM2, syntheticCheckpoint } from './synthetic.ts';
import { alloySteps, R, TARGETS, type Measured } from './train-steps.ts';
import { readFileSync } from 'node:fs';
import { writeSuite, type BenchRow } from './report.ts';

const [B, T] = [4, 512];
const BINDING = 128 * 2 ** 20;
/** depths timed per model: the full depth where a step fits this host's patience, else two depths to extend from */
const DEPTHS: Record<string, number[]> = { '135M': [30], '360M': [1, 3], '1.7B': [1, 2] };
const mb = (b: number) => `${(b / 1e6).toFixed(1)} MB`;
const running = (process.env.ALLOY_BENCH_TRAIN_RUN ?? '').split(',').filter((s) => s in SMOLLM2);

it.skipIf(running.length === 0)('train-smol: SmolLM2 shapes at seq 512 × batch 4', async () => {
  const ctx = await acquireNodeDevice();
  const kernels = new KernelRegistry(ctx.device);
  // A run may time some models only (a full run takes about an hour here): rows of the models not run now are kept
  // from the last results file, so the table always holds the latest measurement of each model.
  const RESULTS = 'bench/results/train-smol.json';
  let rows: BenchRow[] = [];
  try {
    rows = (JSON.parse(readFileSync(RESULTS, 'utf8')) as { rows: BenchRow[] }).rows;
  } catch {
    rows = [];
  }
  const label = (size: string) => `SmolLM2-${size} shapes (random BF16)`;
  for (const size of running) {
    const cfg = smolConfig(size);
    const L = cfg.numLayers;
    const plan = (layers: number, recompute = false) =>
      planTrainingMemory(smolConfig(size, layers), { dtype: 'bf16', rows: B, seqLen: T, r: R, targets: TARGETS, recompute, maxBindingBytes: BINDING });
    const measured = new Map<number, Measured>();
    for (const depth of DEPTHS[size]!) {
      const config = smolConfig(size, depth);
      const m = await alloySteps(ctx, kernels, config, syntheticCheckpoint(config), B, T, { steps: 1, warmup: 0, maxBindingBytes: BINDING });
      console.log(`${size} depth ${depth}: ${m.stepSec.toFixed(1)} s/step, ${m.tokPerSec.toFixed(2)} tok/s, pool peak ${mb(m.peak)}, plan ${mb(plan(depth).poolTotal)}`);
      measured.set(depth, m);
    }
    const depths = [...measured.keys()];
    const a = depths[0]!;
    const b = depths[depths.length - 1]!;
    const ma = measured.get(a)!;
    const mb_ = measured.get(b)!;
    const extend = (f: (m: Measured) => number) => (a === b ? f(ma) : f(ma) + ((L - a) * (f(mb_) - f(ma))) / (b - a));
    const fullSec = extend((m) => m.stepSec);
    const fullPeak = extend((m) => m.peak);
    const row: BenchRow = {
      model: label(size),
      layers: String(L),
      'logit blocks × lm_head chunks': `${Math.ceil((B * T) / logitRowsPerBlock(cfg.vocabSize, BINDING))} × ${planRowChunks(cfg.vocabSize, cfg.hiddenSize, 'bf16', BINDING).length}`,
      'depths timed': depths.join(', '),
      'step s at those depths': depths.map((d) => measured.get(d)!.stepSec.toFixed(1)).join(', '),
      's per layer': a === b ? '—' : (mb_.stepSec - ma.stepSec) / (b - a),
      'full-depth step s': fullSec,
      'full-depth tok/s': (B * T) / fullSec,
      'full depth is': a === b && a === L ? 'measured' : 'extended',
      'pool peak / plan, deepest timed': `${mb(mb_.peak)} / ${mb(plan(b).poolTotal)}`,
      'pool peak / plan, full depth': `${mb(fullPeak)} / ${mb(plan(L).poolTotal)}`,
      'plan with recompute': mb(plan(L, true).poolTotal),
      run: new Date().toISOString().slice(0, 16).replace('T', ' '),
    };
    rows = [...rows.filter((r) => r.model !== row.model), row].sort((x, y) => Object.keys(SMOLLM2).indexOf(String(x.model).split(/[- ]/)[1]!) - Object.keys(SMOLLM2).indexOf(String(y.model).split(/[- ]/)[1]!));
    writeSuite({
      suite: 'train-smol',
      adapter: ctx.adapterInfo.description,
      note:
        `LoRA training steps at seq ${T} × batch ${B} (CPT, r = ${R}, all seven projections, AdamW, clipping), SmolLM2 shapes with ` +
        `random BF16 weights loaded under a ${BINDING / 2 ** 20} MiB binding limit (a browser's default: vocabulary tables and ` +
        `logits split to fit). One optimizer step per depth (shader compiles included: seconds against minutes). 135M runs at ` +
        `full depth; 360M and 1.7B at two depths, extended linearly to full depth (t(L) = t(a) + (L − a)·per-layer; every ` +
        `layer has the same shapes) for time and for BufferPool peak, beside planTrainingMemory in pool size classes. SwiftShader ` +
        `runs WGSL on two shared CPU cores (~2 GFLOP/s in our matmul), so these times say what this host does, not a GPU. ` +
        `"run" = when each row was measured (UTC; rows are refreshed per model).`,
      rows,
    });
  }
}, 4 * 3600_000);
