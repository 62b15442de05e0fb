// A local server in the Hugging Face Hub's URL shape, for tests: serves a directory laid out like public/hub
// and/or in-memory repos, with HEAD, single Range requests, CORS (preflight + exposed headers), ETag /
// X-Linked-Etag / X-Linked-Size / X-Repo-Commit, an optional bearer-token check, a request log and fault injection.
import { createHash } from 'node:crypto';
import { readFileSync, statSync } from 'node:fs';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { join, normalize, resolve } from 'node:path';
import { listen, type RunningServer } from './static-server.ts';

export interface HubRepo {
  /** path inside the repo → content */
  files: Record<string, Uint8Array | string>;
  /** commit sha reported by the listing and X-Repo-Commit (default: derived from the content) */
  commit?: string;
  /** 'auto' (default): an API listing with LFS sha256 for *.safetensors; 'none': the API answers 404 */
  listing?: 'auto' | 'none';
  /** requests without `Authorization: Bearer <server token>` get 401 */
  gated?: boolean | 'files';
}

export interface HubFaults {
  /** destroy the socket after this many body bytes of a GET (optionally only for `path`), `times` times (default 1) */
  cutAfterBytes?: { bytes: number; path?: string; times?: number };
  /** answer Range requests with the whole file (200), like servers that do not support ranges */
  ignoreRange?: boolean;
  /** serve this file with its first byte flipped (the listing keeps the true sha256) */
  corrupt?: string;
  /** pause this long after each 16 KiB piece of a body (makes progress and cancellation observable) */
  delayMsPerPiece?: number;
}

export interface LoggedRequest {
  method: string;
  path: string;
  range?: string;
  auth?: string;
  status: number;
}

export interface HubServer extends RunningServer {
  requests: LoggedRequest[];
  /** mutable: tests switch faults on and off between calls */
  faults: HubFaults;
  repos: Record<string, HubRepo>;
}

const PIECE = 16 * 1024;

function toBytes(v: Uint8Array | string): Uint8Array {
  return typeof v === 'string' ? new TextEncoder().encode(v) : v;
}

export function sha256Hex(b: Uint8Array): string {
  return createHash('sha256').update(b).digest('hex');
}

function commitOf(repo: HubRepo): string {
  if (repo.commit) return repo.commit;
  const h = createHash('sha1');
  for (const [p, v] of Object.entries(repo.files).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))) h.update(p).update(toBytes(v));
  return h.digest('hex');
}

/** The API listing the real hub gives for `?blobs=true`. */
export function listingFor(repoId: string, repo: HubRepo): unknown {
  return {
    id: repoId,
    sha: commitOf(repo),
    siblings: Object.entries(repo.files).map(([rfilename, v]) => {
      const b = toBytes(v);
      return rfilename.endsWith('.safetensors')
        ? { rfilename, size: b.byteLength, lfs: { sha256: sha256Hex(b), size: b.byteLength } }
        : { rfilename, size: b.byteLength };
    }),
  };
}

const CORS = {
  'Access-Control-Allow-Origin': '*',
  'Access-Control-Expose-Headers':
    'Content-Range, Content-Length, Accept-Ranges, ETag, X-Linked-Size, X-Linked-Etag, X-Repo-Commit',
};

