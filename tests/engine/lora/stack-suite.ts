// Stacked LoRA groups (lora/adapter.ts: q, k, v's and gate, up's A in one buffer a layer, their down-projections
// one batched product, their dA one batched product) against the same adapter built unstacked (every module a
// group of its own, the layout before stacking): the xa blocks and outputs of one group's forward, whole-model
// logits, and the gradients of a CPT and a DPO pass (with rsLoRA, and with LoRA dropout, where each member keeps its
// own mask and product). Run by stack.gpu.test.ts (the software kernel family) and stack-hardware.gpu.test.ts
// (ALLOY_KERNELS=hardware).
//
// Per member each product is the one the module runs alone, same kernel, same shape, same summation order, so the
// results are expected bit for bit; `tol` bounds what a family may differ by where that does not hold (the
// hardware family's dA over a long K: split-K serves a lone r × in product but not a batch of them).
import { afterAll, describe, expect, it } from 'vitest';
import { readBuffer } from '../../../src/engine/gpu/buffer-pool.ts';
import { clearLoraGrads, encodeLoraGroupForward, groupStride, loraFromTensors, readLoraF32, xaBlocks, type GpuLora } from '../../../src/engine/lora/adapter.ts';
import { LORA_TARGETS } from '../../../src/engine/lora/targets.ts';
import { forward, generate } from '../../../src/engine/model/index.ts';
import { lossAndGrads, type PassOptions } from '../../../src/engine/train/grad.ts';
import type { Method, Sequence } from '../../../src/common/training-data.ts';
import type { KernelFamily } from '../../../src/engine/kernel-family.ts';
import { randomArray } from '../../helpers/gpu.ts';
import { gpuShared, loadFixture, maxAbsDiff, SEQ, type Fixture } from '../model/model-fixtures.ts';
import { randomAdapter } from './lora-helpers.ts';
import { loraFdError } from '../model/arch-checks.ts';

const seq = (ids: number[], promptLen = 0): Sequence => ({ ids, promptLen });
const BATCHES: Record<'cpt' | 'dpo', Sequence[]> = {
  cpt: [seq([1, 72, 101, 300, 108, 383, 2, 259, 5, 44]), seq([1, 17, 250, 3, 9, 77, 12])],
  dpo: [seq([1, 50, 60, 70, 80, 2], 3), seq([1, 90, 91, 92, 2], 2), seq([1, 50, 60, 33, 34, 35, 2], 3), seq([1, 90, 7, 2], 2)],
};
/** 4 × 64 tokens: K = 256 for dA, where the hardware family splits a lone product's K (matmul-hw.ts hwSplitK) */
const LONG: Sequence[] = Array.from({ length: 4 }, (_, b) => seq(Array.from({ length: 64 }, (_, t) => (b * 131 + t * 7919 + 13) % 384)));

/** Largest |a − b| / max|b| over every tensor of two gradient maps (0 when bit-identical). */
function relDiff(a: Map<string, Float32Array>, b: Map<string, Float32Array>): { rel: number; identical: boolean } {
  expect([...a.keys()]).toEqual([...b.keys()]);
  let rel = 0;
  let identical = true;
  for (const [k, v] of a) {
    const w = b.get(k)!;
    const scale = Math.max(1e-30, ...w.map(Math.abs));
    rel = Math.max(rel, maxAbsDiff(v, w) / scale);
    identical &&= Buffer.from(v.buffer, v.byteOffset, v.byteLength).equals(Buffer.from(w.buffer, w.byteOffset, w.byteLength));
  }
  return { rel, identical };
}

/**
 * `exact`: the cases this family must reproduce bit for bit; `tol`: the relative bound (of the largest element of
 * each tensor) elsewhere.
 */
