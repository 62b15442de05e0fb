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
 *
 * An adapter imported from PEFT files (worker/adapter-import.ts) is stored as the same blob at step 0 with the
 * adapter tensors only (no optimizer state: it cannot be resumed, only exported and folded), each in its file's own
 * dtype so that it goes out again byte for byte, and the original adapter_config.json under "alloy.peft_config".
 */
import { BlobSink, type ByteSource } from '../../io/bytes.ts';
import { AlloyError } from '../../common/errors.ts';
import { openSafetensors } from '../../io/safetensors/reader.ts';
import { writeSafetensors, type TensorToWrite } from '../../io/safetensors/writer.ts';
import { readBuffer, writeRange, type BufferOrRange } from '../gpu/buffer-pool.ts';
import { encodeFromF32 } from '../../io/safetensors/dtypes.ts';
import type { HalfStore } from './adamw.ts';
import { isMethod } from './objectives.ts';
import { TRAIN_FIELDS, appliesTo, field } from './settings.ts';

export const CHECKPOINT_FORMAT = 'alloy-trainer-checkpoint';
export const CHECKPOINT_VERSION = 1;
const META_KEY = 'alloy.trainer';
const PEFT_CONFIG_KEY = 'alloy.peft_config';
/** the step an imported adapter's checkpoint is stored under */
export const IMPORTED_STEP = 0;

/**
 * One optimised tensor: its key (a PEFT key; a full fine-tune's: full-optim.ts fullTensorKey), shape, and GPU
 * buffers (param, AdamW m and v). A full fine-tune's 16-bit weight has `store`: param is its f32 master and the
 * model's own weight the rounded copy (adamw.ts); `decay: false` exempts a tensor from weight decay.
 */
export interface OptimTensor {
  key: string;
  shape: [number, number];
  n: number;
  /** a LoRA A's param and grad are blocks of its group's buffers (lora/adapter.ts) */
  param: BufferOrRange;
  grad: BufferOrRange;
  m: GPUBuffer;
  v: GPUBuffer;
  decay?: boolean;
  store?: HalfStore;
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
  /** the adapter trained, or null for a full fine-tune (every parameter: `mode` 'full') */
  lora: CheckpointLora | null;
  mode?: 'full';
  /**
   * a full fine-tune's DPO/IPO reference log-probs, computed once from the starting weights (TRL's
   * precompute_ref_log_probs): per training and per held-out unit, its sequences' statistics
   */
  refLogps?: { train: number[][]; val: number[][] };
  /** per-step events so far (charts continue across a resume) */
  history: unknown[];
}

/** The adapter a checkpoint belongs to (PEFT LoraConfig's hyperparameters); a run resumes only with the same one. */
export interface CheckpointLora {
  r: number;
  alpha: number;
  useRslora: boolean;
  targets: string[];
  /** PEFT's lora_dropout; absent from checkpoints written before it was recorded (then it is not checked) */
  dropout?: number;
}

/** A run's adapter, as the Trainer has it (a GpuLora fits). */
export type RunLora = Readonly<Omit<CheckpointLora, 'targets'>> & { targets: readonly string[] };

/** A run's adapter as a checkpoint records it. */
export function checkpointLora(l: RunLora): CheckpointLora {
  return { r: l.r, alpha: l.alpha, useRslora: l.useRslora, targets: [...l.targets], dropout: l.dropout ?? 0 };
}

/**
 * How a checkpoint's adapter differs from the run's, in PEFT's names (e.g. "lora_dropout 0.1 (this run: 0)"), or
 * null when they agree. Targets are compared as a set; a checkpoint without a recorded dropout passes on dropout.
 */
export function loraMismatch(saved: CheckpointLora, run: RunLora): string | null {
  const diffs: string[] = [];
  const differ = (name: string, was: unknown, now: unknown) => diffs.push(`${name} ${String(was)} (this run: ${String(now)})`);
  const hf = (key: string) => field(key).hf!; // PEFT's names, from the settings schema
  if (saved.r !== run.r) differ(hf('rank'), saved.r, run.r);
  if (saved.alpha !== run.alpha) differ(hf('alpha'), saved.alpha, run.alpha);
  if (saved.useRslora !== run.useRslora) differ('use_rslora', saved.useRslora, run.useRslora);
  const set = (t: readonly string[]) => [...new Set(t)].sort().join(',');
  if (set(saved.targets) !== set(run.targets)) differ(hf('targets'), set(saved.targets), set(run.targets));
  if (saved.dropout !== undefined && saved.dropout !== (run.dropout ?? 0)) differ(hf('dropout'), saved.dropout, run.dropout ?? 0);
  return diffs.length > 0 ? diffs.join(', ') : null;
}

