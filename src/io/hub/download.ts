// Streams one file into fixed-size chunks with resume: HTTP Range from the last committed chunk, a restart when
// the server ignores Range, retries after a dropped connection, and size + sha256 checks at the end.
// Where the chunks go is the caller's business (the IndexedDB cache); this module never holds a whole file.
import { createSHA256, type IHasher } from 'hash-wasm';
import { AlloyError, CancelledError, throwIfAborted } from '../../common/errors.ts';
import type { FileEntry } from '../model-files.ts';
import { hubBase, hubLabel, hubRevision, type HubSource } from '../sources.ts';
import { hubFetch, mapFetchError, statusError, type FetchFn } from './http.ts';
import { resolveUrl } from './urls.ts';

/** The connection kept dropping; the bytes committed so far are kept and the next attempt resumes from them. */
export class InterruptedError extends AlloyError {
  override readonly name = 'InterruptedError';
}

/** The bytes are wrong (hash or size mismatch): what was stored for this download must be thrown away. */
export class IntegrityError extends AlloyError {
  override readonly name = 'IntegrityError';
}

/** A file's body from some offset on. */
export interface OpenedStream {
  /** where `body` starts in the file: the requested offset, or 0 when the server ignored Range */
  start: number;
  body: ReadableStream<Uint8Array>;
  /** validator of the file's content (ETag / X-Linked-Etag), to check that a resumed file has not changed */
  etag?: string;
}

export type Opener = (offset: number, signal?: AbortSignal) => Promise<OpenedStream>;

