// Reading a GGUF file's header (layout in format.ts) from any ByteSource: a dropped File/Blob, cached chunks, a file
// on disk. Only the header is read (in windows, so a 150k-token vocabulary does not need the file in memory);
// tensor bytes are read on demand. Everything a later step relies on is checked here, so a truncated or corrupt
// file fails with its name and what is wrong before anything is converted.
//
// Why not @huggingface/gguf: its entry point takes a URL (fetching with HTTP Range) or, in Node only, a local
// path; it has no random-access Blob/File input, no way to read tensor data, and no writer. A ByteSource parser is
// ~200 lines and serves the browser (File), the cache (IndexedDB chunks) and Node alike.
import type { ByteSource } from '../bytes.ts';
import { AlloyError } from '../../common/errors.ts';
import {
  ALIGNMENT_KEY,
  GGUF_DEFAULT_ALIGNMENT,
  GGUF_MAGIC,
  VALUE_TYPE_BYTES,
  VALUE_TYPE_NAMES,
  ValueType,
  ggmlByteSize,
  ggmlType,
  type GgmlTypeInfo,
  type GgufScalar,
  type GgufValue,
} from './format.ts';

export interface GgufTensorInfo {
  name: string;
  /** ggml order (ne[0] fastest) */
  dims: number[];
  /** numpy/PyTorch order: dims reversed */
  shape: number[];
  type: GgmlTypeInfo;
  /** absolute byte offset in the file */
  offset: number;
  byteSize: number;
}

export interface GgufFile {
  readonly name: string;
  readonly version: number;
  readonly metadata: ReadonlyMap<string, GgufValue>;
  /** in file order */
  readonly tensors: readonly GgufTensorInfo[];
  readonly alignment: number;
  readonly dataStart: number;
  readRaw(t: GgufTensorInfo): Promise<Uint8Array>;
}

const WINDOW = 1 << 20;
const decoder = new TextDecoder('utf-8', { fatal: true });

/** Sequential reads over a ByteSource, fetching a window at a time. */
class Cursor {
  pos = 0;
  private buf: Uint8Array = new Uint8Array(0);
  private bufStart = 0;
  constructor(
    private readonly src: ByteSource,
    private readonly what: () => string,
  ) {}

  /** Throws the truncation error unless n more bytes exist (checked before allocating for a claimed length). */
  ensure(n: number): void {
    if (this.pos + n > this.src.size) {
      throw new AlloyError(
        `${this.src.name}: truncated GGUF header: ${this.what()} needs ${n} bytes at offset ${this.pos}, ` +
          `but the file ends at ${this.src.size}`,
        { file: this.src.name },
      );
    }
  }

  private async need(n: number): Promise<DataView> {
    this.ensure(n);
    const rel = this.pos - this.bufStart;
    if (rel < 0 || rel + n > this.buf.byteLength) {
      const len = Math.min(Math.max(n, WINDOW), this.src.size - this.pos);
      this.buf = await this.src.read(this.pos, len);
      this.bufStart = this.pos;
    }
    const at = this.pos - this.bufStart;
    this.pos += n;
    return new DataView(this.buf.buffer, this.buf.byteOffset + at, n);
  }

  async u32(): Promise<number> {
    return (await this.need(4)).getUint32(0, true);
  }

  /** u64 as a number; counts and sizes beyond 2^53 cannot be real in a file this size. */
  async size(): Promise<number> {
    const v = (await this.need(8)).getBigUint64(0, true);
    if (v > BigInt(Number.MAX_SAFE_INTEGER)) throw this.fail(`${this.what()} is ${v}, too large`);
    return Number(v);
  }

  async bytes(n: number): Promise<Uint8Array> {
    const v = await this.need(n);
    return new Uint8Array(v.buffer, v.byteOffset, n);
  }

  async string(): Promise<string> {
    const n = await this.size();
    this.ensure(n);
    try {
      return decoder.decode(await this.bytes(n));
    } catch {
      throw this.fail(`${this.what()} is not valid UTF-8`);
    }
  }

  async scalar(type: number): Promise<GgufScalar> {
    if (type === ValueType.STRING) return this.string();
    const size = VALUE_TYPE_BYTES[type];
    if (size === undefined) throw this.fail(`${this.what()} has unknown value type ${type}`);
    const v = await this.need(size);
    switch (type) {
      case ValueType.UINT8: return v.getUint8(0);
      case ValueType.INT8: return v.getInt8(0);
      case ValueType.UINT16: return v.getUint16(0, true);
      case ValueType.INT16: return v.getInt16(0, true);
      case ValueType.UINT32: return v.getUint32(0, true);
      case ValueType.INT32: return v.getInt32(0, true);
      case ValueType.FLOAT32: return v.getFloat32(0, true);
      case ValueType.BOOL: return v.getUint8(0) !== 0;
      case ValueType.UINT64: return v.getBigUint64(0, true);
      case ValueType.INT64: return v.getBigInt64(0, true);
      default: return v.getFloat64(0, true); // FLOAT64
    }
  }

