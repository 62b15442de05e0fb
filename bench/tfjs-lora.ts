// The yardstick for training throughput: one LoRA training step (causal-LM loss, backward, Adam update of the
// LoRA A/B matrices) of a Llama model written with TF.js ops, run on TF.js's WebGPU backend. It is what a
// developer would write with the most used JS tensor library: the same math as Alloy's step (RMSNorm, RoPE
// rotate_half, causal GQA attention, SwiGLU, tied or untied head, LoRA y = x·Wᵀ + s·(x·Aᵀ)·Bᵀ on the same
// targets), autodiff for the backward. Used only by bench/train.bench.ts.
import type * as TF from '@tensorflow/tfjs-core';
import type { ModelConfig } from '../src/io/config.ts';

type Tf = typeof TF;

export interface TfLoraModel {
  step(ids: Int32Array, B: number, T: number): Promise<number>;
  dispose(): void;
}

/** base weights by HF name ([out, in] f32), LoRA on `targets` with rank r, scale alpha/r. */
export function tfLoraModel(tf: Tf, cfg: ModelConfig, weights: Map<string, Float32Array>, opts: { r: number; alpha: number; targets: string[]; lr: number }): TfLoraModel {
  const C = cfg.hiddenSize;
  const H = cfg.numHeads;
  const KV = cfg.numKvHeads;
  const D = cfg.headDim;
  const V = cfg.vocabSize;
  const shapes = new Map<string, number[]>();
  const w = (name: string, shape: number[]) => {
    const data = weights.get(name);
    if (!data) throw new Error(`tfjs-lora: no tensor ${name}`);
    shapes.set(name, shape);
    return tf.tensor(data, shape);
  };
  const base = new Map<string, TF.Tensor>();
  const lora = new Map<string, { a: TF.Variable; b: TF.Variable }>();
  const scale = opts.alpha / opts.r;
  let seed = 1;
  const outIn: Record<string, [number, number]> = {
    q_proj: [H * D, C],
    k_proj: [KV * D, C],
    v_proj: [KV * D, C],
    o_proj: [C, H * D],
    gate_proj: [cfg.intermediateSize, C],
    up_proj: [cfg.intermediateSize, C],
    down_proj: [C, cfg.intermediateSize],
  };
  base.set('embed', w('model.embed_tokens.weight', [V, C]));
  base.set('norm', w('model.norm.weight', [C]));
  base.set('head', cfg.tieWordEmbeddings ? base.get('embed')! : w('lm_head.weight', [V, C]));
  for (let l = 0; l < cfg.numLayers; l++) {
    base.set(`${l}.in`, w(`model.layers.${l}.input_layernorm.weight`, [C]));
    base.set(`${l}.post`, w(`model.layers.${l}.post_attention_layernorm.weight`, [C]));
    for (const [proj, [out, inF]] of Object.entries(outIn)) {
      const block = proj.endsWith('_proj') && ['gate_proj', 'up_proj', 'down_proj'].includes(proj) ? 'mlp' : 'self_attn';
      base.set(`${l}.${proj}`, w(`model.layers.${l}.${block}.${proj}.weight`, [out, inF]));
      if (opts.targets.includes(proj)) {
        // PEFT init: A Kaiming-uniform-like, B zero; B is nudged off zero so the A gradient is not trivially zero
        const a = tf.variable(tf.randomUniform([opts.r, inF], -1 / Math.sqrt(inF), 1 / Math.sqrt(inF), 'float32', seed++));
        const b = tf.variable(tf.randomUniform([out, opts.r], -1e-3, 1e-3, 'float32', seed++));
        lora.set(`${l}.${proj}`, { a, b });
      }
    }
  }

  const rmsnorm = (x: TF.Tensor, g: TF.Tensor) => tf.mul(tf.mul(x, tf.rsqrt(tf.add(tf.mean(tf.square(x), -1, true), cfg.rmsNormEps))), g);
  const linear = (x: TF.Tensor2D, key: string) => {
    const y = tf.matMul(x, base.get(key)! as TF.Tensor2D, false, true);
    const ad = lora.get(key);
    if (!ad) return y;
    return tf.add(y, tf.mul(tf.matMul(tf.matMul(x, ad.a, false, true), ad.b, false, true), scale));
  };

  const ropeTables = new Map<number, { cos: TF.Tensor; sin: TF.Tensor }>();
  const rope = (T: number) => {
    let r = ropeTables.get(T);
    if (!r) {
      const cos = new Float32Array(T * D);
      const sin = new Float32Array(T * D);
      for (let t = 0; t < T; t++) {
        for (let j = 0; j < D / 2; j++) {
          const ang = t / Math.pow(cfg.ropeTheta, (2 * j) / D);
          cos[t * D + j] = cos[t * D + j + D / 2] = Math.cos(ang);
          sin[t * D + j] = sin[t * D + j + D / 2] = Math.sin(ang);
        }
      }
      // kept: the first use is inside minimize()'s tidy scope, which would dispose the cached tables
      r = { cos: tf.keep(tf.tensor(cos, [1, 1, T, D])), sin: tf.keep(tf.tensor(sin, [1, 1, T, D])) };
      ropeTables.set(T, r);
    }
    return r;
  };
  const rotate = (x: TF.Tensor4D, T: number) => {
    const { cos, sin } = rope(T);
    const [x1, x2] = tf.split(x, 2, 3);
    return tf.add(tf.mul(x, cos), tf.mul(tf.concat([tf.neg(x2!), x1!], 3), sin));
  };
  const masks = new Map<number, TF.Tensor>();
  const causal = (T: number) => {
    let m = masks.get(T);
    if (!m) {
      const data = new Float32Array(T * T);
      for (let i = 0; i < T; i++) for (let j = i + 1; j < T; j++) data[i * T + j] = -1e9;
      m = tf.keep(tf.tensor(data, [1, 1, T, T]));
      masks.set(T, m);
    }
    return m;
  };

  const loss = (ids: TF.Tensor2D, targets: TF.Tensor1D, B: number, T: number) => {
    let x = tf.reshape(tf.gather(base.get('embed')!, tf.reshape(ids, [-1])), [B * T, C]) as TF.Tensor2D;
    for (let l = 0; l < cfg.numLayers; l++) {
      const h = rmsnorm(x, base.get(`${l}.in`)!) as TF.Tensor2D;
      const heads = (t: TF.Tensor, n: number) => tf.transpose(tf.reshape(t, [B, T, n, D]), [0, 2, 1, 3]) as TF.Tensor4D;
      const q = rotate(heads(linear(h, `${l}.q_proj`), H), T);
      let k = rotate(heads(linear(h, `${l}.k_proj`), KV), T);
      let v = heads(linear(h, `${l}.v_proj`), KV);
      if (KV !== H) {
        // GQA: each key/value head serves H/KV query heads
        const rep = H / KV;
        const idx = tf.tensor1d(Array.from({ length: H }, (_, i) => Math.floor(i / rep)), 'int32');
        k = tf.gather(k, idx, 1);
        v = tf.gather(v, idx, 1);
      }
      const att = tf.softmax(tf.add(tf.mul(tf.matMul(q, k, false, true), 1 / Math.sqrt(D)), causal(T)));
      const o = tf.reshape(tf.transpose(tf.matMul(att, v), [0, 2, 1, 3]), [B * T, H * D]) as TF.Tensor2D;
      x = tf.add(x, linear(o, `${l}.o_proj`));
      const h2 = rmsnorm(x, base.get(`${l}.post`)!) as TF.Tensor2D;
      // SiLU(g) = g·σ(g) on one gate projection: computing it twice (once inside σ) would time two extra
      // matmuls and their LoRA branch that Alloy's step does not run
      const gate = linear(h2, `${l}.gate_proj`);
      const act = tf.mul(tf.mul(gate, tf.sigmoid(gate)), linear(h2, `${l}.up_proj`)) as TF.Tensor2D;
      x = tf.add(x, linear(act, `${l}.down_proj`));
    }
    const logits = tf.matMul(rmsnorm(x, base.get('norm')!) as TF.Tensor2D, base.get('head')! as TF.Tensor2D, false, true);
    return tf.losses.softmaxCrossEntropy(tf.oneHot(targets, V), logits) as TF.Scalar;
  };

  const optimizer = tf.train.adam(opts.lr);
  const vars = [...lora.values()].flatMap((m) => [m.a, m.b]);
  return {
    async step(ids, B, T) {
      // next-token targets: position t predicts ids[t+1]; the last position of each row predicts its first
      // token again (a full T×B problem of the same size as Alloy's, which scores T−1 of T positions)
      const tgt = new Int32Array(B * T);
      for (let b = 0; b < B; b++) for (let t = 0; t < T; t++) tgt[b * T + t] = ids[b * T + ((t + 1) % T)]!;
      const idsT = tf.tensor2d(ids, [B, T], 'int32');
      const tgtT = tf.tensor1d(tgt, 'int32');
      const value = optimizer.minimize(() => loss(idsT, tgtT, B, T), true, vars)!;
      const out = (await value.data())[0]!;
      value.dispose();
      idsT.dispose();
      tgtT.dispose();
      return out;
    },
    dispose() {
      optimizer.dispose();
      for (const t of new Set(base.values())) t.dispose();
      for (const v of vars) v.dispose();
      for (const r of ropeTables.values()) (r.cos.dispose(), r.sin.dispose());
      for (const m of masks.values()) m.dispose();
    },
  };
}
