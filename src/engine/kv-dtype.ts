/**
 * How a KV cache stores its keys and values. 'f32' (the default) keeps the forward's own values, so decoding
 * through a cache equals the plain forward to f32 summation order. 'f16' halves the cache (two IEEE binary16
 * values a u32 word: ops/rope.ts writes them, shaders/_kv_load_f16.wgsl reads them) at the cost
 * of rounding every key and value to 11 significant bits, as llama.cpp's and WebLLM's default f16 caches do;
 * arithmetic stays f32. It needs no `shader-f16` (pack2x16float and unpack2x16float are core WGSL) and a head dim
 * that is a multiple of 4 (every model Alloy loads). Pure data, so the studio's main thread may load it.
 */
import { AlloyError } from '../common/errors.ts';

export const KV_DTYPES = ['f32', 'f16'] as const;
export type KvDtype = (typeof KV_DTYPES)[number];

/** Bytes of one cached key or value element. */
export function kvElementBytes(dtype: KvDtype): number {
  return dtype === 'f16' ? 2 : 4;
}

/** A KV dtype named by a user (the CLI's --kv-cache); `where` names the source for the error. */
export function parseKvDtype(value: string, where: string): KvDtype {
  if ((KV_DTYPES as readonly string[]).includes(value)) return value as KvDtype;
  throw new AlloyError(`${where}: KV cache dtype "${value}" is not one of ${KV_DTYPES.join(', ')}`);
}
