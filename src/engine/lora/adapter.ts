/**
 * LoRA adapters on the GPU model, as PEFT defines them (REFERENCE-SEMANTICS.md §3): on any subset of
 * q/k/v/o/gate/up/down, y = x·Wᵀ (+ b) + scale·(dropout(x)·Aᵀ)·Bᵀ, scale = alpha/r (alpha/√r with rsLoRA).
 *
 * Memory layout (all f32, row-major, pool buffers owned by the GpuLora):
 *   A, dA [r, in]; B, dB [out, r] (PEFT's lora_A.weight / lora_B.weight shapes).
 *   During a forward, xa = x·Aᵀ [rows, r] is a temporary (or kept by the training forward for the backward);
 *   with dropout, xd = dropout(x) [rows, in] is a temporary and xa = xd·Aᵀ.
 * Gradients accumulate (+=) so micro-batches add up; clearLoraGrads zeroes them once per step.
 * The base weights are never touched, so `enabled = false` runs the plain base model (DPO's reference).
 *
 * Dropout on the LoRA input (PEFT's lora_dropout, p = `dropout`), as PEFT applies it in training:
 *   y = x·Wᵀ + scale·(dropout(x)·Aᵀ)·Bᵀ, dropout(x) = mask ⊙ x / (1−p) (inverted), a fresh mask per adapted module
 *   per forward. It is applied only where the caller passes DropoutCounters (the Trainer's seed, 1-based optimizer
 *   step and micro-batch index): evaluation/validation, inference, `alloy grad` and DPO's reference pass pass none,
 *   so they run without dropout, and p = 0 runs exactly the kernels it ran before dropout existed.
 *   Masks are REGENERATED, not kept: mask(i) is a hash of (dropoutKey(seed, step, micro, module.index), i)
 *   (ops/dropout.ts, shaders/dropout.wgsl). The forward writes xd = dropout(x) [rows, in] as a temporary (released
 *   after the layer's submit) and keeps only xa = xd·Aᵀ as before; the backward draws xd again for dA and applies the
 *   same mask to the branch's dX. Cost: two [rows, in] temporaries per adapted projection in the backward (planned
 *   in train/memory.ts), nothing kept across the pass.
 */
import { AlloyError } from '../../common/errors.ts';
import type { LoraConfig } from '../../io/peft.ts';
import type { TensorToWrite } from '../../io/safetensors/writer.ts';
import { readBuffer } from '../gpu/buffer-pool.ts';
import { encodeMatmul } from '../ops/matmul.ts';
import { dropoutKey, encodeDropout, encodeDropoutBackwardAdd } from '../ops/dropout.ts';
import { createRng } from '../model/sampling.ts';
import type { Model } from '../model/weights.ts';
import { expectedTensorShapes } from '../../io/config.ts';
import { modulePath, parseTargets, type LoraTarget } from './targets.ts';

export type ProjKey = 'q' | 'k' | 'v' | 'o' | 'gate' | 'up' | 'down';

const PROJ: Record<LoraTarget, ProjKey> = {
  q_proj: 'q',
  k_proj: 'k',
  v_proj: 'v',
  o_proj: 'o',
  gate_proj: 'gate',
  up_proj: 'up',
  down_proj: 'down',
};

export interface LoraModule {
  /** position in GpuLora.modules (layer-major, targets in order): the dropout mask stream's module counter */
  index: number;
  layer: number;
  target: LoraTarget;
  /** HF module path (PEFT keys are base_model.model.<path>.lora_{A,B}.weight) */
  path: string;
  inF: number;
  outF: number;
  a: GPUBuffer;
  b: GPUBuffer;
  dA: GPUBuffer;
  dB: GPUBuffer;
}

export interface GpuLora {
  r: number;
  alpha: number;
  useRslora: boolean;
  dropout: number;
  scale: number;
  targets: LoraTarget[];
  modules: LoraModule[];
  /** false: forwards run the base model alone (DPO's reference) */
  enabled: boolean;
  get(layer: number, proj: ProjKey): LoraModule | undefined;
  dispose(): void;
}

