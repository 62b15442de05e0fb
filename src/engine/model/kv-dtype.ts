/**
 * How a KV cache stores its keys and values. 'f32' (the default) keeps the forward's own values, so decoding
 * through a cache equals the plain forward to f32 summation order. 'f16' halves the cache (two IEEE binary16
 * values a u32 word: ops/rope.ts encodeStoreKvF16 writes them, shaders/_kv_load_f16.wgsl reads them) at the cost
 * of rounding every key and value to 11 significant bits, as llama.cpp's and WebLLM's default f16 caches do;
 * arithmetic stays f32. It needs no `shader-f16` (pack2x16float and unpack2x16float are core WGSL) and a head dim
 * that is a multiple of 4 (every model Alloy loads).
 */
import { AlloyError } from '../../common/errors.ts';
import { f32ToF16Bits } from '../../io/safetensors/dtypes.ts';

export const KV_DTYPES = ['f32', 'f16'] as const;
export type KvDtype = (typeof KV_DTYPES)[number];

/** Bytes of one cached key or value element. */
export function kvElementBytes(dtype: KvDtype): number {
  return dtype === 'f16' ? 2 : 4;
}

/**
 * The words an f16 cache holds for f32 values x (even length): two halves a word, the lower index in the low half,
 * rounded to nearest even; what shaders/rope.wgsl store_kv_f16 writes (where the GPU rounds to nearest) and
 * _kv_load_f16.wgsl reads. Tests and the kernel bench build caches with it.
 */
export function kvF16Words(x: ArrayLike<number>): Uint32Array {
  const out = new Uint32Array(x.length / 2);
  for (let i = 0; i < out.length; i++) out[i] = (f32ToF16Bits(x[2 * i]!) | (f32ToF16Bits(x[2 * i + 1]!) << 16)) >>> 0;
  return out;
}

/** A KV dtype named by a user (a CLI flag, ALLOY_KV_CACHE, the studio's ?kv= parameter); `where` names the source. */
export function parseKvDtype(value: string, where: string): KvDtype {
  if ((KV_DTYPES as readonly string[]).includes(value)) return value as KvDtype;
  throw new AlloyError(`${where}: KV cache dtype "${value}" is not one of ${KV_DTYPES.join(', ')}`);
}
