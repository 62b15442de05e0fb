// Full fine-tuning through the Trainer (mode full) on tiny-llama, each run on a freshly loaded model (the weights are
// trained in place):
//   - CPT on rows that repeat a pattern lowers the loss of held-out rows of the same pattern (val loss after < before);
//   - a BF16 model: after training, every stored bf16 weight is its f32 master rounded to nearest even, bit for bit,
//     and the masters moved by less than the rounding would (updates below bf16's resolution are kept);
//   - bit-for-bit resume: 4 steps straight vs 2 steps + checkpoint + a fresh model restored from it + 2 steps → the
//     same losses, gradient norms and weights (masters and stored halves);
//   - DPO: the reference log-probs are computed once before step 1 from the starting weights (first loss ln 2,
//     since policy = reference there), kept in the checkpoint, and a resume takes them from it (not from the
//     trained weights);
//   - weight decay skips norms (HF Trainer's no-decay set): with lr·wd large and zero gradient a norm stays put;
//   - the memory plan with the trainer's state (gradients, m, v, masters) vs the pool's measured peak (≥, ≤ 1.1×);
//   - the model written out (full-model.ts) reloads to the trained weights: its logits equal the trained model's.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { BufferPool, readBuffer } from '../../../src/engine/gpu/buffer-pool.ts';
import { forward, loadModel, type Model } from '../../../src/engine/model/index.ts';
import { createFullParams, type FullParams } from '../../../src/engine/train/full-params.ts';
import { decodeHalves } from '../../../src/engine/train/full-optim.ts';
import { writeFullModel } from '../../../src/engine/train/full-model.ts';
import { planTrainingMemory } from '../../../src/engine/train/memory.ts';
import { TrainControl, Trainer, trainConfig, type StepEvent, type TrainConfig, type TrainerEvent } from '../../../src/engine/train/trainer.ts';
import type { Sequence } from '../../../src/common/training-data.ts';
import { dirCheckpointStore } from '../../../src/io/node/checkpoint-dir.ts';
import { dirModelFiles } from '../../../src/io/node/dir-model-files.ts';
import { fileSink } from '../../../src/io/node/fs.ts';
import { f32ToBf16Bits } from '../../../src/io/safetensors/dtypes.ts';
import { openCheckpoint } from '../../../src/io/safetensors/checkpoint.ts';
import { OWNER, REVISION } from '../../../scripts/fixtures/index.ts';
import { testGpu, testKernels } from '../../helpers/gpu.ts';
import { gpuShared, loadFixture } from '../model/model-fixtures.ts';

const seq = (ids: number[], promptLen = 0): Sequence => ({ ids, promptLen });
// rows that walk a fixed cycle of tokens from different starts: the held-out rows are new starts of the same cycle
const CYCLE = [40, 71, 9, 300, 17, 250, 88, 123, 5, 66];
const walk = (start: number, n = 10) => seq([1, ...Array.from({ length: n }, (_, i) => CYCLE[(start + i) % CYCLE.length]!)]);
const TRAIN = [0, 2, 4, 6, 8].map((s) => walk(s));
const VAL = [1, 5].map((s) => walk(s, 8));
const PAIRS = [seq([1, 50, 60, 70, 80, 2], 3), seq([1, 90, 91, 92, 2], 2), seq([1, 50, 60, 33, 34, 35, 2], 3), seq([1, 90, 7, 2], 2)];

let tmp: string;
beforeAll(() => {
  tmp = mkdtempSync(join(tmpdir(), 'alloy-full-train-'));
});
afterAll(async () => {
  (await gpuShared()).pool.destroyAll();
  rmSync(tmp, { recursive: true, force: true });
});

const config = (c: Partial<TrainConfig> & Pick<TrainConfig, 'method' | 'steps'>) => trainConfig({ lr: 3e-3, warmupSteps: 0, microBatch: 2, accum: 1, seed: 5, ...c });

/** Every param's stored weight as read back (f32 values, or the raw u32 words of 16-bit storage). */
async function weightsOf(model: Model, fp: FullParams): Promise<Uint32Array[]> {
  return Promise.all(fp.params.map(async (p) => new Uint32Array(await readBuffer(model.device, p.weight.buffer, Math.ceil((p.n * (p.weight.dtype === 'f32' ? 4 : 2)) / 4) * 4))));
}

