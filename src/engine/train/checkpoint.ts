/**
 * A training checkpoint: the whole state needed to continue a run exactly where it stopped, as ONE safetensors
 * blob (CheckpointStore in io/checkpoints.ts decides where it lives).
 *
 * Layout:
 *   tensors (F32):  <PEFT key>                         adapter A [r, in] / B [out, r], e.g.
 *                                                      base_model.model.model.layers.0.self_attn.q_proj.lora_A.weight
 *                   optimizer.exp_avg.<PEFT key>       AdamW m (torch's state name), same shape
 *                   optimizer.exp_avg_sq.<PEFT key>    AdamW v
 *   __metadata__:   format "pt", "alloy.trainer": JSON of CheckpointMeta (step, data order, schedule, config,
 *                   metrics history).
 * The schedule position is the step itself (the LR of step s is a pure function of s, schedule.ts); the data
 * order is (seed, epoch, cursor) because every epoch's permutation is derived from seed and epoch alone.
 */
import { BlobSink, type ByteSource } from '../../io/bytes.ts';
import { AlloyError } from '../../io/errors.ts';
import { openSafetensors } from '../../io/safetensors/reader.ts';
import { writeSafetensors, type TensorToWrite } from '../../io/safetensors/writer.ts';
import { readBuffer } from '../gpu/buffer-pool.ts';

export const CHECKPOINT_FORMAT = 'alloy-trainer-checkpoint';
export const CHECKPOINT_VERSION = 1;
const META_KEY = 'alloy.trainer';

/** One optimised tensor: its PEFT key, shape, and GPU buffers (param, AdamW m and v). */
export interface OptimTensor {
  key: string;
  shape: [number, number];
  n: number;
  param: GPUBuffer;
  grad: GPUBuffer;
  m: GPUBuffer;
  v: GPUBuffer;
}

export interface CheckpointMeta {
  format: typeof CHECKPOINT_FORMAT;
  version: number;
  /** optimizer steps done */
  step: number;
  /** data order: the epoch and the position within its permutation of the next unit */
  epoch: number;
  cursor: number;
  /** the training configuration of the run (what was fixed when it started) */
  config: Record<string, unknown>;
  lora: { r: number; alpha: number; useRslora: boolean; targets: string[] };
  /** per-step events so far (charts continue across a resume) */
  history: unknown[];
}

export async function encodeCheckpoint(device: GPUDevice, tensors: readonly OptimTensor[], meta: CheckpointMeta): Promise<Blob> {
  const out: TensorToWrite[] = [];
  for (const t of tensors) {
    for (const [name, buf] of [
      [t.key, t.param],
      [`optimizer.exp_avg.${t.key}`, t.m],
      [`optimizer.exp_avg_sq.${t.key}`, t.v],
    ] as const) {
      out.push({ name, dtype: 'F32', shape: t.shape, data: new Uint8Array(await readBuffer(device, buf, t.n * 4)) });
    }
  }
  const sink = new BlobSink();
  await writeSafetensors(sink, out, { [META_KEY]: JSON.stringify(meta) });
  return sink.blob();
}

/** Reads a checkpoint's metadata, and with `tensors`, uploads A/B/m/v into them (shapes must match). */
export async function restoreCheckpoint(device: GPUDevice, src: ByteSource, tensors: readonly OptimTensor[]): Promise<CheckpointMeta> {
  const file = await openSafetensors(src);
  const raw = file.metadata[META_KEY];
  if (!raw) throw new AlloyError(`${src.name}: not an Alloy training checkpoint (no "${META_KEY}" metadata)`, { file: src.name });
  const meta = JSON.parse(raw) as CheckpointMeta;
  if (meta.format !== CHECKPOINT_FORMAT || meta.version !== CHECKPOINT_VERSION) {
    throw new AlloyError(`${src.name}: checkpoint format ${meta.format} v${meta.version} is not ${CHECKPOINT_FORMAT} v${CHECKPOINT_VERSION}`, { file: src.name });
  }
  for (const t of tensors) {
    for (const [name, buf] of [
      [t.key, t.param],
      [`optimizer.exp_avg.${t.key}`, t.m],
      [`optimizer.exp_avg_sq.${t.key}`, t.v],
    ] as const) {
      const info = file.tensors.get(name);
      if (!info) throw new AlloyError(`${src.name}: no tensor "${name}": the checkpoint is of a different adapter`, { file: src.name, tensor: name });
      if (info.dtype !== 'F32' || info.shape.join(',') !== t.shape.join(',')) {
        throw new AlloyError(`${src.name}: "${name}" is ${info.dtype} [${info.shape.join(', ')}], expected F32 [${t.shape.join(', ')}]`, { file: src.name, tensor: name });
      }
      const data = await file.readF32(name);
      device.queue.writeBuffer(buf, 0, data);
    }
  }
  return meta;
}

/** The adapter tensors (PEFT keys) of a checkpoint, for writing adapter_model.safetensors from it. */
export async function checkpointAdapterTensors(src: ByteSource): Promise<{ meta: CheckpointMeta; tensors: TensorToWrite[] }> {
  const file = await openSafetensors(src);
  const meta = JSON.parse(file.metadata[META_KEY] ?? 'null') as CheckpointMeta | null;
  if (!meta) throw new AlloyError(`${src.name}: not an Alloy training checkpoint`, { file: src.name });
  const tensors: TensorToWrite[] = [];
  for (const [name, info] of file.tensors) {
    if (name.startsWith('optimizer.')) continue;
    tensors.push({ name, dtype: info.dtype, shape: info.shape, data: (await file.readRaw(name)).slice() });
  }
  return { meta, tensors };
}
