import { parseKvDtype, type KvDtype } from '../engine/kv-dtype.ts';

/** --kv-cache f32|f16 (generate, eval): how KV caches store keys and values (engine/model/kv-dtype.ts); default f32. */
export function kvCacheOption(v: { 'kv-cache'?: string | undefined }): KvDtype {
  return v['kv-cache'] === undefined ? 'f32' : parseKvDtype(v['kv-cache'], '--kv-cache');
}
