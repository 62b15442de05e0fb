// A model's weights as one name → tensor map, whether they live in model.safetensors or in shards listed by
// model.safetensors.index.json; and the inverse, writing a checkpoint split into shards like mergekit does.
//
// ggml blocks: a tensor imported from GGUF in a block-quantised type (Q4_K, Q8_0, …) is stored as U8
// [rows, rowBytes], its GGUF block bytes unchanged (a row is whole blocks), and named in the file's metadata under
// GGML_TYPES_KEY (a JSON object: tensor name → ggml type name). The checkpoint shows it as the logical F32
// [rows, cols] (info().ggmlType names the type): readRaw / readF32 give ggml's de-quantised values, so export,
// merge, folding and the CPU reference read it like any F32 tensor, and readBlocks gives the blocks to the GPU
// loader, which keeps them packed (engine/model/weights.ts).
import type { ByteSink } from '../bytes.ts';
import { AlloyError } from '../../common/errors.ts';
import { hasFile, readJson, type ModelFiles } from '../model-files.ts';
import type { TensorInfo } from './header.ts';
import { openSafetensors, type SafetensorsFile } from './reader.ts';
import { tensorByteSize, writeSafetensors, type TensorToWrite } from './writer.ts';
import { BLOCK_DECODERS, dequantize } from '../gguf/dequant.ts';

export const INDEX_FILE = 'model.safetensors.index.json';
/** safetensors metadata key naming the tensors stored as ggml blocks (see "ggml blocks" above) */
export const GGML_TYPES_KEY = 'alloy.ggml_types';
export const SINGLE_FILE = 'model.safetensors';
const PICKLE = /\.(bin|pt|pth|ckpt)$/i;

export interface CheckpointTensor {
  file: SafetensorsFile;
  info: TensorInfo;
}

export interface Checkpoint {
  readonly files: readonly SafetensorsFile[];
  readonly tensors: ReadonlyMap<string, CheckpointTensor>;
  names(): string[];
  info(name: string): TensorInfo;
  readRaw(name: string): Promise<Uint8Array>;
  readF32(name: string): Promise<Float32Array<ArrayBuffer>>;
  /** The stored ggml blocks of a tensor whose info has a ggmlType (absent when the checkpoint has none). */
  readBlocks?(name: string): Promise<Uint8Array>;
}

export async function openCheckpoint(m: ModelFiles): Promise<Checkpoint> {
  if (hasFile(m, INDEX_FILE)) return openSharded(m);
  const rootWeights = m.files.map((f) => f.path).filter((p) => !p.includes('/') && p.endsWith('.safetensors'));
  if (hasFile(m, SINGLE_FILE)) return fromFiles([await openSafetensors(await m.open(SINGLE_FILE))]);
  if (rootWeights.length === 1) return fromFiles([await openSafetensors(await m.open(rootWeights[0]!))]);
  if (rootWeights.length > 1) {
    throw new AlloyError(
      `${m.label} has several safetensors files (${rootWeights.join(', ')}) but no ${INDEX_FILE} saying which ` +
        `tensor lives where`,
      { file: INDEX_FILE },
    );
  }
  const pickles = m.files.map((f) => f.path).filter((p) => PICKLE.test(p));
  if (pickles.length > 0) {
    throw new AlloyError(
      `${m.label} has only PyTorch pickle weights (${pickles.slice(0, 3).join(', ')}${pickles.length > 3 ? ', …' : ''}) ` +
        `and no safetensors. Pickle files can run arbitrary code when loaded, so Alloy only loads safetensors. ` +
        `Convert the model with transformers: load it and call save_pretrained(dir, safe_serialization=True).`,
      { file: pickles[0] },
    );
  }
  throw new AlloyError(`${m.label} has no weights: neither ${SINGLE_FILE} nor ${INDEX_FILE}`, { file: SINGLE_FILE });
}

