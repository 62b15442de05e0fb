/**
 * LoRA adapters on the GPU model, as PEFT defines them (REFERENCE-SEMANTICS.md §3): on any subset of
 * q/k/v/o/gate/up/down, y = x·Wᵀ (+ b) + scale·(dropout(x)·Aᵀ)·Bᵀ, scale = alpha/r (alpha/√r with rsLoRA).
 *
 * Memory layout (all f32, row-major, pool buffers owned by the GpuLora):
 *   A, dA [r, in]; B, dB [out, r] (PEFT's lora_A.weight / lora_B.weight shapes).
 *   Projections that share their input (LORA_GROUPS: q, k, v read n1; gate, up read n2) keep their A in one
 *   buffer per layer, the group's, each member's [r, in] a block of it (LoraModule.a is a BufferRange), in group
 *   order, blocks groupStride(r·in) floats apart (r·in rounded up to a 256-byte binding offset: no gap when r·in
 *   is a multiple of 64, so then the buffer is exactly [Σr, in]); dA likewise. B and dB stay per module.
 *   During a forward, xa = x·Aᵀ [rows, r] is a temporary (or kept by the training forward for the backward), one
 *   buffer per group, its members' blocks groupStride(rows·r) apart: one batched product (x broadcast over the
 *   batch, A's blocks as the batch) gives every member's xa, and each member's up-projection xa_m·B_mᵀ reads its
 *   block; the backward's g = dY·B likewise, so one batched gᵀ·x gives every member's dA. Per member each product
 *   is the one the module would run alone (same kernel, shape and summation order), so stacking changes no bit in
 *   the software kernel family (the hardware family's dA may lose split-K, hence differ by f32 rounding). A group
 *   of one (o, down, or one adapted member) is laid out exactly as an unstacked module.
 *   With dropout, xd = dropout(x) [rows, in] is a temporary and xa = xd·Aᵀ; each member draws its own mask, so the
 *   members' x·Aᵀ and gᵀ·xd run one by one (into the same blocks).
 *   The optimizer runs per PEFT tensor on the blocks (AdamW and the grad norm bind ranges), so checkpoints and
 *   exports keep PEFT's keys and shapes.
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
import { BINDING_ALIGN, readBuffer, type BufferRange } from '../gpu/buffer-pool.ts';
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

/**
 * Projections that read the same input, in the layer's order: a group's A and dA are one buffer, its
 * down-projections one product (the file comment). o and down are groups of one.
 */
export const LORA_GROUPS: readonly (readonly ProjKey[])[] = [['q', 'k', 'v'], ['o'], ['gate', 'up'], ['down']];

/** Floats from one member's block to the next in a group's buffer of `members` blocks of n floats each. */
export function groupStride(n: number, members: number): number {
  const align = BINDING_ALIGN / 4;
  return members > 1 ? Math.ceil(n / align) * align : n;
}

/** Floats of a group's buffer: `members` blocks of n floats at groupStride (the last one padded like the others). */
export function groupFloats(n: number, members: number): number {
  return members * groupStride(n, members);
}

/**
 * Block i of a group's buffer of `members` blocks of n floats, as a binding: the whole stride (a multiple of 256
 * bytes), or for a group of one the whole buffer, never just its n floats. A binding shorter than one element of
 * the kernel's array (16 bytes for the vec4 kernels: xa of one decoded row at r = 2 is 8) fails validation, and
 * with it the whole command buffer.
 */
export function groupBlock(buffer: GPUBuffer, i: number, n: number, members: number): BufferRange {
  if (members === 1) return { buffer, offset: 0, size: buffer.size };
  const stride = groupStride(n, members) * 4;
  return { buffer, offset: i * stride, size: stride };
}

/** The adapted projections of one layer that share an input (a LORA_GROUPS entry, members present only). */
export interface LoraGroup {
  layer: number;
  /** in group order; member i's blocks are at i·stride floats */
  members: LoraModule[];
  inF: number;
  /** floats between members' A blocks: groupStride(r·in, members) */
  stride: number;
  /** the members' A (and dA) blocks, groupFloats(r·in, members) floats */
  a: GPUBuffer;
  dA: GPUBuffer;
}

