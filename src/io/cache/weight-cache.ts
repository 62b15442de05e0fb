// The IndexedDB weight cache. Files are stored as chunk Blobs (Chromium refuses IndexedDB values above ~127 MB,
// and a multi-GB ArrayBuffer cannot be allocated), under a manifest that is written LAST, in the same transaction
// that deletes the in-progress ("partial") record: an entry is complete or absent, never half-written.
//
// Stores:
//   manifests  id → ManifestRecord            complete entries; the only thing list() reads
//   chunks     [id, path, index] → Blob       file bytes [index*chunkBytes, …)
//   partials   id → PartialRecord             a download in progress: per-file bytes committed, hash state, etag
// Each chunk is written in one transaction together with the partial record that counts it, so after a crash the
// partial says exactly which chunks are valid and a download resumes from the last committed chunk.
import type { Lineage } from './names.ts';
import { openDB, type DBSchema, type IDBPDatabase } from 'idb';
import { checkRange, type ByteSource } from '../bytes.ts';
import { AlloyError } from '../../common/errors.ts';
import type { FileEntry, ModelFiles } from '../model-files.ts';

export const DEFAULT_DB = 'alloy-weights';
export const DEFAULT_CHUNK_BYTES = 16 * 1024 * 1024;

/**
 * Where an entry came from: downloaded from a hub, copied from a folder, written by a merge, fold or recipe
 * (store.ts), or converted from a GGUF / llama2.c file (store.ts, worker/export.ts).
 */
export type EntrySource = 'hub' | 'folder' | 'merge' | 'import';

export interface CachedModelSummary {
  id: string;
  label: string;
  source: EntrySource;
  baseUrl?: string;
  repo: string;
  revision: string;
  commit?: string;
  files: FileEntry[];
  totalBytes: number;
  createdAt: number;
  /** a model made here: where it came from (names.ts), shown beside its label */
  lineage?: Lineage;
}

/**
 * A download that stopped before its manifest was written (cancelled, cut off, tab closed): what the UI shows so
 * the user can resume it or give its storage back. Plain data (no hash states), so it crosses comlink cheaply.
 */
export interface PartialSummary {
  id: string;
  label: string;
  source: EntrySource;
  /** hub only: absent = huggingface.co (as in CachedModelSummary); with repo + revision it rebuilds the source */
  baseUrl?: string;
  repo: string;
  revision: string;
  commit?: string;
  fileCount: number;
  /** bytes stored in chunks, i.e. what a resume will not fetch again */
  committedBytes: number;
  totalBytes: number;
  startedAt: number;
  updatedAt: number;
}

interface ManifestRecord extends CachedModelSummary {
  chunkBytes: number;
}

export interface FileProgress {
  /** bytes stored, always a whole number of chunks unless the file is done */
  committed: number;
  /** sha256 state after `committed` bytes, so a resume need not re-read stored chunks */
  hashState?: Uint8Array;
  etag?: string;
  done: boolean;
  sha256?: string;
}

export interface PartialRecord {
  id: string;
  summary: Omit<CachedModelSummary, 'createdAt'>;
  chunkBytes: number;
  progress: Record<string, FileProgress>;
  /** the WeightCache session that last wrote it (see gc) */
  sessionId: string;
  startedAt: number;
  updatedAt: number;
}

interface CacheDB extends DBSchema {
  manifests: { key: string; value: ManifestRecord };
  chunks: { key: [string, string, number]; value: Blob };
  partials: { key: string; value: PartialRecord };
}

/** Hooks for tests only (fault injection); the app never sets them. */
export interface CacheTestHooks {
  /** called before the n-th chunk put of this WeightCache (1-based), inside the transaction; may throw */
  beforeChunkPut?(n: number, path: string, index: number): void;
}

function entryRange(id: string): IDBKeyRange {
  // Arrays sort after strings and numbers, so [id, []] bounds every [id, path, index].
  return IDBKeyRange.bound([id], [id, []]);
}

function fileRange(id: string, path: string): IDBKeyRange {
  return IDBKeyRange.bound([id, path, 0], [id, path, Infinity]);
}

function toPartialSummary(p: PartialRecord): PartialSummary {
  const { summary: s } = p;
  return {
    id: p.id,
    label: s.label,
    source: s.source,
    ...(s.baseUrl === undefined ? {} : { baseUrl: s.baseUrl }),
    repo: s.repo,
    revision: s.revision,
    ...(s.commit === undefined ? {} : { commit: s.commit }),
    fileCount: s.files.length,
    committedBytes: Object.values(p.progress).reduce((n, f) => n + f.committed, 0),
    totalBytes: s.totalBytes,
    startedAt: p.startedAt,
    updatedAt: p.updatedAt,
  };
}

function toSummary(m: ManifestRecord): CachedModelSummary {
  const { chunkBytes: _chunkBytes, ...summary } = m;
  return summary;
}

export function isQuotaExceeded(e: unknown): boolean {
  const name = (e as { name?: unknown } | null)?.name;
  return name === 'QuotaExceededError';
}

