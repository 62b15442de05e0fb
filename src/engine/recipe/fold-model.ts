/**
 * A LoRA folded into its base for good: W' = W + scale·B·A (engine/lora/fold.ts, float64 accumulation) written as
 * a new checkpoint in the base tensor's own dtype (a BF16 base stays BF16, rounded to nearest even once; a quantised
 * base's ggml blocks become F16: lora/fold.ts foldedDtype), every other tensor copied byte for byte, and the base's non-weight files (config, tokenizer, generation config)
 * copied, so the next stage loads it like any Hugging Face folder.
 */
import type { ByteSink } from '../../io/bytes.ts';
import { AlloyError, throwIfAborted } from '../../common/errors.ts';
import { readBytes, type ModelFiles } from '../../io/model-files.ts';
import type { PeftAdapter } from '../../io/peft.ts';
import { INDEX_FILE, openCheckpoint, writeCheckpoint } from '../../io/safetensors/checkpoint.ts';
import { encodeFromF32, type FloatDType } from '../../io/safetensors/dtypes.ts';
import type { TensorToWrite } from '../../io/safetensors/writer.ts';
import { foldedDtype, withAdapter } from '../lora/fold.ts';

/** Files of a model folder that are not weights and belong to the model itself (a merge's YAML does not). */
export function isCarriedFile(path: string): boolean {
  if (path.endsWith('.safetensors') || path === INDEX_FILE) return false;
  if (path === 'mergekit_config.yml' || path.startsWith('adapter_')) return false;
  return !path.startsWith('.');
}

export async function copyFile(from: ModelFiles, path: string, openSink: (name: string) => Promise<ByteSink>): Promise<void> {
  const sink = await openSink(path);
  await sink.write(await readBytes(from, path));
  await sink.close();
}

export async function writeFoldedModel(base: ModelFiles, adapter: PeftAdapter, openSink: (name: string) => Promise<ByteSink>, signal?: AbortSignal): Promise<void> {
  const stored = await openCheckpoint(base);
  const folded = withAdapter(stored, adapter);
  const adapted = new Set(adapter.pairs.map((p) => p.target));
  const tensors: TensorToWrite[] = stored.names().map((name) => {
    const info = stored.info(name);
    const dtype = foldedDtype(info);
    if (!adapted.has(name) && info.ggmlType === undefined) return { name, dtype, shape: info.shape, data: () => stored.readRaw(name) };
    if (dtype !== 'F32' && dtype !== 'F16' && dtype !== 'BF16') {
      throw new AlloyError(`${base.label}: cannot fold a LoRA into ${name}, stored as ${info.dtype}`, { tensor: name });
    }
    return {
      name,
      dtype,
      shape: info.shape,
      data: async () => {
        throwIfAborted(signal, 'fold');
        return encodeFromF32(dtype, await folded.readF32(name));
      },
    };
  });
  await writeCheckpoint(tensors, { openSink, metadata: { format: 'pt' } });
  for (const f of base.files) if (isCarriedFile(f.path)) await copyFile(base, f.path, openSink);
}