export interface LoraOptions {
  r: number;
  alpha: number;
  targets: readonly LoraTarget[];
  useRslora?: boolean;
  dropout?: number;
  /** seed of A's Kaiming-uniform init */
  seed?: number;
  /**
   * false: no gradient buffers (an adapter only applied, as in chat: half the GPU memory); reading dA/dB of such
   * an adapter throws, so a backward through it fails loudly instead of writing nowhere. Default true.
   */
  grads?: boolean;
}

/** PEFT initialisation: A ~ U(−1/√in, 1/√in) (kaiming_uniform_ with a = √5), B = 0, so the adapter starts as a no-op. */
export function createLora(model: Model, opts: LoraOptions): GpuLora {
  const rand = createRng(opts.seed ?? 0);
  return buildLora(model, opts, (_layer, _t, inF, outF) => {
    const bound = 1 / Math.sqrt(inF);
    const a = Float32Array.from({ length: opts.r * inF }, () => (rand() * 2 - 1) * bound);
    return { a, b: new Float32Array(outF * opts.r) };
  });
}

/**
 * A GpuLora holding given A/B values (a loaded PEFT adapter, or a test's random one), keyed by module path.
 * `grads: false` for an adapter that is only applied (LoraOptions.grads).
 */
export function loraFromTensors(
  model: Model,
  config: LoraConfig,
  tensors: ReadonlyMap<string, { a: Float32Array; b: Float32Array }>,
  opts: { grads?: boolean } = {},
): GpuLora {
  const targets = new Set<LoraTarget>();
  for (const path of tensors.keys()) targets.add(parseTargets([path])[0]!);
  const lora: LoraOptions = { r: config.r, alpha: config.loraAlpha, useRslora: config.useRslora, targets: [...targets], dropout: config.loraDropout ?? 0, grads: opts.grads ?? true };
  return buildLora(model, lora, (layer, t) => {
    return tensors.get(modulePath(layer, t)) ?? null;
  });
}

function buildLora(
  model: Model,
  opts: LoraOptions,
  init: (layer: number, t: LoraTarget, inF: number, outF: number) => { a: Float32Array; b: Float32Array } | null,
): GpuLora {
  const { pool } = model;
  const { r } = opts;
  if (!Number.isInteger(r) || r <= 0) throw new AlloyError(`LoRA rank must be a positive integer, got ${r}`, { field: 'r' });
  const modules: LoraModule[] = [];
  const byKey = new Map<string, LoraModule>();
  const withGrads = opts.grads ?? true;
  const noGrads = (): never => {
    throw new AlloyError('this LoRA adapter was loaded without gradients (to apply it only): it cannot be trained');
  };
  // Shapes from the config (HF [out, in]): the layer may hold q|k|v and gate|up fused (model/weights.ts).
  const shapes = expectedTensorShapes(model.config);
  for (let l = 0; l < model.layers.length; l++) {
    for (const t of opts.targets) {
      const [outF, inF] = shapes.get(`${modulePath(l, t)}.weight`)! as [number, number];
      const v = init(l, t, inF, outF);
      if (!v) continue;
      if (v.a.length !== r * inF || v.b.length !== outF * r) {
        throw new AlloyError(`LoRA ${modulePath(l, t)}: A must be [${r}, ${inF}] and B [${outF}, ${r}]`, { tensor: modulePath(l, t) });
      }
      const base = { index: modules.length, layer: l, target: t, path: modulePath(l, t), inF, outF, a: pool.upload(v.a, `${t}.lora_A`), b: pool.upload(v.b, `${t}.lora_B`) };
      const m: LoraModule = withGrads
        ? { ...base, dA: pool.upload(new Float32Array(r * inF), `${t}.lora_A.grad`), dB: pool.upload(new Float32Array(outF * r), `${t}.lora_B.grad`) }
        : Object.defineProperties(base as LoraModule, { dA: { get: noGrads, enumerable: false }, dB: { get: noGrads, enumerable: false } });
      modules.push(m);
      byKey.set(`${l}:${PROJ[t]}`, m);
    }
  }
  const useRslora = opts.useRslora ?? false;
  const dropout = opts.dropout ?? 0;
  if (!(dropout >= 0 && dropout < 1)) throw new AlloyError(`LoRA dropout must be in [0, 1), got ${dropout}`, { field: 'lora_dropout' });
  let disposed = false;
  return {
    r,
    alpha: opts.alpha,
    useRslora,
    dropout,
    scale: useRslora ? opts.alpha / Math.sqrt(r) : opts.alpha / r,
    targets: [...opts.targets],
    modules,
    enabled: true,
    get: (layer, proj) => byKey.get(`${layer}:${proj}`),
    dispose() {
      if (disposed) return;
      disposed = true;
      for (const m of modules) for (const b of withGrads ? [m.a, m.b, m.dA, m.dB] : [m.a, m.b]) pool.release(b);
    },
  };
}

