// Finished benchmark runs in IndexedDB (its own database, so the weight cache's schema is untouched): the whole
// run under its id, and a small summary beside it for the "Past runs" list, both written in one transaction so a
// run is listed exactly when it can be opened. Runs are plain data (structured-clonable), a few hundred KB at most.
import { openDB, type DBSchema, type IDBPDatabase } from 'idb';
import { AlloyError } from '../../common/errors.ts';
import type { BenchmarkRun, RunSummary } from '../../common/benchmark-run.ts';

export const RUNS_DB = 'alloy-benchmark-runs';

interface RunsDB extends DBSchema {
  runs: { key: string; value: BenchmarkRun };
  summaries: { key: string; value: RunSummary };
}

export class RunStore {
  private constructor(private readonly db: IDBPDatabase<RunsDB>) {}

  static async open(dbName = RUNS_DB): Promise<RunStore> {
    try {
      const db = await openDB<RunsDB>(dbName, 1, {
        upgrade(db) {
          db.createObjectStore('runs', { keyPath: 'id' });
          db.createObjectStore('summaries', { keyPath: 'id' });
        },
      });
      return new RunStore(db);
    } catch (e) {
      throw new AlloyError(`Could not open the benchmark run store (IndexedDB: ${(e as Error).message}). Runs can still be downloaded as JSON or CSV.`, {}, { cause: e });
    }
  }

  /** `summary` is engine/eval's summarizeRun(run): computed by the caller, so io/ needs no scoring code. */
  async save(run: BenchmarkRun, summary: RunSummary): Promise<RunSummary> {
    const tx = this.db.transaction(['runs', 'summaries'], 'readwrite');
    await Promise.all([tx.objectStore('runs').put(run), tx.objectStore('summaries').put(summary), tx.done]);
    return summary;
  }

  /** newest first */
  async list(): Promise<RunSummary[]> {
    return (await this.db.getAll('summaries')).sort((a, b) => b.createdAt - a.createdAt);
  }

  async get(id: string): Promise<BenchmarkRun | null> {
    return (await this.db.get('runs', id)) ?? null;
  }

  async delete(id: string): Promise<void> {
    const tx = this.db.transaction(['runs', 'summaries'], 'readwrite');
    await Promise.all([tx.objectStore('runs').delete(id), tx.objectStore('summaries').delete(id), tx.done]);
  }

  close(): void {
    this.db.close();
  }
}
