/**
 * A full fine-tune's result as a new Hugging Face folder: every trained tensor read back from the GPU in its
 * checkpoint dtype, under its HF name, and the base's non-weight files (config, tokenizer) copied, so the next
 * stage (or transformers) loads it like any checkpoint.
 *   A 16-bit matrix goes out as the GPU holds it: the master rounded to nearest even by the last update (the
 *   bytes are the safetensors bytes: two a u32, even element low, little-endian).
 *   f32 tensors (norms, biases, an f32 checkpoint's matrices) are encoded to the checkpoint's dtype (nearest even);
 *   a Gemma norm is stored on the GPU as 1 + w (weights.ts), so w = stored − 1 goes out.
 *   Fused q|k|v, gate|up buffers are split back by their parts' rows; an embedding in chunks is put together.
 */
import { AlloyError, throwIfAborted } from '../../common/errors.ts';
import type { ByteSink } from '../../io/bytes.ts';
import type { ModelFiles } from '../../io/model-files.ts';
import { openCheckpoint, writeCheckpoint } from '../../io/safetensors/checkpoint.ts';
import { encodeFromF32 } from '../../io/safetensors/dtypes.ts';
import type { TensorToWrite } from '../../io/safetensors/writer.ts';
import { readBuffer } from '../gpu/buffer-pool.ts';
import { copyFile, isCarriedFile } from '../recipe/fold-model.ts';
import type { Model } from '../model/weights.ts';
import type { FullParam, FullParams } from './full-params.ts';
import { decodeHalves } from './full-optim.ts';

/** Bytes per element of a parameter's GPU storage. */
const elemBytes = (p: FullParam) => (p.weight.dtype === 'f32' ? 4 : 2);

/** Each HF tensor's pieces: which GPU parameter holds which of its rows (a fused member's, an embedding chunk's). */
function piecesByName(fp: FullParams): Map<string, Array<{ p: FullParam; row0InParam: number; row0: number; rows: number }>> {
  const out = new Map<string, Array<{ p: FullParam; row0InParam: number; row0: number; rows: number }>>();
  for (const p of fp.params) {
    for (const part of p.parts) {
      const list = out.get(part.name) ?? [];
      list.push({ p, row0InParam: part.row0, row0: part.tensorRow0, rows: part.rows });
      out.set(part.name, list);
    }
  }
  for (const list of out.values()) list.sort((a, b) => a.row0 - b.row0);
  return out;
}

/**
 * The trained tensors (every parameter) as the base checkpoint stored them, followed by the base's other files.
 * `base` is the folder the model was loaded from (its tensor dtypes and names, and its config and tokenizer files).
 */
export async function writeFullModel(base: ModelFiles, model: Model, fp: FullParams, openSink: (name: string) => Promise<ByteSink>, signal?: AbortSignal): Promise<void> {
  const stored = await openCheckpoint(base);
  const pieces = piecesByName(fp);
  const read = new Map<FullParam, Uint8Array>();
  const bytesOf = async (p: FullParam) => {
    let b = read.get(p);
    if (!b) {
      b = new Uint8Array(await readBuffer(model.device, p.weight.buffer, Math.ceil((p.n * elemBytes(p)) / 4) * 4));
      read.set(p, b);
    }
    return b;
  };
  const tensors: TensorToWrite[] = stored.names().map((name) => {
    const info = stored.info(name);
    const list = pieces.get(name);
    if (!list) throw new AlloyError(`${base.label}: tensor "${name}" is not among the trained parameters`, { tensor: name });
    return {
      name,
      dtype: info.dtype,
      shape: info.shape,
      data: async () => {
        throwIfAborted(signal, 'save');
        const cols = list[0]!.p.cols;
        const gpu = list[0]!.p.weight.dtype;
        const eb = gpu === 'f32' ? 4 : 2;
        const rows = list.reduce((n, x) => n + x.rows, 0);
        const raw = new Uint8Array(rows * cols * eb);
        for (const x of list) {
          const src = await bytesOf(x.p);
          raw.set(src.subarray(x.row0InParam * cols * eb, (x.row0InParam + x.rows) * cols * eb), x.row0 * cols * eb);
          read.delete(x.p); // read once: an embedding chunk or a fused group's last part frees its copy
        }
        const same = (gpu === 'bf16' && info.dtype === 'BF16') || (gpu === 'f16' && info.dtype === 'F16') || (gpu === 'f32' && info.dtype === 'F32');
        const plusOne = list[0]!.p.plusOne === true;
        if (same && !plusOne) return raw;
        if (info.dtype !== 'F32' && info.dtype !== 'F16' && info.dtype !== 'BF16') {
          throw new AlloyError(`${base.label}: cannot write "${name}" (${gpu} on the GPU) as ${info.dtype}`, { tensor: name });
        }
        // another dtype than the GPU's (a 16-bit GPU copy of an F32 checkpoint): exact halves → f32 → the checkpoint's
        const values = gpu === 'f32' ? new Float32Array(raw.buffer, 0, rows * cols) : decodeHalves(raw.buffer, rows * cols, gpu);
        if (plusOne) for (let i = 0; i < values.length; i++) values[i] = values[i]! - 1;
        return encodeFromF32(info.dtype, values);
      },
    };
  });
  await writeCheckpoint(tensors, { openSink, metadata: { format: 'pt' } });
  for (const f of base.files) if (isCarriedFile(f.path)) await copyFile(base, f.path, openSink);
}