/** Where a training forward is: the counters of its dropout masks (the Trainer's seed, 1-based step, micro-batch). */
export interface DropoutCounters {
  seed: number;
  step: number;
  micro: number;
}

/** The dropout of module m in a forward at `at`: null (no dropout) without counters or with p = 0. */
export function loraDropout(lora: GpuLora, m: LoraModule, at: DropoutCounters | null | undefined): { p: number; key: number } | null {
  if (!at || !(lora.dropout > 0)) return null;
  return { p: lora.dropout, key: dropoutKey(at.seed, at.step, at.micro, m.index) };
}

/**
 * y [rows, out] += scale·(dropout(x)·Aᵀ)·Bᵀ. Returns xa = dropout(x)·Aᵀ [rows, r] in a pool buffer the caller
 * releases after submitting (the training forward keeps it for dB). With `drop`, xd = dropout(x) goes to `temps`
 * (release after submitting); without it the path is the plain one, kernel for kernel.
 */
export async function encodeLoraForward(
  model: Model,
  enc: GPUCommandEncoder,
  lora: GpuLora,
  m: LoraModule,
  x: GPUBuffer,
  y: GPUBuffer,
  rows: number,
  drop: { p: number; key: number } | null = null,
  temps: GPUBuffer[] = [],
): Promise<GPUBuffer> {
  let input = x;
  if (drop) {
    input = model.pool.alloc(rows * m.inF * 4, 'lora.x_dropout');
    temps.push(input);
    await encodeDropout(model.kernels, enc, x, input, { n: rows * m.inF, ...drop });
  }
  const xa = model.pool.alloc(rows * lora.r * 4, 'lora.xa');
  await encodeMatmul(model.kernels, enc, input, m.a, xa, { M: rows, N: lora.r, K: m.inF, transB: true });
  await encodeMatmul(model.kernels, enc, xa, m.b, y, { M: rows, N: m.outF, K: lora.r, transB: true, alpha: lora.scale, beta: 1 });
  return xa;
}

/**
 * The LoRA part of a projection's backward, from dY [rows, out], the input x [rows, in] and the forward's xa:
 *   dB += scale·dYᵀ·xa;  g = dY·B [rows, r];  dA += scale·gᵀ·x;  dX += scale·g·A   (dX already holds dY·W).
 * With dropout (the forward's `drop`, same key): xd = dropout(x) is drawn again (a temporary) and
 *   dA += scale·gᵀ·xd;  gA = scale·g·A [rows, in] (a temporary);  dX += mask ⊙ gA.
 */