describe('full fine-tuning (mode full)', () => {
  it('CPT lowers the held-out loss', async () => {
    const f = await loadFixture('tiny-llama');
    const fp = createFullParams(f.model);
    const t = new Trainer(f.model, fp, config({ method: 'cpt', steps: 12, evalEvery: 12 }), { train: TRAIN, val: VAL });
    const before = (await t.evaluate()).valLoss;
    const res = await t.run();
    const after = res.history.at(-1)!.valLoss!;
    console.log(`full CPT on tiny-llama, 12 steps: train loss ${res.history[0]!.loss.toFixed(4)} → ${res.history.at(-1)!.loss.toFixed(4)}; held-out ${before.toFixed(4)} → ${after.toFixed(4)}`);
    expect(res.status).toBe('done');
    expect(after).toBeLessThan(before - 0.3);
    t.dispose();
    fp.dispose();
    f.model.dispose();
  });

  it('BF16: the stored weights are the f32 masters rounded to nearest even, bit for bit', async () => {
    const f = await loadFixture('tiny-llama', { bf16: true });
    const fp = createFullParams(f.model);
    const before = await weightsOf(f.model, fp);
    const t = new Trainer(f.model, fp, config({ method: 'cpt', steps: 3, lr: 1e-4 }), { train: TRAIN });
    await t.run();
    const after = await weightsOf(f.model, fp);
    let halves = 0;
    let changed = 0;
    let kept = 0;
    for (const [i, p] of fp.params.entries()) {
      const o = t.tensors[i]!;
      if (p.weight.dtype === 'f32') {
        expect(o.param).toBe(p.weight.buffer); // its own master
        continue;
      }
      const master = new Float32Array(await readBuffer(f.model.device, o.param, p.n * 4));
      const stored = new Uint16Array(after[i]!.buffer, 0, p.n);
      const start = decodeHalves(before[i]!.buffer as ArrayBuffer, p.n, 'bf16');
      for (let j = 0; j < p.n; j++) {
        expect(stored[j]).toBe(f32ToBf16Bits(master[j]!));
        halves++;
        if (master[j] !== start[j]) changed++;
        if (master[j] !== start[j] && stored[j] === f32ToBf16Bits(start[j]!)) kept++;
      }
    }
    console.log(`bf16 full fine-tune, 3 steps at lr 1e-4: ${halves} stored halves = rounded masters; ${changed} masters moved, ${kept} of them by less than bf16 resolves (kept in the master only)`);
    expect(changed).toBeGreaterThan(halves / 2);
    expect(kept).toBeGreaterThan(0);
    t.dispose();
    fp.dispose();
    f.model.dispose();
  });

  it('resumes bit for bit from a checkpoint on a freshly loaded model (BF16, SFT)', async () => {
    const rows = TRAIN.map((s) => ({ ...s, promptLen: 3 }));
    // the same 4-step config each time (the schedule depends on it): the first run is cancelled after step 2
    const run = async (dir: string | null, stopAfter: number | null, restore: boolean) => {
      const f = await loadFixture('tiny-llama', { bf16: true });
      const fp = createFullParams(f.model);
      const store = dir ? dirCheckpointStore(dir) : undefined;
      const control = new TrainControl();
      const onEvent = (e: TrainerEvent) => e.type === 'step' && e.step === stopAfter && control.cancel();
      const t = new Trainer(f.model, fp, config({ method: 'sft', steps: 4, checkpointEvery: store ? 2 : 0 }), { train: rows }, { ...(store ? { store } : {}), onEvent });
      if (restore) expect(await t.restore()).toBe(2);
      const res = await t.run(control);
      const out = { history: res.history, weights: await weightsOf(f.model, fp), masters: await Promise.all(t.tensors.map(async (o) => new Uint32Array(await readBuffer(f.model.device, o.param, o.n * 4)))) };
      t.dispose();
      fp.dispose();
      f.model.dispose();
      return out;
    };
    const straight = await run(null, null, false);
    const dir = join(tmp, 'resume');
    await run(dir, 2, false);
    const resumed = await run(dir, null, true);
    const curve = (h: StepEvent[]) => h.map((e) => [e.step, e.loss, e.gradNorm]);
    expect(curve(resumed.history)).toEqual(curve(straight.history));
    expect(resumed.weights).toEqual(straight.weights);
    expect(resumed.masters).toEqual(straight.masters);
    console.log(`full SFT resume: losses ${straight.history.map((e) => e.loss.toFixed(5)).join(', ')} (straight = 2 + 2 resumed, bit for bit)`);
  });

  it('DPO: reference precomputed from the starting weights (first loss ln 2), kept in checkpoints and reused on resume', async () => {
    const run = async (dir: string, steps: number, restore: boolean) => {
      const f = await loadFixture('tiny-llama');
      const fp = createFullParams(f.model);
      const t = new Trainer(f.model, fp, config({ method: 'dpo', steps, microBatch: 1, checkpointEvery: 1, objective: { beta: 0.5 } }), { train: PAIRS }, { store: dirCheckpointStore(dir) });
      if (restore) await t.restore();
      const res = await t.run();
      t.dispose();
      fp.dispose();
      f.model.dispose();
      return res.history;
    };
    const straight = await run(join(tmp, 'dpo-a'), 3, false);
    console.log(`full DPO losses ${straight.map((e) => e.loss.toFixed(6)).join(', ')} (ln 2 = ${Math.LN2.toFixed(6)})`);
    expect(Math.abs(straight[0]!.loss - Math.LN2)).toBeLessThan(1e-6);
    expect(straight[2]!.loss).toBeLessThan(straight[0]!.loss);
    const dir = join(tmp, 'dpo-b');
    await run(dir, 1, false);
    const resumed = await run(dir, 3, true);
    expect(resumed.map((e) => e.loss)).toEqual(straight.map((e) => e.loss));
  });

  it('no weight decay on norms: under lr·wd = 0.5 the matrices halve, the norms stay', async () => {
    const f = await loadFixture('tiny-llama');
    const fp = createFullParams(f.model);
    const before = await weightsOf(f.model, fp);
    // lr·wd = 0.5 with lr 1e-9: the Adam step (≤ lr) is nothing next to the decay, so a decayed tensor halves and
    // an exempt one (every norm: cols 1) keeps its value
    const t = new Trainer(f.model, fp, config({ method: 'cpt', steps: 1, lr: 1e-9, weightDecay: 5e8 }), { train: TRAIN.slice(0, 2) });
    await t.run();
    const after = await weightsOf(f.model, fp);
    const asF32 = (w: Uint32Array) => new Float32Array(w.buffer);
    for (const [i, p] of fp.params.entries()) {
      const a = asF32(before[i]!);
      const b = asF32(after[i]!);
      const ratio = b[0]! / a[0]!;
      if (p.cols === 1) expect(Math.abs(ratio - 1)).toBeLessThan(1e-3);
      else expect(Math.abs(ratio - 0.5)).toBeLessThan(1e-3);
    }
    t.dispose();
    fp.dispose();
    f.model.dispose();
  });

  it('memory plan with the trainer state ≥ the measured peak, ≤ 1.1× it', async () => {
    const f0 = await loadFixture('tiny-llama', { bf16: true });
    const cfgModel = f0.config;
    f0.model.dispose();
    const lines: string[] = [];
    for (const [method, recompute] of [['cpt', false], ['dpo', true]] as const) {
      const ctx = await testGpu();
      const pool = new BufferPool(ctx.device);
      const files = dirModelFiles(join('public/hub', OWNER, 'tiny-llama', 'resolve', REVISION));
      const { asBf16 } = await import('../model/model-fixtures.ts');
      const model = await loadModel(ctx, await testKernels(), pool, asBf16(await openCheckpoint(files)), cfgModel);
      const fp = createFullParams(model);
      const train = method === 'dpo' ? PAIRS : TRAIN.slice(0, 2);
      const t = new Trainer(model, fp, config({ method, steps: 1, microBatch: 2, recompute }), { train });
      await t.run();
      await model.device.queue.onSubmittedWorkDone();
      const peak = pool.stats().peakBytes;
      t.dispose();
      fp.dispose();
      model.dispose();
      pool.destroyAll();
      const seqLen = Math.max(...train.map((s) => s.ids.length));
      const plan = planTrainingMemory(cfgModel, { dtype: 'bf16', rows: 2 * (method === 'dpo' ? 2 : 1), seqLen, r: 0, targets: [], recompute, method, mode: 'full' });
      lines.push(`${method}${recompute ? ' recompute' : ''}: measured ${peak} B, plan ${plan.poolTotal} B (trained state ${plan.adapter} B), plan/measured ${(plan.poolTotal / peak).toFixed(3)}`);
      expect(plan.poolTotal).toBeGreaterThanOrEqual(peak);
      expect(plan.poolTotal).toBeLessThanOrEqual(1.1 * peak);
    }
    console.log(`tiny-llama bf16 full fine-tuning step:\n  ${lines.join('\n  ')}`);
  });

  it('the written model reloads to the trained weights (logits equal)', async () => {
    const f = await loadFixture('tiny-llama');
    const fp = createFullParams(f.model);
    const t = new Trainer(f.model, fp, config({ method: 'cpt', steps: 2 }), { train: TRAIN });
    await t.run();
    const out = join(tmp, 'written');
    const base = dirModelFiles(join('public/hub', OWNER, 'tiny-llama', 'resolve', REVISION));
    const { mkdirSync } = await import('node:fs');
    mkdirSync(out, { recursive: true });
    await writeFullModel(base, f.model, fp, (name) => fileSink(join(out, name)));
    const ids = [1, 72, 101, 300, 108, 383, 2, 259];
    const [trained] = await forward(f.model, [ids]);
    const { pool, kernels } = await gpuShared();
    const again = await loadModel(await testGpu(), kernels, pool, await openCheckpoint(dirModelFiles(out)), f.config);
    const [reloaded] = await forward(again, [ids]);
    const [orig] = await forward((await loadFixture('tiny-llama')).model, [ids]);
    expect([...reloaded!]).toEqual([...trained!]);
    expect([...orig!]).not.toEqual([...trained!]);
    again.dispose();
    t.dispose();
    fp.dispose();
    f.model.dispose();
  });
});
