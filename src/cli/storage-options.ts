import { parseActDtype, type ActDtype } from '../engine/act-dtype.ts';
import { parseKvDtype, type KvDtype } from '../engine/kv-dtype.ts';

/** --kv-cache f32|f16 (generate, eval): how KV caches store keys and values (engine/kv-dtype.ts); default f32. */
export function kvCacheOption(v: { 'kv-cache'?: string | undefined }): KvDtype {
  return v['kv-cache'] === undefined ? 'f32' : parseKvDtype(v['kv-cache'], '--kv-cache');
}

/**
 * --activations f32|f16 (logits, generate, eval): how forwards store the activations between kernels
 * (engine/act-dtype.ts; the hardware family's inference passes); default f32.
 */
export function activationsOption(v: { activations?: string | undefined }): ActDtype {
  return v.activations === undefined ? 'f32' : parseActDtype(v.activations, '--activations');
}

/** Both, as loadModel's options. */
export function storageOptions(v: { 'kv-cache'?: string | undefined; activations?: string | undefined }): { kvDtype: KvDtype; activations: ActDtype } {
  return { kvDtype: kvCacheOption(v), activations: activationsOption(v) };
}
