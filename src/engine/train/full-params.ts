/**
 * Full fine-tuning's parameters (issue 18 §1, mode: full): every tensor of the model as the GPU stores it, each with
 * an f32 gradient the loss-and-gradient pass (grad.ts, PassOptions.full) accumulates into.
 *
 * Memory layout: one FullParam per model storage buffer, so the optimizer updates the model's own weights in place:
 *   a projection [out, in] (f32, or BF16/F16 two per u32 as weights.ts stores them); a fused q|k|v [qW + 2·kvW, C]
 *     or gate|up [2F, C] is ONE param whose `parts` name its members' row ranges (their biases likewise, one
 *     vector); an embedding or untied lm_head split into row chunks (split.ts) is one param per chunk, each part
 *     saying which rows of the HF tensor it holds (`tensorRow0`); a tied lm_head is the embedding's chunks, so its
 *     gradient and the gather's add into the same buffers (one tensor, the sum of both uses);
 *   vectors (RMSNorm weights, biases): f32 [n] as rows = n, cols = 1. Gemma's norms are stored as fround(1 + w)
 *     (`plusOne`): the exported parameter is the stored value − 1; the gradient is the same.
 *   grad: f32 [n] per param, from the model's pool, zeroed at creation; the pass adds (+=) so micro-batches sum;
 *     encodeClearFullGrads zeroes them (once per optimizer step).
 * Quantised storage (ggml blocks read packed by matmul_q) has no f32/16-bit element to update: refused by name.
 */
import { AlloyError } from '../../common/errors.ts';
import { expectedTensorShapes } from '../../io/config.ts';
import type { TensorToWrite } from '../../io/safetensors/writer.ts';
import { readBuffer } from '../gpu/buffer-pool.ts';
import { isGpuQuantType } from '../ops/quant-layout.ts';
import { FUSED_GROUPS, fusedGroups, fusedRows, planRowChunks } from '../model/split.ts';
import type { ModelConfig } from '../../io/config.ts';
import type { GpuLinear, GpuMatrix, Model, WeightDtype } from '../model/weights.ts';
import type { FullGradTarget } from '../model/layer.ts';

/** An HF tensor's rows inside a param's buffer. */
export interface FullParamPart {
  /** HF tensor name */
  name: string;
  /** its first row inside this buffer (a fused member's offset; 0 otherwise) */
  row0: number;
  rows: number;
  /** the HF tensor's row that row0 holds: 0, except for a row chunk of embed_tokens / lm_head (its rowStart) */
  tensorRow0: number;
}

export interface FullParam {
  /** the HF tensors this buffer holds: one part normally; q|k|v or gate|up fused: one per member (row ranges); an embedding chunk: its rows of model.embed_tokens.weight */
  parts: FullParamPart[];
  /** matrices [out, in]; vectors (norms, biases): rows = n, cols = 1 */
  rows: number;
  cols: number;
  /** rows·cols elements */
  n: number;
  /** the model's own storage, updated in place by the optimizer: f32, or bf16/f16 packed two per u32 as weights.ts stores them */
  weight: { buffer: GPUBuffer; dtype: WeightDtype };
  /** Gemma's norms store fround(1 + w): the exported parameter is stored − 1 (the gradient is the same) */
  plusOne?: boolean;
  /** f32 [n], accumulated (+=) by the pass */
  grad: GPUBuffer;
}

export interface FullParams extends FullGradTarget {
  readonly params: readonly FullParam[];
  /** the param whose storage is `weight` (a matrix, chunk, bias or norm buffer of the model), or undefined */
  paramOf(weight: GPUBuffer): FullParam | undefined;
  dispose(): void;
}

type Spec = Omit<FullParam, 'grad' | 'n'>;

