// Full-parameter gradients (issue 18 §1, mode: full; train/full-params.ts, grad.ts PassOptions.full): for each
// objective the GPU's gradient of EVERY parameter equals central finite differences of the float64 CPU reference
// loss (referenceForward on the checkpoint's weights, then objectives.ts), on a few entries of every tensor of the
// model: the embedding (rows the batch uses), each projection, every norm weight, the final norm, the lm_head
// (untied) or the tied embedding's two uses summed, q/k/v biases fused and not (tiny-qwen2), q/k norms (tiny-qwen3), Gemma 3's
// sandwich norms stored as 1 + w, its scaled embedding and GeGLU (tiny-gemma3); split tables, several logits
// blocks and unfused projections (tiny-llama under a 6000-byte binding limit); a BF16 base (tiny-llama-bf16: the
// reference reads the decoded BF16 values, the gradient is f32). Then: recomputation gives bit-identical full
// gradients; the refusals (quantised base, LoRA and full at once); the memory plan's full pass ≥ the measured peak.
//
// Entries: per tensor its largest |gradient| entry and PER_TENSOR random ones (the embedding's from the rows of the
// batch's ids, where an untied gradient lives). Error of a tensor: max |GPU − FD| / max |GPU gradient of the
// tensor| (every tensor's gradient must be non-zero: every path is live). Step h = 1e-4 in float64: at the LoRA
// test's 1e-3 the truncation error (∝ h²) of Gemma's embedding, whose rows enter ×√80, was 2.7e-4 of the gradient
// (3e-5 at 3e-4, 6.6e-6 at 1e-4: the GPU's f32 error is below). Measured on SwiftShader (printed): worst tensor
// 6.6e-7 to 6.6e-6 (Gemma), loss ≤ 4.4e-8 relative (DPO/IPO 0: their reference is these weights, loss = log 2);
// held to
//   gradient: 3e-5 (GRAD_TOL) · max |GPU grad| of the tensor;  loss: |GPU − CPU| ≤ 5e-7 · |CPU|.
// DPO is also run with given reference log-probs (ObjectiveOptions.refLogps, what a trainer precomputes), loss ≠ log 2,
// and accumulated over two micro-batches (accumulateStep, each with its own refLogps) against the one batch.
import { afterAll, describe, expect, it } from 'vitest';
import { join } from 'node:path';
import { expectedTensorShapes } from '../../../src/io/config.ts';
import { BufferPool } from '../../../src/engine/gpu/buffer-pool.ts';
import { loadModel } from '../../../src/engine/model/index.ts';
import { lossAndGrads, referenceLogpsOf } from '../../../src/engine/train/grad.ts';
import { createFullParams, fullParamElements, readFullGrads } from '../../../src/engine/train/full-params.ts';
import { accumulateStep } from '../../../src/engine/train/accumulate.ts';
import { planTrainingMemory } from '../../../src/engine/train/memory.ts';
import { createLora } from '../../../src/engine/lora/adapter.ts';
import { dirModelFiles } from '../../../src/io/node/dir-model-files.ts';
import { openCheckpoint } from '../../../src/io/safetensors/checkpoint.ts';
import { OWNER, REVISION } from '../../../scripts/fixtures/index.ts';
import { testGpu, testKernels } from '../../helpers/gpu.ts';
import { gpuShared, maxAbsDiff } from '../model/model-fixtures.ts';
import { asGgml, kQuantLlama } from '../model/quant-fixtures.ts';
import { BATCHES, CASES, checkAgainstFd, disposeFixtures, fixture, GRAD_TOL, gpuFull, LOSS_TOL, seq } from './full-grad-helpers.ts';

afterAll(disposeFixtures);

describe('full-parameter gradients of the whole model against finite differences of the CPU reference', () => {
  for (const c of CASES) {
    for (const method of c.methods) {
      it(`${c.key} · ${method} (${c.what})`, async () => {
        const f = await fixture(c.key, c.name, c.opts);
        if (c.key === 'tiny-llama-split') {
          expect(f.model.embed.chunks.length).toBeGreaterThan(1);
          expect(f.model.lmHead.chunks.length).toBeGreaterThan(1);
          expect(f.model.layers[0]!.qkv).toBeNull();
        }
        const full = createFullParams(f.model);
        try {
          const gpu = await gpuFull(f, full, method);
          const { lossErr, worst, worstName } = checkAgainstFd(f, method, gpu);
          console.log(`${c.key} · ${method}: ${gpu.grads.size} tensors; loss rel err ${lossErr.toExponential(2)}; grads vs FD worst ${worst.toExponential(2)} (${worstName}; tol ${GRAD_TOL})`);
          expect(lossErr).toBeLessThanOrEqual(LOSS_TOL);
          expect(worst).toBeLessThanOrEqual(GRAD_TOL);
        } finally {
          full.dispose();
        }
      });
    }
  }
});

