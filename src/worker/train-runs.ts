// Training runs in IndexedDB (their own database; the checkpoints live in checkpoint-idb.ts's, keyed by the same run
// id): the run's whole request (model id, dataset text, settings) so that a run can be resumed after the tab was
// closed, and what the list shows (status, step, last loss). Adapters imported from PEFT files live here too
// (status 'imported', no request), so they are listed, exported and folded like trained ones. Plain,
// structured-clonable records.
import { openDB, type DBSchema, type IDBPDatabase } from 'idb';
import { AlloyError } from '../io/errors.ts';
import type { TrainRequest, TrainRunSummary } from './train-api.ts';

export const TRAIN_RUNS_DB = 'alloy-train-runs';

/** What is stored: the summary's fields without the derived ones, and the request to rebuild the run from. */
export interface TrainRunRecord extends Omit<TrainRunSummary, 'checkpoints' | 'status'> {
  status: Exclude<TrainRunSummary['status'], 'interrupted'>;
  /** null for an imported adapter (nothing to resume) */
  request: TrainRequest | null;
}

interface Schema extends DBSchema {
  runs: { key: string; value: TrainRunRecord };
}

export class TrainRunStore {
  private constructor(private readonly db: IDBPDatabase<Schema>) {}

  static async open(dbName = TRAIN_RUNS_DB): Promise<TrainRunStore> {
    try {
      const db = await openDB<Schema>(dbName, 1, {
        upgrade(db) {
          db.createObjectStore('runs', { keyPath: 'id' });
        },
      });
      return new TrainRunStore(db);
    } catch (e) {
      throw new AlloyError(`Could not open the training run store (IndexedDB: ${(e as Error).message})`, {}, { cause: e });
    }
  }

  async put(run: TrainRunRecord): Promise<void> {
    await this.db.put('runs', run);
  }

  /** Applies `patch` to the stored record (no-op when it was deleted meanwhile). */
  async update(id: string, patch: Partial<TrainRunRecord>): Promise<void> {
    const tx = this.db.transaction('runs', 'readwrite');
    const cur = await tx.store.get(id);
    if (cur) await tx.store.put({ ...cur, ...patch, updatedAt: Date.now() });
    await tx.done;
  }

  async get(id: string): Promise<TrainRunRecord | null> {
    return (await this.db.get('runs', id)) ?? null;
  }

  /** newest first */
  async list(): Promise<TrainRunRecord[]> {
    return (await this.db.getAll('runs')).sort((a, b) => b.createdAt - a.createdAt);
  }

  async delete(id: string): Promise<void> {
    await this.db.delete('runs', id);
  }

  close(): void {
    this.db.close();
  }
}
