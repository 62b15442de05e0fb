// The training loop on tiny-llama (SwiftShader: short rows, a handful of steps per check):
//   - global gradient norm on the GPU (sumsq.wgsl) = float64 CPU norm of the read-back LoRA grads (≤ 1e-5 rel),
//     and clip_grad_norm_'s scale;
//   - accumulation as TRL reduces it: SFT rows scoring 2, 7 and 11 tokens, 3 micro-batches of 1 = 1 batch of 3 =
//     one pass's token mean (loss, norm and gradients within 1e-5 rel; the old mean of per-row means is > 1e-3
//     away); DPO 2 micro-batches of 1 pair = 1 batch of 2 pairs;
//   - validation loss (forward only) = the training loss of the same batch at the same weights (1e-6 rel);
//   - determinism and resume: 8 steps straight vs 4 steps + "crash" (trainer and adapter thrown away) + resume
//     from the Node directory store + 4 steps → the same loss curve and the same final weights, bit for bit;
//   - the checkpoint's adapter record (r, alpha, rsLoRA, targets, dropout) and a resume with another adapter refused;
//   - DPO through the Trainer (pairs kept together): first loss ln 2, then lower;
//   - pause/resume between steps;
//   - the memory plan vs BufferPool's measured peak of a fresh pool (plan ≥ measured, ≤ 1.1× measured).
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { BufferPool } from '../../../src/engine/gpu/buffer-pool.ts';
import { clearLoraGrads, createLora, loraFromTensors, readLoraF32, type GpuLora } from '../../../src/engine/lora/adapter.ts';
import type { LoraTarget } from '../../../src/engine/lora/targets.ts';
import { loadModel } from '../../../src/engine/model/index.ts';
import { clipScale, globalNormReference, sumOfSquares } from '../../../src/engine/train/clip.ts';
import { lossAndGrads, lossOnly } from '../../../src/engine/train/grad.ts';
import { planTrainingMemory } from '../../../src/engine/train/memory.ts';
import type { Sequence } from '../../../src/common/training-data.ts';
import { TrainControl, Trainer, trainConfig, type StepEvent } from '../../../src/engine/train/trainer.ts';
import { checkpointAdapterTensors } from '../../../src/engine/train/checkpoint.ts';
import { dirCheckpointStore } from '../../../src/io/node/checkpoint-dir.ts';
import { dirModelFiles } from '../../../src/io/node/dir-model-files.ts';
import { openCheckpoint } from '../../../src/io/safetensors/checkpoint.ts';
import { ensureFixtures, OWNER, REVISION } from '../../../scripts/fixtures/index.ts';
import { randomArray, testGpu, testKernels } from '../../helpers/gpu.ts';
import { gpuShared, loadFixture, type Fixture } from '../model/model-fixtures.ts';
import { randomAdapter } from '../lora/lora-helpers.ts';

const TARGETS: LoraTarget[] = ['q_proj', 'v_proj', 'down_proj'];
const seq = (ids: number[], promptLen = 0): Sequence => ({ ids, promptLen });
// 6 SFT rows of 8 tokens, 4 scored each (so any two rows batch without padding and with equal token counts)
const ROWS: Sequence[] = [
  seq([1, 40, 7, 9, 300, 5, 17, 2], 4),
  seq([1, 99, 3, 8, 17, 18, 19, 2], 4),
  seq([1, 12, 13, 14, 50, 60, 70, 2], 4),
  seq([1, 21, 22, 23, 80, 81, 82, 2], 4),
  seq([1, 31, 32, 33, 90, 91, 92, 2], 4),
  seq([1, 41, 42, 43, 100, 101, 102, 2], 4),
];

let f: Fixture;
let tmp: string;
beforeAll(async () => {
  f = await loadFixture('tiny-llama');
  tmp = mkdtempSync(join(tmpdir(), 'alloy-trainer-'));
});
afterAll(async () => {
  f.model.dispose();
  (await gpuShared()).pool.destroyAll();
  rmSync(tmp, { recursive: true, force: true });
});