describe('full gradients: DPO with precomputed reference log-probs', () => {
  it('tiny-llama · dpo with refLogps given (TRL precompute_ref_log_probs): no reference forward, the loss moves off log 2', async () => {
    const f = await fixture('tiny-llama', 'tiny-llama');
    const full = createFullParams(f.model);
    try {
      // the model's own reference statistic, shifted: as if the reference were other weights
      const own = await referenceLogpsOf(f.model, 'dpo', BATCHES.dpo);
      const ref = own.map((x, i) => x + (i < own.length / 2 ? 0.3 : -0.4)); // chosen up, rejected down
      const gpu = await gpuFull(f, full, 'dpo', {}, ref);
      expect(Math.abs(gpu.loss - Math.LN2)).toBeGreaterThan(0.01);
      const { lossErr, worst, worstName } = checkAgainstFd(f, 'dpo', gpu, ref);
      console.log(`tiny-llama · dpo, given refLogps: loss ${gpu.loss.toFixed(6)} (rel err ${lossErr.toExponential(2)}); grads vs FD worst ${worst.toExponential(2)} (${worstName})`);
      expect(lossErr).toBeLessThanOrEqual(LOSS_TOL);
      expect(worst).toBeLessThanOrEqual(GRAD_TOL);
    } finally {
      full.dispose();
    }
  });
});

describe('full gradients: accumulation', () => {
  it('tiny-llama · dpo: two micro-batches (accumulateStep, each with its own precomputed refLogps) = one batch', async () => {
    const f = await fixture('tiny-llama', 'tiny-llama');
    const full = createFullParams(f.model);
    try {
      const seqs = BATCHES.dpo; // [chosen 0, chosen 1, rejected 0, rejected 1]
      const ref = (await referenceLogpsOf(f.model, 'dpo', seqs)).map((x, i) => x + (i < 2 ? 0.3 : -0.4));
      const one = await gpuFull(f, full, 'dpo', {}, ref);
      const micro = [[seqs[0]!, seqs[2]!], [seqs[1]!, seqs[3]!]];
      const refs = [[ref[0]!, ref[2]!], [ref[1]!, ref[3]!]];
      const res = await accumulateStep(f.model, null, 'dpo', micro, (a) => ({ beta: 0.5, refLogps: refs[a]! }), (a) => ({ full, clearGrads: a === 0 }));
      const acc = new Map((await readFullGrads(f.model, full)).map((t) => [t.name, new Float32Array((t.data as Uint8Array).slice().buffer)] as const));
      const lossRel = Math.abs(res.loss - one.loss) / one.loss;
      let worst = 0;
      for (const [name, g] of one.grads) {
        const scale = g.data.reduce((m, x) => Math.max(m, Math.abs(x)), 0);
        worst = Math.max(worst, maxAbsDiff(acc.get(name)!, g.data) / scale);
      }
      console.log(`dpo 2 micro-batches vs one batch: loss ${res.loss} vs ${one.loss} (rel ${lossRel.toExponential(2)}); grads max |Δ|/max ${worst.toExponential(2)}`);
      // different paddings and summation orders only: f32 rounding (measured: loss equal, gradients 1.9e-7)
      expect(lossRel).toBeLessThanOrEqual(1e-7);
      expect(worst).toBeLessThanOrEqual(2e-6);
    } finally {
      full.dispose();
    }
  });
});