  fail(msg: string): AlloyError {
    return new AlloyError(`${this.src.name}: ${msg}`, { file: this.src.name });
  }
}

export async function readGguf(src: ByteSource): Promise<GgufFile> {
  const file = src.name;
  let what = 'the magic number';
  const c = new Cursor(src, () => what);
  if (src.size < 4) throw new AlloyError(`${file}: ${src.size} bytes is too short for a GGUF file`, { file });
  const magic = await c.u32();
  if (magic !== GGUF_MAGIC) {
    const head = Array.from(await src.read(0, 4), (b) => b.toString(16).padStart(2, '0')).join(' ');
    throw new AlloyError(`${file}: not a GGUF file (magic bytes ${head}, expected 47 47 55 46 "GGUF")`, { file });
  }
  what = 'the version';
  const version = await c.u32();
  if (version !== 2 && version !== 3) {
    throw new AlloyError(`${file}: GGUF version ${version} is not supported (2 and 3 are)`, { file });
  }
  what = 'the tensor count';
  const tensorCount = await c.size();
  what = 'the metadata count';
  const kvCount = await c.size();
  // Every entry takes at least 8+4+1 bytes (kv) or 8+4+4+8 (tensor): larger counts mean a corrupt header.
  if (kvCount * 13 + tensorCount * 24 > src.size) {
    throw new AlloyError(`${file}: corrupt GGUF header: ${kvCount} metadata entries and ${tensorCount} tensors cannot fit in ${src.size} bytes`, { file });
  }

  const metadata = new Map<string, GgufValue>();
  for (let i = 0; i < kvCount; i++) {
    what = `metadata key ${i}`;
    const key = await c.string();
    what = `metadata "${key}"`;
    const type = await c.u32();
    if (metadata.has(key)) throw c.fail(`metadata key "${key}" appears twice`);
    if (type === ValueType.ARRAY) {
      const itemType = await c.u32();
      if (itemType === ValueType.ARRAY || VALUE_TYPE_NAMES[itemType] === undefined) {
        throw c.fail(`metadata "${key}" is an array of unsupported item type ${itemType}`);
      }
      const n = await c.size();
      const minItem = itemType === ValueType.STRING ? 8 : VALUE_TYPE_BYTES[itemType]!;
      c.ensure(n * minItem);
      const items: GgufScalar[] = new Array(n);
      for (let j = 0; j < n; j++) items[j] = await c.scalar(itemType);
      metadata.set(key, { type, itemType, value: items } as GgufValue);
    } else {
      if (VALUE_TYPE_NAMES[type] === undefined) throw c.fail(`metadata "${key}" has unknown value type ${type}`);
      metadata.set(key, { type, value: await c.scalar(type) } as GgufValue);
    }
  }

  const alignValue = metadata.get(ALIGNMENT_KEY);
  let alignment = GGUF_DEFAULT_ALIGNMENT;
  if (alignValue) {
    const a = alignValue.value;
    if (alignValue.type !== ValueType.UINT32 || typeof a !== 'number' || a <= 0 || (a & (a - 1)) !== 0) {
      throw new AlloyError(`${file}: ${ALIGNMENT_KEY} must be a u32 power of two, got ${String(a)}`, { file, field: ALIGNMENT_KEY });
    }
    alignment = a;
  }

  const raw: { name: string; dims: number[]; typeId: number; rel: number }[] = [];
  const names = new Set<string>();
  for (let i = 0; i < tensorCount; i++) {
    what = `tensor info ${i}`;
    const name = await c.string();
    what = `tensor "${name}"`;
    const nDims = await c.u32();
    if (nDims < 1 || nDims > 4) throw c.fail(`tensor "${name}" has ${nDims} dimensions (GGUF allows 1 to 4)`);
    const dims: number[] = [];
    for (let d = 0; d < nDims; d++) dims.push(await c.size());
    const typeId = await c.u32();
    const rel = await c.size();
    if (names.has(name)) throw c.fail(`tensor "${name}" appears twice`);
    names.add(name);
    raw.push({ name, dims, typeId, rel });
  }
  const dataStart = Math.ceil(c.pos / alignment) * alignment;

  const tensors: GgufTensorInfo[] = raw.map(({ name, dims, typeId, rel }) => {
    const where = { file, tensor: name };
    const type = ggmlType(typeId);
    if (!type) throw new AlloyError(`${file}: tensor "${name}" has unknown ggml type id ${typeId}`, where);
    if (rel % alignment !== 0) {
      throw new AlloyError(`${file}: tensor "${name}" starts at data offset ${rel}, not a multiple of the alignment ${alignment}`, where);
    }
    let byteSize: number;
    try {
      byteSize = ggmlByteSize(type, dims);
    } catch (e) {
      throw new AlloyError(`${file}: tensor "${name}" (${type.name}, ne ${JSON.stringify(dims)}): ${(e as Error).message}`, where);
    }
    const offset = dataStart + rel;
    if (offset + byteSize > src.size) {
      throw new AlloyError(
        `${file}: truncated: tensor "${name}" (${describeSize(type, dims, byteSize)} at ${offset}) runs past the end of the file (${src.size} bytes)`,
        where,
      );
    }
    return { name, dims, shape: [...dims].reverse(), type, offset, byteSize };
  });
  const sorted = [...tensors].sort((a, b) => a.offset - b.offset);
  for (let i = 1; i < sorted.length; i++) {
    const prev = sorted[i - 1]!;
    if (prev.offset + prev.byteSize > sorted[i]!.offset) {
      throw new AlloyError(
        `${file}: corrupt GGUF: tensor "${prev.name}" (${describeSize(prev.type, prev.dims, prev.byteSize)}) runs into tensor "${sorted[i]!.name}", ` +
          `which starts ${sorted[i]!.offset - prev.offset} bytes after it: the data holds fewer blocks than the shape needs`,
        { file, tensor: prev.name },
      );
    }
  }

  return {
    name: file,
    version,
    metadata,
    tensors,
    alignment,
    dataStart,
    readRaw: (t) => src.read(t.offset, t.byteSize),
  };
}

