// Training runs in IndexedDB (their own database; the checkpoints live in checkpoint-idb.ts's, keyed by the same run
// id): the run's whole request (model id, dataset text, settings) so that a run can be resumed after the tab was
// closed, and what the list shows (status, step, last loss). Adapters imported from PEFT files live here too
// (status 'imported', no request), so they are listed, exported and folded like trained ones. Plain,
// structured-clonable records. The record's shape belongs to the worker's training API (TrainRunRecord in
// worker/train-api.ts): the store only needs its key and timestamps, so io/ stays free of engine and worker types.
import { openDB, type DBSchema, type IDBPDatabase } from 'idb';
import { AlloyError } from '../../common/errors.ts';

export const TRAIN_RUNS_DB = 'alloy-train-runs';

/** What the store itself reads of a record. */
export interface StoredRun {
  id: string;
  createdAt: number;
  updatedAt: number;
}

interface Schema<R extends StoredRun> extends DBSchema {
  runs: { key: string; value: R };
}

export class TrainRunStore<R extends StoredRun> {
  private constructor(private readonly db: IDBPDatabase<Schema<R>>) {}

  static async open<R extends StoredRun>(dbName = TRAIN_RUNS_DB): Promise<TrainRunStore<R>> {
    try {
      const db = await openDB<Schema<R>>(dbName, 1, {
        upgrade(db) {
          db.createObjectStore('runs', { keyPath: 'id' });
        },
      });
      return new TrainRunStore<R>(db);
    } catch (e) {
      throw new AlloyError(`Could not open the training run store (IndexedDB: ${(e as Error).message})`, {}, { cause: e });
    }
  }

  async put(run: R): Promise<void> {
    await this.db.put('runs', run);
  }

  /** Applies `patch` to the stored record (no-op when it was deleted meanwhile). */
  async update(id: string, patch: Partial<R>): Promise<void> {
    const tx = this.db.transaction('runs', 'readwrite');
    const cur = await tx.store.get(id);
    if (cur) await tx.store.put({ ...cur, ...patch, updatedAt: Date.now() });
    await tx.done;
  }

  async get(id: string): Promise<R | null> {
    return (await this.db.get('runs', id)) ?? null;
  }

  /** newest first */
  async list(): Promise<R[]> {
    return (await this.db.getAll('runs')).sort((a, b) => b.createdAt - a.createdAt);
  }

  async delete(id: string): Promise<void> {
    await this.db.delete('runs', id);
  }

  close(): void {
    this.db.close();
  }
}
