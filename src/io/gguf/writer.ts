// Streaming GGUF v3 writer (layout in format.ts). Offsets follow from shapes and types alone, so the header goes out
// first and each tensor's bytes follow in turn, produced lazily (one tensor in memory at a time), each padded to
// the alignment as gguf-py's GGUFWriter does.
import type { ByteSink } from '../bytes.ts';
import { AlloyError } from '../../common/errors.ts';
import {
  ALIGNMENT_KEY,
  GGUF_DEFAULT_ALIGNMENT,
  GGUF_MAGIC,
  GGUF_VERSION,
  ValueType,
  alignUp,
  ggmlByteSize,
  type GgmlTypeInfo,
  type GgufScalar,
  type GgufValue,
} from './format.ts';

export interface GgufTensorToWrite {
  name: string;
  /** numpy/PyTorch order ([rows, cols]); written reversed as ggml's ne[] */
  shape: readonly number[];
  type: GgmlTypeInfo;
  data: Uint8Array | (() => Promise<Uint8Array>);
}

/** Growable little-endian byte buffer for the header. */
class Bytes {
  private buf = new Uint8Array(1 << 16);
  private view = new DataView(this.buf.buffer);
  length = 0;
  private static enc = new TextEncoder();

  private room(n: number): number {
    if (this.length + n > this.buf.byteLength) {
      const next = new Uint8Array(Math.max(this.buf.byteLength * 2, this.length + n));
      next.set(this.buf.subarray(0, this.length));
      this.buf = next;
      this.view = new DataView(next.buffer);
    }
    const at = this.length;
    this.length += n;
    return at;
  }
  u8(x: number) { this.view.setUint8(this.room(1), x); }
  i8(x: number) { this.view.setInt8(this.room(1), x); }
  u16(x: number) { this.view.setUint16(this.room(2), x, true); }
  i16(x: number) { this.view.setInt16(this.room(2), x, true); }
  u32(x: number) { this.view.setUint32(this.room(4), x, true); }
  i32(x: number) { this.view.setInt32(this.room(4), x, true); }
  f32(x: number) { this.view.setFloat32(this.room(4), x, true); }
  f64(x: number) { this.view.setFloat64(this.room(8), x, true); }
  u64(x: number | bigint) { this.view.setBigUint64(this.room(8), BigInt(x), true); }
  i64(x: number | bigint) { this.view.setBigInt64(this.room(8), BigInt(x), true); }
  string(s: string) {
    const b = Bytes.enc.encode(s);
    this.u64(b.byteLength);
    this.buf.set(b, this.room(b.byteLength));
  }
  bytes(): Uint8Array {
    return this.buf.subarray(0, this.length);
  }
}

function writeScalar(out: Bytes, type: number, v: GgufScalar, key: string): void {
  const bad = () => new AlloyError(`GGUF metadata "${key}": ${JSON.stringify(typeof v === 'bigint' ? String(v) : v)} does not fit value type ${type}`, { field: key });
  if (type === ValueType.STRING) {
    if (typeof v !== 'string') throw bad();
    return out.string(v);
  }
  if (type === ValueType.BOOL) {
    if (typeof v !== 'boolean') throw bad();
    return out.u8(v ? 1 : 0);
  }
  if (type === ValueType.UINT64 || type === ValueType.INT64) {
    if (typeof v !== 'bigint' && !(typeof v === 'number' && Number.isSafeInteger(v))) throw bad();
    return type === ValueType.UINT64 ? out.u64(v) : out.i64(v);
  }
  if (typeof v !== 'number') throw bad();
  switch (type) {
    case ValueType.FLOAT32: return out.f32(v);
    case ValueType.FLOAT64: return out.f64(v);
  }
  if (!Number.isInteger(v)) throw bad();
  switch (type) {
    case ValueType.UINT8: return out.u8(v);
    case ValueType.INT8: return out.i8(v);
    case ValueType.UINT16: return out.u16(v);
    case ValueType.INT16: return out.i16(v);
    case ValueType.UINT32: return out.u32(v);
    case ValueType.INT32: return out.i32(v);
  }
  throw bad();
}

/**
 * Writes a GGUF v3 file and closes the sink. `metadata` is written in insertion order; general.alignment, when
 * present, sets the alignment. On failure the sink is left unclosed (a committing sink publishes nothing).
 */
export async function writeGguf(
  sink: ByteSink,
  metadata: ReadonlyMap<string, GgufValue>,
  tensors: readonly GgufTensorToWrite[],
): Promise<void> {
  const alignValue = metadata.get(ALIGNMENT_KEY);
  const alignment = alignValue ? Number(alignValue.value) : GGUF_DEFAULT_ALIGNMENT;
  const h = new Bytes();
  h.u32(GGUF_MAGIC);
  h.u32(GGUF_VERSION);
  h.u64(tensors.length);
  h.u64(metadata.size);
  for (const [key, v] of metadata) {
    h.string(key);
    h.u32(v.type);
    if (v.type === ValueType.ARRAY) {
      h.u32(v.itemType);
      h.u64(v.value.length);
      for (const x of v.value) writeScalar(h, v.itemType, x, key);
    } else {
      writeScalar(h, v.type, v.value, key);
    }
  }
  const sizes: number[] = [];
  const seen = new Set<string>();
  let offset = 0;
  for (const t of tensors) {
    if (seen.has(t.name)) throw new AlloyError(`tensor "${t.name}" is given twice`, { tensor: t.name });
    seen.add(t.name);
    const dims = [...t.shape].reverse();
    let size: number;
    try {
      size = ggmlByteSize(t.type, dims);
    } catch (e) {
      throw new AlloyError(`tensor "${t.name}": ${(e as Error).message}`, { tensor: t.name });
    }
    h.string(t.name);
    h.u32(dims.length);
    for (const d of dims) h.u64(d);
    h.u32(t.type.id);
    h.u64(offset);
    sizes.push(size);
    offset += alignUp(size, alignment);
  }
  const header = h.bytes();
  await sink.write(header);
  const pad = (n: number) => (n % alignment === 0 ? null : new Uint8Array(alignment - (n % alignment)));
  const headerPad = pad(header.byteLength);
  if (headerPad) await sink.write(headerPad);
  for (const [i, t] of tensors.entries()) {
    const data = t.data instanceof Uint8Array ? t.data : await t.data();
    if (data.byteLength !== sizes[i]) {
      throw new AlloyError(
        `tensor "${t.name}": shape ${JSON.stringify(t.shape)} × ${t.type.name} needs ${sizes[i]} bytes but ${data.byteLength} were given`,
        { tensor: t.name },
      );
    }
    await sink.write(data);
    const p = pad(data.byteLength);
    if (p) await sink.write(p);
  }
  await sink.close();
}

/** Shorthands for building metadata maps. */
export const gv = {
  str: (value: string): GgufValue => ({ type: ValueType.STRING, value }),
  u32: (value: number): GgufValue => ({ type: ValueType.UINT32, value }),
  i32: (value: number): GgufValue => ({ type: ValueType.INT32, value }),
  f32: (value: number): GgufValue => ({ type: ValueType.FLOAT32, value }),
  bool: (value: boolean): GgufValue => ({ type: ValueType.BOOL, value }),
  strs: (value: string[]): GgufValue => ({ type: ValueType.ARRAY, itemType: ValueType.STRING, value }),
  f32s: (value: number[]): GgufValue => ({ type: ValueType.ARRAY, itemType: ValueType.FLOAT32, value }),
  i32s: (value: number[]): GgufValue => ({ type: ValueType.ARRAY, itemType: ValueType.INT32, value }),
};
