// The reference forward is the ground truth for the GPU model, so it is checked on its own: against a case
// worked out by hand, against a composition of the per-kernel CPU references, and on GQA's defining property.
import { describe, expect, it } from 'vitest';
import { parseModelConfig, type ModelConfig } from '../../../src/io/config.ts';
import { referenceForward } from '../../../src/engine/reference/forward.ts';
import { rmsNormRef } from '../../../src/engine/reference/rmsnorm.ts';
import { matmulRef } from '../../../src/engine/reference/matmul.ts';
import { ropeRef } from '../../../src/engine/reference/rope.ts';
import { attentionRef } from '../../../src/engine/reference/attention.ts';
import { swigluRef } from '../../../src/engine/reference/swiglu.ts';
import { ropeInvFreq } from '../../../src/engine/ops/rope.ts';
import { randomArray } from '../../helpers/gpu.ts';

function config(over: Record<string, unknown>): ModelConfig {
  return parseModelConfig({
    architectures: ['LlamaForCausalLM'],
    vocab_size: 3,
    hidden_size: 2,
    intermediate_size: 1,
    num_hidden_layers: 1,
    num_attention_heads: 1,
    num_key_value_heads: 1,
    rms_norm_eps: 1e-6,
    rope_theta: 10000,
    tie_word_embeddings: true,
    ...over,
  });
}

