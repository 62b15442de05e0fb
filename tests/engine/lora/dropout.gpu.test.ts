// LoRA dropout (PEFT's lora_dropout, inverted, on the LoRA branch's input only):
//   - the mask kernel (shaders/dropout.wgsl: forward, backward_add, mask) = the CPU reference of the same hash,
//     bit for bit (u32 views), on n = 10 007 (not a multiple of the 256-wide workgroup) for several (p, key);
//   - drop rate: |rate − p| ≤ 5σ, σ = √(p(1−p)/n), n = 2¹⁸ per (p, key) (a false alarm once in ~3.5 million);
//     two module keys agree on p² + (1−p)² of the elements within 5σ (masks of different modules independent);
//   - LoRA gradients with dropout p = 0.3 (CPT and DPO on tiny-llama, r = 2 on q, v, down) = central finite
//     differences of the float64 reference forward whose projection hook adds scale·((x ⊙ mask)·Aᵀ)·Bᵀ with the
//     masks read back from the GPU; tolerances as grad.gpu.test.ts (h = 1e-3; max |GPU − FD| ≤ 3e-5 · max |grad|;
//     loss ≤ 2e-6 rel; measured on SwiftShader: 1.8e-6 and 4e-8);
//   - p = 0 with counters, and p > 0 without counters (evaluation semantics), give gradients bit-identical to the
//     plain path; the same counters twice give bit-identical gradients; another step gives other ones;
//   - the Trainer with lora_dropout 0.2: 4 steps straight and 2 steps + "crash" + resume from the checkpoint store +
//     2 steps give the same loss curve, gradient norms and weights bit for bit (the masks are counters' hashes, so
//     the resumed run draws the same ones), and differ from a run with p = 0.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { readBuffer } from '../../../src/engine/gpu/buffer-pool.ts';
import { clearLoraGrads, createLora, loraFromTensors, readLoraF32, type GpuLora } from '../../../src/engine/lora/adapter.ts';
import { modulePath, type LoraTarget } from '../../../src/engine/lora/targets.ts';
import { dropoutKey, encodeDropout, encodeDropoutBackwardAdd, encodeDropoutMask } from '../../../src/engine/ops/dropout.ts';
import { dropoutMaskRef, dropoutRef } from '../../../src/engine/reference/dropout.ts';
import { referenceForward } from '../../../src/engine/reference/forward.ts';
import { createRng } from '../../../src/engine/model/sampling.ts';
import { lossAndGrads, type PassOptions } from '../../../src/engine/train/grad.ts';
import { computeObjective, completionLogps, gatherLogp, objectiveTargets } from '../../../src/engine/train/objectives.ts';
import type { Method, Sequence } from '../../../src/common/training-data.ts';
import { TrainControl, Trainer, trainConfig } from '../../../src/engine/train/trainer.ts';
import { dirCheckpointStore } from '../../../src/io/node/checkpoint-dir.ts';
import { randomArray } from '../../helpers/gpu.ts';
import { gpuShared, loadFixture, type Fixture } from '../model/model-fixtures.ts';
import { randomAdapter } from './lora-helpers.ts';

let f: Fixture;
beforeAll(async () => {
  f = await loadFixture('tiny-llama');
});
afterAll(async () => {
  f.model.dispose();
  (await gpuShared()).pool.destroyAll();
});

const bits = (a: Float32Array) => Array.from(new Uint32Array(a.buffer, a.byteOffset, a.length));

async function runKernel(entry: 'forward' | 'backward_add' | 'mask', n: number, p: number, key: number, x: Float32Array, acc: Float32Array): Promise<Float32Array> {
  const { pool, kernels } = f.model;
  const xb = pool.upload(x, 'x');
  const out = pool.upload(acc, 'out');
  const enc = f.model.device.createCommandEncoder();
  if (entry === 'forward') await encodeDropout(kernels, enc, xb, out, { n, p, key });
  else if (entry === 'backward_add') await encodeDropoutBackwardAdd(kernels, enc, xb, out, { n, p, key });
  else await encodeDropoutMask(kernels, enc, out, { n, p, key });
  f.model.device.queue.submit([enc.finish()]);
  const got = new Float32Array(await readBuffer(f.model.device, out, n * 4));
  pool.release(xb);
  pool.release(out);
  return got;
}