describe('full gradients: recomputation, parameters, refusals', () => {
  const bits = (m: Map<string, { data: Float32Array }>) => [...m].map(([k, v]) => [k, Array.from(new Uint32Array(v.data.buffer, v.data.byteOffset, v.data.length))] as const);
  for (const [key, name, method] of [
    ['tiny-llama', 'tiny-llama', 'cpt'],
    ['tiny-llama', 'tiny-llama', 'dpo'],
    ['tiny-qwen3', 'tiny-qwen3', 'cpt'],
    ['tiny-gemma3', 'tiny-gemma3', 'orpo'],
  ] as const) {
    it(`${key} · ${method}: recompute = keeping everything, bit for bit`, async () => {
      const f = await fixture(key, name);
      const full = createFullParams(f.model);
      try {
        const keepAll = await gpuFull(f, full, method);
        const re = await gpuFull(f, full, method, { recompute: true });
        expect(re.loss).toBe(keepAll.loss);
        expect(bits(re.grads)).toEqual(bits(keepAll.grads));
        console.log(`${key} · ${method}: loss ${keepAll.loss} both ways; ${re.grads.size} gradient tensors bit-identical`);
      } finally {
        full.dispose();
      }
    });
  }

  it('params: one per storage buffer, parts naming every HF tensor once; a fused group splits back; Gemma norms are plusOne', async () => {
    const f = await fixture('tiny-gemma3', 'tiny-gemma3');
    const full = createFullParams(f.model);
    const names = full.params.flatMap((p) => p.parts.map((x) => x.name));
    expect(new Set(names)).toEqual(new Set(expectedTensorShapes(f.config).keys()));
    const qkv = full.params.find((p) => p.parts.length === 3)!;
    expect(qkv.parts.map((p) => [p.name.split('.').at(-2), p.row0, p.rows])).toEqual([['q_proj', 0, 128], ['k_proj', 128, 64], ['v_proj', 192, 64]]);
    expect(full.params.filter((p) => p.plusOne).map((p) => p.parts[0]!.name.split('.').at(-2))).toContain('post_feedforward_layernorm');
    expect(full.params.every((p) => !!p.plusOne === p.parts[0]!.name.endsWith('norm.weight'))).toBe(true);
    const sorted = (a: number[]) => [...a].sort((x, y) => x - y);
    // the memory plan's count, from the config alone, is the params' (fused and split as loaded)
    expect(sorted(fullParamElements(f.config, 'f32', 1 << 27).map((p) => p.n))).toEqual(sorted(full.params.map((p) => p.n)));
    full.dispose();
    const split = await fixture('tiny-llama-split', 'tiny-llama-untied', { load: { maxBindingBytes: 6000, fuseProjections: false } });
    const fs = createFullParams(split.model);
    const chunks = fs.params.filter((p) => p.parts[0]!.name === 'lm_head.weight');
    expect(chunks.map((p) => p.parts[0]!.tensorRow0)).toEqual(split.model.lmHead.chunks.map((c) => c.rowStart));
    expect(sorted(fullParamElements(split.config, 'f32', 6000).map((p) => p.n))).toEqual(sorted(fs.params.map((p) => p.n)));
    fs.dispose();
  });

  it('refuses a quantised base by tensor and type, and LoRA with full in one pass', async () => {
    const { config: cfg, checkpoint } = kQuantLlama();
    const { pool, kernels } = await gpuShared();
    const q = await loadModel(await testGpu(), kernels, pool, await asGgml(checkpoint, () => 'Q8_0'), cfg);
    try {
      expect(() => createFullParams(q)).toThrow(/tensor "model\.embed_tokens\.weight" is stored as Q8_0 blocks: .*train LoRA \(QLoRA\)/);
    } finally {
      q.dispose();
    }
    const f = await fixture('tiny-llama', 'tiny-llama');
    const full = createFullParams(f.model);
    const lora = createLora(f.model, { r: 2, alpha: 4, targets: ['q_proj'] });
    await expect(lossAndGrads(f.model, lora, 'cpt', BATCHES.cpt, {}, { full })).rejects.toThrow(/LoRA gradients or full gradients, not both/);
    await expect(lossAndGrads(f.model, null, 'cpt', BATCHES.cpt)).rejects.toThrow(/needs a LoRA adapter or full parameters/);
    lora.dispose();
    full.dispose();
  });

  it('memory plan of a full pass (weights, gradients, the pass) ≥ the measured peak, ≤ 1.1× it', async () => {
    const ROWS = Array.from({ length: 2 }, (_, r) => seq(Array.from({ length: 32 }, (_, t) => (t === 0 ? 1 : ((r * 37 + t * 11) % 380) + 3))));
    const f = await fixture('tiny-llama', 'tiny-llama');
    const lines: string[] = [];
    // the third: tables and logits split under a 6000-byte binding (a later logits block's normed rows are copied)
    for (const [recompute, limit] of [[false, undefined], [true, undefined], [false, 6000]] as const) {
      const ctx = await testGpu();
      const pool = new BufferPool(ctx.device);
      const files = dirModelFiles(join('public/hub', OWNER, 'tiny-llama', 'resolve', REVISION));
      const model = await loadModel(ctx, await testKernels(), pool, await openCheckpoint(files), f.config, limit ? { maxBindingBytes: limit } : {});
      const full = createFullParams(model);
      await lossAndGrads(model, null, 'cpt', ROWS, {}, { full, recompute });
      await model.device.queue.onSubmittedWorkDone();
      const peak = pool.stats().peakBytes;
      full.dispose();
      model.dispose();
      pool.destroyAll();
      const plan = planTrainingMemory(f.config, { dtype: 'f32', rows: 2, seqLen: 32, r: 0, targets: [], recompute, method: 'cpt', mode: 'full', optimizer: false, ...(limit ? { maxBindingBytes: limit } : {}) });
      lines.push(`${recompute ? 'recompute' : limit ? 'split    ' : 'keep all '}: measured ${peak} B, plan ${plan.poolTotal} B (gradients ${plan.fullGrads} B), plan/measured ${(plan.poolTotal / peak).toFixed(3)}`);
      expect(plan.poolTotal).toBeGreaterThanOrEqual(peak);
      expect(plan.poolTotal).toBeLessThanOrEqual(1.1 * peak);
    }
    console.log(`tiny-llama full cpt 2×32:\n  ${lines.join('\n  ')}`);
  });
});
