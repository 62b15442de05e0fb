// Gemma 3 text (tiny-gemma3: a sliding layer with the local RoPE base and a global one, (1 + w) RMSNorms with the
// sandwich norms, q/k norms, GeGLU with the tanh GELU, embeddings × √hidden, query_pre_attn_scalar 24 ≠ head_dim 32)
// end to end on the GPU: logits against the float64 reference (written from modeling_gemma3.py, which applies
// 1 + w itself where the GPU stores it folded), with each Gemma-specific op shown to matter; KV-cache decoding of
// ragged rows against each row's full forward; LoRA gradients on all seven projections (through the sandwich norms'
// and GeGLU's backward, the windowed attention and the local RoPE) against finite differences; memory plans
// against the pool's measured peak. Tolerances as in qwen3.gpu.test.ts.
import { afterAll, describe, expect, it } from 'vitest';
import { join } from 'node:path';
import { BufferPool } from '../../../src/engine/gpu/buffer-pool.ts';
import { createLora } from '../../../src/engine/lora/adapter.ts';
import type { LoraTarget } from '../../../src/engine/lora/targets.ts';
import { forward, loadModel, planInferenceMemory, prefill } from '../../../src/engine/model/index.ts';
import { referenceForward } from '../../../src/engine/reference/forward.ts';
import { planTrainingMemory } from '../../../src/engine/train/memory.ts';
import type { Method, Sequence } from '../../../src/engine/train/objectives.ts';
import { Trainer, trainConfig } from '../../../src/engine/train/trainer.ts';
import { embeddingScale, type ModelConfig } from '../../../src/io/config.ts';
import { dirModelFiles } from '../../../src/io/node/dir-model-files.ts';
import { openCheckpoint } from '../../../src/io/safetensors/checkpoint.ts';
import { OWNER, REVISION } from '../../../scripts/fixtures/index.ts';
import { testGpu, testKernels } from '../../helpers/gpu.ts';
import { decodeError, logitsError, loraFdError } from './arch-checks.ts';
import { describeMemoryPlans } from './memory-plan-suite.ts';
import { gpuShared, gpuVsGpuTolerance, loadFixture, maxAbsDiff, SEQ, type Fixture } from './model-fixtures.ts';

const NAME = 'tiny-gemma3';
let fixture: Promise<Fixture> | undefined;
const get = () => (fixture ??= loadFixture(NAME));

afterAll(async () => {
  if (fixture) (await fixture).model.dispose();
  (await gpuShared()).pool.destroyAll();
});

const ALL: LoraTarget[] = ['q_proj', 'k_proj', 'v_proj', 'o_proj', 'gate_proj', 'up_proj', 'down_proj'];

