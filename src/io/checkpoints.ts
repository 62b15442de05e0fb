/**
 * Where training checkpoints live: one safetensors blob per saved step (engine/train/checkpoint.ts writes and
 * reads the blob). Implementations: a Node directory (io/node/checkpoint-dir.ts) and IndexedDB
 * (io/cache/checkpoint-idb.ts). Every implementation makes a save complete or absent: a crash during save()
 * leaves the previous checkpoints and no trace of the new one.
 */
import type { ByteSource } from './bytes.ts';

export interface CheckpointStore {
  /** for messages: a directory, or "IndexedDB <db>/<run>" */
  readonly where: string;
  /** Stores the checkpoint of optimizer step `step` (replacing one of the same step) atomically. */
  save(step: number, data: Blob): Promise<void>;
  /** Steps with a complete checkpoint, ascending. */
  steps(): Promise<number[]>;
  open(step: number): Promise<ByteSource>;
  delete(step: number): Promise<void>;
}