/** Every storage buffer of the model as a param spec, in checkpoint order (io/config.ts expectedTensorShapes). */
function paramSpecs(model: Model): Spec[] {
  const cfg = model.config;
  const specs: Spec[] = [];
  const matrixDtype = (name: string, m: Pick<GpuMatrix, 'dtype'>): WeightDtype => {
    if (isGpuQuantType(m.dtype)) {
      throw new AlloyError(
        `tensor "${name}" is stored as ${m.dtype} blocks: full fine-tuning updates every weight in F32, BF16 or F16; ` +
          'train LoRA (QLoRA) on a quantised base, or load a 16/32-bit checkpoint',
        { tensor: name },
      );
    }
    return m.dtype;
  };
  const part = (name: string, rows: number, row0 = 0, tensorRow0 = 0): FullParamPart => ({ name, row0, rows, tensorRow0 });
  const vector = (buffer: GPUBuffer, parts: FullParamPart[]) => {
    const rows = parts.reduce((n, p) => n + p.rows, 0);
    const plusOne = cfg.normPlusOne && parts[0]!.name.endsWith('norm.weight');
    specs.push({ parts, rows, cols: 1, weight: { buffer, dtype: 'f32' }, ...(plusOne ? { plusOne } : {}) });
  };
  const table = (name: string, t: Model['embed']) => {
    for (const c of t.chunks) {
      specs.push({ parts: [part(name, c.rows, 0, c.rowStart)], rows: c.rows, cols: c.cols, weight: { buffer: c.buffer, dtype: matrixDtype(name, c) } });
    }
  };
  // a projection, or a fused group of them: prefixes are the members' HF module paths, in row order
  const linear = (lin: GpuLinear, prefixes: readonly string[], rowsOf: readonly number[]) => {
    const w = lin.weight;
    const parts = (suffix: string) => {
      let at = 0;
      return prefixes.map((p, i) => {
        const r = part(`${p}.${suffix}`, rowsOf[i]!, at);
        at += rowsOf[i]!;
        return r;
      });
    };
    specs.push({ parts: parts('weight'), rows: w.rows, cols: w.cols, weight: { buffer: w.buffer, dtype: matrixDtype(`${prefixes[0]}.weight`, w) } });
    if (lin.bias) vector(lin.bias, parts('bias'));
  };
  const qW = cfg.numHeads * cfg.headDim;
  const kvW = cfg.numKvHeads * cfg.headDim;
  const F = cfg.intermediateSize;
  const C = cfg.hiddenSize;

  table('model.embed_tokens.weight', model.embed);
  for (const [l, layer] of model.layers.entries()) {
    const p = `model.layers.${l}`;
    const [q, k, v] = FUSED_GROUPS.qkv.map((n) => `${p}.${n}`) as [string, string, string];
    const [gate, up] = FUSED_GROUPS.gateUp.map((n) => `${p}.${n}`) as [string, string];
    if (layer.qkv) linear(layer.qkv, [q, k, v], [qW, kvW, kvW]);
    else for (const [key, path, rows] of [['q', q, qW], ['k', k, kvW], ['v', v, kvW]] as const) linear(layer[key]!, [path], [rows]);
    linear(layer.o, [`${p}.self_attn.o_proj`], [C]);
    if (layer.qNorm) vector(layer.qNorm, [part(`${p}.self_attn.q_norm.weight`, cfg.headDim)]);
    if (layer.kNorm) vector(layer.kNorm, [part(`${p}.self_attn.k_norm.weight`, cfg.headDim)]);
    if (layer.gateUp) linear(layer.gateUp, [gate, up], [F, F]);
    else for (const [key, path] of [['gate', gate], ['up', up]] as const) linear(layer[key]!, [path], [F]);
    linear(layer.down, [`${p}.mlp.down_proj`], [C]);
    vector(layer.inputNorm, [part(`${p}.input_layernorm.weight`, C)]);
    if (layer.attnOutNorm) vector(layer.attnOutNorm, [part(`${p}.post_attention_layernorm.weight`, C)]);
    vector(layer.postNorm, [part(`${p}.${cfg.sandwichNorms ? 'pre_feedforward_layernorm' : 'post_attention_layernorm'}.weight`, C)]);
    if (layer.mlpOutNorm) vector(layer.mlpOutNorm, [part(`${p}.post_feedforward_layernorm.weight`, C)]);
  }
  vector(model.norm, [part('model.norm.weight', C)]);
  if (model.lmHead !== model.embed) table('lm_head.weight', model.lmHead);
  return specs;
}

/**
 * Every parameter of the model with a zeroed f32 gradient from model.pool. Refuses a quantised matrix (naming the
 * tensor and its type) before allocating anything.
 */