describe('reference forward', () => {
  it('matches a 1-layer, hidden-2 case worked out by hand (RoPE angle 1 rad at position 1)', () => {
    const eps = 1e-6;
    const cfg = config({});
    // Identity projections, unit norms; the MLP passes silu(n0)·n1 into channel 0.
    const w: Record<string, number[]> = {
      'model.embed_tokens.weight': [1, 0, 0, 1, 1, 1],
      'model.layers.0.input_layernorm.weight': [1, 1],
      'model.layers.0.post_attention_layernorm.weight': [1, 1],
      'model.norm.weight': [1, 1],
      'model.layers.0.self_attn.q_proj.weight': [1, 0, 0, 1],
      'model.layers.0.self_attn.k_proj.weight': [1, 0, 0, 1],
      'model.layers.0.self_attn.v_proj.weight': [1, 0, 0, 1],
      'model.layers.0.self_attn.o_proj.weight': [1, 0, 0, 1],
      'model.layers.0.mlp.gate_proj.weight': [1, 0],
      'model.layers.0.mlp.up_proj.weight': [0, 1],
      'model.layers.0.mlp.down_proj.weight': [1, 0],
    };
    const got = referenceForward(cfg, (n) => w[n]!, [0, 1]);

    const norm = (x: number[]) => {
      const r = 1 / Math.sqrt((x[0]! ** 2 + x[1]! ** 2) / 2 + eps);
      return x.map((v) => v * r);
    };
    const silu = (x: number) => x / (1 + Math.exp(-x));
    const a = 1 / Math.sqrt(0.5 + eps); // rmsnorm of a one-hot row
    // Position 0: q = k = v = [a, 0], attention returns v; MLP gets n = [·, 0] so up = 0.
    const f0 = norm([1 + a, 0]);
    // Position 1: rope rotates [0, a] by 1 rad (inv_freq[0] = 1): [−a·sin 1, a·cos 1].
    const q1 = [-a * Math.sin(1), a * Math.cos(1)];
    const s0 = (q1[0]! * a) / Math.SQRT2; // q1·k0 / √D with k0 = [a, 0]
    const s1 = (a * a) / Math.SQRT2; // q1·k1 = |q1|²
    const w0 = Math.exp(s0) / (Math.exp(s0) + Math.exp(s1));
    const h = [w0 * a, 1 + (1 - w0) * a];
    const n2 = norm(h);
    const f1 = norm([h[0]! + silu(n2[0]!) * n2[1]!, h[1]!]);
    const want = [f0[0]!, f0[1]!, f0[0]! + f0[1]!, f1[0]!, f1[1]!, f1[0]! + f1[1]!];
    for (let i = 0; i < 6; i++) expect(got[i]).toBeCloseTo(want[i]!, 12);
  });

  it('equals the per-kernel CPU references composed (GQA, q/k/v biases, untied head)', () => {
    const cfg: ModelConfig = {
      ...parseModelConfig({
        architectures: ['Qwen2ForCausalLM'],
        vocab_size: 11,
        hidden_size: 12,
        intermediate_size: 7,
        num_hidden_layers: 2,
        num_attention_heads: 4,
        num_key_value_heads: 2,
        head_dim: 4, // ≠ hidden / heads: the q width (16) differs from hidden (12)
        rms_norm_eps: 1e-6,
        rope_theta: 1e6,
        tie_word_embeddings: false,
      }),
    };
    const { hiddenSize: C, intermediateSize: F, numHeads: H, numKvHeads: KV, headDim: D, vocabSize: V } = cfg;
    const shapes: Record<string, number> = { 'model.embed_tokens.weight': V * C, 'model.norm.weight': C, 'lm_head.weight': V * C };
    for (let l = 0; l < 2; l++) {
      const p = `model.layers.${l}`;
      Object.assign(shapes, {
        [`${p}.input_layernorm.weight`]: C,
        [`${p}.post_attention_layernorm.weight`]: C,
        [`${p}.self_attn.q_proj.weight`]: H * D * C,
        [`${p}.self_attn.q_proj.bias`]: H * D,
        [`${p}.self_attn.k_proj.weight`]: KV * D * C,
        [`${p}.self_attn.k_proj.bias`]: KV * D,
        [`${p}.self_attn.v_proj.weight`]: KV * D * C,
        [`${p}.self_attn.v_proj.bias`]: KV * D,
        [`${p}.self_attn.o_proj.weight`]: C * H * D,
        [`${p}.mlp.gate_proj.weight`]: F * C,
        [`${p}.mlp.up_proj.weight`]: F * C,
        [`${p}.mlp.down_proj.weight`]: C * F,
      });
    }
    const w: Record<string, Float32Array> = {};
    Object.entries(shapes).forEach(([n, size], i) => (w[n] = randomArray(size, 100 + i)));
    const ids = [3, 0, 10, 7, 7];
    const T = ids.length;
    const got = referenceForward(cfg, (n) => w[n]!, ids);

    // The same model assembled from the kernel references (independently written, one op each).
    const invFreq = ropeInvFreq({ hidden_size: C, num_attention_heads: H, head_dim: D, rope_theta: cfg.ropeTheta });
    const pos = ids.map((_, t) => t);
    const lin = (x: ArrayLike<number>, name: string, out: number, inp: number, bias?: string) => {
      const y = matmulRef(x, w[name]!, { M: T, N: out, K: inp, transB: true });
      if (bias) for (let i = 0; i < y.length; i++) y[i] = y[i]! + w[bias]![i % out]!;
      return y;
    };
    let x: Float64Array = Float64Array.from(ids.flatMap((id) => [...w['model.embed_tokens.weight']!.subarray(id * C, id * C + C)]));
    for (let l = 0; l < 2; l++) {
      const p = `model.layers.${l}`;
      const n1 = rmsNormRef(x, w[`${p}.input_layernorm.weight`]!, T, C, cfg.rmsNormEps).y;
      const q = ropeRef(lin(n1, `${p}.self_attn.q_proj.weight`, H * D, C, `${p}.self_attn.q_proj.bias`), pos, invFreq, T, H, D);
      const k = ropeRef(lin(n1, `${p}.self_attn.k_proj.weight`, KV * D, C, `${p}.self_attn.k_proj.bias`), pos, invFreq, T, KV, D);
      const v = lin(n1, `${p}.self_attn.v_proj.weight`, KV * D, C, `${p}.self_attn.v_proj.bias`);
      const att = attentionRef(q, k, v, { T, S: T, nHeads: H, nKv: KV, headDim: D });
      const o = lin(att, `${p}.self_attn.o_proj.weight`, C, H * D);
      x = x.map((xi, i) => xi + o[i]!);
      const n2 = rmsNormRef(x, w[`${p}.post_attention_layernorm.weight`]!, T, C, cfg.rmsNormEps).y;
      const m = swigluRef(lin(n2, `${p}.mlp.gate_proj.weight`, F, C), lin(n2, `${p}.mlp.up_proj.weight`, F, C));
      const d = lin(m, `${p}.mlp.down_proj.weight`, C, F);
      x = x.map((xi, i) => xi + d[i]!);
    }
    const want = lin(rmsNormRef(x, w['model.norm.weight']!, T, C, cfg.rmsNormEps).y, 'lm_head.weight', V, C);
    let err = 0;
    for (let i = 0; i < want.length; i++) err = Math.max(err, Math.abs(got[i]! - want[i]!));
    expect(err).toBeLessThan(1e-12);
  });

  it('GQA: 2 KV heads shared by 4 q-heads equal 4 KV heads holding duplicated weights (repeat_kv)', () => {
    const base = { vocab_size: 9, hidden_size: 8, intermediate_size: 6, num_attention_heads: 4, rms_norm_eps: 1e-5 };
    const gqa = config({ ...base, num_key_value_heads: 2 });
    const mha = config({ ...base, num_key_value_heads: 4 });
    const D = 2;
    const C = 8;
    const names = ['model.embed_tokens.weight', 'model.layers.0.input_layernorm.weight', 'model.layers.0.post_attention_layernorm.weight',
      'model.norm.weight', 'model.layers.0.self_attn.q_proj.weight', 'model.layers.0.self_attn.k_proj.weight',
      'model.layers.0.self_attn.v_proj.weight', 'model.layers.0.self_attn.o_proj.weight', 'model.layers.0.mlp.gate_proj.weight',
      'model.layers.0.mlp.up_proj.weight', 'model.layers.0.mlp.down_proj.weight'];
    const w: Record<string, Float32Array> = {};
    names.forEach((n, i) => (w[n] = randomArray(100, 7 + i)));
    // KV head g of the GQA model serves q-heads 2g and 2g+1: duplicate its D rows for the MHA model.
    const dup = (m: Float32Array) => {
      const out = new Float32Array(4 * D * C);
      for (let h = 0; h < 4; h++) out.set(m.subarray(Math.floor(h / 2) * D * C, (Math.floor(h / 2) + 1) * D * C), h * D * C);
      return out;
    };
    const wm: Record<string, Float32Array> = { ...w };
    for (const n of ['model.layers.0.self_attn.k_proj.weight', 'model.layers.0.self_attn.v_proj.weight']) wm[n] = dup(w[n]!);
    const ids = [1, 4, 8, 0];
    const a = referenceForward(gqa, (n) => w[n]!, ids);
    const b = referenceForward(mha, (n) => wm[n]!, ids);
    for (let i = 0; i < a.length; i++) expect(a[i]).toBeCloseTo(b[i]!, 12);
  });
});
