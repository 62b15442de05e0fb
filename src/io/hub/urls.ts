// URLs in the Hugging Face Hub's layout. Any server that lays files out this way (a mirror, a local test server,
// the studio's own public/hub fixtures) works as a model source by passing its base URL.

export const DEFAULT_HUB = 'https://huggingface.co';

/** Base URL without trailing slashes, so joins never produce "//" (which some static servers treat as a different path). */
export function normalizeBase(base: string): string {
  return base.replace(/\/+$/, '');
}

/** Encodes each path segment but keeps the slashes: repo ids ("owner/name") and nested paths stay readable. */
function encodePath(path: string): string {
  return path
    .split('/')
    .filter((s) => s !== '')
    .map(encodeURIComponent)
    .join('/');
}

/** {base}/{repo}/resolve/{revision}/{path}: the hub redirects LFS files to its CDN from here. */
export function resolveUrl(base: string, repo: string, revision: string, path: string): string {
  return `${normalizeBase(base)}/${encodePath(repo)}/resolve/${encodeURIComponent(revision)}/${encodePath(path)}`;
}

/** {base}/api/models/{repo}/revision/{revision}: the repo listing (siblings, commit sha). */
export function apiRevisionUrl(base: string, repo: string, revision: string): string {
  return `${normalizeBase(base)}/api/models/${encodePath(repo)}/revision/${encodeURIComponent(revision)}`;
}

/** The page a user opens to accept a gated model's licence. */
export function repoPageUrl(base: string, repo: string): string {
  return `${normalizeBase(base)}/${encodePath(repo)}`;
}

/**
 * Headers for a request to `url`. The token goes only to the hub's own origin: a listing or a redirect must never
 * be able to send it elsewhere. (fetch itself also drops Authorization on cross-origin redirects, e.g. to the CDN.)
 */
export function authHeaders(base: string, url: string, token: string | undefined): Record<string, string> {
  if (!token) return {};
  let same = false;
  try {
    same = new URL(url).origin === new URL(normalizeBase(base)).origin;
  } catch {
    same = false;
  }
  return same ? { Authorization: `Bearer ${token}` } : {};
}

/** A repo id is "name" or "owner/name"; anything else (spaces, "..", URLs pasted whole) is refused early. */
export function isValidRepoId(repo: string): boolean {
  return /^(?:[A-Za-z0-9][\w.-]*\/)?[A-Za-z0-9][\w.-]*$/.test(repo) && !repo.includes('..');
}