/** A run's objective, as the Trainer's config has it (a TrainConfig fits). */
export interface RunObjective {
  method: string;
  objective: { beta?: number; labelSmoothing?: number };
}

/**
 * How the objective a checkpoint was trained with differs from the run's, in TRL's names (e.g. "label_smoothing 0.1
 * (this run: 0)"), or null when they agree. A resumed run that changed them would continue one loss curve under
 * another loss. The hyperparameters compared are the objective fields of the settings schema (settings.ts), each
 * where the objective reads it (beta: DPO, IPO, ORPO, between runs of one objective; label smoothing: read as 0
 * where DPO's loss is not used). A checkpoint without a recorded method (an imported adapter) passes; one written
 * before label smoothing was recorded trained with 0 (the trainer had no other value then).
 */
export function objectiveMismatch(saved: Record<string, unknown>, run: RunObjective): string | null {
  if (typeof saved.method !== 'string') return null;
  const diffs: string[] = [];
  const differ = (name: string, was: unknown, now: unknown) => diffs.push(`${name} ${String(was)} (this run: ${String(now)})`);
  if (saved.method !== run.method) differ('method', saved.method, run.method);
  const obj = (saved.objective ?? {}) as Record<string, number | undefined>;
  const now = run.objective as Record<string, number | undefined>;
  // every numeric hyperparameter of an objective in the settings schema, under its TRL name
  for (const f of TRAIN_FIELDS) {
    if (!f.objective || f.kind !== 'number') continue;
    const takes = (m: unknown) => typeof m === 'string' && isMethod(m) && appliesTo(f, m);
    if (f.off !== undefined) {
      const value = (m: unknown, o: Record<string, number | undefined>) => (takes(m) ? (o[f.key] ?? f.off) : f.off);
      const was = value(saved.method, obj);
      const is = value(run.method, now);
      if (was !== is) differ(f.hf!, was, is);
    } else if (saved.method === run.method && takes(run.method) && obj[f.key] !== now[f.key]) differ(f.hf!, obj[f.key], now[f.key]);
  }
  return diffs.length > 0 ? diffs.join(', ') : null;
}

/** How one tensor is stored: the parameter under its PEFT key, AdamW's m and v under torch's state names. */
function storedAs(t: OptimTensor): [name: string, buf: BufferOrRange][] {
  return [
    [t.key, t.param],
    [`optimizer.exp_avg.${t.key}`, t.m],
    [`optimizer.exp_avg_sq.${t.key}`, t.v],
  ];
}

export async function encodeCheckpoint(device: GPUDevice, tensors: readonly OptimTensor[], meta: CheckpointMeta): Promise<Blob> {
  const out: TensorToWrite[] = [];
  for (const t of tensors) {
    for (const [name, buf] of storedAs(t)) {
      out.push({ name, dtype: 'F32', shape: t.shape, data: new Uint8Array(await readBuffer(device, buf, t.n * 4)) });
    }
  }
  const sink = new BlobSink();
  await writeSafetensors(sink, out, { [META_KEY]: JSON.stringify(meta) });
  return sink.blob();
}

/**
 * Reads a checkpoint's metadata, and with `tensors`, uploads A/B/m/v into them (shapes must match). With `lora`, a
 * checkpoint of a different adapter (loraMismatch) is refused before anything is uploaded; with `run`, one trained
 * with a different objective (objectiveMismatch) too.
 */
