// Rebuilding the source of an interrupted download, so resuming is simply caching the same source again (ingest
// finds the partial under the same entry id and continues by HTTP Range). Browser-safe and dependency-free, so the
// UI can import it without pulling the cache or hashing code into the main bundle.
import type { HubSource } from '../sources.ts';
import type { PartialSummary } from './weight-cache.ts';

/**
 * The hub source a partial was downloading from, or null for a folder: File handles cannot be stored, so a folder
 * download only resumes when the user picks the same folder again. Tokens are never stored: a gated repo needs
 * the user to give `token` again.
 */
export function resumeSource(p: Pick<PartialSummary, 'source' | 'baseUrl' | 'repo' | 'revision'>, token?: string): HubSource | null {
  if (p.source !== 'hub') return null;
  const t = token?.trim();
  return {
    kind: 'hub',
    repo: p.repo,
    revision: p.revision,
    // Absent baseUrl means huggingface.co, exactly as ingest recorded it, so entryId() gives the partial's id.
    ...(p.baseUrl === undefined ? {} : { baseUrl: p.baseUrl }),
    ...(t ? { token: t } : {}),
  };
}