/** "Q4_K, ne [512, 64]: 128 blocks of 144 bytes = 18432 bytes" (element types: just the bytes). */
function describeSize(type: GgmlTypeInfo, dims: readonly number[], byteSize: number): string {
  const blocks = type.blockSize > 1 ? `: ${byteSize / type.typeSize} blocks of ${type.typeSize} bytes =` : ',';
  return `${type.name}, ne ${JSON.stringify(dims)}${blocks} ${byteSize} bytes`;
}

/** Typed metadata lookups with errors that name the file and key. */
export class GgufMeta {
  constructor(
    readonly file: GgufFile,
  ) {}

  has(key: string): boolean {
    return this.file.metadata.has(key);
  }

  private fail(key: string, msg: string): AlloyError {
    return new AlloyError(`${this.file.name}: metadata "${key}" ${msg}`, { file: this.file.name, field: key });
  }

  /** Any integer type, as a number. */
  int(key: string): number;
  int(key: string, fallback: number | null): number | null;
  int(key: string, fallback?: number | null): number | null {
    const v = this.file.metadata.get(key);
    if (!v) {
      if (fallback === undefined) throw this.fail(key, 'is missing');
      return fallback;
    }
    const x = v.value;
    const n = typeof x === 'bigint' ? Number(x) : x;
    if (v.type === ValueType.ARRAY || typeof n !== 'number' || !Number.isSafeInteger(n) || v.type === ValueType.FLOAT32 || v.type === ValueType.FLOAT64) {
      throw this.fail(key, `must be an integer, got ${describe(v)}`);
    }
    return n;
  }

  float(key: string, fallback?: number): number {
    const v = this.file.metadata.get(key);
    if (!v) {
      if (fallback === undefined) throw this.fail(key, 'is missing');
      return fallback;
    }
    const x = v.value;
    const n = typeof x === 'bigint' ? Number(x) : x;
    if (typeof n !== 'number') throw this.fail(key, `must be a number, got ${describe(v)}`);
    return n;
  }

  string(key: string): string;
  string(key: string, fallback: string | null): string | null;
  string(key: string, fallback?: string | null): string | null {
    const v = this.file.metadata.get(key);
    if (!v) {
      if (fallback === undefined) throw this.fail(key, 'is missing');
      return fallback;
    }
    if (v.type !== ValueType.STRING) throw this.fail(key, `must be a string, got ${describe(v)}`);
    return v.value as string;
  }

  bool(key: string, fallback: boolean | null): boolean | null {
    const v = this.file.metadata.get(key);
    if (!v) return fallback;
    if (v.type !== ValueType.BOOL) throw this.fail(key, `must be a bool, got ${describe(v)}`);
    return v.value as boolean;
  }

  array(key: string, items: 'string'): string[] | null;
  array(key: string, items: 'number'): number[] | null;
  array(key: string, items: 'string' | 'number'): (string | number)[] | null {
    const v = this.file.metadata.get(key);
    if (!v) return null;
    if (v.type !== ValueType.ARRAY) throw this.fail(key, `must be an array, got ${describe(v)}`);
    const want = items === 'string' ? [ValueType.STRING] : [0, 1, 2, 3, 4, 5, 6, 10, 11, 12];
    if (!(want as number[]).includes(v.itemType)) {
      throw this.fail(key, `must be an array of ${items}s, got an array of ${VALUE_TYPE_NAMES[v.itemType]}`);
    }
    return items === 'string' ? (v.value as string[]) : v.value.map((x) => (typeof x === 'bigint' ? Number(x) : (x as number)));
  }
}

function describe(v: GgufValue): string {
  if (v.type === ValueType.ARRAY) return `an array of ${v.value.length} ${VALUE_TYPE_NAMES[v.itemType]}`;
  return `${VALUE_TYPE_NAMES[v.type]} ${JSON.stringify(typeof v.value === 'bigint' ? String(v.value) : v.value)}`;
}
