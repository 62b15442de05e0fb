// Test harness page: exposes the weight cache and ingest on `window.alloyHarness` so Playwright can drive them on
// real IndexedDB in Chromium, and renders progress + the model list for screenshots.
import { createSHA256 } from 'hash-wasm';
import { cacheModel, discardInterrupted, interruptedDownloads } from '../../../src/io/cache/ingest.ts';
import { WeightCache, type CachedModelSummary, type PartialSummary } from '../../../src/io/cache/weight-cache.ts';
import { serializeError, type SerializedError } from '../../../src/common/errors.ts';
import { folderModelFiles } from '../../../src/io/folder.ts';
import { formatBytes, formatEta, type Progress } from '../../../src/io/progress.ts';
import type { ModelSource } from '../../../src/io/sources.ts';
import { idbCheckpointStore } from '../../../src/io/cache/checkpoint-idb.ts';
import { DatasetStore } from '../../../src/io/cache/datasets.ts';
import { CHECKPOINT_DB } from '../../../src/io/cache/checkpoint-idb.ts';
import { TrainHost } from '../../../src/worker/train.ts';
import { TRAIN_RUNS_DB } from '../../../src/io/cache/train-runs.ts';
import type { AdapterImportResult, TrainRunSummary } from '../../../src/worker/train-api.ts';

export const DB = 'alloy-weights-test';

let cache: WeightCache | null = null;
async function theCache(): Promise<WeightCache> {
  cache ??= await WeightCache.open(DB);
  return cache;
}

export interface FileSpec {
  /** webkitRelativePath, e.g. "my-model/config.json" */
  rel: string;
  base64: string;
}

export type SourceSpec =
  | { kind: 'hub'; baseUrl?: string; repo: string; revision?: string; token?: string }
  | { kind: 'folder'; name: string; files: FileSpec[] };

export interface CacheOptions {
  chunkBytes?: number;
  retries?: number;
  /** abort once progress reaches this many bytes */
  abortAtBytes?: number;
  /** throw a QuotaExceededError DOMException on this chunk put (1-based) */
  quotaErrorOnChunk?: number;
  /** make navigator.storage.estimate() report this */
  fakeEstimate?: { usage: number; quota: number };
}

export type CacheResult =
  | { ok: true; summary: CachedModelSummary; progress: Progress[] }
  | { ok: false; error: SerializedError; progress: Progress[] };

function toFile(spec: FileSpec): File {
  const bin = atob(spec.base64);
  const bytes = new Uint8Array(bin.length);
  for (let i = 0; i < bin.length; i++) bytes[i] = bin.charCodeAt(i);
  const f = new File([bytes], spec.rel.split('/').pop()!, { lastModified: 1_700_000_000_000 });
  // webkitRelativePath is read-only on real Files; a picked folder sets it, so the harness does the same.
  Object.defineProperty(f, 'webkitRelativePath', { value: spec.rel });
  return f;
}

function toSource(s: SourceSpec): ModelSource {
  return s.kind === 'hub' ? s : { kind: 'folder', name: s.name, files: s.files.map(toFile) };
}

const realEstimate = navigator.storage.estimate.bind(navigator.storage);

// The studio worker's training host on the harness cache: adapter import, export and fold need no GPU.
let trainHost: TrainHost | null = null;
function host(): TrainHost {
  trainHost ??= new TrainHost({
    cache: theCache,
    files: async (id) => {
      const m = await (await theCache()).get(id);
      if (!m) throw new Error(`no cached model ${id}`);
      return m;
    },
    tokenizer: () => Promise.reject(new Error('the harness has no tokenizers')),
  });
  return trainHost;
}

async function countIn(dbName: string, stores: string[]): Promise<number[]> {
  // opening a database that does not exist would create it empty (and its owner's upgrade would then never run)
  if (!(await indexedDB.databases()).some((d) => d.name === dbName)) return stores.map(() => 0);
  return new Promise((ok, fail) => {
    const r = indexedDB.open(dbName);
    r.onerror = () => fail(r.error);
    r.onsuccess = async () => {
      const db = r.result;
      const out: number[] = [];
      for (const s of stores) {
        if (!db.objectStoreNames.contains(s)) {
          out.push(0);
          continue;
        }
        out.push(
          await new Promise<number>((k, f) => {
            const q = db.transaction(s).objectStore(s).count();
            q.onsuccess = () => k(q.result);
            q.onerror = () => f(q.error);
          }),
        );
      }
      db.close();
      return ok(out);
    };
  });
}