describe('dropout mask kernel', () => {
  it('forward, backward_add and mask = CPU reference of the same hash, bit for bit', async () => {
    const n = 10_007;
    const x = randomArray(n, 11);
    const acc = randomArray(n, 12);
    for (const [p, key] of [
      [0.1, dropoutKey(0, 1, 0, 0)],
      [0.5, dropoutKey(42, 7, 3, 5)],
      [0.05, dropoutKey(123456789, 1000, 1, 41)],
      [0.9, 0xffffffff],
    ] as const) {
      const mask = dropoutMaskRef(n, p, key);
      expect(bits(await runKernel('mask', n, p, key, x, new Float32Array(n)))).toEqual(bits(mask));
      expect(bits(await runKernel('forward', n, p, key, x, new Float32Array(n)))).toEqual(bits(dropoutRef(x, p, key)));
      const want = acc.map((a, i) => (mask[i] === 0 ? a : Math.fround(a + Math.fround(x[i]! * mask[i]!))));
      expect(bits(await runKernel('backward_add', n, p, key, x, acc))).toEqual(bits(want));
    }
  });

  it('drop rate ≈ p (5σ), masks of different modules independent (5σ)', async () => {
    const n = 1 << 18;
    for (const p of [0.05, 0.1, 0.3, 0.5]) {
      const sigma = Math.sqrt((p * (1 - p)) / n);
      const masks = [0, 1, 2].map((module) => dropoutMaskRef(n, p, dropoutKey(7, 3, 0, module)));
      const gpu = await runKernel('mask', n, p, dropoutKey(7, 3, 0, 0), new Float32Array(n), new Float32Array(n));
      expect(bits(gpu)).toEqual(bits(masks[0]!));
      for (const m of masks) {
        const rate = m.reduce((s, v) => s + (v === 0 ? 1 : 0), 0) / n;
        expect(Math.abs(rate - p)).toBeLessThanOrEqual(5 * sigma);
      }
      const agreeP = p * p + (1 - p) * (1 - p);
      const agree = masks[0]!.reduce((s, v, i) => s + ((v === 0) === (masks[1]![i] === 0) ? 1 : 0), 0) / n;
      expect(Math.abs(agree - agreeP)).toBeLessThanOrEqual(5 * Math.sqrt((agreeP * (1 - agreeP)) / n));
      console.log(`p ${p}: drop rates ${masks.map((m) => (m.reduce((s, v) => s + (v === 0 ? 1 : 0), 0) / n).toFixed(5)).join(' ')} (5σ = ${(5 * sigma).toExponential(2)}); module 0/1 agree ${agree.toFixed(5)} vs ${agreeP.toFixed(5)}`);
    }
  });
});

const TARGETS: LoraTarget[] = ['q_proj', 'v_proj', 'down_proj'];
const R = 2;
const ALPHA = 4;
const P = 0.3;
const seq = (ids: number[], promptLen = 0): Sequence => ({ ids, promptLen });
const BATCHES: Partial<Record<Method, Sequence[]>> = {
  cpt: [seq([1, 72, 101, 300, 108, 383, 2, 259, 5, 44]), seq([1, 17, 250, 3, 9, 77, 12])],
  dpo: [seq([1, 50, 60, 70, 80, 2], 3), seq([1, 90, 91, 92, 2], 2), seq([1, 50, 60, 33, 34, 35, 2], 3), seq([1, 90, 7, 2], 2)],
};
const AT = { seed: 5, step: 3, micro: 1 };

function adapterWith(p: number, seed = 500): { lora: GpuLora; ad: ReturnType<typeof randomAdapter> } {
  const ad = randomAdapter(f.config, TARGETS, R, ALPHA, seed);
  const lora = loraFromTensors(f.model, { r: R, loraAlpha: ALPHA, useRslora: false, targetModules: null, loraDropout: p }, ad.tensors);
  return { lora, ad };
}

async function grads(lora: GpuLora, method: Method, pass: PassOptions): Promise<{ loss: number; g: Map<string, Float32Array> }> {
  clearLoraGrads(f.model, lora);
  const r = await lossAndGrads(f.model, lora, method, BATCHES[method]!, { beta: 0.5 }, pass);
  const g = new Map([...(await readLoraF32(f.model, lora, 'grads'))].map(([k, v]) => [k, v.data]));
  return { loss: r.loss, g };
}

const sameBits = (a: Map<string, Float32Array>, b: Map<string, Float32Array>) => {
  expect([...a.keys()]).toEqual([...b.keys()]);
  for (const [k, v] of a) expect(bits(v), k).toEqual(bits(b.get(k)!));
};