const relDiff = (a: number, b: number) => Math.abs(a - b) / Math.max(1e-30, Math.abs(b));
const randomLora = (seed: number): GpuLora => {
  const ad = randomAdapter(f.config, TARGETS, 4, 8, seed);
  return loraFromTensors(f.model, { r: 4, loraAlpha: 8, useRslora: false, targetModules: null }, ad.tensors);
};

describe('training loop', () => {
  it('global grad norm on the GPU = float64 CPU norm; clip scale as clip_grad_norm_', async () => {
    const lora = randomLora(700);
    clearLoraGrads(f.model, lora);
    await lossAndGrads(f.model, lora, 'sft', ROWS.slice(0, 2));
    const grads = [...(await readLoraF32(f.model, lora, 'grads')).values()].map((t) => t.data);
    const want = globalNormReference(grads);
    const tensors = lora.modules.flatMap((m) => [
      { grad: m.dA, n: lora.r * m.inF },
      { grad: m.dB, n: m.outF * lora.r },
    ]);
    const got = Math.sqrt((await sumOfSquares(f.model.device, f.model.kernels, f.model.pool, tensors)).sumSq);
    console.log(`grad norm GPU ${got} vs CPU float64 ${want}: rel ${relDiff(got, want).toExponential(2)} (tensor sizes ${tensors.map((t) => t.n).join(', ')})`);
    expect(relDiff(got, want)).toBeLessThanOrEqual(1e-5);
    // sizes off the 256-element span and the 64-thread workgroup
    const sizes = [3, 257, 1000, 70_001];
    const arrays = sizes.map((n, i) => randomArray(n, 40 + i));
    const bufs = arrays.map((a) => ({ grad: f.model.pool.upload(a), n: a.length }));
    const s2 = await sumOfSquares(f.model.device, f.model.kernels, f.model.pool, bufs);
    const w2 = globalNormReference(arrays);
    console.log(`grad norm over sizes ${sizes.join(', ')}: GPU ${Math.sqrt(s2.sumSq)} vs CPU ${w2}, rel ${relDiff(Math.sqrt(s2.sumSq), w2).toExponential(2)}`);
    expect(relDiff(Math.sqrt(s2.sumSq), w2)).toBeLessThanOrEqual(1e-5);
    // the clip scale on the GPU, as clipScale (torch's clip_grad_norm_) computes it from the float64 norm
    expect(s2.scale).toBe(1); // clipping off
    for (const maxNorm of [1, w2 / 2, 2 * w2]) {
      const { scale } = await sumOfSquares(f.model.device, f.model.kernels, f.model.pool, bufs, maxNorm);
      console.log(`clip scale at max_norm ${maxNorm.toPrecision(4)}: GPU ${scale} vs ${clipScale(w2, maxNorm)}`);
      expect(relDiff(scale, clipScale(w2, maxNorm))).toBeLessThanOrEqual(1e-5);
    }
    for (const b of bufs) f.model.pool.release(b.grad);
    expect(clipScale(4, 1)).toBeCloseTo(1 / (4 + 1e-6), 15);
    expect(clipScale(0.5, 1)).toBe(1);
    expect(clipScale(4, 0)).toBe(1);
    lora.dispose();
  });

  // SFT rows whose completions score 2, 7 and 11 tokens: TRL's step loss is Σ NLL / 20, not the mean of three
  // per-row means (which weighs the 2-token row's tokens 5.5× more than the 11-token row's).
  const RAGGED: Sequence[] = [
    seq([1, 40, 7, 9, 300, 2], 4),
    seq([1, 99, 3, 17, 18, 19, 20, 21, 22, 2], 3),
    seq([1, 12, 50, 60, 70, 80, 90, 100, 110, 120, 130, 2], 1),
  ];
  const stepOf = async (rows: Sequence[], method: 'sft' | 'dpo', microBatch: number, accum: number) => {
    const lora = randomLora(800);
    const t = new Trainer(f.model, lora, trainConfig({ method, steps: 1, microBatch, accum, lr: 1e-3, warmupSteps: 0, maxGradNorm: 0 }), { train: rows });
    // the permutation would shuffle the rows between micro-batches; the step's sum does not depend on it
    const res = await t.run();
    // dA/dB hold the step's gradient (each micro-batch added its share)
    const grads = [...(await readLoraF32(f.model, lora, 'grads')).values()].map((g) => g.data);
    t.dispose();
    lora.dispose();
    return { ev: res.history[0]!, grads };
  };
  const worstRel = (a: Float32Array[], b: Float32Array[]) => {
    let worst = 0;
    a.forEach((g, i) => {
      const h = b[i]!;
      const scale = Math.max(...h.map(Math.abs));
      for (let j = 0; j < g.length; j++) worst = Math.max(worst, Math.abs(g[j]! - h[j]!) / scale);
    });
    return worst;
  };

  it('accumulation (SFT, completions of 2, 7, 11 tokens): 3 micro-batches of 1 = 1 batch of 3 = the token mean', async () => {
    const a = await stepOf(RAGGED, 'sft', 1, 3);
    const b = await stepOf(RAGGED, 'sft', 3, 1);
    // the one-batch token mean, straight from lossAndGrads, and the per-row means the old reduction averaged
    const lora = randomLora(800);
    clearLoraGrads(f.model, lora);
    const whole = await lossAndGrads(f.model, lora, 'sft', RAGGED);
    const wholeGrads = [...(await readLoraF32(f.model, lora, 'grads')).values()].map((g) => g.data);
    let perRowMean = 0;
    for (const r of RAGGED) perRowMean += (await lossOnly(f.model, lora, 'sft', [r])).loss / RAGGED.length;
    lora.dispose();
    const worst = Math.max(worstRel(a.grads, b.grads), worstRel(a.grads, wholeGrads));
    console.log(
      `accum 3×1 vs batch 3 vs one pass: loss ${a.ev.loss} / ${b.ev.loss} / ${whole.loss} (old mean of row means ${perRowMean}), ` +
        `norm ${a.ev.gradNorm} vs ${b.ev.gradNorm}, max grad rel ${worst.toExponential(2)}`,
    );
    expect(whole.tokens).toBe(20);
    expect(relDiff(a.ev.loss, whole.loss)).toBeLessThanOrEqual(1e-5);
    expect(relDiff(b.ev.loss, whole.loss)).toBeLessThanOrEqual(1e-5);
    expect(relDiff(a.ev.gradNorm, b.ev.gradNorm)).toBeLessThanOrEqual(1e-5);
    expect(worst).toBeLessThanOrEqual(1e-5);
    // the old reduction is measurably different on these rows, so the checks above can tell them apart
    expect(relDiff(perRowMean, whole.loss)).toBeGreaterThan(1e-3);
    expect(a.ev.tokens).toBe(RAGGED.reduce((n, s) => n + s.ids.length, 0));
  });

  it('accumulation (DPO): 2 micro-batches of 1 pair = 1 batch of 2 pairs (the pair mean)', async () => {
    const pairs = [ROWS[0]!, ROWS[1]!, RAGGED[0]!, RAGGED[2]!]; // chosen 0, 1; rejected 0, 1
    const a = await stepOf(pairs, 'dpo', 1, 2);
    const b = await stepOf(pairs, 'dpo', 2, 1);
    const worst = worstRel(a.grads, b.grads);
    console.log(`DPO accum 2×1 vs batch 2: loss ${a.ev.loss} vs ${b.ev.loss}, norm ${a.ev.gradNorm} vs ${b.ev.gradNorm}, max grad rel ${worst.toExponential(2)}`);
    expect(relDiff(a.ev.loss, b.ev.loss)).toBeLessThanOrEqual(1e-5);
    expect(relDiff(a.ev.gradNorm, b.ev.gradNorm)).toBeLessThanOrEqual(1e-5);
    expect(worst).toBeLessThanOrEqual(1e-5);
  });

  it('validation loss (forward only) = training loss at the same weights', async () => {
    const lora = randomLora(900);
    const batch = ROWS.slice(2, 4);
    const v = await lossOnly(f.model, lora, 'sft', batch);
    clearLoraGrads(f.model, lora);
    const g = await lossAndGrads(f.model, lora, 'sft', batch);
    expect(relDiff(v.loss, g.loss)).toBeLessThanOrEqual(1e-6);
    expect(v.tokens).toBe(g.tokens);
    const t = new Trainer(f.model, lora, trainConfig({ method: 'sft', steps: 1, microBatch: 2 }), { train: ROWS, val: batch });
    const ev = await t.evaluate();
    expect(relDiff(ev.valLoss, g.loss)).toBeLessThanOrEqual(1e-6);
    expect(ev.valPpl).toBeCloseTo(Math.exp(ev.valLoss), 10);
    t.dispose();
    lora.dispose();
  });

  it('same seed → same curve; 4 steps + crash + resume 4 steps = 8 steps straight, bit for bit', async () => {
    const cfg = trainConfig({ method: 'sft', steps: 8, microBatch: 2, lr: 0.02, seed: 7, schedule: 'cosine', warmupSteps: 2, weightDecay: 0.01, maxGradNorm: 0.5, checkpointEvery: 4 });
    const fresh = () => createLora(f.model, { r: 4, alpha: 8, targets: TARGETS, seed: 3 });
    const finalParams = async (lora: GpuLora) => [...(await readLoraF32(f.model, lora, 'params')).values()].map((t) => Array.from(t.data));

    const loraA = fresh();
    const straight = new Trainer(f.model, loraA, cfg, { train: ROWS }, { store: dirCheckpointStore(join(tmp, 'straight')) });
    const a = await straight.run();
    const paramsA = await finalParams(loraA);
    straight.dispose();
    loraA.dispose();

    const dir = join(tmp, 'crashed');
    const control = new TrainControl();
    const loraB = fresh();
    const first = new Trainer(f.model, loraB, cfg, { train: ROWS }, { store: dirCheckpointStore(dir), onEvent: (e) => e.type === 'step' && e.step === 4 && control.cancel() });
    const b1 = await first.run(control);
    expect(b1.status).toBe('cancelled');
    expect(b1.step).toBe(4);
    first.dispose();
    loraB.dispose(); // the "crash": nothing of the first process survives but the store

    const loraC = createLora(f.model, { r: 4, alpha: 8, targets: TARGETS, seed: 99 }); // different init: restore must overwrite it
    const events: StepEvent[] = [];
    const second = new Trainer(f.model, loraC, cfg, { train: ROWS }, { store: dirCheckpointStore(dir), onEvent: (e) => e.type === 'step' && events.push(e) });
    expect(await second.restore()).toBe(4);
    const b2 = await second.run();
    const paramsC = await finalParams(loraC);
    second.dispose();
    loraC.dispose();

    const lossesA = a.history.map((e) => e.loss);
    const lossesB = b2.history.map((e) => e.loss);
    console.log(`straight: ${lossesA.map((x) => x.toFixed(6)).join(' ')}\nresumed:  ${lossesB.map((x) => x.toFixed(6)).join(' ')}`);
    console.log(`lr: ${a.history.map((e) => e.lr.toExponential(3)).join(' ')}; grad norm: ${a.history.map((e) => e.gradNorm.toFixed(4)).join(' ')}`);
    expect(b2.status).toBe('done');
    expect(events.map((e) => e.step)).toEqual([5, 6, 7, 8]);
    expect(lossesB).toEqual(lossesA);
    expect(b2.history.map((e) => e.gradNorm)).toEqual(a.history.map((e) => e.gradNorm));
    expect(paramsC).toEqual(paramsA);
    expect(lossesA[7]!).toBeLessThan(lossesA[0]!);
    expect(await dirCheckpointStore(dir).steps()).toEqual([4, 8]);
  });

  it('a checkpoint records the adapter (dropout too); a resume with another adapter is refused before any upload', async () => {
    const cfg = trainConfig({ method: 'sft', steps: 1, microBatch: 2, lr: 0.02, seed: 5, warmupSteps: 0, checkpointEvery: 1 });
    const dir = join(tmp, 'adapter-record');
    const lora = createLora(f.model, { r: 4, alpha: 8, targets: TARGETS, seed: 3, dropout: 0.1 });
    const t = new Trainer(f.model, lora, cfg, { train: ROWS }, { store: dirCheckpointStore(dir) });
    expect((await t.run()).status).toBe('done');
    t.dispose();
    lora.dispose();
    const { meta } = await checkpointAdapterTensors(await dirCheckpointStore(dir).open(1));
    expect(meta.lora).toEqual({ r: 4, alpha: 8, useRslora: false, targets: TARGETS, dropout: 0.1 });

    const resume = async (opts: { dropout: number; targets: LoraTarget[] }) => {
      const other = createLora(f.model, { r: 4, alpha: 8, seed: 3, ...opts });
      const again = new Trainer(f.model, other, cfg, { train: ROWS }, { store: dirCheckpointStore(dir) });
      try {
        return await again.restore();
      } finally {
        again.dispose();
        other.dispose();
      }
    };
    await expect(resume({ dropout: 0, targets: TARGETS })).rejects.toThrow(/different LoRA: lora_dropout 0\.1 \(this run: 0\)/);
    // fewer targets used to pass (every tensor the run has is in the checkpoint); now it is named
    await expect(resume({ dropout: 0.1, targets: ['q_proj', 'v_proj'] })).rejects.toThrow(/target_modules down_proj,q_proj,v_proj \(this run: q_proj,v_proj\)/);
    expect(await resume({ dropout: 0.1, targets: [...TARGETS].reverse() })).toBe(1);
  });

  it('DPO pairs: step 1 (B = 0, policy = reference) has loss ln 2; training on the pairs lowers it', async () => {
    // 3 pairs: all chosen first, then all rejected, as rowsToSequences lays them out
    const chosen = [seq([1, 50, 60, 70, 80, 2], 3), seq([1, 90, 91, 92, 93, 2], 2), seq([1, 20, 21, 22, 23, 2], 2)];
    const rejected = [seq([1, 50, 60, 33, 34, 2], 3), seq([1, 90, 7, 8, 9, 2], 2), seq([1, 20, 44, 45, 46, 2], 2)];
    const lora = createLora(f.model, { r: 4, alpha: 8, targets: TARGETS, seed: 11 });
    const t = new Trainer(f.model, lora, trainConfig({ method: 'dpo', steps: 6, microBatch: 3, lr: 0.05, warmupSteps: 0, objective: { beta: 0.5 } }), { train: [...chosen, ...rejected], val: [...chosen, ...rejected] });
    const res = await t.run();
    const curve = res.history.map((e) => e.loss);
    const val = await t.evaluate();
    console.log(`DPO losses ${curve.map((x) => x.toFixed(5)).join(' ')}; val ${val.valLoss.toFixed(5)}; tokens/step ${res.history[0]!.tokens}`);
    expect(Math.abs(curve[0]! - Math.LN2)).toBeLessThanOrEqual(1e-6);
    expect(res.history[0]!.tokens).toBe(36);
    expect(val.valLoss).toBeLessThan(Math.LN2 - 0.05);
    expect(val.valPpl).toBeUndefined();
    t.dispose();
    lora.dispose();
  });

  it('a non-finite loss stops the run, and the update queued before the loss was read changed nothing', async () => {
    // CPT/SFT queue clip + AdamW before reading the loss (one wait per step): the update must skip on the GPU.
    const lora = randomLora(21);
    const m = lora.modules.find((x) => x.target === 'down_proj')!;
    f.model.device.queue.writeBuffer(m.b, 0, new Float32Array(m.outF * lora.r).fill(Infinity));
    const before = await readLoraF32(f.model, lora, 'params');
    const t = new Trainer(f.model, lora, trainConfig({ method: 'sft', steps: 3, microBatch: 2, lr: 1e-2, warmupSteps: 0 }), { train: ROWS });
    const res = await t.run();
    const after = await readLoraF32(f.model, lora, 'params');
    console.log(`non-finite step: ${res.status}, ${res.message}`);
    expect(res.status).toBe('nan');
    expect(res.step).toBe(0);
    expect(res.message).toMatch(/^step 1: the loss is NaN; training stopped before the update/);
    for (const [k, v] of before) expect(Buffer.from(after.get(k)!.data.buffer).equals(Buffer.from(v.data.buffer)), k).toBe(true);
    t.dispose();
    lora.dispose();
  });

  it('pause and resume between steps; events in order', async () => {
    const lora = createLora(f.model, { r: 4, alpha: 8, targets: TARGETS, seed: 5 });
    const control = new TrainControl();
    const seen: string[] = [];
    const t = new Trainer(f.model, lora, trainConfig({ method: 'sft', steps: 2, microBatch: 2 }), { train: ROWS }, {
      onEvent: (e) => {
        seen.push(`${e.type} ${e.step}`);
        if (e.type === 'step' && e.step === 1) {
          control.pause();
          setTimeout(() => control.resume(), 50);
        }
      },
    });
    const res = await t.run(control);
    expect(res.status).toBe('done');
    expect(seen).toEqual(['step 1', 'paused 1', 'resumed 1', 'step 2']);
    t.dispose();
    lora.dispose();
  });

  it('memory plan ≥ BufferPool peak of a fresh pool, within 1.1×', async () => {
    await ensureFixtures('public/hub');
    const files = dirModelFiles(join('public/hub', OWNER, 'tiny-llama', 'resolve', REVISION));
    const ctx = await testGpu();
    const pool = new BufferPool(ctx.device);
    const model = await loadModel(ctx, await testKernels(), pool, await openCheckpoint(files), f.config);
    const lora = createLora(model, { r: 4, alpha: 8, targets: TARGETS, seed: 1 });
    const t = new Trainer(model, lora, trainConfig({ method: 'sft', steps: 2, microBatch: 2 }), { train: ROWS });
    await t.run();
    const measured = pool.stats().peakBytes;
    const plan = planTrainingMemory(f.config, { dtype: 'f32', rows: 2, seqLen: 8, r: 4, targets: TARGETS, method: 'sft' });
    const re = planTrainingMemory(f.config, { dtype: 'f32', rows: 2, seqLen: 8, r: 4, targets: TARGETS, recompute: true });
    console.log(`training memory, tiny-llama B=2 T=8 r=4: plan ${plan.poolTotal} B (pool classes; exact ${plan.total}: weights ${plan.weights}, adapter ${plan.adapter}, kept ${plan.kept}, backward ${plan.backward}, head ${plan.head}, logits ${plan.logits}), measured pool peak ${measured} B, ratio ${(plan.poolTotal / measured).toFixed(3)}; with per-layer recomputation kept ${re.kept}`);
    expect(plan.poolTotal).toBeGreaterThanOrEqual(measured);
    expect(plan.poolTotal).toBeLessThanOrEqual(1.1 * measured);
    expect(re.kept).toBeLessThan(plan.kept);
    t.dispose();
    lora.dispose();
    model.dispose();
    pool.destroyAll();
  });
});
