// Lists the files of a hub repo: the API listing when the server has one (sizes and LFS sha256 included),
// else probing the standard file names with HEAD requests (plain static mirrors have no API).
import { AlloyError } from '../../common/errors.ts';
import type { FileEntry } from '../model-files.ts';
import { AUX_FILES, CONFIG, INDEX, SINGLE, pickleRefusal, selectModelFiles, shardsFromIndex } from '../repo-files.ts';
import { hubBase, hubLabel, hubRevision, type HubSource } from '../sources.ts';
import { gatedError, hubFetch, statusError, type FetchFn } from './http.ts';
import { apiRevisionUrl, isValidRepoId, resolveUrl } from './urls.ts';

export interface RepoListing {
  /** only the files the model needs, in download order (small files first, then weights) */
  files: FileEntry[];
  /** the commit sha the revision pointed at, when the server said */
  commit?: string;
  via: 'api' | 'probe';
}

export interface ListOptions {
  signal?: AbortSignal;
  fetchFn?: FetchFn;
}

/** Parses the hub API's revision listing. Returns null when the JSON is not that shape (then we probe instead). */
export function parseListing(json: unknown): { commit?: string; entries: FileEntry[] } | null {
  if (!json || typeof json !== 'object') return null;
  const o = json as { sha?: unknown; siblings?: unknown };
  if (!Array.isArray(o.siblings)) return null;
  const entries: FileEntry[] = [];
  for (const s of o.siblings as unknown[]) {
    const sib = s as { rfilename?: unknown; size?: unknown; lfs?: { sha256?: unknown; size?: unknown } | null };
    if (typeof sib?.rfilename !== 'string') continue;
    const lfsSize = typeof sib.lfs?.size === 'number' ? sib.lfs.size : undefined;
    const size = typeof sib.size === 'number' ? sib.size : lfsSize;
    const sha = typeof sib.lfs?.sha256 === 'string' && /^[0-9a-f]{64}$/i.test(sib.lfs.sha256) ? sib.lfs.sha256.toLowerCase() : undefined;
    entries.push({ path: sib.rfilename, size: size ?? -1, ...(sha ? { sha256: sha } : {}) });
  }
  return { ...(typeof o.sha === 'string' ? { commit: o.sha } : {}), entries };
}

/** Size of a file from a HEAD response: X-Linked-Size (the hub's LFS redirect) wins over Content-Length. */
export function sizeFromHead(res: Response): number | null {
  for (const h of ['x-linked-size', 'content-length']) {
    const v = res.headers.get(h);
    if (v !== null && /^\d+$/.test(v)) return Number(v);
  }
  return null;
}

async function fetchJson(s: HubSource, path: string, opts: ListOptions): Promise<unknown> {
  const url = resolveUrl(hubBase(s), s.repo, hubRevision(s), path);
  const res = await hubFetch({ source: s, url, path, ...opts });
  if (!res.ok) throw statusError(s, path, res);
  const text = await res.text();
  try {
    return JSON.parse(text);
  } catch (e) {
    throw new AlloyError(`${hubLabel(s)}: ${path} is not valid JSON (${(e as Error).message})`, { file: path });
  }
}

/** HEAD one file: its size, or null when the server says 404 (or serves an HTML page instead). Auth failures are reported, not treated as absence. */
async function head(s: HubSource, path: string, opts: ListOptions): Promise<number | null> {
  const url = resolveUrl(hubBase(s), s.repo, hubRevision(s), path);
  const res = await hubFetch({ source: s, url, path, method: 'HEAD', ...opts });
  if (res.status === 404) return null;
  if (!res.ok) throw statusError(s, path, res);
  // Single-page-app hosts (and Vite's dev server) answer unknown paths with their index.html; no model file
  // is HTML, so an HTML answer means the file is absent.
  if ((res.headers.get('content-type') ?? '').startsWith('text/html')) return null;
  const size = sizeFromHead(res);
  if (size === null) {
    throw new AlloyError(`${hubLabel(s)}: the server gave no size for ${path} (no Content-Length)`, { file: path });
  }
  return size;
}

async function probe(s: HubSource, opts: ListOptions): Promise<RepoListing> {
  const label = hubLabel(s);
  const found: FileEntry[] = [];
  const sizes = await Promise.all(AUX_FILES.map((p) => head(s, p, opts)));
  AUX_FILES.forEach((p, i) => {
    const size = sizes[i];
    if (size !== null && size !== undefined) found.push({ path: p, size });
  });
  if (!found.some((f) => f.path === CONFIG)) {
    throw new AlloyError(
      `${label}: no listing and no config.json found — check the repo id and revision (or that it is a model in ` +
        `the Hugging Face layout).`,
      { file: CONFIG },
    );
  }
  const indexSize = await head(s, INDEX, opts);
  if (indexSize !== null) {
    found.push({ path: INDEX, size: indexSize });
    const shards = shardsFromIndex(label, await fetchJson(s, INDEX, opts));
    const shardSizes = await Promise.all(shards.map((p) => head(s, p, opts)));
    shards.forEach((p, i) => {
      const size = shardSizes[i];
      if (size === null || size === undefined) {
        throw new AlloyError(`${label}: shard ${p} named by ${INDEX} is missing`, { file: p });
      }
      found.push({ path: p, size });
    });
    return { files: found, via: 'probe' };
  }
  const single = await head(s, SINGLE, opts);
  if (single !== null) return { files: [...found, { path: SINGLE, size: single }], via: 'probe' };
  if ((await head(s, 'pytorch_model.bin', opts)) !== null) throw pickleRefusal(label, ['pytorch_model.bin']);
  throw new AlloyError(`${label} has no ${SINGLE} or ${INDEX}`, { file: SINGLE });
}

/** Lists what the model at `s` needs to load. Throws AlloyError/CancelledError with the repo and file named. */
export async function listHubRepo(s: HubSource, opts: ListOptions = {}): Promise<RepoListing> {
  if (!isValidRepoId(s.repo)) {
    throw new AlloyError(`"${s.repo}" is not a repo id: expected "owner/name", e.g. HuggingFaceTB/SmolLM2-135M`, {
      field: 'repo',
    });
  }
  const base = hubBase(s);
  const rev = hubRevision(s);
  // ?blobs=true makes the real hub include LFS sha256 and sizes; static servers ignore the query.
  const url = `${apiRevisionUrl(base, s.repo, rev)}?blobs=true`;
  const res = await hubFetch({ source: s, url, path: 'listing', ...opts });
  if (res.status === 401 || res.status === 403) throw gatedError(s, undefined, res.status);
  let parsed: ReturnType<typeof parseListing> = null;
  if (res.ok) {
    try {
      parsed = parseListing(JSON.parse(await res.text()));
    } catch {
      parsed = null; // not JSON (an SPA fallback page, say): probe instead
    }
  }
  if (!parsed) return probe(s, opts);
  const label = hubLabel(s);
  const files = await selectModelFiles(label, parsed.entries, () => fetchJson(s, INDEX, opts));
  // A listing without sizes (older servers) is completed with HEAD so the progress bar has a total.
  for (const f of files) {
    if (f.size < 0) {
      const size = await head(s, f.path, opts);
      if (size === null) throw statusError(s, f.path, new Response(null, { status: 404 }));
      f.size = size;
    }
  }
  return { files, via: 'api', ...(parsed.commit ? { commit: parsed.commit } : {}) };
}
