/**
 * Folding a LoRA adapter into its base weights, as PEFT's merge does: W' = W + scale · (B @ A), with
 * W [out, in], A [r, in], B [out, r]. The result is presented as a Checkpoint whose adapted tensors read as F32
 * (accumulated in float64 per element), so everything that loads a checkpoint can load "base + adapter".
 */
import { AlloyError } from '../../common/errors.ts';
import { loraScale, type PeftAdapter } from '../../io/peft.ts';
import type { Checkpoint, CheckpointTensor } from '../../io/safetensors/checkpoint.ts';
import type { TensorInfo } from '../../io/safetensors/header.ts';

export function foldLoraInto(w: Float32Array, a: Float32Array, b: Float32Array, out: number, inn: number, r: number, scale: number): Float32Array {
  const res = new Float32Array(out * inn);
  for (let o = 0; o < out; o++) {
    for (let i = 0; i < inn; i++) {
      let acc = 0;
      for (let k = 0; k < r; k++) acc += b[o * r + k]! * a[k * inn + i]!;
      res[o * inn + i] = w[o * inn + i]! + scale * acc;
    }
  }
  return res;
}

/**
 * The dtype a folded model stores a base tensor in: its own, except that a tensor kept as ggml blocks (a
 * quantised base) becomes F16, the de-quantised values rounded once (as PEFT merges into a bitsandbytes base's
 * de-quantised weights in the compute dtype): W + scale·B·A is not on the quantisation grid, and re-quantising it
 * would add the quantisation error again. Every ggml-block tensor of the base is written so, adapted or not.
 */
export function foldedDtype(info: TensorInfo): TensorInfo['dtype'] {
  return info.ggmlType !== undefined ? 'F16' : info.dtype;
}

export function withAdapter(base: Checkpoint, adapter: PeftAdapter): Checkpoint {
  const scale = loraScale(adapter.config);
  const byTarget = new Map(adapter.pairs.map((p) => [p.target, p]));
  for (const p of adapter.pairs) {
    if (!base.tensors.has(p.target)) {
      throw new AlloyError(`the adapter targets "${p.target}", which the base model does not have`, { tensor: p.target });
    }
    const w = base.info(p.target);
    const a = adapter.file.tensors.get(p.a)!;
    const b = adapter.file.tensors.get(p.b)!;
    if (w.shape.length !== 2 || a.shape[1] !== w.shape[1] || b.shape[0] !== w.shape[0]) {
      throw new AlloyError(
        `adapter for "${p.target}": lora_A [${a.shape.join(', ')}] / lora_B [${b.shape.join(', ')}] do not fit the base weight [${w.shape.join(', ')}]`,
        { tensor: p.a },
      );
    }
  }
  // Folded on every read, never memoised: loaders and merges read each tensor once, and a cache would keep a
  // whole model's adapted weights alive in memory.
  const foldedF32 = async (name: string): Promise<Float32Array<ArrayBuffer>> => {
    const pair = byTarget.get(name)!;
    const [out, inn] = base.info(name).shape as [number, number];
    const r = adapter.file.tensors.get(pair.a)!.shape[0]!;
    const w = await base.readF32(name);
    const a = await adapter.file.readF32(pair.a);
    const b = await adapter.file.readF32(pair.b);
    return foldLoraInto(w, a, b, out, inn, r, scale) as Float32Array<ArrayBuffer>;
  };
  const infoOf = (name: string): TensorInfo => {
    const i = base.info(name);
    if (!byTarget.has(name)) return i;
    const bytes = i.shape.reduce((x, y) => x * y, 1) * 4;
    // a folded weight is F32 values, no longer a quantised base's blocks (folding into a quantised base writes
    // the de-quantised weights plus the update: PEFT's rule for bitsandbytes bases)
    const { ggmlType: _, ...plain } = i;
    return { ...plain, dtype: 'F32', end: i.begin + bytes };
  };
  const tensors = new Map<string, CheckpointTensor>();
  for (const [name, t] of base.tensors) tensors.set(name, byTarget.has(name) ? { file: t.file, info: infoOf(name) } : t);
  return {
    files: base.files,
    tensors,
    names: () => base.names(),
    info: infoOf,
    async readRaw(name) {
      if (!byTarget.has(name)) return base.readRaw(name);
      const f = await foldedF32(name);
      return new Uint8Array(f.buffer, f.byteOffset, f.byteLength);
    },
    async readF32(name) {
      return byTarget.has(name) ? foldedF32(name) : base.readF32(name);
    },
    ...(base.readBlocks ? { readBlocks: (name: string) => base.readBlocks!(name) } : {}),
  };
}