export class WeightCache {
  /** fault injection for tests */
  testHooks: CacheTestHooks | undefined;
  private chunkPuts = 0;
  /** identifies this open cache; partials written by it are never garbage-collected by it */
  readonly sessionId = `${Date.now().toString(36)}-${Math.random().toString(36).slice(2, 10)}`;

  private constructor(private readonly db: IDBPDatabase<CacheDB>) {}

  static async open(dbName = DEFAULT_DB): Promise<WeightCache> {
    let db: IDBPDatabase<CacheDB>;
    try {
      db = await openDB<CacheDB>(dbName, 1, {
        upgrade(db) {
          db.createObjectStore('manifests', { keyPath: 'id' });
          db.createObjectStore('chunks');
          db.createObjectStore('partials', { keyPath: 'id' });
        },
        // Another tab holds an older version open; ours waits, so say why instead of hanging silently.
        blocked() {
          console.warn('weight cache upgrade blocked by another tab of the studio');
        },
      });
    } catch (e) {
      throw new AlloyError(
        `Could not open the weight cache (IndexedDB: ${(e as Error).message}). Private windows and some ` +
          `browser settings disable storage; models can still be read from a local folder.`,
        {},
        { cause: e },
      );
    }
    const cache = new WeightCache(db);
    await cache.gc();
    return cache;
  }

  async list(): Promise<CachedModelSummary[]> {
    const all = await this.db.getAll('manifests');
    return all.map(toSummary).sort((a, b) => b.createdAt - a.createdAt);
  }

  async getSummary(id: string): Promise<CachedModelSummary | null> {
    const m = await this.db.get('manifests', id);
    return m ? toSummary(m) : null;
  }

  /** A cached model; each file's chunk Blobs are looked up on first open() and read lazily. */
  async get(id: string): Promise<ModelFiles | null> {
    const m = await this.db.get('manifests', id);
    if (!m) return null;
    const db = this.db;
    return {
      label: m.label,
      files: m.files,
      async open(path: string): Promise<ByteSource> {
        const entry = m.files.find((f) => f.path === path);
        if (!entry) throw new AlloyError(`${m.label}: missing ${path}`, { file: path });
        // Blobs read from IndexedDB are handles to data on disk: fetching all of a file's chunks is cheap.
        const blobs = await db.getAll('chunks', fileRange(m.id, path));
        const expected = Math.ceil(entry.size / m.chunkBytes);
        const stored = blobs.reduce((n, b) => n + b.size, 0);
        if (blobs.length !== expected || stored !== entry.size) {
          throw new AlloyError(
            `${m.label}: the cached copy of ${path} is damaged (${stored} of ${entry.size} bytes in ${blobs.length} ` +
              `of ${expected} chunks). Delete the model and load it again.`,
            { file: path },
          );
        }
        return chunkedSource(path, entry.size, m.chunkBytes, blobs);
      },
    };
  }

  /**
   * A cached file as one Blob made of its chunk Blobs (handles to data on disk: nothing is read or copied), for
   * exporting the entry as a zip or into a folder. Null when the entry is gone.
   */
  async fileBlob(id: string, path: string): Promise<Blob | null> {
    const m = await this.db.get('manifests', id);
    if (!m) return null;
    const entry = m.files.find((f) => f.path === path);
    if (!entry) throw new AlloyError(`${m.label}: missing ${path}`, { file: path });
    const blobs = await this.db.getAll('chunks', fileRange(m.id, path));
    const stored = blobs.reduce((n, b) => n + b.size, 0);
    if (blobs.length !== Math.ceil(entry.size / m.chunkBytes) || stored !== entry.size) {
      throw new AlloyError(`${m.label}: the cached copy of ${path} is damaged (${stored} of ${entry.size} bytes). Delete the model and load it again.`, { file: path });
    }
    return new Blob(blobs);
  }

  async delete(id: string): Promise<void> {
    const tx = this.db.transaction(['manifests', 'partials', 'chunks'], 'readwrite');
    await Promise.all([
      tx.objectStore('manifests').delete(id),
      tx.objectStore('partials').delete(id),
      tx.objectStore('chunks').delete(entryRange(id)),
      tx.done,
    ]);
  }

  async estimate(): Promise<{ usage: number; quota: number } | null> {
    const storage = (globalThis.navigator as Navigator | undefined)?.storage;
    if (!storage?.estimate) return null;
    const e = await storage.estimate();
    return { usage: e.usage ?? 0, quota: e.quota ?? 0 };
  }

  /** Asks the browser not to evict the cache under storage pressure (the UI calls it when the user caches a model). */
  async persist(): Promise<boolean> {
    const storage = (globalThis.navigator as Navigator | undefined)?.storage;
    if (!storage?.persist) return false;
    try {
      return await storage.persist();
    } catch {
      return false;
    }
  }

  close(): void {
    this.db.close();
  }

  // ---- used by ingest.ts -------------------------------------------------------------------------------------

  /** Downloads in progress or interrupted (not visible in list()); the UI may offer to resume or discard them. */
  async partials(): Promise<PartialRecord[]> {
    return this.db.getAll('partials');
  }