export function createFullParams(model: Model): FullParams {
  const specs = paramSpecs(model);
  const { pool, device } = model;
  const params: FullParam[] = specs.map((s) => ({ ...s, n: s.rows * s.cols, grad: pool.alloc(s.rows * s.cols * 4, `${s.parts[0]!.name}.grad`) }));
  const byBuffer = new Map(params.map((p) => [p.weight.buffer, p] as const));
  const enc = device.createCommandEncoder({ label: 'full.zero-grads' });
  for (const p of params) enc.clearBuffer(p.grad);
  device.queue.submit([enc.finish()]);
  let disposed = false;
  return {
    params,
    paramOf: (weight) => byBuffer.get(weight),
    gradOf(weight) {
      const p = byBuffer.get(weight);
      if (!p) throw new Error(`full gradients: ${weight.label || 'a buffer'} is not a parameter of this model`);
      return p.grad;
    },
    dispose() {
      if (disposed) return;
      disposed = true;
      for (const p of params) pool.release(p.grad);
    },
  };
}

/** Every gradient = 0, as commands of `enc` (a step's first micro-batch). */
export function encodeClearFullGrads(enc: GPUCommandEncoder, fp: FullParams): void {
  for (const p of fp.params) enc.clearBuffer(p.grad);
}

/**
 * The gradients read back as F32 tensors under their HF names, in checkpoint order (expectedTensorShapes): fused
 * groups split back into their members, row chunks joined; tied embeddings give ONE tensor,
 * model.embed_tokens.weight, the sum of both uses (the gather and the lm_head).
 */
export async function readFullGrads(model: Model, fp: FullParams): Promise<TensorToWrite[]> {
  const shapes = expectedTensorShapes(model.config);
  const data = new Map([...shapes].map(([name, shape]) => [name, new Float32Array(shape.reduce((a, b) => a * b, 1))] as const));
  for (const p of fp.params) {
    const g = new Float32Array(await readBuffer(model.device, p.grad, p.n * 4));
    for (const part of p.parts) {
      const dst = data.get(part.name);
      if (!dst) throw new Error(`full gradients: no tensor "${part.name}" in this model's checkpoint layout`);
      dst.set(g.subarray(part.row0 * p.cols, (part.row0 + part.rows) * p.cols), part.tensorRow0 * p.cols);
    }
  }
  return [...shapes].map(([name, shape]) => {
    const d = data.get(name)!;
    return { name, dtype: 'F32', shape, data: new Uint8Array(d.buffer, d.byteOffset, d.byteLength) };
  });
}

/**
 * The element count of every param createFullParams makes for a model of this config loaded in `dtype` under a
 * binding limit (the same chunking and fusing rules as loadModel: split.ts), from the config alone: what the
 * memory plans allocate for the gradients (and, per param, anything else kept per parameter), and whether it is a
 * matrix (stored in the model's dtype; vectors are always f32).
 */
export function fullParamElements(cfg: ModelConfig, dtype: WeightDtype, limit: number): Array<{ n: number; matrix: boolean }> {
  const C = cfg.hiddenSize;
  const V = cfg.vocabSize;
  const F = cfg.intermediateSize;
  const qW = cfg.numHeads * cfg.headDim;
  const kvW = cfg.numKvHeads * cfg.headDim;
  const fused = fusedGroups(cfg, dtype, limit);
  const rows = fusedRows(cfg);
  const out: Array<{ n: number; matrix: boolean }> = [];
  const mat = (...ns: number[]) => out.push(...ns.map((n) => ({ n, matrix: true })));
  const vec = (...ns: number[]) => out.push(...ns.map((n) => ({ n, matrix: false })));
  const table = () => mat(...planRowChunks(V, C, dtype, limit).map((c) => c.rows * C));
  // a group: its matrices [out, C] (one when fused) and, with a bias, its vectors likewise
  const group = (isFused: boolean, total: number, members: number[], bias: boolean) => {
    mat(...(isFused ? [total] : members).map((r) => r * C));
    if (bias) vec(...(isFused ? [total] : members));
  };
  table();
  for (let l = 0; l < cfg.numLayers; l++) {
    group(fused.qkv, rows.qkv, [qW, kvW, kvW], cfg.attentionBias);
    mat(C * qW);
    if (cfg.oProjBias) vec(C);
    if (cfg.qkNorm) vec(cfg.headDim, cfg.headDim);
    group(fused.gateUp, rows.gateUp, [F, F], cfg.mlpBias);
    mat(C * F);
    if (cfg.mlpBias) vec(C);
    vec(...Array<number>(cfg.sandwichNorms ? 4 : 2).fill(C));
  }
  vec(C);
  if (!cfg.tieWordEmbeddings) table();
  return out;
}
