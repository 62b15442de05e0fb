// GGUF (llama.cpp / ggml's single-file model format), version 3, as ggml/docs/gguf.md and gguf-py define it.
// Every integer is little-endian.
//
//   u32  magic "GGUF" (bytes 47 47 55 46)
//   u32  version (3; 2 has the same layout, 1 used 32-bit counts and is refused)
//   u64  tensor_count
//   u64  metadata_kv_count
//   metadata_kv_count × { string key; u32 value_type; value }
//   tensor_count × { string name; u32 n_dims; u64 ne[n_dims]; u32 ggml_type; u64 offset }
//   zero padding to `general.alignment` (a u32 key, default 32)
//   tensor data: each tensor at data_start + offset (offset a multiple of the alignment), zero padding between
//
//   string = u64 byte length, UTF-8 bytes (no terminator)
//   value  = by value_type: 0 u8, 1 i8, 2 u16, 3 i16, 4 u32, 5 i32, 6 f32, 7 bool (one byte), 8 string,
//            9 array (u32 item type, u64 count, items), 10 u64, 11 i64, 12 f64
//
// ne[] is ggml's order, fastest-varying first: a PyTorch/numpy tensor of shape [rows, cols] is stored with
// ne = [cols, rows]. Quantised types pack a block of `blockSize` consecutive elements along ne[0] into `typeSize`
// bytes, so ne[0] must be a multiple of the block size.

export const GGUF_MAGIC = 0x46554747; // "GGUF" read as a little-endian u32
export const GGUF_VERSION = 3;
export const GGUF_DEFAULT_ALIGNMENT = 32;
export const ALIGNMENT_KEY = 'general.alignment';

export const ValueType = {
  UINT8: 0,
  INT8: 1,
  UINT16: 2,
  INT16: 3,
  UINT32: 4,
  INT32: 5,
  FLOAT32: 6,
  BOOL: 7,
  STRING: 8,
  ARRAY: 9,
  UINT64: 10,
  INT64: 11,
  FLOAT64: 12,
} as const;
export type ValueType = (typeof ValueType)[keyof typeof ValueType];

export const VALUE_TYPE_NAMES: Readonly<Record<number, string>> = Object.fromEntries(
  Object.entries(ValueType).map(([k, v]) => [v, k]),
);

/** Bytes of a fixed-size value type; undefined for STRING and ARRAY. */
export const VALUE_TYPE_BYTES: Readonly<Partial<Record<number, number>>> = {
  0: 1, 1: 1, 2: 2, 3: 2, 4: 4, 5: 4, 6: 4, 7: 1, 10: 8, 11: 8, 12: 8,
};

export type GgufScalar = number | bigint | boolean | string;

/** One metadata value with its declared type (arrays carry their item type). 64-bit integers are bigint. */
export type GgufValue =
  | { type: Exclude<ValueType, typeof ValueType.ARRAY>; value: GgufScalar }
  | { type: typeof ValueType.ARRAY; itemType: Exclude<ValueType, typeof ValueType.ARRAY>; value: GgufScalar[] };

/** ggml tensor types: id → name, elements per block and bytes per block (gguf-py's GGML_QUANT_SIZES). */
export interface GgmlTypeInfo {
  id: number;
  name: string;
  blockSize: number;
  typeSize: number;
}