function cleanEtag(v: string | null): string | undefined {
  if (!v) return undefined;
  return v.replace(/^W\//, '').replace(/^"|"$/g, '');
}

/** Parses "bytes a-b/total". */
export function parseContentRange(v: string | null): { start: number; end: number; total: number | null } | null {
  const m = /^bytes (\d+)-(\d+)\/(\d+|\*)$/.exec(v?.trim() ?? '');
  if (!m) return null;
  return { start: Number(m[1]), end: Number(m[2]), total: m[3] === '*' ? null : Number(m[3]) };
}

/**
 * Opens `file` of a hub repo at `offset`. A 206 must carry a Content-Range starting exactly at `offset` (a proxy
 * that answers another range would corrupt the file); anything else makes us fetch the whole file again.
 * `commit`, when known from the listing, is checked against X-Repo-Commit so a branch that moves mid-download
 * cannot mix files of two commits.
 */
export function hubOpener(s: HubSource, file: FileEntry, commit: string | undefined, fetchFn?: FetchFn): Opener {
  const url = resolveUrl(hubBase(s), s.repo, hubRevision(s), file.path);
  return async (offset, signal) => {
    const base = { source: s, url, path: file.path, ...(signal ? { signal } : {}), ...(fetchFn ? { fetchFn } : {}) };
    let res = await hubFetch(offset > 0 ? { ...base, headers: { Range: `bytes=${offset}-` } } : base);
    let start = 0;
    if (offset > 0 && res.status === 206) {
      const cr = parseContentRange(res.headers.get('content-range'));
      if (cr && cr.start === offset && (cr.total === null || cr.total === file.size)) {
        start = offset;
      } else {
        await res.body?.cancel();
        res = await hubFetch(base);
      }
    } else if (offset > 0 && res.status === 416) {
      res = await hubFetch(base);
    }
    if (!res.ok) throw statusError(s, file.path, res);
    if (res.status === 206 && start === 0) {
      await res.body?.cancel();
      throw new AlloyError(`${hubLabel(s)}: the server answered ${file.path} with a partial response that was not asked for`, {
        file: file.path,
      });
    }
    const served = res.headers.get('x-repo-commit');
    if (commit && served && served !== commit) {
      await res.body?.cancel();
      throw new AlloyError(
        `${hubLabel(s)} moved to another commit while downloading (${commit.slice(0, 8)} → ${served.slice(0, 8)}). ` +
          `Run it again to fetch the new revision.`,
        { file: file.path },
      );
    }
    if (!res.body) throw new AlloyError(`${hubLabel(s)}: empty response for ${file.path}`, { file: file.path });
    const etag = cleanEtag(res.headers.get('x-linked-etag')) ?? cleanEtag(res.headers.get('etag'));
    return { start, body: res.body, ...(etag ? { etag } : {}) };
  };
}

/** Where a file was when the download stopped: bytes committed (a whole number of chunks) and the hash state. */
export interface ResumePoint {
  offset: number;
  /** hash-wasm sha256 state after `offset` bytes (IHasher.save()) */
  hashState?: Uint8Array;
  etag?: string;
}

export interface ChunkedDownload {
  file: FileEntry;
  open: Opener;
  chunkBytes: number;
  resume?: ResumePoint;
  /** Persists chunk `index` (bytes [index*chunkBytes, end)); `hashState` covers bytes up to `end`. */
  onChunk(index: number, bytes: Uint8Array, end: number, hashState: Uint8Array, etag: string | undefined): Promise<void>;
  /** The server ignored Range (or the file changed): chunks committed earlier for this file are no longer valid. */
  onRestart(): Promise<void>;
  /** new bytes received past anything reported before (so progress stays monotonic across retries and restarts) */
  onBytes(n: number): void;
  signal?: AbortSignal;
  /** reconnections after a dropped connection within this call (default 2) */
  retries?: number;
  /** label for messages, e.g. "owner/name@main" */
  label: string;
}

function isNetworkError(e: unknown): boolean {
  return e instanceof TypeError || (e instanceof AlloyError && e.cause instanceof TypeError);
}

async function newHasher(state?: Uint8Array): Promise<IHasher> {
  const h = await createSHA256();
  h.init();
  if (state) h.load(state);
  return h;
}

/**
 * Downloads `d.file` from `d.resume.offset` (or 0) to the end, committing whole chunks via onChunk.
 * Returns the file's sha256 (hex). Throws CancelledError on abort; an AlloyError naming the file on a size or
 * hash mismatch; an AlloyError saying it can be resumed when the connection keeps dropping.
 */
export async function downloadChunked(d: ChunkedDownload): Promise<string> {
  const { file, chunkBytes } = d;
  if (!(chunkBytes > 0) || !Number.isInteger(chunkBytes)) throw new RangeError(`chunkBytes must be a positive integer`);
  // An empty file (an empty chat template, say) has nothing to fetch; the listing already proved it exists.
  if (file.size === 0) return (await newHasher()).digest('hex');
  let committed = d.resume?.offset ?? 0;
  let hasher: IHasher;
  try {
    hasher = await newHasher(committed > 0 ? d.resume?.hashState : undefined);
  } catch {
    committed = 0; // a hash state from another hash-wasm version: start the file over
    hasher = await newHasher();
  }
  if (committed > 0 && (!d.resume?.hashState || committed % chunkBytes !== 0 || committed > file.size)) {
    committed = 0;
    hasher = await newHasher();
    await d.onRestart();
  }
  let high = committed; // highest position already reported to onBytes
  let retriesLeft = d.retries ?? 2;
  const buf = new Uint8Array(Math.min(chunkBytes, Math.max(file.size, 1)));
  let expectEtag = d.resume?.etag;

  while (committed < file.size) {
    throwIfAborted(d.signal, 'download');
    let fill = 0;
    let pos = committed;
    try {
      const opened = await d.open(committed, d.signal);
      // The etag tells whether the stored chunks still belong to the file behind the URL. Files with a listed
      // sha256 skip this check (the final hash catches any change, and CDN etags can differ between edges).
      const changed = committed > 0 && !file.sha256 && !!expectEtag && !!opened.etag && opened.etag !== expectEtag;
      if (changed && opened.start !== 0) {
        await opened.body.cancel();
        await d.onRestart();
        committed = 0;
        hasher = await newHasher();
        expectEtag = undefined;
        continue;
      }
      if (opened.start !== committed) {
        // The server ignored Range and sent the whole file: start this file over from its first byte.
        if (committed > 0) await d.onRestart();
        committed = 0;
        pos = 0;
        hasher = await newHasher();
      }
      expectEtag = opened.etag;
      const reader = opened.body.getReader();
      try {
        for (;;) {
          throwIfAborted(d.signal, 'download');
          const { done, value } = await reader.read();
          if (done) break;
          let v = value;
          if (pos + v.byteLength > file.size) {
            throw new IntegrityError(
              `${d.label}: ${file.path} is larger than the ${file.size} bytes listed (the file changed on the server?)`,
              { file: file.path },
            );
          }
          while (v.byteLength > 0) {
            const take = Math.min(v.byteLength, buf.byteLength - fill);
            buf.set(v.subarray(0, take), fill);
            fill += take;
            pos += take;
            v = v.subarray(take);
            if (pos > high) {
              d.onBytes(pos - high);
              high = pos;
            }
            if (fill === buf.byteLength || pos === file.size) {
              const chunk = buf.slice(0, fill);
              hasher.update(chunk);
              await d.onChunk(committed / chunkBytes, chunk, pos, hasher.save(), opened.etag);
              committed = pos;
              fill = 0;
              throwIfAborted(d.signal, 'download');
            }
          }
        }
      } finally {
        reader.releaseLock();
      }
      if (pos < file.size) throw new TypeError(`connection closed after ${pos} of ${file.size} bytes`);
    } catch (e) {
      const mapped = d.signal?.aborted ? new CancelledError('download') : e;
      if (mapped instanceof CancelledError || !isNetworkError(mapped)) throw mapped;
      if (retriesLeft-- > 0) {
        // Uncommitted bytes in `buf` are dropped; the hasher only ever saw committed chunks.
        await new Promise((ok) => setTimeout(ok, 200));
        continue;
      }
      throw new InterruptedError(
        `${d.label}: the download of ${file.path} was cut off after ${committed} of ${file.size} bytes ` +
          `(${(mapped as Error).message}). Run it again to resume from there.`,
        { file: file.path },
        { cause: mapped },
      );
    }
  }
  const hex = hasher.digest('hex');
  if (file.sha256 && hex !== file.sha256.toLowerCase()) {
    throw new IntegrityError(
      `${d.label}: ${file.path} is corrupt — its sha256 is ${hex} but the listing says ${file.sha256}. ` +
        `The partial download was discarded; run it again.`,
      { file: file.path },
    );
  }
  return hex;
}
