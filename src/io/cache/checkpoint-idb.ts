// Training checkpoints in IndexedDB (the studio): one record per (run, step) holding the blob as chunks of at most
// 64 MiB (Chromium refuses single values above ~127 MB), all written in ONE readwrite transaction together with
// the record that lists them, so a checkpoint is complete or absent (a transaction commits all its puts or none).
//
// Stores (database "alloy-checkpoints" unless given):
//   checkpoints  [run, step] → { run, step, bytes, chunks, savedAt }
//   chunks       [run, step, index] → Blob
import { openDB, type DBSchema, type IDBPDatabase } from 'idb';
import { blobSource, type ByteSource } from '../bytes.ts';
import { AlloyError } from '../../common/errors.ts';
import type { CheckpointStore } from '../checkpoints.ts';

export const CHECKPOINT_DB = 'alloy-checkpoints';
const CHUNK = 64 * 2 ** 20;

interface CheckpointRecord {
  run: string;
  step: number;
  bytes: number;
  chunks: number;
  savedAt: number;
}

interface Schema extends DBSchema {
  checkpoints: { key: [string, number]; value: CheckpointRecord };
  chunks: { key: [string, number, number]; value: Blob };
}

export async function openCheckpointDb(name = CHECKPOINT_DB): Promise<IDBPDatabase<Schema>> {
  return openDB<Schema>(name, 1, {
    upgrade(db) {
      db.createObjectStore('checkpoints');
      db.createObjectStore('chunks');
    },
  });
}

/** The checkpoints of one training run (`run` is any id the caller keeps, e.g. the job id). */
export async function idbCheckpointStore(run: string, dbName = CHECKPOINT_DB, chunkBytes = CHUNK): Promise<CheckpointStore & { close(): void }> {
  const db = await openCheckpointDb(dbName);
  const range = IDBKeyRange.bound([run, -Infinity], [run, Infinity]);
  const removeChunks = async (tx: { objectStore(n: 'chunks'): { delete(k: IDBKeyRange): Promise<void> } }, step: number) =>
    tx.objectStore('chunks').delete(IDBKeyRange.bound([run, step, -Infinity], [run, step, Infinity]));
  return {
    where: `IndexedDB ${dbName}/${run}`,
    async save(step, data) {
      const tx = db.transaction(['checkpoints', 'chunks'], 'readwrite');
      const chunks = Math.max(1, Math.ceil(data.size / chunkBytes));
      // Every request is queued synchronously, so the transaction cannot auto-commit halfway.
      const puts: Promise<unknown>[] = [removeChunks(tx, step)];
      for (let i = 0; i < chunks; i++) puts.push(tx.objectStore('chunks').put(data.slice(i * chunkBytes, (i + 1) * chunkBytes), [run, step, i]));
      puts.push(tx.objectStore('checkpoints').put({ run, step, bytes: data.size, chunks, savedAt: Date.now() }, [run, step]));
      try {
        await Promise.all([...puts, tx.done]);
      } catch (e) {
        throw new AlloyError(`cannot save checkpoint ${step} of ${run}: ${(e as Error).message}`, {}, { cause: e });
      }
    },
    async steps() {
      const keys = await db.getAllKeys('checkpoints', range);
      return keys.map((k) => k[1]).sort((a, b) => a - b);
    },
    async open(step): Promise<ByteSource> {
      const tx = db.transaction(['checkpoints', 'chunks'], 'readonly');
      const rec = await tx.objectStore('checkpoints').get([run, step]);
      if (!rec) throw new AlloyError(`no checkpoint for step ${step} of ${run}`);
      const parts = await Promise.all(Array.from({ length: rec.chunks }, (_, i) => tx.objectStore('chunks').get([run, step, i])));
      if (parts.some((p) => !p)) throw new AlloyError(`checkpoint ${step} of ${run} is missing chunks`);
      return blobSource(new Blob(parts as Blob[]), `checkpoint-${step}`);
    },
    async delete(step) {
      const tx = db.transaction(['checkpoints', 'chunks'], 'readwrite');
      await Promise.all([tx.objectStore('checkpoints').delete([run, step]), removeChunks(tx, step), tx.done]);
    },
    close: () => db.close(),
  };
}