export function stackSuite(family: KernelFamily, tol: number): void {
  const loaded: Fixture[] = [];
  const adapters: GpuLora[] = [];
  afterAll(async () => {
    for (const l of adapters) l.dispose();
    for (const f of loaded) f.model.dispose();
    (await gpuShared()).pool.destroyAll();
  });
  const fixture = async (name: string) => {
    const found = loaded.find((f) => f.name === name);
    if (found) return found;
    const f = await loadFixture(name);
    loaded.push(f);
    expect(f.model.kernels.family).toBe(family);
    return f;
  };
  /** the same random adapter stacked and unstacked */
  const pair = (f: Fixture, r: number, opts: { rslora?: boolean; dropout?: number; seed?: number } = {}) => {
    const ad = randomAdapter(f.config, [...LORA_TARGETS], r, 2 * r, opts.seed ?? 300);
    const config = { r, loraAlpha: 2 * r, useRslora: opts.rslora ?? false, targetModules: null, loraDropout: opts.dropout ?? 0 };
    const stacked = loraFromTensors(f.model, config, ad.tensors);
    const apart = loraFromTensors(f.model, config, ad.tensors, { stack: false });
    adapters.push(stacked, apart);
    return { ad, stacked, apart };
  };
  const grads = async (f: Fixture, lora: GpuLora, method: Method, seqs: Sequence[], pass: PassOptions = {}) => {
    clearLoraGrads(f.model, lora);
    const r = await lossAndGrads(f.model, lora, method, seqs, { beta: 0.5 }, pass);
    return { loss: r.loss, g: new Map([...(await readLoraF32(f.model, lora, 'grads'))].map(([k, v]) => [k, v.data])) };
  };

  describe(`stacked LoRA groups = the unstacked adapter (${family} kernels)`, () => {
    // tiny-gemma3 (C = 80): r·C = 160 floats, so A's member blocks sit 192 floats apart (256-byte binding offsets)
    for (const [name, r] of [['tiny-llama', 4], ['tiny-gemma3', 2]] as const) {
      it(`${name}, r ${r}: layout, PEFT tensors unchanged, one group's xa and outputs`, async () => {
        const f = await fixture(name);
        const { ad, stacked, apart } = pair(f, r);
        expect(stacked.groups.filter((g) => g.layer === 0).map((g) => g.members.map((m) => m.proj))).toEqual([['q', 'k', 'v'], ['o'], ['gate', 'up'], ['down']]);
        expect(apart.groups.every((g) => g.members.length === 1)).toBe(true);
        expect(stacked.modules.map((m) => [m.path, m.index])).toEqual(apart.modules.map((m) => [m.path, m.index]));
        const C = f.config.hiddenSize;
        const k = stacked.get(0, 'k')!;
        expect(k.a.offset).toBe(groupStride(r * C, 3) * 4);
        // the PEFT tensors read back from the stacked buffers: the loaded values, bit for bit, PEFT's shapes
        for (const lora of [stacked, apart]) {
          const params = await readLoraF32(f.model, lora, 'params');
          for (const [path, t] of ad.tensors) {
            expect(params.get(`base_model.model.${path}.lora_A.weight`)!.shape).toEqual([r, t.a.length / r]);
            expect(params.get(`base_model.model.${path}.lora_A.weight`)!.data).toEqual(t.a);
            expect(params.get(`base_model.model.${path}.lora_B.weight`)!.data).toEqual(t.b);
          }
        }
        // layer 0's q|k|v: one group's forward against the three groups of one, on the same x and y; one row is
        // decode's mat-vec form (hardware: hw_matvec; software: the 4×4 kernel's row blocks), 13 the tiled one
        for (const rows of [1, 13]) {
          const x = f.model.pool.upload(randomArray(rows * C, 7), 'x');
          const outs = (['q', 'k', 'v'] as const).map((key, i) => randomArray(rows * stacked.get(0, key)!.outF, 20 + i));
          const run = async (lora: GpuLora) => {
            const ys = outs.map((o) => f.model.pool.upload(o, 'y'));
            // a binding WebGPU refuses (a range shorter than its kernel's array element) drops the whole command
            // buffer with only an uncaptured error: caught here
            f.model.device.pushErrorScope('validation');
            const enc = f.model.device.createCommandEncoder();
            const groups = [...new Set((['q', 'k', 'v'] as const).map((key) => lora.get(0, key)!.group))];
            const xas = [];
            for (const g of groups) xas.push({ g, xa: await encodeLoraGroupForward(f.model, enc, lora, g, x, g.members.map((m) => ys[['q', 'k', 'v'].indexOf(m.proj)]!), rows) });
            f.model.device.queue.submit([enc.finish()]);
            expect((await f.model.device.popErrorScope())?.message).toBeUndefined();
            const xa: Float32Array[] = [];
            for (const { g, xa: buf } of xas) for (const b of xaBlocks(g, buf, rows, r)) xa.push(new Float32Array(await readBuffer(f.model.device, b, rows * r * 4)));
            const y = await Promise.all(ys.map(async (b, i) => new Float32Array(await readBuffer(f.model.device, b, outs[i]!.length * 4))));
            for (const b of [...ys, ...xas.map((e) => e.xa)]) f.model.pool.release(b);
            return { xa, y };
          };
          const a = await run(stacked);
          const b = await run(apart);
          f.model.pool.release(x);
          const xaErr = Math.max(...a.xa.map((v, i) => maxAbsDiff(v, b.xa[i]!)));
          const yErr = Math.max(...a.y.map((v, i) => maxAbsDiff(v, b.y[i]!)));
          console.log(`${family} ${name} r ${r}, ${rows} rows: q|k|v group vs apart: xa max|Δ| ${xaErr.toExponential(2)}, outputs max|Δ| ${yErr.toExponential(2)}`);
          expect(a.xa).toEqual(b.xa);
          expect(a.y).toEqual(b.y);
        }
      });

      it(`${name}, r ${r}: logits and CPT/DPO gradients (rsLoRA on DPO) bit for bit`, async () => {
        const f = await fixture(name);
        const { stacked, apart } = pair(f, r);
        const [la] = await forward(f.model, [SEQ], { lora: stacked });
        const [lb] = await forward(f.model, [SEQ], { lora: apart });
        console.log(`${family} ${name}: logits stacked vs apart max|Δ| ${maxAbsDiff(la!, lb!).toExponential(2)}`);
        expect(la).toEqual(lb);
        // KV-cache decode (one row a step), sampled with log-probs so that any difference in the logits shows
        const gen = (lora: GpuLora) => generate(f.model, SEQ.slice(0, 5), { maxTokens: 6, temperature: 0.9, seed: 3, logProbs: true, eosTokenIds: [], lora });
        f.model.device.pushErrorScope('validation');
        const [da, db] = [await gen(stacked), await gen(apart)];
        expect((await f.model.device.popErrorScope())?.message).toBeUndefined();
        console.log(`${family} ${name}: decoded ${da.tokens.join(' ')} vs ${db.tokens.join(' ')}`);
        expect(da).toEqual(db);
        for (const method of ['cpt', 'dpo'] as const) {
          const p = method === 'dpo' ? pair(f, r, { rslora: true, seed: 900 }) : { stacked, apart };
          const ga = await grads(f, p.stacked, method, BATCHES[method]);
          const gb = await grads(f, p.apart, method, BATCHES[method]);
          const d = relDiff(ga.g, gb.g);
          console.log(`${family} ${name} ${method}: loss ${ga.loss} vs ${gb.loss}; grads max rel diff ${d.rel.toExponential(2)}, identical ${d.identical}`);
          expect(ga.loss).toBe(gb.loss);
          expect(d.identical).toBe(true);
        }
      });
    }

    it('tiny-llama: LoRA dropout 0.3 (each member its own mask and products): gradients bit for bit', async () => {
      const f = await fixture('tiny-llama');
      const { stacked, apart } = pair(f, 4, { dropout: 0.3, seed: 40 });
      const pass = { dropout: { seed: 5, step: 3, micro: 1 } };
      const ga = await grads(f, stacked, 'cpt', BATCHES.cpt, pass);
      const gb = await grads(f, apart, 'cpt', BATCHES.cpt, pass);
      const nodrop = await grads(f, stacked, 'cpt', BATCHES.cpt);
      const d = relDiff(ga.g, gb.g);
      console.log(`${family} dropout 0.3: loss ${ga.loss} vs ${gb.loss} (no dropout ${nodrop.loss}); grads max rel diff ${d.rel.toExponential(2)}, identical ${d.identical}`);
      expect(ga.loss).toBe(gb.loss);
      expect(ga.loss).not.toBe(nodrop.loss);
      expect(d.identical).toBe(true);
    });

    it('tiny-llama with q, k, v and gate, up unfused (fuseProjections: false): stacked = apart, and gradients vs finite differences', async () => {
      const f = await loadFixture('tiny-llama', { load: { fuseProjections: false } });
      loaded.push(f);
      expect(f.model.layers[0]!.qkv).toBeFalsy();
      const { stacked, apart } = pair(f, 4, { seed: 61 });
      const [la] = await forward(f.model, [SEQ], { lora: stacked });
      const [lb] = await forward(f.model, [SEQ], { lora: apart });
      expect(la).toEqual(lb);
      const ga = await grads(f, stacked, 'cpt', BATCHES.cpt);
      const gb = await grads(f, apart, 'cpt', BATCHES.cpt);
      const d = relDiff(ga.g, gb.g);
      expect(ga.loss).toBe(gb.loss);
      expect(d.identical).toBe(true);
      const { lossErr, gradErr } = await loraFdError(f, 'cpt', [...LORA_TARGETS], { seed: 3 });
      console.log(`${family} unfused: stacked vs apart identical ${d.identical}; loss rel err ${lossErr.toExponential(2)}, grads vs FD max rel err ${gradErr.toExponential(2)} (tol 3e-5)`);
      expect(lossErr).toBeLessThanOrEqual(2e-6);
      expect(gradErr).toBeLessThanOrEqual(3e-5);
    });

    it(`tiny-llama: 4 × 64 tokens, recomputation on: gradients within ${tol} (relative to each tensor's largest)`, async () => {
      const f = await fixture('tiny-llama');
      const { stacked, apart } = pair(f, 4, { seed: 77 });
      const ga = await grads(f, stacked, 'cpt', LONG, { recompute: true });
      const gb = await grads(f, apart, 'cpt', LONG, { recompute: true });
      const d = relDiff(ga.g, gb.g);
      console.log(`${family} 4×64 tokens: loss ${ga.loss} vs ${gb.loss}; grads max rel diff ${d.rel.toExponential(2)}, identical ${d.identical}`);
      expect(ga.loss).toBe(gb.loss);
      expect(d.rel).toBeLessThanOrEqual(tol);
      if (tol === 0) expect(d.identical).toBe(true);
    });
  });
}