export async function restoreCheckpoint(device: GPUDevice, src: ByteSource, tensors: readonly OptimTensor[], lora?: RunLora | null, run?: RunObjective): Promise<CheckpointMeta> {
  const file = await openSafetensors(src);
  const raw = file.metadata[META_KEY];
  if (!raw) throw new AlloyError(`${src.name}: not an Alloy training checkpoint (no "${META_KEY}" metadata)`, { file: src.name });
  const meta = JSON.parse(raw) as CheckpointMeta;
  if (meta.format !== CHECKPOINT_FORMAT || meta.version !== CHECKPOINT_VERSION) {
    throw new AlloyError(`${src.name}: checkpoint format ${meta.format} v${meta.version} is not ${CHECKPOINT_FORMAT} v${CHECKPOINT_VERSION}`, { file: src.name });
  }
  // lora null: a full fine-tune resuming
  if (lora === null && meta.lora) throw new AlloyError(`${src.name}: the checkpoint is of a LoRA run, not a full fine-tune: resume it with mode lora, or start a new run`, { file: src.name });
  if (lora && !meta.lora) throw new AlloyError(`${src.name}: the checkpoint is of a full fine-tune, not a LoRA: resume it with mode full, or start a new run`, { file: src.name });
  const why = lora && meta.lora ? loraMismatch(meta.lora, lora) : null;
  if (why) {
    throw new AlloyError(`${src.name}: the checkpoint is of a different LoRA: ${why}; resume with the checkpoint's adapter settings, or start a new run`, { file: src.name });
  }
  const whyObjective = run ? objectiveMismatch(meta.config, run) : null;
  if (whyObjective) {
    throw new AlloyError(`${src.name}: the checkpoint was trained with another objective: ${whyObjective}; resume with the checkpoint's settings, or start a new run`, {
      file: src.name,
    });
  }
  for (const t of tensors) {
    for (const [name, buf] of storedAs(t)) {
      const info = file.tensors.get(name);
      if (!info) throw new AlloyError(`${src.name}: no tensor "${name}": the checkpoint is of a different adapter`, { file: src.name, tensor: name });
      if (info.dtype !== 'F32' || info.shape.join(',') !== t.shape.join(',')) {
        throw new AlloyError(`${src.name}: "${name}" is ${info.dtype} [${info.shape.join(', ')}], expected F32 [${t.shape.join(', ')}]`, { file: src.name, tensor: name });
      }
      const data = await file.readF32(name);
      writeRange(device, buf, data);
      // a full fine-tune's master: the model's 16-bit weight is its rounding, as after the update that wrote it
      if (buf === t.param && t.store) device.queue.writeBuffer(t.store.buffer, 0, halvesOf(data, t.store.dtype));
    }
  }
  return meta;
}

/** f32 values rounded to nearest even as the 16-bit weights are stored (dtypes.ts), padded to whole u32 words. */
function halvesOf(data: Float32Array, dtype: HalfStore['dtype']): Uint8Array<ArrayBuffer> {
  const bytes = encodeFromF32(dtype === 'bf16' ? 'BF16' : 'F16', data);
  if (bytes.byteLength % 4 === 0) return bytes;
  const padded = new Uint8Array(bytes.byteLength + 2);
  padded.set(bytes);
  return padded;
}

/** An imported PEFT adapter as a checkpoint blob (see the top of this file): its tensors as given, its config text. */
export async function encodeImportedAdapter(tensors: readonly TensorToWrite[], lora: CheckpointMeta['lora'], peftConfig: string): Promise<Blob> {
  const meta: CheckpointMeta = { format: CHECKPOINT_FORMAT, version: CHECKPOINT_VERSION, step: IMPORTED_STEP, epoch: 0, cursor: 0, config: {}, lora, history: [] };
  const sink = new BlobSink();
  await writeSafetensors(sink, tensors, { format: 'pt', [META_KEY]: JSON.stringify(meta), [PEFT_CONFIG_KEY]: peftConfig });
  return sink.blob();
}

/**
 * The adapter tensors (PEFT keys) of a checkpoint, for writing adapter_model.safetensors from it, and the original
 * adapter_config.json of an imported adapter (null for a trained one).
 */
export async function checkpointAdapterTensors(src: ByteSource): Promise<{ meta: CheckpointMeta; tensors: TensorToWrite[]; peftConfig: string | null }> {
  const file = await openSafetensors(src);
  const meta = JSON.parse(file.metadata[META_KEY] ?? 'null') as CheckpointMeta | null;
  if (!meta) throw new AlloyError(`${src.name}: not an Alloy training checkpoint`, { file: src.name });
  const tensors: TensorToWrite[] = [];
  for (const [name, info] of file.tensors) {
    if (name.startsWith('optimizer.')) continue;
    tensors.push({ name, dtype: info.dtype, shape: info.shape, data: (await file.readRaw(name)).slice() });
  }
  return { meta, tensors, peftConfig: file.metadata[PEFT_CONFIG_KEY] ?? null };
}