export async function startHubServer(opts: { root?: string; repos?: Record<string, HubRepo>; token?: string } = {}): Promise<HubServer> {
  const requests: LoggedRequest[] = [];
  const faults: HubFaults = {};
  const repos = opts.repos ?? {};
  const root = opts.root ? resolve(opts.root) : undefined;

  type Found = { bytes: Uint8Array; etag: string; lfs: boolean; commit?: string; repo?: HubRepo; path: string } | null;

  function find(pathname: string): Found {
    // /api/models/{owner}/{name}/revision/{rev}
    let m = /^\/api\/models\/(.+)\/revision\/([^/]+)$/.exec(pathname);
    if (m) {
      const repo = repos[m[1]!];
      if (repo) {
        if (repo.listing === 'none') return null;
        const bytes = toBytes(JSON.stringify(listingFor(m[1]!, repo)));
        return { bytes, etag: sha256Hex(bytes), lfs: false, repo, path: 'listing' };
      }
    }
    // /{owner}/{name}/resolve/{rev}/{path}
    m = /^\/(.+?)\/resolve\/([^/]+)\/(.+)$/.exec(pathname);
    if (m) {
      const repo = repos[m[1]!];
      if (repo) {
        const v = repo.files[m[3]!];
        if (v === undefined) return null;
        const bytes = toBytes(v);
        const lfs = m[3]!.endsWith('.safetensors');
        return { bytes, etag: lfs ? sha256Hex(bytes) : sha256Hex(bytes).slice(0, 40), lfs, commit: commitOf(repo), repo, path: m[3]! };
      }
    }
    if (root) {
      const file = join(root, normalize(pathname).replace(/^([/\\])+/, ''));
      if (!file.startsWith(root)) return null;
      try {
        const st = statSync(file);
        if (!st.isFile()) return null;
        const bytes = new Uint8Array(readFileSync(file));
        return { bytes, etag: `${st.size.toString(16)}-${Math.floor(st.mtimeMs).toString(16)}`, lfs: false, path: pathname.split('/').pop()! };
      } catch {
        return null;
      }
    }
    return null;
  }

  async function handler(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const url = new URL(req.url ?? '/', 'http://x');
    const pathname = decodeURIComponent(url.pathname);
    const log: LoggedRequest = {
      method: req.method ?? 'GET',
      path: pathname,
      status: 0,
      ...(req.headers.range ? { range: req.headers.range } : {}),
      ...(req.headers.authorization ? { auth: req.headers.authorization } : {}),
    };
    requests.push(log);
    const send = (status: number, headers: Record<string, string> = {}, body?: string) => {
      log.status = status;
      res.writeHead(status, { ...CORS, ...headers }).end(body);
    };
    if (req.method === 'OPTIONS') {
      send(204, {
        'Access-Control-Allow-Methods': 'GET, HEAD, OPTIONS',
        'Access-Control-Allow-Headers': 'Range, Authorization, Content-Type',
        'Access-Control-Max-Age': '600',
      });
      return;
    }
    if (req.method !== 'GET' && req.method !== 'HEAD') return send(405);
    const found = find(pathname);
    // gated: 'files' is the real hub's behaviour (the API listing is public, the files need the token).
    const gated = found?.repo?.gated === true || (found?.repo?.gated === 'files' && found.path !== 'listing');
    if (gated && req.headers.authorization !== `Bearer ${opts.token}`) {
      return send(401, { 'Content-Type': 'application/json' }, '{"error":"Access to this model is restricted"}');
    }
    if (!found) return send(404, { 'Content-Type': 'application/json' }, '{"error":"Entry not found"}');

    let bytes = found.bytes;
    if (faults.corrupt && faults.corrupt === found.path && bytes.byteLength > 0) {
      bytes = bytes.slice();
      bytes[0] = bytes[0]! ^ 0xff;
    }
    const size = bytes.byteLength;
    const headers: Record<string, string> = {
      'Content-Type': found.path === 'listing' || found.path.endsWith('.json') ? 'application/json' : 'application/octet-stream',
      'Accept-Ranges': 'bytes',
      'Cache-Control': 'no-store',
      ETag: `"${found.etag}"`,
      ...(found.lfs ? { 'X-Linked-Etag': `"${found.etag}"`, 'X-Linked-Size': String(size) } : {}),
      ...(found.commit ? { 'X-Repo-Commit': found.commit } : {}),
    };
    let start = 0;
    let end = size - 1;
    let status = 200;
    const range = /^bytes=(\d+)-(\d*)$/.exec(req.headers.range ?? '');
    if (range && !faults.ignoreRange) {
      start = Number(range[1]);
      end = range[2] ? Math.min(Number(range[2]), size - 1) : size - 1;
      if (start >= size) return send(416, { 'Content-Range': `bytes */${size}` });
      status = 206;
      headers['Content-Range'] = `bytes ${start}-${end}/${size}`;
    }
    headers['Content-Length'] = String(Math.max(0, end - start + 1));
    log.status = status;
    res.socket?.setNoDelay(true);
    res.writeHead(status, { ...CORS, ...headers });
    if (req.method === 'HEAD' || size === 0) {
      res.end();
      return;
    }
    const body = bytes.subarray(start, end + 1);
    const cut = faults.cutAfterBytes;
    const cutHere = cut && (cut.path === undefined || cut.path === found.path) && (cut.times ?? 1) > 0;
    let sent = 0;
    while (sent < body.byteLength) {
      let n = Math.min(PIECE, body.byteLength - sent);
      if (cutHere && sent + n > cut.bytes) n = cut.bytes - sent;
      if (n > 0) {
        const ok = res.write(body.subarray(sent, sent + n));
        sent += n;
        if (!ok) await new Promise((r) => res.once('drain', r));
      }
      if (cutHere && sent >= cut.bytes) {
        cut.times = (cut.times ?? 1) - 1;
        // Give the bytes a moment to leave, then drop the connection mid-body like a flaky network.
        await new Promise((r) => setTimeout(r, 20));
        res.socket?.destroy();
        return;
      }
      if (faults.delayMsPerPiece) await new Promise((r) => setTimeout(r, faults.delayMsPerPiece));
      if (res.destroyed) return;
    }
    res.end();
  }

  const server = await listen((req, res) => {
    handler(req, res).catch(() => res.destroy());
  });
  return { ...server, requests, faults, repos };
}
