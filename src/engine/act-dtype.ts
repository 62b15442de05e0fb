/**
 * How a forward stores the activations it passes between kernels (n1, q|k|v, q, att, n2, gate|up, act; the
 * residual stream x stays f32). 'f32' (the default) is the reference path. 'f16' halves every such buffer and
 * the bytes the bandwidth-bound kernels move: IEEE binary16 values two to a u32 word, the lower-indexed element in
 * the low half (pack2x16float's order, as the f16 KV cache stores keys and values, kv-dtype.ts), written and read by
 * the hardware family's `+a16`/`+c16`/… kernel variants (shaders/_*_f16.wgsl twins); arithmetic and accumulation
 * stay f32. Core WGSL: no `shader-f16` needed. Pure data, so the studio's main thread may load it.
 */
import { AlloyError } from '../common/errors.ts';
import { f16BitsToF32, f32ToF16Bits } from '../io/safetensors/dtypes.ts';

export const ACT_DTYPES = ['f32', 'f16'] as const;
export type ActDtype = (typeof ACT_DTYPES)[number];

/** Bytes of one stored activation element. */
export function actElementBytes(dtype: ActDtype): number {
  return dtype === 'f16' ? 2 : 4;
}

/** An activation dtype named by a user (the CLI's --activations); `where` names the source for the error. */
export function parseActDtype(value: string, where: string): ActDtype {
  if ((ACT_DTYPES as readonly string[]).includes(value)) return value as ActDtype;
  throw new AlloyError(`${where}: activation dtype "${value}" is not one of ${ACT_DTYPES.join(', ')}`);
}

/**
 * The words an f16 buffer holds for f32 values x (even length): two halves a word, the lower index in the low
 * half, rounded to nearest even, as pack2x16float writes them on a GPU that rounds to nearest. The f16 KV cache
 * and f16 activations share this layout; tests and the kernel bench build inputs with it.
 */
export function f16Words(x: ArrayLike<number>): Uint32Array {
  if (x.length % 2 !== 0) throw new RangeError(`f16Words: ${x.length} values do not fill whole words (an even count is needed)`);
  const out = new Uint32Array(x.length / 2);
  for (let i = 0; i < out.length; i++) out[i] = (f32ToF16Bits(x[2 * i]!) | (f32ToF16Bits(x[2 * i + 1]!) << 16)) >>> 0;
  return out;
}

/** f16Words read back: the 2·words.length values, as f32. */
export function f16WordsToF32(words: ArrayLike<number>): Float32Array {
  const out = new Float32Array(words.length * 2);
  for (let i = 0; i < words.length; i++) {
    out[2 * i] = f16BitsToF32(words[i]! & 0xffff);
    out[2 * i + 1] = f16BitsToF32(words[i]! >>> 16);
  }
  return out;
}

/** x rounded to f16 and back (what an f16 activation buffer holds), as f32. */
export function roundToF16(x: ArrayLike<number>): Float32Array {
  return Float32Array.from(x, (v) => f16BitsToF32(f32ToF16Bits(v)));
}
