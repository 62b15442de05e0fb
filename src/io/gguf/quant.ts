// ggml tensor data ↔ float32 for the types Alloy reads and writes: F32, F16, BF16 (element-wise, as safetensors'
// dtypes) and Q8_0.
//
// Q8_0 block (34 bytes for 32 consecutive elements of a row):
//   f16 d        scale = absmax(block) / 127, stored as IEEE half
//   i8  qs[32]   q = round_half_away(x / d)
// x̂ = f16(d) · q. Quantising follows ggml's quantize_row_q8_0_ref bit for bit (d and 1/d in float32, x·(1/d) in
// float32, roundf), so a file we write holds what llama.cpp's converter would write for the same values.
// Error: |x − x̂| ≤ d/2 + 127·|d − f16(d)| ≤ d·(1/2 + 127·2⁻¹¹) per element, d = absmax/127 of its block.
import { decodeToF32, f16BitsToF32, f32ToF16Bits } from '../safetensors/dtypes.ts';
import { GGML_BF16, GGML_F16, GGML_F32, GGML_Q8_0, type GgmlTypeInfo } from './format.ts';

export const QK8_0 = 32;
const Q8_0_BYTES = 34;

/** ggml types we decode; anything else is refused by the importer. */
export const READABLE_TYPES: ReadonlySet<number> = new Set([GGML_F32, GGML_F16, GGML_BF16, GGML_Q8_0]);

export function quantizeQ8_0(x: Float32Array): Uint8Array<ArrayBuffer> {
  if (x.length % QK8_0 !== 0) throw new RangeError(`Q8_0 needs a multiple of ${QK8_0} elements, got ${x.length}`);
  const nb = x.length / QK8_0;
  const out = new Uint8Array(nb * Q8_0_BYTES);
  const view = new DataView(out.buffer);
  const f = Math.fround;
  for (let b = 0; b < nb; b++) {
    const base = b * QK8_0;
    let amax = 0;
    for (let j = 0; j < QK8_0; j++) amax = Math.max(amax, Math.abs(x[base + j]!));
    const d = f(amax / 127);
    const id = d !== 0 ? f(1 / d) : 0;
    const o = b * Q8_0_BYTES;
    view.setUint16(o, f32ToF16Bits(d), true);
    for (let j = 0; j < QK8_0; j++) {
      const v = f(x[base + j]! * id);
      // roundf: half away from zero
      const q = Math.sign(v) * Math.floor(Math.abs(v) + 0.5);
      view.setInt8(o + 2 + j, q);
    }
  }
  return out;
}

export function dequantizeQ8_0(bytes: Uint8Array): Float32Array<ArrayBuffer> {
  if (bytes.byteLength % Q8_0_BYTES !== 0) throw new RangeError(`${bytes.byteLength} bytes is not a whole number of Q8_0 blocks`);
  const nb = bytes.byteLength / Q8_0_BYTES;
  const out = new Float32Array(nb * QK8_0);
  const q = new Int8Array(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  for (let b = 0; b < nb; b++) {
    const o = b * Q8_0_BYTES;
    const d = f16BitsToF32(bytes[o]! | (bytes[o + 1]! << 8));
    // float32 product, as ggml's dequantize_row_q8_0
    for (let j = 0; j < QK8_0; j++) out[b * QK8_0 + j] = d * q[o + 2 + j]!;
  }
  return out;
}

/** Decodes tensor data of a readable ggml type to float32 (a fresh array). */
export function ggmlToF32(type: GgmlTypeInfo, bytes: Uint8Array): Float32Array<ArrayBuffer> {
  switch (type.id) {
    case GGML_F32: return decodeToF32('F32', bytes);
    case GGML_F16: return decodeToF32('F16', bytes);
    case GGML_BF16: return decodeToF32('BF16', bytes);
    case GGML_Q8_0: return dequantizeQ8_0(bytes);
    default: throw new Error(`ggml type ${type.name} cannot be decoded`);
  }
}