async function openSharded(m: ModelFiles): Promise<Checkpoint> {
  const where = `${m.label}: ${INDEX_FILE}`;
  const index = await readJson(m, INDEX_FILE);
  const map = (index as { weight_map?: unknown } | null)?.weight_map;
  if (typeof map !== 'object' || map === null || Array.isArray(map)) {
    throw new AlloyError(`${where} has no "weight_map" object`, { file: INDEX_FILE, field: 'weight_map' });
  }
  const entries = Object.entries(map as Record<string, unknown>);
  if (entries.length === 0) throw new AlloyError(`${where} lists no tensors`, { file: INDEX_FILE, field: 'weight_map' });

  const shards = new Map<string, SafetensorsFile>();
  const tensors = new Map<string, CheckpointTensor>();
  for (const [tensor, shard] of entries) {
    if (typeof shard !== 'string' || shard === '') {
      throw new AlloyError(`${where} maps tensor "${tensor}" to ${JSON.stringify(shard)}, not a file name`, {
        file: INDEX_FILE,
        tensor,
      });
    }
    let file = shards.get(shard);
    if (!file) {
      if (!hasFile(m, shard)) {
        throw new AlloyError(`${where} names shard ${shard} (for tensor "${tensor}"), but ${m.label} has no such file`, {
          file: shard,
          tensor,
        });
      }
      file = await openSafetensors(await m.open(shard));
      shards.set(shard, file);
    }
    const info = file.tensors.get(tensor);
    if (!info) {
      throw new AlloyError(`${where} says tensor "${tensor}" is in ${shard}, but that shard has no such tensor`, {
        file: shard,
        tensor,
      });
    }
    tensors.set(tensor, { file, info });
  }
  return checkpoint([...shards.values()], tensors);
}

/** The tensors a checkpoint stores as ggml blocks: name → ggml type (empty for a plain checkpoint). */
export function ggmlTypesOf(ck: Checkpoint): Record<string, string> {
  const types: Record<string, string> = {};
  for (const name of ck.names()) {
    const t = ck.info(name).ggmlType;
    if (t !== undefined) types[name] = t;
  }
  return types;
}

function fromFiles(files: SafetensorsFile[]): Checkpoint {
  const tensors = new Map<string, CheckpointTensor>();
  for (const file of files) for (const info of file.tensors.values()) tensors.set(info.name, { file, info });
  return checkpoint(files, tensors);
}

function checkpoint(files: SafetensorsFile[], stored: Map<string, CheckpointTensor>): Checkpoint {
  const tensors = new Map<string, CheckpointTensor>();
  for (const [name, t] of stored) tensors.set(name, { file: t.file, info: logicalInfo(t) });
  const get = (name: string): CheckpointTensor => {
    const t = tensors.get(name);
    if (!t) throw new AlloyError(`the checkpoint has no tensor "${name}"`, { tensor: name });
    return t;
  };
  const readF32 = async (name: string): Promise<Float32Array<ArrayBuffer>> => {
    const t = get(name);
    if (t.info.ggmlType === undefined) return t.file.readF32(name);
    return dequantize(t.info.ggmlType, await t.file.readRaw(name));
  };
  return {
    files,
    tensors,
    names: () => [...tensors.keys()],
    info: (name) => get(name).info,
    readRaw: async (name) => {
      const t = get(name);
      if (t.info.ggmlType === undefined) return t.file.readRaw(name);
      const f = await readF32(name);
      return new Uint8Array(f.buffer, f.byteOffset, f.byteLength);
    },
    readF32,
    readBlocks: async (name) => {
      const t = get(name);
      if (t.info.ggmlType === undefined) throw new AlloyError(`tensor "${name}" is ${t.info.dtype}, not ggml blocks`, { tensor: name });
      return t.file.readRaw(name);
    },
  };
}

