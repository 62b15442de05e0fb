// Writing a NEW cache entry from bytes produced in the studio (a merge's output), with the same guarantee as a
// download: chunks go in under a partial record, the manifest is committed last, and abort() removes everything,
// so the entry is complete or absent. It reuses the cache's own partial/chunk/commit primitives (the layout the
// reader expects: chunk i of a file holds bytes [i·chunkBytes, …)), so nothing here knows IndexedDB.
import type { ByteSink } from '../bytes.ts';
import { AlloyError } from '../../common/errors.ts';
import type { FileEntry } from '../model-files.ts';
import { distinctLabel, type Lineage } from './names.ts';
import { DEFAULT_CHUNK_BYTES, type CachedModelSummary, type PartialRecord, type WeightCache } from './weight-cache.ts';

export interface EntryWriterOptions {
  /** what people read; numbered (-2, -3, …) when the cache already holds one so named (names.ts distinctLabel) */
  label: string;
  /** where the model came from, kept with it and shown beside the label */
  lineage?: Lineage;
  /** 'merge': made by a merge, fold or recipe; 'import': converted from a GGUF or llama2.c file */
  source: 'merge' | 'import';
  /** shown as the entry's repo (e.g. "merge"); the label is what users read */
  repo?: string;
  /** default 16 MiB (the sizes are unknown up front, and big chunks mean few IndexedDB records) */
  chunkBytes?: number;
}

export interface EntryWriter {
  readonly id: string;
  /** A sink for one file of the entry; bytes are stored as whole chunks while written. */
  openSink(fileName: string): Promise<ByteSink>;
  /** Makes the entry visible (manifest in, partial out, one transaction). Every sink must be closed. */
  commit(): Promise<CachedModelSummary>;
  /** Removes what was written; the cache looks as if the writer never existed. Safe to call twice. */
  abort(): Promise<void>;
}

// The same lock name as ingest.ts uses for its entries: while held, interruptedDownloads() hides the partial, so a
// merge in progress is never offered as an "interrupted download".
const lockName = (id: string) => `alloy-weight-cache:${id}`;
const locks = (): LockManager | undefined => (globalThis.navigator as Navigator | undefined)?.locks;

function newEntryId(source: EntryWriterOptions['source']): string {
  const r = globalThis.crypto?.randomUUID?.() ?? `${Date.now().toString(36)}-${Math.random().toString(36).slice(2)}`;
  return `${source}:${r}`;
}

/** Holds the entry's Web Lock until release() (no-op where Web Locks are missing, e.g. Node). */
async function holdLock(id: string): Promise<() => void> {
  const lm = locks();
  if (!lm?.request) return () => {};
  let release!: () => void;
  const held = new Promise<void>((resolve) => (release = resolve));
  await new Promise<void>((acquired) => {
    void lm.request(lockName(id), () => {
      acquired();
      return held;
    });
  });
  return release;
}

/**
 * Merge outputs whose writer died with its tab (crash, reload) stay as partials nobody can resume (there is no
 * source to fetch again): remove those whose lock nobody holds, so they never show up as interrupted downloads.
 */
export async function discardOrphanedWrites(cache: WeightCache): Promise<void> {
  const lm = locks();
  for (const p of await cache.partials()) {
    if (p.summary.source !== 'merge' && p.summary.source !== 'import') continue;
    if (!lm?.request) {
      if (p.sessionId !== cache.sessionId) await cache.discardPartial(p.id);
      continue;
    }
    await lm.request(lockName(p.id), { ifAvailable: true }, async (lock) => {
      if (lock) await cache.discardPartial(p.id);
    });
  }
}

export async function createEntryWriter(cache: WeightCache, opts: EntryWriterOptions): Promise<EntryWriter> {
  await discardOrphanedWrites(cache);
  const id = newEntryId(opts.source);
  // entries being written count too: two folds started together still get two names
  const taken = [...(await cache.list()).map((m) => m.label), ...(await cache.partials()).map((p) => p.summary.label)];
  const label = distinctLabel(opts.label, taken);
  const chunkBytes = opts.chunkBytes ?? DEFAULT_CHUNK_BYTES;
  const release = await holdLock(id);
  const files: FileEntry[] = [];
  const record: PartialRecord = {
    id,
    summary: { id, label, source: opts.source, repo: opts.repo ?? label, revision: opts.source, files, totalBytes: 0, ...(opts.lineage ? { lineage: opts.lineage } : {}) },
    chunkBytes,
    progress: {},
    sessionId: cache.sessionId,
    startedAt: Date.now(),
    updatedAt: Date.now(),
  };
  let state: 'open' | 'committed' | 'aborted' = 'open';
  const openSinks = new Set<string>();
  // Written before any chunk: another session's gc() deletes chunks that no manifest or partial accounts for.
  await cache.putPartial(record);

  const assertOpen = () => {
    if (state !== 'open') throw new AlloyError(`cache entry ${label} was already ${state}`);
  };

  return {
    id,
    async openSink(fileName: string): Promise<ByteSink> {
      assertOpen();
      if (record.progress[fileName] || openSinks.has(fileName)) throw new AlloyError(`${label}: ${fileName} written twice`, { file: fileName });
      record.progress[fileName] = { committed: 0, done: false };
      openSinks.add(fileName);
      // Pending bytes are kept as Blob parts: concatenating them is the browser's job, and slicing a Blob is cheap.
      let pending: Blob = new Blob([]);
      let index = 0;
      let size = 0;
      const flush = async (final: boolean) => {
        while (pending.size >= chunkBytes || (final && pending.size > 0)) {
          const chunk = pending.slice(0, chunkBytes);
          pending = pending.slice(chunkBytes);
          const fp = record.progress[fileName]!;
          fp.committed += chunk.size;
          await cache.putChunk(record, fileName, index++, chunk);
        }
      };
      return {
        async write(bytes: Uint8Array) {
          assertOpen();
          size += bytes.byteLength;
          pending = new Blob([pending, bytes.slice() as Uint8Array<ArrayBuffer>]);
          await flush(false);
        },
        async close() {
          assertOpen();
          await flush(true);
          record.progress[fileName]!.done = true;
          files.push({ path: fileName, size });
          record.summary.totalBytes += size;
          openSinks.delete(fileName);
          await cache.putPartial(record);
        },
      };
    },
    async commit() {
      assertOpen();
      if (openSinks.size > 0) throw new AlloyError(`${label}: ${[...openSinks].join(', ')} not closed before commit`);
      try {
        const entry = await cache.commit(record);
        state = 'committed';
        return entry;
      } finally {
        release();
      }
    },
    async abort() {
      if (state !== 'open') return;
      state = 'aborted';
      try {
        await cache.discardPartial(id);
      } finally {
        release();
      }
    },
  };
}
