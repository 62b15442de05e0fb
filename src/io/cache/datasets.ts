// Datasets imported in the Data panel, kept in IndexedDB (their own database) so the Train panel can pick them after
// a reload. A dataset is its text as Blob chunks of at most 64 MiB (Chromium refuses single values above ~127 MB)
// plus a summary record, all written in ONE readwrite transaction, so an entry is complete or absent: it is listed
// exactly when it can be read back.
//
// Stores (database "alloy-datasets" unless given):
//   datasets  id → StoredDatasetSummary
//   chunks    [id, index] → Blob
import { openDB, type DBSchema, type IDBPDatabase } from 'idb';
import { AlloyError } from '../../common/errors.ts';
import type { Method } from '../../common/training-data.ts';
import type { FileFormat, ShapeId } from '../datasets/shapes.ts';

export const DATASETS_DB = 'alloy-datasets';
const CHUNK = 64 * 2 ** 20;

export interface StoredDatasetSummary {
  id: string;
  /** file name, e.g. "notes.jsonl" (its extension gives the format when read back) */
  name: string;
  format: FileFormat;
  shape: { id: ShapeId; label: string };
  methods: Method[];
  rows: number;
  /** bytes of the text (UTF-8) */
  bytes: number;
  chunks: number;
  savedAt: number;
  /** the split chosen in the Data panel, if any */
  split: { fraction: number; seed: number } | null;
}

export type NewStoredDataset = Omit<StoredDatasetSummary, 'id' | 'bytes' | 'chunks' | 'savedAt'>;

interface Schema extends DBSchema {
  datasets: { key: string; value: StoredDatasetSummary };
  chunks: { key: [string, number]; value: Blob };
}

export class DatasetStore {
  private constructor(
    private readonly db: IDBPDatabase<Schema>,
    private readonly chunkBytes: number,
  ) {}

  static async open(dbName = DATASETS_DB, chunkBytes = CHUNK): Promise<DatasetStore> {
    try {
      const db = await openDB<Schema>(dbName, 1, {
        upgrade(db) {
          db.createObjectStore('datasets', { keyPath: 'id' });
          db.createObjectStore('chunks');
        },
      });
      return new DatasetStore(db, chunkBytes);
    } catch (e) {
      throw new AlloyError(`Could not open the dataset store (IndexedDB: ${(e as Error).message})`, {}, { cause: e });
    }
  }

  async save(meta: NewStoredDataset, text: string): Promise<StoredDatasetSummary> {
    const blob = new Blob([text], { type: 'text/plain' });
    const chunks = Math.max(1, Math.ceil(blob.size / this.chunkBytes));
    const id = `ds-${Date.now().toString(36)}-${Math.random().toString(36).slice(2, 8)}`;
    const summary: StoredDatasetSummary = { ...meta, id, bytes: blob.size, chunks, savedAt: Date.now() };
    const tx = this.db.transaction(['datasets', 'chunks'], 'readwrite');
    // every request is queued synchronously, so the transaction cannot auto-commit halfway
    const puts: Promise<unknown>[] = [];
    for (let i = 0; i < chunks; i++) puts.push(tx.objectStore('chunks').put(blob.slice(i * this.chunkBytes, (i + 1) * this.chunkBytes), [id, i]));
    puts.push(tx.objectStore('datasets').put(summary));
    try {
      await Promise.all([...puts, tx.done]);
    } catch (e) {
      throw new AlloyError(`Could not save ${meta.name}: ${(e as Error).message}`, { file: meta.name }, { cause: e });
    }
    return summary;
  }

  /** newest first */
  async list(): Promise<StoredDatasetSummary[]> {
    return (await this.db.getAll('datasets')).sort((a, b) => b.savedAt - a.savedAt);
  }

  /** The summary and the text, or null when absent. */
  async get(id: string): Promise<{ summary: StoredDatasetSummary; text: string } | null> {
    const tx = this.db.transaction(['datasets', 'chunks'], 'readonly');
    const summary = await tx.objectStore('datasets').get(id);
    if (!summary) return null;
    const parts = await Promise.all(Array.from({ length: summary.chunks }, (_, i) => tx.objectStore('chunks').get([id, i])));
    if (parts.some((p) => !p)) throw new AlloyError(`the stored dataset ${summary.name} is missing chunks`, { file: summary.name });
    return { summary, text: await new Blob(parts as Blob[]).text() };
  }

  async delete(id: string): Promise<void> {
    const tx = this.db.transaction(['datasets', 'chunks'], 'readwrite');
    await Promise.all([
      tx.objectStore('datasets').delete(id),
      tx.objectStore('chunks').delete(IDBKeyRange.bound([id, -Infinity], [id, Infinity])),
      tx.done,
    ]);
  }

  close(): void {
    this.db.close();
  }
}