  /** partials() for display: newest first, without per-file progress or hash states. */
  async listPartials(): Promise<PartialSummary[]> {
    return (await this.partials()).map(toPartialSummary).sort((a, b) => b.updatedAt - a.updatedAt);
  }

  async getPartial(id: string): Promise<PartialRecord | null> {
    return (await this.db.get('partials', id)) ?? null;
  }

  async putPartial(p: PartialRecord): Promise<void> {
    p.sessionId = this.sessionId;
    p.updatedAt = Date.now();
    await this.db.put('partials', p);
  }

  /** Stores one chunk and the partial record that counts it, atomically. */
  async putChunk(p: PartialRecord, path: string, index: number, chunk: Blob): Promise<void> {
    p.sessionId = this.sessionId;
    p.updatedAt = Date.now();
    const tx = this.db.transaction(['chunks', 'partials'], 'readwrite');
    try {
      this.testHooks?.beforeChunkPut?.(++this.chunkPuts, path, index);
      await Promise.all([tx.objectStore('chunks').put(chunk, [p.id, path, index]), tx.objectStore('partials').put(p), tx.done]);
    } catch (e) {
      try {
        tx.abort();
      } catch {
        // already finished or aborted
      }
      await tx.done.catch(() => undefined);
      throw e;
    }
  }

  /** Drops a file's chunks (its download restarts from byte 0) and records that, atomically. */
  async resetFile(p: PartialRecord, path: string): Promise<void> {
    p.progress[path] = { committed: 0, done: false };
    p.sessionId = this.sessionId;
    p.updatedAt = Date.now();
    const tx = this.db.transaction(['chunks', 'partials'], 'readwrite');
    await Promise.all([tx.objectStore('chunks').delete(fileRange(p.id, path)), tx.objectStore('partials').put(p), tx.done]);
  }

  /** Makes the entry visible: manifest in, partial out, one transaction. */
  async commit(p: PartialRecord): Promise<CachedModelSummary> {
    const manifest: ManifestRecord = { ...p.summary, chunkBytes: p.chunkBytes, createdAt: Date.now() };
    const tx = this.db.transaction(['manifests', 'partials'], 'readwrite');
    await Promise.all([tx.objectStore('manifests').put(manifest), tx.objectStore('partials').delete(p.id), tx.done]);
    return toSummary(manifest);
  }

  /** Forgets a download in progress and its chunks (never touches a complete entry's manifest). */
  async discardPartial(id: string): Promise<void> {
    const tx = this.db.transaction(['manifests', 'partials', 'chunks'], 'readwrite');
    const manifest = await tx.objectStore('manifests').get(id);
    await tx.objectStore('partials').delete(id);
    if (!manifest) await tx.objectStore('chunks').delete(entryRange(id));
    await tx.done;
  }

  /**
   * Removes chunks nothing refers to: those of ids with neither a manifest nor a partial record, and, for partials
   * written by an earlier session, chunks past what the partial counts as committed. Partials themselves are kept
   * (they can resume) unless they never committed a byte and were last touched over a minute ago. Runs on open(); reads keys only.
   */
  async gc(): Promise<number> {
    const tx = this.db.transaction(['manifests', 'partials', 'chunks'], 'readwrite');
    const manifests = new Set(await tx.objectStore('manifests').getAllKeys());
    const partials = new Map((await tx.objectStore('partials').getAll()).map((p) => [p.id, p]));
    let removed = 0;
    for (const p of partials.values()) {
      const bytes = Object.values(p.progress).reduce((n, f) => n + f.committed, 0);
      if (p.sessionId !== this.sessionId && bytes === 0 && Date.now() - p.updatedAt > 60_000) {
        await tx.objectStore('partials').delete(p.id);
        partials.delete(p.id);
      }
    }
    let cursor = await tx.objectStore('chunks').openKeyCursor();
    while (cursor) {
      const [id, path, index] = cursor.key;
      const p = partials.get(id);
      let orphan = !manifests.has(id) && !p;
      if (!orphan && p && !manifests.has(id) && p.sessionId !== this.sessionId) {
        const f = p.progress[path];
        orphan = !f || index * p.chunkBytes >= f.committed;
      }
      if (orphan) {
        await tx.objectStore('chunks').delete(cursor.key);
        removed++;
      }
      cursor = await cursor.continue();
    }
    await tx.done;
    return removed;
  }
}

/** A ByteSource over a file's chunk Blobs; a read may span several chunks. */
function chunkedSource(name: string, size: number, chunkBytes: number, blobs: Blob[]): ByteSource {
  return {
    name,
    size,
    async read(offset, length) {
      checkRange(name, size, offset, length);
      if (length === 0) return new Uint8Array(0);
      const first = Math.floor(offset / chunkBytes);
      const last = Math.floor((offset + length - 1) / chunkBytes);
      const start = offset - first * chunkBytes;
      const part = first === last ? blobs[first]! : new Blob(blobs.slice(first, last + 1));
      try {
        return new Uint8Array(await part.slice(start, start + length).arrayBuffer());
      } catch (e) {
        throw new AlloyError(
          `${name}: reading the cached copy failed (${(e as Error).message}); it may have been deleted in another tab`,
          { file: name },
          { cause: e },
        );
      }
    },
  };
}