/** A tensor's info as the checkpoint shows it: a ggml-block tensor as its logical F32 [rows, cols], checked. */
function logicalInfo({ file, info }: CheckpointTensor): TensorInfo {
  const raw = file.metadata[GGML_TYPES_KEY];
  if (raw === undefined) return info;
  let types: unknown;
  try {
    types = JSON.parse(raw);
  } catch {
    throw new AlloyError(`${file.name}: metadata "${GGML_TYPES_KEY}" is not JSON`, { file: file.name, field: GGML_TYPES_KEY });
  }
  const type = (types as Record<string, unknown> | null)?.[info.name];
  if (type === undefined) return info;
  const where = { file: file.name, tensor: info.name };
  const block = typeof type === 'string' ? BLOCK_DECODERS[type] : undefined;
  if (!block) throw new AlloyError(`${file.name}: tensor "${info.name}" is marked as ggml type ${String(type)}, which Alloy cannot read`, where);
  const [rows, rowBytes] = info.shape;
  if (info.dtype !== 'U8' || info.shape.length !== 2 || rowBytes! % block.bytes !== 0) {
    throw new AlloyError(
      `${file.name}: tensor "${info.name}" is marked as ${type} blocks but is ${info.dtype} [${info.shape.join(', ')}], not U8 [rows, whole ${block.bytes}-byte blocks]`,
      where,
    );
  }
  return { ...info, dtype: 'F32', shape: [rows!, (rowBytes! / block.bytes) * block.block], ggmlType: type as string };
}

export interface WriteCheckpointOptions {
  /** mergekit's rule: a new shard starts when current + next tensor bytes would exceed this (default 5e9) */
  maxShardBytes?: number;
  metadata?: Record<string, string>;
  openSink: (fileName: string) => Promise<ByteSink>;
}

export interface CheckpointIndex {
  metadata: { total_size: number };
  weight_map: Record<string, string>;
}

export function shardName(i: number, n: number): string {
  const pad = (k: number) => String(k).padStart(5, '0');
  return `model-${pad(i)}-of-${pad(n)}.safetensors`;
}

/** Splits tensors, in the given order, into shards of at most maxShardBytes (a bigger tensor gets its own). */
export function planShards(tensors: readonly TensorToWrite[], maxShardBytes: number): TensorToWrite[][] {
  const shards: TensorToWrite[][] = [];
  let current: TensorToWrite[] = [];
  let bytes = 0;
  for (const t of tensors) {
    const size = tensorByteSize(t);
    if (current.length > 0 && bytes + size > maxShardBytes) {
      shards.push(current);
      current = [];
      bytes = 0;
    }
    current.push(t);
    bytes += size;
  }
  if (current.length > 0 || shards.length === 0) shards.push(current);
  return shards;
}

/**
 * Writes a checkpoint: one shard as model.safetensors, several as model-0000i-of-0000N.safetensors plus
 * model.safetensors.index.json. Every sink is closed by the time this resolves.
 */
export async function writeCheckpoint(
  tensors: readonly TensorToWrite[],
  opts: WriteCheckpointOptions,
): Promise<{ files: string[]; index?: CheckpointIndex }> {
  const max = opts.maxShardBytes ?? 5e9;
  if (!(max > 0)) throw new AlloyError(`maxShardBytes must be positive, got ${max}`, { field: 'maxShardBytes' });
  const seen = new Set<string>();
  for (const t of tensors) {
    if (seen.has(t.name)) throw new AlloyError(`tensor "${t.name}" is given twice`, { tensor: t.name });
    seen.add(t.name);
  }
  const shards = planShards(tensors, max);
  if (shards.length === 1) {
    await writeSafetensors(await opts.openSink(SINGLE_FILE), shards[0]!, opts.metadata);
    return { files: [SINGLE_FILE] };
  }
  const files: string[] = [];
  const weightMap: Record<string, string> = {};
  let total = 0;
  for (const [i, shard] of shards.entries()) {
    const name = shardName(i + 1, shards.length);
    await writeSafetensors(await opts.openSink(name), shard, opts.metadata);
    for (const t of shard) {
      weightMap[t.name] = name;
      total += tensorByteSize(t);
    }
    files.push(name);
  }
  const index: CheckpointIndex = { metadata: { total_size: total }, weight_map: weightMap };
  const sink = await opts.openSink(INDEX_FILE);
  await sink.write(new TextEncoder().encode(JSON.stringify(index, null, 2) + '\n'));
  await sink.close();
  files.push(INDEX_FILE);
  return { files, index };
}
