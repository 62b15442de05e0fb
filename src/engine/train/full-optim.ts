/**
 * A full fine-tune's optimizer state (mode: full): one AdamW tensor per GPU tensor of the model (full-params.ts:
 * a fused q|k|v or gate|up matrix is one, an embedding split to fit a binding one per chunk).
 *   16-bit weight (bf16, f16): an f32 master copy, decoded from the stored halves (exact), is what AdamW updates;
 *     each update is rounded to nearest even into the model's own weight (adamw.wgsl main_w16), so the forward
 *     reads the rounded weights while small updates accumulate in the master (mixed-precision training's rule).
 *   f32 weight, norm, bias: the model's buffer is its own master.
 * Weight decay applies to the matrices only: transformers' Trainer exempts biases and norm weights
 * (get_decay_parameter_names), and TRL trains through it.
 * Checkpoint keys name the HF tensors a buffer holds with their rows, e.g.
 *   model.layers.0.self_attn.q_proj.weight[0:64]+model.layers.0.self_attn.k_proj.weight[0:32]+…
 * so a checkpoint resumes only on a model laid out the same way (same fusing and chunking), which restore checks.
 */
import { readBuffer, type BufferPool } from '../gpu/buffer-pool.ts';
import { decodeToF32 } from '../../io/safetensors/dtypes.ts';
import type { Model } from '../model/weights.ts';
import type { OptimTensor } from './checkpoint.ts';
import type { FullParam, FullParams } from './full-params.ts';

/** The checkpoint key of one GPU tensor: its HF members and their rows. */
export function fullTensorKey(p: FullParam): string {
  return p.parts.map((x) => `${x.name}[${x.tensorRow0}:${x.tensorRow0 + x.rows}]`).join('+');
}

/** A vector (norm weight or bias): no weight decay. */
function isVector(p: FullParam): boolean {
  return p.cols === 1;
}

/** The stored 16-bit halves of a weight (the first n of a padded buffer) decoded to f32, exactly (dtypes.ts). */
export function decodeHalves(words: ArrayBuffer, n: number, dtype: 'bf16' | 'f16'): Float32Array {
  return decodeToF32(dtype === 'bf16' ? 'BF16' : 'F16', new Uint8Array(words, 0, 2 * n));
}

/** AdamW's tensors for every parameter: m, v zeroed, masters decoded from the model's current 16-bit weights. */
export async function fullOptimTensors(model: Model, fp: FullParams): Promise<OptimTensor[]> {
  const { device, pool } = model;
  const out: OptimTensor[] = [];
  for (const p of fp.params) {
    const zeros = () => pool.upload(new Float32Array(p.n), 'adamw.m');
    const w = p.weight;
    const half = w.dtype === 'f32' ? null : w.dtype;
    const param = half ? pool.upload(decodeHalves(await readBuffer(device, w.buffer, Math.ceil(p.n / 2) * 4), p.n, half), 'master') : w.buffer;
    out.push({
      key: fullTensorKey(p),
      shape: [p.rows, p.cols],
      n: p.n,
      param,
      grad: p.grad,
      m: zeros(),
      v: zeros(),
      decay: !isVector(p),
      ...(half ? { store: { buffer: w.buffer, dtype: half } } : {}),
    });
  }
  return out;
}

/** Returns what fullOptimTensors allocated (m, v, masters) to the pool. */
export function releaseFullOptim(pool: BufferPool, tensors: readonly OptimTensor[]): void {
  for (const t of tensors) {
    pool.release(t.m);
    pool.release(t.v);
    // a master copy: a whole buffer of its own (fullOptimTensors made it)
    if (t.store) pool.release(t.param as GPUBuffer);
  }
}
