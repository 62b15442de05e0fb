// Turns a ModelSource into a complete cache entry: list → check quota → stream every file into chunks (resuming
// a partial download where it stopped) → verify → commit the manifest. One progress bar covers all bytes.
import { AlloyError, CancelledError, QuotaError, isCancelled, throwIfAborted } from '../../common/errors.ts';
import { folderPlan } from '../folder.ts';
import { InterruptedError, downloadChunked, hubOpener, type Opener } from '../hub/download.ts';
import { AuthError } from '../hub/http.ts';
import { listHubRepo } from '../hub/listing.ts';
import type { FileEntry } from '../model-files.ts';
import { ProgressMeter, formatBytes, type ProgressFn } from '../progress.ts';
import { entryId, hubBase, hubKey, hubRevision, sourceLabel, type ModelSource } from '../sources.ts';
import {
  DEFAULT_CHUNK_BYTES,
  isQuotaExceeded,
  type CachedModelSummary,
  type PartialRecord,
  type PartialSummary,
  type WeightCache,
} from './weight-cache.ts';

export interface CacheModelOptions {
  onProgress?: ProgressFn;
  signal?: AbortSignal;
  /** chunk size in bytes (default: chunkBytesFor the files); a resumed download keeps the size it started with */
  chunkBytes?: number;
  /** reconnections per file after a dropped connection within this call (default 2) */
  retries?: number;
}

interface Plan {
  summary: Omit<CachedModelSummary, 'createdAt'>;
  opener(file: FileEntry): Opener;
}

async function plan(source: ModelSource, signal: AbortSignal | undefined): Promise<Plan> {
  const id = entryId(source);
  const label = sourceLabel(source);
  if (source.kind === 'hub') {
    const listing = await listHubRepo(source, signal ? { signal } : {});
    const totalBytes = listing.files.reduce((n, f) => n + f.size, 0);
    return {
      summary: {
        id,
        label,
        source: 'hub',
        ...(hubKey(source) === 'hf' ? {} : { baseUrl: hubBase(source) }),
        repo: source.repo,
        revision: hubRevision(source),
        ...(listing.commit ? { commit: listing.commit } : {}),
        files: listing.files,
        totalBytes,
      },
      opener: (f) => hubOpener(source, f, listing.commit),
    };
  }
  const p = await folderPlan(source);
  return {
    summary: {
      id,
      label,
      source: 'folder',
      repo: source.name,
      revision: 'local',
      files: p.files,
      totalBytes: p.files.reduce((n, f) => n + f.size, 0),
    },
    opener: p.opener,
  };
}

function sameFiles(a: readonly FileEntry[], b: readonly FileEntry[]): boolean {
  return (
    a.length === b.length &&
    a.every((f, i) => f.path === b[i]!.path && f.size === b[i]!.size && (f.sha256 ?? '') === (b[i]!.sha256 ?? ''))
  );
}

function quotaMessage(label: string, needed: number, available: number | null): string {
  const avail = available === null ? '' : `, but only ${formatBytes(Math.max(0, available))} is available to the studio`;
  return (
    `Not enough browser storage to cache ${label}: it needs ${formatBytes(needed)}${avail}. ` +
    `Delete cached models you no longer need in the Models panel, or free disk space, then try again.`
  );
}

const MIN_CHUNK_BYTES = 64 * 1024;
/** the largest file is split into at least this many chunks (unless that would make chunks under the minimum) */
const CHUNKS_PER_LARGEST_FILE = 64;

/**
 * The chunk size for a new download: the smallest power of two that splits the largest file into at most 64
 * chunks, between 64 KiB and DEFAULT_CHUNK_BYTES. A cancelled or cut-off download keeps only whole chunks, so a
 * fixed 16 MiB would make any model under 16 MiB per file restart from zero; big models still get 16 MiB chunks
 * (few IndexedDB records, each far below Chromium's value-size limit).
 */
export function chunkBytesFor(files: readonly FileEntry[]): number {
  const largest = files.reduce((n, f) => Math.max(n, f.size), 0);
  let size = MIN_CHUNK_BYTES;
  while (size < DEFAULT_CHUNK_BYTES && size * CHUNKS_PER_LARGEST_FILE < largest) size *= 2;
  return size;
}

const lockName = (id: string) => `alloy-weight-cache:${id}`;
const webLocks = (): LockManager | undefined => (globalThis.navigator as Navigator | undefined)?.locks;

/** Serializes work on one entry across tabs and workers (two tabs caching the same model would interleave chunks). */
async function withEntryLock<T>(id: string, fn: () => Promise<T>): Promise<T> {
  const locks = webLocks();
  if (!locks?.request) return fn();
  return locks.request(lockName(id), fn) as Promise<T>;
}

/**
 * Partial downloads nobody is working on now. A partial whose entry lock is held (a download running in this or
 * another tab) is in progress, not interrupted, so it is left out.
 */
export async function interruptedDownloads(cache: WeightCache): Promise<PartialSummary[]> {
  const all = await cache.listPartials();
  const locks = webLocks();
  if (!locks?.query || all.length === 0) return all;
  const held = new Set(((await locks.query()).held ?? []).map((l) => l.name));
  return all.filter((p) => !held.has(lockName(p.id)));
}

/**
 * Discards an interrupted download (its chunks and record). Refuses while a download of the same entry runs,
 * in any tab: deleting chunks under a running download would leave it committing a damaged entry.
 */