function toBase64(bytes: Uint8Array): string {
  let s = '';
  for (let i = 0; i < bytes.length; i += 0x8000) s += String.fromCharCode(...bytes.subarray(i, i + 0x8000));
  return btoa(s);
}

function render(p?: Progress, status?: string, isError = false): void {
  if (p) {
    const bar = document.getElementById('bar') as HTMLProgressElement;
    bar.max = Math.max(1, p.total);
    bar.value = p.done;
    document.getElementById('progress-text')!.textContent =
      `${formatBytes(p.done)} / ${formatBytes(p.total)} · ${formatBytes(p.rate)}/s · ETA ${formatEta(p.etaSeconds)}` +
      (p.detail ? ` · ${p.detail}` : '');
  }
  if (status !== undefined) {
    const el = document.getElementById('status')!;
    el.textContent = status;
    el.className = isError ? 'error' : '';
  }
}

async function renderList(): Promise<void> {
  const rows = (await (await theCache()).list()).map(
    (m) => `<tr><td>${m.label}</td><td>${m.source}</td><td>${m.files.length}</td><td>${formatBytes(m.totalBytes)}</td></tr>`,
  );
  document.querySelector('#models tbody')!.innerHTML = rows.join('');
}

const api = {
  async cache(spec: SourceSpec, opts: CacheOptions = {}): Promise<CacheResult> {
    const c = await theCache();
    const progress: Progress[] = [];
    const ac = new AbortController();
    navigator.storage.estimate = opts.fakeEstimate ? async () => ({ ...opts.fakeEstimate }) : realEstimate;
    c.testHooks = opts.quotaErrorOnChunk
      ? {
          beforeChunkPut: (n) => {
            if (n === opts.quotaErrorOnChunk) throw new DOMException('The quota has been exceeded.', 'QuotaExceededError');
          },
        }
      : undefined;
    try {
      const summary = await cacheModel(c, toSource(spec), {
        signal: ac.signal,
        ...(opts.chunkBytes ? { chunkBytes: opts.chunkBytes } : {}),
        ...(opts.retries !== undefined ? { retries: opts.retries } : {}),
        onProgress: (p) => {
          progress.push(p);
          render(p);
          if (opts.abortAtBytes !== undefined && p.done >= opts.abortAtBytes) ac.abort();
        },
      });
      render(undefined, `cached ${summary.label}`);
      await renderList();
      return { ok: true, summary, progress };
    } catch (e) {
      render(undefined, `${(e as Error).name}: ${(e as Error).message}`, true);
      await renderList();
      return { ok: false, error: serializeError(e), progress };
    } finally {
      c.testHooks = undefined;
      navigator.storage.estimate = realEstimate;
    }
  },

  async list(): Promise<CachedModelSummary[]> {
    return (await theCache()).list();
  },

  async delete(id: string): Promise<void> {
    await (await theCache()).delete(id);
    await renderList();
  },

  /** What the Models panel lists under "Interrupted downloads". */
  async partialSummaries(): Promise<PartialSummary[]> {
    return (await theCache()).listPartials();
  },

  async discardPartial(id: string): Promise<void> {
    await (await theCache()).discardPartial(id);
    await renderList();
  },

  /** listPartials() less the downloads running now (what the studio worker's listPartials answers) */
  async interrupted(): Promise<string[]> {
    return (await interruptedDownloads(await theCache())).map((p) => p.id);
  },

  /** The studio worker's discard: refuses while that download runs. Resolves with the error message, or null. */
  async discardInterrupted(id: string): Promise<string | null> {
    try {
      await discardInterrupted(await theCache(), id);
      return null;
    } catch (e) {
      return (e as Error).message;
    }
  },

  /** sha256 of every file of an entry, read back through ByteSource in `piece`-byte reads (spanning chunks). */
  async readBack(id: string, piece = 7777): Promise<Record<string, string> | null> {
    const m = await (await theCache()).get(id);
    if (!m) return null;
    const out: Record<string, string> = {};
    for (const f of m.files) {
      const src = await m.open(f.path);
      const h = await createSHA256();
      h.init();
      for (let off = 0; off < src.size; off += piece) h.update(await src.read(off, Math.min(piece, src.size - off)));
      out[f.path] = h.digest('hex');
    }
    return out;
  },

  /** Reads a folder in place (no cache) and returns the files it would load. */
  folderFiles(name: string, files: FileSpec[]): { ok: boolean; files?: string[]; error?: SerializedError } {
    try {
      return { ok: true, files: folderModelFiles({ kind: 'folder', name, files: files.map(toFile) }).files.map((f) => f.path) };
    } catch (e) {
      return { ok: false, error: serializeError(e) };
    }
  },

  /** What is in the database, straight from IndexedDB. */
  async stats(): Promise<{ manifests: number; partials: { id: string; committed: number }[]; chunks: number }> {
    const c = await theCache();
    const partials = (await c.partials()).map((p) => ({
      id: p.id,
      committed: Object.values(p.progress).reduce((n, f) => n + f.committed, 0),
    }));
    const db = await new Promise<IDBDatabase>((ok, fail) => {
      const r = indexedDB.open(DB);
      r.onsuccess = () => ok(r.result);
      r.onerror = () => fail(r.error);
    });
    const count = (store: string) =>
      new Promise<number>((ok, fail) => {
        const r = db.transaction(store).objectStore(store).count();
        r.onsuccess = () => ok(r.result);
        r.onerror = () => fail(r.error);
      });
    const [manifests, chunks] = [await count('manifests'), await count('chunks')];
    db.close();
    return { manifests, partials, chunks };
  },

  /** Writes chunks that no manifest or partial refers to (what a crash in an older version could leave). */
  async injectOrphanChunks(n: number): Promise<void> {
    const db = await new Promise<IDBDatabase>((ok, fail) => {
      const r = indexedDB.open(DB);
      r.onsuccess = () => ok(r.result);
      r.onerror = () => fail(r.error);
    });
    const tx = db.transaction('chunks', 'readwrite');
    for (let i = 0; i < n; i++) tx.objectStore('chunks').put(new Blob([new Uint8Array(100)]), ['ghost|x@main', 'model.safetensors', i]);
    await new Promise<void>((ok, fail) => {
      tx.oncomplete = () => ok();
      tx.onerror = () => fail(tx.error);
    });
    db.close();
  },

  /** Closes the cache and opens it again (a new session: open() garbage-collects orphan chunks). */
  async reopen(): Promise<void> {
    cache?.close();
    cache = await WeightCache.open(DB);
  },

  /** Two cacheModel calls for the same source at once (two tabs clicking "load"). */
  async cacheTwice(spec: SourceSpec, chunkBytes: number): Promise<string[]> {
    const c = await theCache();
    const [a, b] = await Promise.all([
      cacheModel(c, toSource(spec), { chunkBytes }),
      cacheModel(c, toSource(spec), { chunkBytes }),
    ]);
    return [a.id, b.id];
  },

  async estimate() {
    return (await theCache()).estimate();
  },

  async persist() {
    return (await theCache()).persist();
  },

  /** Training checkpoints (src/io/cache/checkpoint-idb.ts) on real IndexedDB: bytes[i] = (31·i + step) mod 256. */
  checkpoints: {
    db: 'alloy-checkpoints-test',
    pattern(step: number, bytes: number): Uint8Array<ArrayBuffer> {
      const b = new Uint8Array(bytes);
      for (let i = 0; i < bytes; i++) b[i] = (31 * i + step) & 255;
      return b;
    },
    async save(run: string, step: number, bytes: number, chunkBytes: number): Promise<void> {
      const store = await idbCheckpointStore(run, api.checkpoints.db, chunkBytes);
      try {
        await store.save(step, new Blob([api.checkpoints.pattern(step, bytes)]));
      } finally {
        store.close();
      }
    },
    /** Starts a save and does not wait for it (the test reloads the page under it: a crash mid-write). */
    startSave(run: string, step: number, bytes: number, chunkBytes: number): void {
      void api.checkpoints.save(run, step, bytes, chunkBytes).catch(() => {});
    },
    async steps(run: string): Promise<number[]> {
      const store = await idbCheckpointStore(run, api.checkpoints.db);
      try {
        return await store.steps();
      } finally {
        store.close();
      }
    },
    /** Reads a checkpoint back whole: its size and whether every byte is the pattern. */
    async check(run: string, step: number): Promise<{ size: number; intact: boolean }> {
      const store = await idbCheckpointStore(run, api.checkpoints.db);
      try {
        const src = await store.open(step);
        const got = await src.read(0, src.size);
        const want = api.checkpoints.pattern(step, src.size);
        return { size: src.size, intact: got.every((x, i) => x === want[i]) };
      } finally {
        store.close();
      }
    },
    async remove(run: string, step: number): Promise<void> {
      const store = await idbCheckpointStore(run, api.checkpoints.db);
      try {
        await store.delete(step);
      } finally {
        store.close();
      }
    },
    async chunkCount(): Promise<number> {
      const db = await new Promise<IDBDatabase>((ok, fail) => {
        const r = indexedDB.open(api.checkpoints.db);
        r.onsuccess = () => ok(r.result);
        r.onerror = () => fail(r.error);
      });
      const n = await new Promise<number>((ok, fail) => {
        const r = db.transaction('chunks').objectStore('chunks').count();
        r.onsuccess = () => ok(r.result);
        r.onerror = () => fail(r.error);
      });
      db.close();
      return n;
    },
  },

  /** PEFT adapter import (src/worker/train.ts TrainHost.importAdapter) with the studio's own run and checkpoint stores. */
  adapters: {
    async import(modelId: string, name: string, files: FileSpec[]): Promise<{ ok: true; value: AdapterImportResult } | { ok: false; error: SerializedError }> {
      try {
        return { ok: true, value: await host().importAdapter({ modelId, name, files: files.map((f) => ({ path: f.rel, blob: toFile(f) })) }) };
      } catch (e) {
        return { ok: false, error: serializeError(e) };
      }
    },
    list(): Promise<TrainRunSummary[]> {
      return host().list();
    },
    async exportZip(runId: string): Promise<{ fileName: string; base64: string }> {
      const a = await host().exportAdapter(runId);
      return { fileName: a.fileName, base64: toBase64(a.bytes) };
    },
    async fold(runId: string): Promise<CachedModelSummary> {
      return (await host().fold(runId, null, new AbortController().signal)).entry;
    },
    delete(runId: string): Promise<void> {
      return host().delete(runId);
    },
    /** records in the run store, checkpoints and checkpoint chunks, straight from IndexedDB */
    async stored(): Promise<{ runs: number; checkpoints: number; chunks: number }> {
      const [runs] = await countIn(TRAIN_RUNS_DB, ['runs']);
      const [checkpoints, chunks] = await countIn(CHECKPOINT_DB, ['checkpoints', 'chunks']);
      return { runs: runs!, checkpoints: checkpoints!, chunks: chunks! };
    },
  },

  /** Closes and deletes the database: each test starts empty. */
  async reset(): Promise<void> {
    cache?.close();
    cache = null;
    await new Promise<void>((ok, fail) => {
      const r = indexedDB.deleteDatabase(DB);
      r.onsuccess = () => ok();
      r.onerror = () => fail(r.error);
    });
    await renderList();
  },
};

export type HarnessApi = typeof api;
declare global {
  interface Window {
    alloyHarness: HarnessApi;
    alloyHarnessReady: boolean;
  }
}
// the Data panel's dataset store, for tests/io/cache/datasets.browser.test.ts
(window as unknown as { alloyDatasetStore: typeof DatasetStore }).alloyDatasetStore = DatasetStore;
window.alloyHarness = api;
window.alloyHarnessReady = true;
void renderList();