export interface LoraModule {
  /** position in GpuLora.modules (layer-major, targets in order): the dropout mask stream's module counter */
  index: number;
  layer: number;
  target: LoraTarget;
  /** the layer's name for the projection */
  proj: ProjKey;
  /** HF module path (PEFT keys are base_model.model.<path>.lora_{A,B}.weight) */
  path: string;
  inF: number;
  outF: number;
  /** its block of the group's A [r, in] (and dA) */
  a: BufferRange;
  b: GPUBuffer;
  dA: BufferRange;
  dB: GPUBuffer;
  group: LoraGroup;
  /** position in group.members */
  slot: number;
}

export interface GpuLora {
  r: number;
  alpha: number;
  useRslora: boolean;
  dropout: number;
  scale: number;
  targets: LoraTarget[];
  modules: LoraModule[];
  /** every layer's groups (layer-major, LORA_GROUPS order), members present only */
  groups: LoraGroup[];
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
  /**
   * false: every module a group of its own (the unstacked layout, one x·Aᵀ per module): what the stacked groups
   * are tested against (tests/engine/lora/stack.gpu.test.ts). Default true.
   */
  stack?: boolean;
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
  opts: { grads?: boolean; stack?: boolean } = {},
): GpuLora {
  const targets = new Set<LoraTarget>();
  for (const path of tensors.keys()) targets.add(parseTargets([path])[0]!);
  const lora: LoraOptions = { r: config.r, alpha: config.loraAlpha, useRslora: config.useRslora, targets: [...targets], dropout: config.loraDropout ?? 0, grads: opts.grads ?? true, stack: opts.stack ?? true };
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
  const groups: LoraGroup[] = [];
  for (let l = 0; l < model.layers.length; l++) {
    // values first (module order = targets' order: the dropout streams' counters), then each group's buffers
    const made = new Map<ProjKey, { t: LoraTarget; inF: number; outF: number; v: { a: Float32Array; b: Float32Array } }>();
    for (const t of opts.targets) {
      const [outF, inF] = shapes.get(`${modulePath(l, t)}.weight`)! as [number, number];
      const v = init(l, t, inF, outF);
      if (!v) continue;
      if (v.a.length !== r * inF || v.b.length !== outF * r) {
        throw new AlloyError(`LoRA ${modulePath(l, t)}: A must be [${r}, ${inF}] and B [${outF}, ${r}]`, { tensor: modulePath(l, t) });
      }
      made.set(PROJ[t], { t, inF, outF, v });
    }
    const layerModules: LoraModule[] = [];
    for (const keys of opts.stack === false ? LORA_GROUPS.flat().map((k) => [k]) : LORA_GROUPS) {
      const present = keys.filter((k) => made.has(k));
      if (present.length === 0) continue;
      const inF = made.get(present[0]!)!.inF;
      const n = r * inF;
      const stride = groupStride(n, present.length);
      const stacked = new Float32Array(groupFloats(n, present.length));
      present.forEach((k, i) => stacked.set(made.get(k)!.v.a, i * stride));
      const label = present.length > 1 ? present.join('|') : made.get(present[0]!)!.t;
      const a = pool.upload(stacked, `${label}.lora_A`);
      const dA = withGrads ? pool.upload(new Float32Array(stacked.length), `${label}.lora_A.grad`) : null;
      const group = { layer: l, members: [] as LoraModule[], inF, stride, a } as unknown as LoraGroup;
      Object.defineProperty(group, 'dA', dA ? { value: dA, enumerable: true } : { get: noGrads, enumerable: false });
      present.forEach((k, slot) => {
        const { t, outF, v } = made.get(k)!;
        const range = (buffer: GPUBuffer) => groupBlock(buffer, slot, n, present.length);
        const base = { index: -1, layer: l, target: t, proj: k, path: modulePath(l, t), inF, outF, a: range(a), b: pool.upload(v.b, `${t}.lora_B`), group, slot };
        const m: LoraModule = withGrads
          ? { ...base, dA: range(dA!), dB: pool.upload(new Float32Array(outF * r), `${t}.lora_B.grad`) }
          : Object.defineProperties(base as unknown as LoraModule, { dA: { get: noGrads, enumerable: false }, dB: { get: noGrads, enumerable: false } });
        group.members.push(m);
        layerModules.push(m);
        byKey.set(`${l}:${k}`, m);
      });
      groups.push(group);
    }
    // GpuLora.modules in the targets' order within the layer, as before stacking (module.index is the dropout counter)
    for (const t of opts.targets) {
      const m = layerModules.find((x) => x.target === t);
      if (!m) continue;
      m.index = modules.length;
      modules.push(m);
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
    groups,
    enabled: true,
    get: (layer, proj) => byKey.get(`${layer}:${proj}`),
    dispose() {
      if (disposed) return;
      disposed = true;
      for (const g of groups) for (const b of withGrads ? [g.a, g.dA] : [g.a]) pool.release(b);
      for (const m of modules) for (const b of withGrads ? [m.b, m.dB] : [m.b]) pool.release(b);
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

/** Each member's [rows, r] block of a group's xa (or g) buffer of `rows` rows (groupBlock: bound with its padding). */
export function xaBlocks(group: LoraGroup, buffer: GPUBuffer, rows: number, r: number): BufferRange[] {
  return group.members.map((_, i) => groupBlock(buffer, i, rows * r, group.members.length));
}

/** Bytes of a group's xa (and g) buffer for `rows` rows: what encodeLoraGroupForward allocates. */
export function xaBytes(members: number, rows: number, r: number): number {
  return groupFloats(rows * r, members) * 4;
}

/**
 * Every member's y_m [rows, out_m] += scale·(dropout(x)·A_mᵀ)·B_mᵀ, ys in group.members' order. Returns the group's
 * xa buffer (member m's dropout(x)·A_mᵀ [rows, r] at block m, xaBlocks), which the caller releases after submitting
 * (the training forward keeps it for the backward). Without dropout one batched product makes every block (x
 * broadcast: A stride 0); with `drops` (one per member: each draws its own mask) each member's xd = dropout(x) goes
 * to `temps` (release after submitting) and its product runs alone.
 */
export async function encodeLoraGroupForward(
  model: Model,
  enc: GPUCommandEncoder,
  lora: GpuLora,
  group: LoraGroup,
  x: GPUBuffer,
  ys: readonly GPUBuffer[],
  rows: number,
  drops: readonly ({ p: number; key: number } | null)[] | null = null,
  temps: GPUBuffer[] = [],
  /** f16 activations (act-dtype.ts, model/layer.ts layerActsF16): x is f16 words, and so are the ys with yF16 */
  io: { xF16?: boolean; yF16?: boolean } = {},
): Promise<GPUBuffer> {
  const { kernels, pool } = model;
  const { r } = lora;
  const G = group.members.length;
  if (io.xF16 && drops?.some((d) => d)) throw new RangeError('LoRA dropout reads an f32 input: f16 activations take none (layerActsF16)');
  const aIo = io.xF16 ? { aF16: true } : {};
  const xa = pool.alloc(xaBytes(G, rows, r), 'lora.xa');
  const blocks = xaBlocks(group, xa, rows, r);
  if (drops?.some((d) => d)) {
    for (const [i, m] of group.members.entries()) {
      const input = pool.alloc(rows * m.inF * 4, 'lora.x_dropout');
      temps.push(input);
      await encodeDropout(kernels, enc, x, input, { n: rows * m.inF, ...drops[i]! });
      await encodeMatmul(kernels, enc, input, m.a, blocks[i]!, { M: rows, N: r, K: m.inF, transB: true });
    }
  } else if (G === 1) {
    await encodeMatmul(kernels, enc, x, group.a, xa, { M: rows, N: r, K: group.inF, transB: true, ...aIo });
  } else {
    const strides = { a: 0, b: group.stride, c: groupStride(rows * r, G) };
    await encodeMatmul(kernels, enc, x, group.a, xa, { M: rows, N: r, K: group.inF, transB: true, batch: G, strides, ...aIo });
  }
  for (const [i, m] of group.members.entries()) {
    await encodeMatmul(kernels, enc, blocks[i]!, m.b, ys[i]!, { M: rows, N: m.outF, K: r, transB: true, alpha: lora.scale, beta: 1, ...(io.yF16 ? { cF16: true } : {}) });
  }
  return xa;
}

/**
 * The LoRA part of a group's backward, from each member's dY_m [rows, out_m] (group order), the shared input
 * x [rows, in] and the forward's xa buffer:
 *   dB_m += scale·dY_mᵀ·xa_m;  g_m = dY_m·B_m [rows, r] (block m of one buffer, as xa);  dA_m += scale·g_mᵀ·x
 *   (every member in one batched product, x broadcast);  dX += scale·g_m·A_m member by member, in group order
 *   (dX already holds the base's dY·W).
 * With dropout (the forward's `drops`, same keys) each member's xd = dropout(x) is drawn again (a temporary) and
 *   dA_m += scale·g_mᵀ·xd;  gA = scale·g_m·A_m [rows, in] (a temporary);  dX += mask_m ⊙ gA.
 */
export async function encodeLoraGroupBackward(
  model: Model,
  enc: GPUCommandEncoder,
  lora: GpuLora,
  group: LoraGroup,
  x: GPUBuffer,
  xa: GPUBuffer,
  dYs: readonly GPUBuffer[],
  dX: GPUBuffer,
  rows: number,
  temps: GPUBuffer[],
  drops: readonly ({ p: number; key: number } | null)[] | null = null,
  /** x is f16 activations (the forward's, layerActsF16): dA's product reads it as its f16 B operand */
  xF16 = false,
): Promise<void> {
  const { kernels, pool } = model;
  const r = lora.r;
  if (xF16 && drops?.some((d) => d)) throw new RangeError('LoRA dropout reads an f32 input: f16 activations take none (layerActsF16)');
  const s = lora.scale;
  const G = group.members.length;
  const xaB = xaBlocks(group, xa, rows, r);
  const g = pool.alloc(xaBytes(G, rows, r), 'lora.dy_b');
  temps.push(g);
  const gB = xaBlocks(group, g, rows, r);
  for (const [i, m] of group.members.entries()) {
    await encodeMatmul(kernels, enc, dYs[i]!, xaB[i]!, m.dB, { M: m.outF, N: r, K: rows, transA: true, alpha: s, beta: 1 });
    await encodeMatmul(kernels, enc, dYs[i]!, m.b, gB[i]!, { M: rows, N: r, K: m.outF });
  }
  if (!drops?.some((d) => d)) {
    const one = { M: r, N: group.inF, K: rows, transA: true, alpha: s, beta: 1, ...(xF16 ? { bF16: true } : {}) };
    if (G === 1) await encodeMatmul(kernels, enc, g, x, group.dA, one);
    else await encodeMatmul(kernels, enc, g, x, group.dA, { ...one, batch: G, strides: { a: groupStride(rows * r, G), b: 0, c: group.stride } });
    for (const [i, m] of group.members.entries()) {
      await encodeMatmul(kernels, enc, gB[i]!, m.a, dX, { M: rows, N: m.inF, K: r, alpha: s, beta: 1 });
    }
    return;
  }
  for (const [i, m] of group.members.entries()) {
    const drop = drops[i]!;
    const n = rows * m.inF;
    const xd = pool.alloc(n * 4, 'lora.x_dropout');
    const gA = pool.alloc(n * 4, 'lora.dy_b_a');
    temps.push(xd, gA);
    await encodeDropout(kernels, enc, x, xd, { n, ...drop });
    await encodeMatmul(kernels, enc, gB[i]!, xd, m.dA, { M: r, N: m.inF, K: rows, transA: true, alpha: s, beta: 1 });
    await encodeMatmul(kernels, enc, gB[i]!, m.a, gA, { M: rows, N: m.inF, K: r, alpha: s });
    await encodeDropoutBackwardAdd(kernels, enc, gA, dX, { n, ...drop });
  }
}

export function clearLoraGrads(model: Model, lora: GpuLora): void {
  const enc = model.device.createCommandEncoder({ label: 'lora.clear-grads' });
  encodeClearLoraGrads(enc, lora);
  model.device.queue.submit([enc.finish()]);
}

/** dA = dB = 0 for every module, as commands of `enc` (the trainer clears them after each update). */
export function encodeClearLoraGrads(enc: GPUCommandEncoder, lora: GpuLora): void {
  for (const g of lora.groups) enc.clearBuffer(g.dA);
  for (const m of lora.modules) enc.clearBuffer(m.dB);
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