export async function discardInterrupted(cache: WeightCache, id: string): Promise<void> {
  const locks = webLocks();
  if (!locks?.request) return cache.discardPartial(id);
  await locks.request(lockName(id), { ifAvailable: true }, async (lock) => {
    if (!lock) {
      throw new AlloyError('This download is running right now (in this or another tab): cancel it there before discarding it.');
    }
    await cache.discardPartial(id);
  });
}

/**
 * Caches the model of `source` and returns its entry. An entry already complete is returned as is. Cancelling
 * (signal) throws CancelledError and keeps the partial download (invisible to list()) so the next call resumes it.
 */
export async function cacheModel(
  cache: WeightCache,
  source: ModelSource,
  opts: CacheModelOptions = {},
): Promise<CachedModelSummary> {
  const id = entryId(source);
  const { signal } = opts;
  throwIfAborted(signal, 'download');
  return withEntryLock(id, async () => {
    const existing = await cache.getSummary(id);
    if (existing) {
      new ProgressMeter(existing.totalBytes, opts.onProgress, 'cached').skip(existing.totalBytes);
      return existing;
    }
    // Listing can take a few round trips (HEAD probes, the shard index): say so before the byte total is known.
    opts.onProgress?.({ phase: 'listing', done: 0, total: 0, unit: 'bytes', rate: 0, etaSeconds: null, detail: sourceLabel(source) });
    const p = await plan(source, signal);
    throwIfAborted(signal, 'download');
    const { summary } = p;

    // A partial from another commit, file list or chunk size cannot be continued.
    let partial = await cache.getPartial(id);
    if (partial && (partial.summary.commit !== summary.commit || !sameFiles(partial.summary.files, summary.files))) {
      await cache.discardPartial(id);
      partial = null;
    }
    const chunkBytes = partial?.chunkBytes ?? opts.chunkBytes ?? chunkBytesFor(summary.files);
    const done = partial ? Object.values(partial.progress).reduce((n, f) => n + f.committed, 0) : 0;

    const needed = summary.totalBytes - done;
    const est = await cache.estimate();
    if (est && est.quota > 0 && needed > est.quota - est.usage) {
      throw new QuotaError(quotaMessage(summary.label, needed, est.quota - est.usage));
    }

    const record: PartialRecord = partial ?? {
      id,
      summary,
      chunkBytes,
      progress: Object.fromEntries(summary.files.map((f) => [f.path, { committed: 0, done: false }])),
      sessionId: cache.sessionId,
      startedAt: Date.now(),
      updatedAt: Date.now(),
    };
    try {
      if (!partial) await cache.putPartial(record);
      const meter = new ProgressMeter(summary.totalBytes, opts.onProgress, 'download');
      meter.skip(done);
      for (const file of summary.files) {
        const fp = (record.progress[file.path] ??= { committed: 0, done: false });
        if (fp.done) continue;
        const sha = await downloadChunked({
          file,
          open: p.opener(file),
          chunkBytes,
          resume: {
            offset: fp.committed,
            ...(fp.hashState ? { hashState: fp.hashState } : {}),
            ...(fp.etag ? { etag: fp.etag } : {}),
          },
          label: summary.label,
          ...(signal ? { signal } : {}),
          ...(opts.retries === undefined ? {} : { retries: opts.retries }),
          onBytes: (n) => meter.add(n, file.path),
          onRestart: () => cache.resetFile(record, file.path),
          onChunk: async (index, bytes, end, hashState, etag) => {
            const cur = record.progress[file.path]!;
            cur.committed = end;
            cur.hashState = hashState;
            if (etag) cur.etag = etag;
            cur.done = end === file.size;
            await cache.putChunk(record, file.path, index, new Blob([bytes as Uint8Array<ArrayBuffer>]));
          },
        });
        const cur = record.progress[file.path]!;
        cur.done = true;
        cur.sha256 = sha;
        if (file.size === 0) await cache.putPartial(record);
      }
      throwIfAborted(signal, 'download');
      // Record the hash computed while downloading for every file (the hub lists one only for LFS files), so the
      // manifest can later be verified against its chunks.
      record.summary = {
        ...record.summary,
        files: record.summary.files.map((f) => {
          const sha256 = f.sha256 ?? record.progress[f.path]?.sha256;
          return sha256 ? { ...f, sha256 } : f;
        }),
      };
      const entry = await cache.commit(record);
      meter.finish(`${summary.label} cached`);
      return entry;
    } catch (e) {
      if (isCancelled(e)) throw e instanceof CancelledError ? e : new CancelledError('download');
      if (isQuotaExceeded(e)) {
        // Storage ran out mid-write: free what this download took, so the cache holds only complete entries.
        await cache.discardPartial(id).catch(() => undefined);
        throw new QuotaError(
          quotaMessage(summary.label, summary.totalBytes, est ? est.quota - est.usage : null) +
            ' (the browser refused to store more: the partial download was removed)',
          {},
          { cause: e },
        );
      }
      // A network cut or a refused token keeps the partial (resumable once the connection or the token is
      // back); anything else (corrupt file, changed server) discards it.
      if (!(e instanceof InterruptedError) && !(e instanceof AuthError)) await cache.discardPartial(id).catch(() => undefined);
      throw e;
    }
  });
}