describe('tiny-gemma3', () => {
  it('parses as Gemma 3 text with per-layer windows, local RoPE base and its scales', async () => {
    const f = await get();
    expect(f.config).toMatchObject({
      family: 'gemma3',
      architecture: 'Gemma3ForCausalLM',
      hiddenAct: 'gelu_tanh',
      normPlusOne: true,
      sandwichNorms: true,
      scaleEmbedding: true,
      qkNorm: true,
      queryPreAttnScalar: 24,
      localRopeTheta: 10000,
      ropeTheta: 1e6,
      layerWindows: [4, 0],
      tieWordEmbeddings: true,
    });
    expect(f.model.embedScale).toBe(Math.fround(Math.sqrt(80)));
    // transformers' own example: √3072 = 55.4256 becomes 55.5 in bfloat16; gemma-3-270m's √640 becomes 25.25
    expect(embeddingScale(3072, 'bf16')).toBe(55.5);
    expect(embeddingScale(640, 'bf16')).toBe(25.25);
  });

  it('logits against the float64 reference: max |Δ| ≤ 1e-5, and every Gemma op moves the reference', async () => {
    const f = await get();
    const { err, scale } = await logitsError(f);
    const want = f.reference(SEQ);
    const moved = (over: Partial<ModelConfig>) => maxAbsDiff(referenceForward({ ...f.config, ...over }, (n) => f.weights.get(n)!, SEQ), want);
    const effects = {
      '1+w': moved({ normPlusOne: false }),
      embedScale: moved({ scaleEmbedding: false }),
      attnScale: moved({ queryPreAttnScalar: null }),
      localRope: moved({ localRopeTheta: null }),
      window: moved({ layerWindows: [0, 0] }),
      gelu: moved({ hiddenAct: 'silu' }),
    };
    console.log(`${NAME}: max|Δlogit| = ${err.toExponential(2)} (max |logit| ${scale.toFixed(3)}); each op's effect on the reference: ${Object.entries(effects).map(([k, v]) => `${k} ${v.toExponential(2)}`).join(', ')}`);
    expect(err).toBeLessThanOrEqual(1e-5);
    for (const v of Object.values(effects)) expect(v).toBeGreaterThan(1e-3);
  });

  it('BF16 weights with torch_dtype bfloat16: the embedding scale is √80 in bfloat16 (8.9375), logits ≤ 1e-5', async () => {
    const f = await loadFixture(NAME, { bf16: true, configOverrides: { torch_dtype: 'bfloat16' } });
    try {
      expect(f.model.embedScale).toBe(8.9375);
      const { err } = await logitsError(f);
      // the f32 scale (8.944…) instead would move the reference by far more than the tolerance
      const f32Scale = maxAbsDiff(referenceForward({ ...f.config, torchDtype: 'float32' }, (n) => f.weights.get(n)!, SEQ), f.reference(SEQ));
      console.log(`${NAME} bf16: max|Δlogit| = ${err.toExponential(2)}; the f32 scale would move the reference ${f32Scale.toExponential(2)}`);
      expect(err).toBeLessThanOrEqual(1e-5);
      expect(f32Scale).toBeGreaterThan(1e-3);
    } finally {
      f.model.dispose();
    }
  });

  it('attn_logit_softcapping 0.5 (set by hand: Gemma 3 leaves it null): logits, KV decode and SFT gradients', async () => {
    const f = await loadFixture(NAME, { configOverrides: { attn_logit_softcapping: 0.5 } });
    try {
      const { err } = await logitsError(f);
      const dec = await decodeError(f);
      const { lossErr, gradErr } = await loraFdError(f, 'sft', ALL, { seed: 43, h: 1e-4 });
      const moved = maxAbsDiff(f.reference(SEQ), (await get()).reference(SEQ));
      console.log(`${NAME} soft-capped attention (moves the reference ${moved.toExponential(2)}): logits ${err.toExponential(2)}, decode ${dec.err.toExponential(2)}, SFT loss ${lossErr.toExponential(2)}, grads ${gradErr.toExponential(2)}`);
      expect(moved).toBeGreaterThan(1e-2);
      expect(err).toBeLessThanOrEqual(1e-5);
      expect(dec.err).toBeLessThanOrEqual(gpuVsGpuTolerance(f.model));
      expect(lossErr).toBeLessThanOrEqual(2e-6);
      expect(gradErr).toBeLessThanOrEqual(3e-5);
    } finally {
      f.model.dispose();
    }
  });

  it('final_logit_softcapping 3 (set by hand): logits, KV decode, CPT and DPO gradients through the capped logits', async () => {
    const f = await loadFixture(NAME, { configOverrides: { final_logit_softcapping: 3 } });
    try {
      const { err, scale } = await logitsError(f);
      const dec = await decodeError(f);
      const cpt = await loraFdError(f, 'cpt', ALL, { seed: 44, h: 1e-4 });
      const dpo = await loraFdError(f, 'dpo', ALL, { seed: 45, h: 1e-4 });
      const moved = maxAbsDiff(f.reference(SEQ), (await get()).reference(SEQ));
      console.log(`${NAME} final soft-capping (max |logit| ${scale.toFixed(3)} ≤ 3; moves the reference ${moved.toExponential(2)}): logits ${err.toExponential(2)}, decode ${dec.err.toExponential(2)}, CPT loss ${cpt.lossErr.toExponential(2)} grads ${cpt.gradErr.toExponential(2)}, DPO loss ${dpo.lossErr.toExponential(2)} grads ${dpo.gradErr.toExponential(2)}`);
      expect(scale).toBeLessThan(3);
      expect(moved).toBeGreaterThan(1e-2);
      expect(err).toBeLessThanOrEqual(1e-5);
      expect(dec.err).toBeLessThanOrEqual(gpuVsGpuTolerance(f.model));
      for (const r of [cpt, dpo]) {
        expect(r.lossErr).toBeLessThanOrEqual(2e-6);
        expect(r.gradErr).toBeLessThanOrEqual(3e-5);
      }
    } finally {
      f.model.dispose();
    }
  });

  it('split tables and logits (a 40 kB binding: the scaled embedding and the tied head in 4 chunks), final soft-capping per block', async () => {
    const f = await loadFixture(NAME, { load: { maxBindingBytes: 40_000 }, configOverrides: { final_logit_softcapping: 3 } });
    try {
      expect(f.model.embed.chunks.length).toBeGreaterThan(1);
      const { err } = await logitsError(f);
      console.log(`${NAME} split (${f.model.embed.chunks.length} embedding chunks): max|Δlogit| = ${err.toExponential(2)}`);
      expect(err).toBeLessThanOrEqual(1e-5);
    } finally {
      f.model.dispose();
    }
  });

  it('KV-cache decoding of ragged rows = the full forward (≤ 1e-6, 2e-5 in the hardware family: gpuVsGpuTolerance)', async () => {
    const f = await get();
    const { err, steps } = await decodeError(f);
    console.log(`${NAME}: KV decode vs full forward max|Δ| = ${err.toExponential(2)} over ${steps} steps × 2 rows`);
    expect(err).toBeLessThanOrEqual(gpuVsGpuTolerance(f.model));
  });

  // h = 1e-4, not the 1e-3 of the other architectures: Gemma's activations are larger (embeddings × √80, norms
  // scaling by 1 + w ≈ 2), so the central difference's h² truncation term is too; measured 2.5e-4 at h = 1e-3,
  // 2.3e-5 at 3e-4, 4.2e-6 at 1e-4 (CPT): it falls as h², the signature of FD truncation, not of a wrong gradient.
  for (const method of ['cpt', 'sft', 'dpo', 'orpo'] as Method[]) {
    it(`LoRA gradients on all seven projections vs finite differences: ${method}`, async () => {
      const { lossErr, gradErr } = await loraFdError(await get(), method, ALL, { seed: 41, h: 1e-4 });
      console.log(`${NAME} · ${method}: loss rel err ${lossErr.toExponential(2)}; grads vs FD max rel err ${gradErr.toExponential(2)}`);
      expect(lossErr).toBeLessThanOrEqual(2e-6);
      expect(gradErr).toBeLessThanOrEqual(3e-5);
    });
  }
});

// ---- memory plans vs a fresh pool's peak ----
describeMemoryPlans(NAME, ALL, ' (the sandwich norms keep attnOut, mlpOut and their rstd)');