export async function encodeLoraBackward(
  model: Model,
  enc: GPUCommandEncoder,
  lora: GpuLora,
  m: LoraModule,
  x: GPUBuffer,
  xa: GPUBuffer,
  dY: GPUBuffer,
  dX: GPUBuffer,
  rows: number,
  temps: GPUBuffer[],
  drop: { p: number; key: number } | null = null,
): Promise<void> {
  const { kernels, pool } = model;
  const r = lora.r;
  const s = lora.scale;
  await encodeMatmul(kernels, enc, dY, xa, m.dB, { M: m.outF, N: r, K: rows, transA: true, alpha: s, beta: 1 });
  const g = pool.alloc(rows * r * 4, 'lora.dy_b');
  temps.push(g);
  await encodeMatmul(kernels, enc, dY, m.b, g, { M: rows, N: r, K: m.outF });
  if (!drop) {
    await encodeMatmul(kernels, enc, g, x, m.dA, { M: r, N: m.inF, K: rows, transA: true, alpha: s, beta: 1 });
    await encodeMatmul(kernels, enc, g, m.a, dX, { M: rows, N: m.inF, K: r, alpha: s, beta: 1 });
    return;
  }
  const n = rows * m.inF;
  const xd = pool.alloc(n * 4, 'lora.x_dropout');
  const gA = pool.alloc(n * 4, 'lora.dy_b_a');
  temps.push(xd, gA);
  await encodeDropout(kernels, enc, x, xd, { n, ...drop });
  await encodeMatmul(kernels, enc, g, xd, m.dA, { M: r, N: m.inF, K: rows, transA: true, alpha: s, beta: 1 });
  await encodeMatmul(kernels, enc, g, m.a, gA, { M: rows, N: m.inF, K: r, alpha: s });
  await encodeDropoutBackwardAdd(kernels, enc, gA, dX, { n, ...drop });
}

export function clearLoraGrads(model: Model, lora: GpuLora): void {
  const enc = model.device.createCommandEncoder({ label: 'lora.clear-grads' });
  encodeClearLoraGrads(enc, lora);
  model.device.queue.submit([enc.finish()]);
}

/** dA = dB = 0 for every module, as commands of `enc` (the trainer clears them after each update). */
export function encodeClearLoraGrads(enc: GPUCommandEncoder, lora: GpuLora): void {
  for (const m of lora.modules) {
    enc.clearBuffer(m.dA);
    enc.clearBuffer(m.dB);
  }
}

/** PEFT key of a module's A or B. */
export function peftKey(m: LoraModule, half: 'A' | 'B'): string {
  return `base_model.model.${m.path}.lora_${half}.weight`;
}

/** Parameters or gradients read back, by PEFT key, with adapter shapes ([r, in] for A, [out, r] for B). */
export async function readLoraF32(model: Model, lora: GpuLora, which: 'params' | 'grads'): Promise<Map<string, { shape: number[]; data: Float32Array }>> {
  const out = new Map<string, { shape: number[]; data: Float32Array }>();
  for (const m of lora.modules) {
    const [a, b] = which === 'params' ? [m.a, m.b] : [m.dA, m.dB];
    out.set(peftKey(m, 'A'), { shape: [lora.r, m.inF], data: new Float32Array(await readBuffer(model.device, a, lora.r * m.inF * 4)) });
    out.set(peftKey(m, 'B'), { shape: [m.outF, lora.r], data: new Float32Array(await readBuffer(model.device, b, m.outF * lora.r * 4)) });
  }
  return out;
}

/** The same as F32 tensors ready for writeSafetensors. */
export async function readLoraTensors(model: Model, lora: GpuLora, which: 'params' | 'grads'): Promise<TensorToWrite[]> {
  const out: TensorToWrite[] = [];
  for (const [name, t] of await readLoraF32(model, lora, which)) {
    out.push({ name, dtype: 'F32', shape: t.shape, data: new Uint8Array(t.data.buffer, t.data.byteOffset, t.data.byteLength) });
  }
  return out;
}

/** adapter_config.json for this adapter, in PEFT's key set (REFERENCE-SEMANTICS.md §3.1). */
export function peftConfigJson(lora: GpuLora, baseModel: string | null): Record<string, unknown> {
  return {
    alpha_pattern: {},
    auto_mapping: null,
    base_model_name_or_path: baseModel,
    bias: 'none',
    fan_in_fan_out: false,
    inference_mode: true,
    init_lora_weights: true,
    layer_replication: null,
    layers_pattern: null,
    layers_to_transform: null,
    loftq_config: {},
    lora_alpha: lora.alpha,
    lora_dropout: lora.dropout,
    megatron_config: null,
    megatron_core: 'megatron.core',
    modules_to_save: null,
    peft_type: 'LORA',
    r: lora.r,
    rank_pattern: {},
    revision: null,
    target_modules: lora.targets,
    task_type: 'CAUSAL_LM',
    use_dora: false,
    use_rslora: lora.useRslora,
  };
}
