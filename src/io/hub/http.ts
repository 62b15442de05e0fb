// One place that talks HTTP to a hub: adds the token for the hub's origin, turns aborts into CancelledError and
// HTTP/network failures into messages that say which repo, revision and file went wrong and what to do.
import { AlloyError, CancelledError } from '../../common/errors.ts';
import { hubBase, hubRevision, type HubSource } from '../sources.ts';
import { authHeaders, repoPageUrl } from './urls.ts';

export type FetchFn = typeof fetch;

/** The hub refused access (401/403): the bytes already stored are still good once the user gives a token. */
export class AuthError extends AlloyError {
  override readonly name = 'AuthError';
}

export function gatedError(s: HubSource, path: string | undefined, status: number): AlloyError {
  const base = hubBase(s);
  const tokenNote = s.token
    ? ' The access token given was refused: check that it is valid and has read access to this repo.'
    : '';
  return new AuthError(
    `${s.repo} is gated or private (HTTP ${status}): accept the licence on the hub page ` +
      `(${repoPageUrl(base, s.repo)}) and give an access token.${tokenNote}`,
    path === undefined ? {} : { file: path },
  );
}

export function notFoundError(s: HubSource, path: string): AlloyError {
  return new AlloyError(`${s.repo}@${hubRevision(s)}: ${path} not found on ${hubBase(s)} (HTTP 404)`, { file: path });
}

export function statusError(s: HubSource, path: string, res: Response): AlloyError {
  if (res.status === 401 || res.status === 403) return gatedError(s, path, res.status);
  if (res.status === 404) return notFoundError(s, path);
  return new AlloyError(
    `${s.repo}@${hubRevision(s)}: fetching ${path} failed with HTTP ${res.status} ${res.statusText}`.trim(),
    { file: path },
  );
}

/** Maps what fetch/stream reads throw: aborts are cancellation, TypeErrors are the network (or CORS) failing. */
export function mapFetchError(e: unknown, s: HubSource, path: string, signal: AbortSignal | undefined): unknown {
  if (signal?.aborted || (e instanceof DOMException && e.name === 'AbortError')) return new CancelledError('download');
  if (e instanceof AlloyError) return e;
  if (e instanceof TypeError) {
    return new AlloyError(
      `${s.repo}: could not fetch ${path} from ${hubBase(s)} (${e.message}). Check the connection, and that the ` +
        `server allows cross-origin requests (CORS).`,
      { file: path },
      { cause: e },
    );
  }
  return e;
}

export interface HubRequest {
  source: HubSource;
  url: string;
  /** the repo file this request is for, named in errors */
  path: string;
  method?: 'GET' | 'HEAD';
  headers?: Record<string, string>;
  signal?: AbortSignal;
  fetchFn?: FetchFn;
}

/** fetch with the token (hub origin only) and mapped errors. Non-2xx responses are returned, not thrown. */
export async function hubFetch(r: HubRequest): Promise<Response> {
  const f = r.fetchFn ?? fetch;
  try {
    return await f(r.url, {
      method: r.method ?? 'GET',
      headers: { ...authHeaders(hubBase(r.source), r.url, r.source.token), ...r.headers },
      // The cache below is ours; the HTTP cache would only hold a second copy of multi-GB files.
      cache: 'no-store',
      redirect: 'follow',
      ...(r.signal ? { signal: r.signal } : {}),
    });
  } catch (e) {
    throw mapFetchError(e, r.source, r.path, r.signal);
  }
}
