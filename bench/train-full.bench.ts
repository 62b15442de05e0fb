// Full fine-tuning (every parameter, issue 18) of the SmolLM2-135M shape at the setting: random BF16 weights,
// CPT at seq 512 × batch 4 with per-layer recomputation, AdamW on f32 masters, loaded under WebGPU's default 128 MiB
// binding (vocabulary tables and logits split to fit, as in a browser). A full-depth step takes over ten minutes on
// SwiftShader here, so the model runs at two depths (2 and 3 layers: the same widths, heads and vocabulary; from 2
// layers on, recomputation's scratch residual exists, so every further layer adds the same buffers: its weights,
// gradients, AdamW state, masters and kept input) and the BufferPool's measured peak is extended linearly to 30
// layers, beside planTrainingMemory at each depth; the same for LoRA (r 16, all seven projections) in the same run.
// The target: ≤ 3 GB planned and measured at full depth. Step times are per depth only (the first run of a
// process includes its shader compiles, so they do not extend).
// Opt-in (about 10 minutes here): ALLOY_BENCH_FULL=1 npx vitest run --config vitest.bench.config.ts bench/train-full.bench.ts
import { it } from 'vitest';
import { acquireNodeDevice } from '../src/engine/gpu/node-gpu.ts';
import { KernelRegistry } from '../src/engine/gpu/kernels.ts';
import { planTrainingMemory } from '../src/engine/train/memory.ts';
import { smolConfig, syntheticCheckpoint } from './synthetic.ts';
import { alloySteps, R, TARGETS } from './train-steps.ts';
import { writeSuite, type BenchRow } from './report.ts';

const [B, T] = [4, 512];
const BINDING = 128 * 2 ** 20;
const DEPTHS = [2, 3];
const gb = (b: number) => `${(b / 1e9).toFixed(3)} GB`;

it.skipIf(!process.env.ALLOY_BENCH_FULL)('train-full: SmolLM2-135M shape, every parameter vs LoRA, 4 × 512, recomputation', async () => {
  const ctx = await acquireNodeDevice();
  const kernels = new KernelRegistry(ctx.device);
  const L = smolConfig('135M').numLayers;
  const rows: BenchRow[] = [];
  for (const mode of ['full', 'lora'] as const) {
    const plan = (layers: number) =>
      planTrainingMemory(smolConfig('135M', layers), { dtype: 'bf16', rows: B, seqLen: T, r: R, targets: TARGETS, recompute: true, method: 'cpt', maxBindingBytes: BINDING, mode }).poolTotal;
    const peaks: number[] = [];
    const secs: number[] = [];
    for (const depth of DEPTHS) {
      const config = smolConfig('135M', depth);
      const m = await alloySteps(ctx, kernels, config, syntheticCheckpoint(config), B, T, { steps: 1, warmup: 0, maxBindingBytes: BINDING, mode, recompute: true });
      console.log(`${mode} depth ${depth}: ${m.stepSec.toFixed(1)} s/step, loss ${m.loss0.toFixed(3)}, pool peak ${gb(m.peak)}, plan ${gb(plan(depth))}`);
      peaks.push(m.peak);
      secs.push(m.stepSec);
    }
    const [a, b] = DEPTHS as [number, number];
    const extend = (xs: number[]) => xs[0]! + ((L - a) * (xs[1]! - xs[0]!)) / (b - a);
    rows.push({
      mode: mode === 'full' ? 'every parameter (full)' : `LoRA r ${R}, all seven projections`,
      [`pool peak / plan at depths ${DEPTHS.join(', ')}`]: DEPTHS.map((d, i) => `${gb(peaks[i]!)} / ${gb(plan(d))}`).join('; '),
      'pool peak at 30 layers (extended)': gb(extend(peaks)),
      'plan at 30 layers': gb(plan(L)),
      [`step s at depths ${DEPTHS.join(', ')}`]: secs.map((s) => s.toFixed(1)).join(', '),
    });
  }
  writeSuite({
    suite: 'train-full',
    adapter: ctx.adapterInfo.description,
    note:
      `Full fine-tuning vs LoRA on the SmolLM2-135M shape (random BF16 weights, CPT, seq ${T} × batch ${B}, per-layer ` +
      `recomputation, ${BINDING / 2 ** 20} MiB binding). One optimizer step per depth (shader compiles included in the first); depths ` +
      `${DEPTHS.join(' and ')} run and the BufferPool's measured peak extended linearly to 30 layers, beside planTrainingMemory (pool size ` +
      `classes). Full: every parameter's f32 gradient, AdamW m and v, and f32 masters of the BF16 weights. SwiftShader on ` +
      `two shared CPU cores: the times say what this host does, not a GPU.`,
    rows,
  });
}, 3 * 3600_000);
