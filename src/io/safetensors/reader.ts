// Opening a safetensors file reads only its 8-byte length and header; tensor bytes are read on demand, one tensor
// at a time, so a multi-gigabyte shard never has to fit in memory.
import type { ByteSource } from '../bytes.ts';
import { AlloyError } from '../../common/errors.ts';
import { decodeToF32 } from './dtypes.ts';
import { checkHeaderLength, parseHeader, type TensorInfo } from './header.ts';

export interface SafetensorsFile {
  readonly name: string;
  readonly metadata: Readonly<Record<string, string>>;
  /** in data order */
  readonly tensors: ReadonlyMap<string, TensorInfo>;
  /** absolute offset of the data region (8 + header length) */
  readonly dataStart: number;
  /** The tensor's bytes as stored (little-endian). May share memory with the source; copy before mutating. */
  readRaw(name: string): Promise<Uint8Array>;
  /** The tensor decoded to float32 (a fresh array). */
  readF32(name: string): Promise<Float32Array<ArrayBuffer>>;
}

export async function openSafetensors(src: ByteSource): Promise<SafetensorsFile> {
  const file = src.name;
  if (src.size < 8) {
    throw new AlloyError(
      `${file}: file is ${src.size} bytes, shorter than the 8-byte header length: truncated or not a safetensors file`,
      { file },
    );
  }
  const lenBytes = await src.read(0, 8);
  const n = new DataView(lenBytes.buffer, lenBytes.byteOffset, 8).getBigUint64(0, true);
  const len = checkHeaderLength(n, file, src.size);
  const { metadata, tensors: list } = parseHeader(await src.read(8, len), file, src.size);
  const dataStart = 8 + len;
  const tensors = new Map(list.map((t) => [t.name, t]));

  const info = (name: string): TensorInfo => {
    const t = tensors.get(name);
    if (!t) throw new AlloyError(`${file}: no tensor "${name}"`, { file, tensor: name });
    return t;
  };
  const readRaw = async (name: string): Promise<Uint8Array> => {
    const t = info(name);
    return src.read(dataStart + t.begin, t.end - t.begin);
  };
  return {
    name: file,
    metadata,
    tensors,
    dataStart,
    readRaw,
    async readF32(name) {
      return decodeToF32(info(name).dtype, await readRaw(name));
    },
  };
}
