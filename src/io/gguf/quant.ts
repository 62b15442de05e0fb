// ggml tensor data ↔ float32: which ggml types Alloy reads (F32/F16/BF16 element-wise, as safetensors' dtypes; the
// block types through dequant.ts) and writes (F32/F16/BF16 and the quantisers in quantize.ts).
//
// Q8_0 error (the bound its tests check): |x − x̂| ≤ d/2 + 127·|d − f16(d)| ≤ d·(1/2 + 127·2⁻¹¹) per element,
// d = absmax/127 of its block.
import { decodeToF32, encodeFromF32 } from '../safetensors/dtypes.ts';
import { dequantize, BLOCK_DECODERS } from './dequant.ts';
import { quantizeQ3_K, quantizeQ4_0, quantizeQ4_1, quantizeQ4_K, quantizeQ5_0, quantizeQ5_1, quantizeQ5_K, quantizeQ6_K, quantizeQ8_0 } from './quantize.ts';
import { GGML_BF16, GGML_F16, GGML_F32, ggmlTypeByName, type GgmlTypeInfo } from './format.ts';

export { quantizeQ8_0 } from './quantize.ts';
export const QK8_0 = 32;

/** ggml types we decode; anything else is refused by the importer, naming the type and the tensor. */
export const READABLE_TYPES: ReadonlySet<number> = new Set([
  GGML_F32, GGML_F16, GGML_BF16, ...Object.keys(BLOCK_DECODERS).map((n) => ggmlTypeByName(n).id),
]);

/** Names of the readable types, for messages. */
export const READABLE_TYPE_NAMES = ['F32', 'F16', 'BF16', ...Object.keys(BLOCK_DECODERS)];

export function isBlockQuantized(type: GgmlTypeInfo): boolean {
  return type.blockSize > 1;
}

export function dequantizeQ8_0(bytes: Uint8Array): Float32Array<ArrayBuffer> {
  return dequantize('Q8_0', bytes);
}

/** Decodes tensor data of a readable ggml type to float32 (a fresh array). */
export function ggmlToF32(type: GgmlTypeInfo, bytes: Uint8Array): Float32Array<ArrayBuffer> {
  switch (type.id) {
    case GGML_F32: return decodeToF32('F32', bytes);
    case GGML_F16: return decodeToF32('F16', bytes);
    case GGML_BF16: return decodeToF32('BF16', bytes);
    default: return dequantize(type.name, bytes);
  }
}

const QUANTIZERS: Readonly<Record<string, (x: Float32Array) => Uint8Array>> = {
  Q8_0: quantizeQ8_0,
  Q4_0: quantizeQ4_0,
  Q4_1: quantizeQ4_1,
  Q5_0: quantizeQ5_0,
  Q5_1: quantizeQ5_1,
  Q3_K: quantizeQ3_K,
  Q4_K: quantizeQ4_K,
  Q5_K: quantizeQ5_K,
  Q6_K: quantizeQ6_K,
};

/** ggml types we write. */
export const WRITABLE_TYPE_NAMES = ['F32', 'F16', 'BF16', ...Object.keys(QUANTIZERS)];

/** Encodes float32 values (whole rows) as `type`. */
export function f32ToGgml(type: GgmlTypeInfo, values: Float32Array): Uint8Array {
  switch (type.id) {
    case GGML_F32: return new Uint8Array(values.buffer, values.byteOffset, values.byteLength);
    case GGML_F16: return encodeFromF32('F16', values);
    case GGML_BF16: return encodeFromF32('BF16', values);
  }
  const q = QUANTIZERS[type.name];
  if (!q) throw new Error(`Alloy cannot write ggml type ${type.name}`);
  return q(values);
}