describe('LoRA dropout in the training pass', () => {
  for (const method of ['cpt', 'dpo'] as Method[]) {
    it(`${method}: gradients with p = ${P} = finite differences of the reference with the GPU's masks`, async () => {
      const cfg = f.config;
      const V = cfg.vocabSize;
      const seqs = BATCHES[method]!;
      const { lora, ad } = adapterWith(P);
      const gpu = await grads(lora, method, { dropout: AT });

      // The masks, read back from the GPU: [B·Tpad, in] per module, rows as lossAndGrads pads them.
      const Tpad = Math.max(...seqs.map((s) => s.ids.length));
      const masks = new Map<string, Float32Array>();
      for (const m of lora.modules) {
        const n = seqs.length * Tpad * m.inF;
        const buf = f.model.pool.alloc(n * 4, 'mask');
        const enc = f.model.device.createCommandEncoder();
        await encodeDropoutMask(f.model.kernels, enc, buf, { n, p: P, key: dropoutKey(AT.seed, AT.step, AT.micro, m.index) });
        f.model.device.queue.submit([enc.finish()]);
        masks.set(m.path, new Float32Array(await readBuffer(f.model.device, buf, n * 4)));
        f.model.pool.release(buf);
      }
      const dropped = [...masks.values()].reduce((s, m) => s + m.filter((v) => v === 0).length, 0) / [...masks.values()].reduce((s, m) => s + m.length, 0);
      expect(Math.abs(dropped - P)).toBeLessThan(0.05);

      const a64 = new Map([...ad.tensors].map(([p, t]) => [p, Float64Array.from(t.a)]));
      const b64 = new Map([...ad.tensors].map(([p, t]) => [p, Float64Array.from(t.b)]));
      const base = (n: string) => f.weights.get(n)!;
      const targets = objectiveTargets(method, seqs);
      const logps = (withLora: boolean) =>
        seqs.map((s, b) => {
          const hook = (path: string, x: Float64Array, T: number, y: Float64Array) => {
            const a = a64.get(path);
            if (!withLora || !a) return;
            const bm = b64.get(path)!;
            const mask = masks.get(path)!;
            const inF = a.length / R;
            const outF = bm.length / R;
            for (let t = 0; t < T; t++) {
              const xa = new Float64Array(R);
              for (let k = 0; k < R; k++) {
                let acc = 0;
                for (let i = 0; i < inF; i++) acc += x[t * inF + i]! * mask[(b * Tpad + t) * inF + i]! * a[k * inF + i]!;
                xa[k] = acc;
              }
              for (let o = 0; o < outF; o++) {
                let acc = 0;
                for (let k = 0; k < R; k++) acc += xa[k]! * bm[o * R + k]!;
                y[t * outF + o] = y[t * outF + o]! + ad.scale * acc;
              }
            }
          };
          return gatherLogp(referenceForward(cfg, base, s.ids, hook), V, targets[b]!);
        });
      const refLogps = method === 'dpo' ? completionLogps(seqs, logps(false)) : undefined;
      const cpuLoss = () => computeObjective(method, seqs, logps(true), { beta: 0.5, refLogps }).loss;
      const want = cpuLoss();
      const lossErr = Math.abs(gpu.loss - want) / Math.abs(want);
      expect(lossErr).toBeLessThanOrEqual(2e-6);

      const rand = createRng(7);
      const H = 1e-3;
      let worst = 0;
      for (let l = 0; l < cfg.numLayers; l++) {
        for (const t of TARGETS) {
          const path = modulePath(l, t);
          for (const half of ['A', 'B'] as const) {
            const arr = (half === 'A' ? a64 : b64).get(path)!;
            const g = gpu.g.get(`base_model.model.${path}.lora_${half}.weight`)!;
            const scale = Math.max(...g.map(Math.abs));
            expect(scale).toBeGreaterThan(0);
            let err = 0;
            for (let n = 0; n < 12; n++) {
              const i = Math.floor(rand() * arr.length);
              const keepV = arr[i]!;
              arr[i] = keepV + H;
              const up = cpuLoss();
              arr[i] = keepV - H;
              const down = cpuLoss();
              arr[i] = keepV;
              err = Math.max(err, Math.abs((up - down) / (2 * H) - g[i]!));
            }
            worst = Math.max(worst, err / scale);
          }
        }
      }
      console.log(`tiny-llama · ${method} · dropout ${P}: ${(dropped * 100).toFixed(1)}% dropped; loss GPU ${gpu.loss.toFixed(6)} vs CPU ${want.toFixed(6)} (rel ${lossErr.toExponential(2)}); grads vs FD max rel err ${worst.toExponential(2)} (tol 3e-5)`);
      expect(worst).toBeLessThanOrEqual(3e-5);
      lora.dispose();
    });
  }

  it('p = 0 (and p > 0 without counters) is the plain path bit for bit; same counters, same gradients; another step, others', async () => {
    const plainL = adapterWith(0);
    const plain = await grads(plainL.lora, 'cpt', {});
    const zero = await grads(plainL.lora, 'cpt', { dropout: AT });
    expect(zero.loss).toBe(plain.loss);
    sameBits(zero.g, plain.g);
    const dropL = adapterWith(P);
    const evalLike = await grads(dropL.lora, 'cpt', {});
    expect(evalLike.loss).toBe(plain.loss);
    sameBits(evalLike.g, plain.g);
    const one = await grads(dropL.lora, 'cpt', { dropout: AT });
    const two = await grads(dropL.lora, 'cpt', { dropout: { ...AT } });
    expect(two.loss).toBe(one.loss);
    sameBits(two.g, one.g);
    expect(one.loss).not.toBe(plain.loss);
    const other = await grads(dropL.lora, 'cpt', { dropout: { ...AT, step: AT.step + 1 } });
    expect(other.loss).not.toBe(one.loss);
    plainL.lora.dispose();
    dropL.lora.dispose();
  });

  it('Trainer with lora_dropout 0.2: 4 steps straight = 2 steps + crash + resume + 2 steps, bit for bit; ≠ p = 0', async () => {
    const rows = [
      seq([1, 40, 7, 9, 300, 5, 17, 2], 4),
      seq([1, 99, 3, 8, 17, 18, 19, 2], 4),
      seq([1, 12, 13, 14, 50, 60, 70, 2], 4),
      seq([1, 21, 22, 23, 80, 81, 82, 2], 4),
    ];
    const tmp = mkdtempSync(join(tmpdir(), 'alloy-dropout-'));
    const cfg = (steps: number) => trainConfig({ method: 'sft', steps, microBatch: 2, accum: 2, lr: 1e-2, warmupSteps: 0, seed: 9, checkpointEvery: 2 });
    const fresh = (p: number, seed = 3) => createLora(f.model, { r: 4, alpha: 8, targets: TARGETS, seed, dropout: p });
    const params = async (lora: GpuLora) => [...(await readLoraF32(f.model, lora, 'params')).values()].flatMap((x) => bits(x.data));
    try {
      const loraA = fresh(0.2);
      const straight = new Trainer(f.model, loraA, cfg(4), { train: rows }, { store: dirCheckpointStore(join(tmp, 'straight')) });
      const a = await straight.run();
      const paramsA = await params(loraA);
      straight.dispose();
      loraA.dispose();

      const control = new TrainControl();
      const loraB = fresh(0.2);
      const store = () => dirCheckpointStore(join(tmp, 'crashed'));
      const first = new Trainer(f.model, loraB, cfg(4), { train: rows }, { store: store(), onEvent: (e) => e.type === 'step' && e.step === 2 && control.cancel() });
      expect((await first.run(control)).status).toBe('cancelled');
      first.dispose();
      loraB.dispose();
      const loraC = fresh(0.2, 99);
      const second = new Trainer(f.model, loraC, cfg(4), { train: rows }, { store: store() });
      expect(await second.restore()).toBe(2);
      const b = await second.run();
      const paramsC = await params(loraC);
      second.dispose();
      loraC.dispose();

      const loraN = fresh(0);
      const none = new Trainer(f.model, loraN, cfg(2), { train: rows }, { store: dirCheckpointStore(join(tmp, 'none')) });
      const n = await none.run();
      const paramsN = await params(loraN);
      none.dispose();
      loraN.dispose();

      const la = a.history.map((e) => e.loss);
      console.log(`Trainer losses, dropout 0.2: ${la.map((x) => x.toFixed(6)).join(' ')}; resumed: ${b.history.map((e) => e.loss.toFixed(6)).join(' ')}; p = 0: ${n.history.map((e) => e.loss.toFixed(6)).join(' ')}`);
      expect(b.history.map((e) => e.loss)).toEqual(la);
      expect(b.history.map((e) => e.gradNorm)).toEqual(a.history.map((e) => e.gradNorm));
      expect(paramsC).toEqual(paramsA);
      // B starts at 0, so step 1's loss is the base model's either way; the gradients (through B) differ.
      expect(n.history[0]!.loss).toBe(la[0]);
      expect(n.history[0]!.gradNorm).not.toBe(a.history[0]!.gradNorm);
      expect(paramsN).not.toEqual(paramsA);
    } finally {
      rmSync(tmp, { recursive: true, force: true });
    }
  });
});