const QK_K = 256;
const TYPES: GgmlTypeInfo[] = [
  [0, 'F32', 1, 4],
  [1, 'F16', 1, 2],
  [2, 'Q4_0', 32, 2 + 16],
  [3, 'Q4_1', 32, 2 + 2 + 16],
  [6, 'Q5_0', 32, 2 + 4 + 16],
  [7, 'Q5_1', 32, 2 + 2 + 4 + 16],
  [8, 'Q8_0', 32, 2 + 32],
  [9, 'Q8_1', 32, 4 + 4 + 32],
  [10, 'Q2_K', QK_K, 2 + 2 + QK_K / 16 + QK_K / 4],
  [11, 'Q3_K', QK_K, 2 + QK_K / 4 + QK_K / 8 + 12],
  [12, 'Q4_K', QK_K, 2 + 2 + QK_K / 2 + 12],
  [13, 'Q5_K', QK_K, 2 + 2 + QK_K / 2 + QK_K / 8 + 12],
  [14, 'Q6_K', QK_K, 2 + QK_K / 2 + QK_K / 4 + QK_K / 16],
  [15, 'Q8_K', QK_K, 4 + QK_K + QK_K / 8],
  [16, 'IQ2_XXS', QK_K, 2 + QK_K / 4],
  [17, 'IQ2_XS', QK_K, 2 + QK_K / 4 + QK_K / 32],
  [18, 'IQ3_XXS', QK_K, 2 + QK_K / 4 + QK_K / 8],
  [19, 'IQ1_S', QK_K, 2 + QK_K / 8 + QK_K / 16],
  [20, 'IQ4_NL', 32, 2 + 16],
  [21, 'IQ3_S', QK_K, 2 + QK_K / 4 + QK_K / 8 + QK_K / 32 + 4],
  [22, 'IQ2_S', QK_K, 2 + QK_K / 4 + QK_K / 16],
  [23, 'IQ4_XS', QK_K, 2 + 2 + QK_K / 2 + QK_K / 64],
  [24, 'I8', 1, 1],
  [25, 'I16', 1, 2],
  [26, 'I32', 1, 4],
  [27, 'I64', 1, 8],
  [28, 'F64', 1, 8],
  [29, 'IQ1_M', QK_K, QK_K / 8 + QK_K / 16 + QK_K / 32],
  [30, 'BF16', 1, 2],
  [34, 'TQ1_0', QK_K, 2 + 4 * 13],
  [35, 'TQ2_0', QK_K, 2 + 64],
  [39, 'MXFP4', 32, 1 + 16],
].map(([id, name, blockSize, typeSize]) => ({ id, name, blockSize, typeSize }) as GgmlTypeInfo);

const BY_ID = new Map(TYPES.map((t) => [t.id, t]));
const BY_NAME = new Map(TYPES.map((t) => [t.name, t]));

export function ggmlType(id: number): GgmlTypeInfo | undefined {
  return BY_ID.get(id);
}

export function ggmlTypeByName(name: string): GgmlTypeInfo {
  const t = BY_NAME.get(name);
  if (!t) throw new Error(`unknown ggml type ${name}`);
  return t;
}

export const GGML_F32 = 0;
export const GGML_F16 = 1;
export const GGML_Q4_0 = 2;
export const GGML_Q5_0 = 6;
export const GGML_Q8_0 = 8;
export const GGML_Q4_K = 12;
export const GGML_Q6_K = 14;
export const GGML_BF16 = 30;

/** llama.cpp's llama_ftype (general.file_type): what most tensors are stored as. */
export const FILE_TYPE = { ALL_F32: 0, MOSTLY_F16: 1, MOSTLY_Q4_0: 2, MOSTLY_Q8_0: 7, MOSTLY_Q4_K_M: 15, MOSTLY_Q5_K_M: 17, MOSTLY_Q6_K: 18, MOSTLY_BF16: 32 } as const;

/** SentencePiece / GGUF token types (tokenizer.ggml.token_type). */
export const TokenType = { NORMAL: 1, UNKNOWN: 2, CONTROL: 3, USER_DEFINED: 4, UNUSED: 5, BYTE: 6 } as const;

/** Bytes a tensor of this type and ggml dims takes; throws when ne[0] is not a whole number of blocks. */
export function ggmlByteSize(t: GgmlTypeInfo, dims: readonly number[]): number {
  const n = dims.reduce((a, b) => a * b, 1);
  const row = dims[0] ?? 1;
  if (row % t.blockSize !== 0) {
    throw new RangeError(`a row of ${row} elements is not a whole number of ${t.name} blocks (${t.blockSize})`);
  }
  return (n / t.blockSize) * t.typeSize;
}

export function alignUp(x: number, alignment: number): number {
  return Math.ceil(x / alignment) * alignment;
}
