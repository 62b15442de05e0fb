// Where a model comes from. The UI builds one of these; ingest (cache/ingest.ts) turns it into a cache entry.
import { DEFAULT_HUB, normalizeBase } from './hub/urls.ts';

export type ModelSource =
  /** baseUrl absent = huggingface.co; any server in the hub's URL layout otherwise. The token lives only in memory. */
  | { kind: 'hub'; baseUrl?: string; repo: string; revision?: string; token?: string }
  /**
   * a folder the user picked or dropped (File.webkitRelativePath may carry the folder prefix). `paths`, when
   * given, are the files' relative paths in the same order: webkitRelativePath does not survive postMessage to
   * the worker, so the UI should send them alongside when the folder has subfolders.
   */
  | { kind: 'folder'; name: string; files: File[]; paths?: string[] };

export type HubSource = Extract<ModelSource, { kind: 'hub' }>;
export type FolderSource = Extract<ModelSource, { kind: 'folder' }>;

export const DEFAULT_REVISION = 'main';

export function hubBase(s: HubSource): string {
  return normalizeBase(s.baseUrl ?? DEFAULT_HUB);
}

export function hubRevision(s: HubSource): string {
  return s.revision && s.revision.trim() !== '' ? s.revision.trim() : DEFAULT_REVISION;
}

/** The id part naming the host: "hf" for huggingface.co so ids stay short and stable if the user types the URL. */
export function hubKey(s: HubSource): string {
  const base = hubBase(s);
  return base === DEFAULT_HUB ? 'hf' : base;
}

/** `${baseUrl or 'hf'}|${repo}@${revision}` */
export function hubEntryId(s: HubSource): string {
  return `${hubKey(s)}|${s.repo}@${hubRevision(s)}`;
}

export function hubLabel(s: HubSource): string {
  const where = hubKey(s) === 'hf' ? '' : ` (${hubBase(s)})`;
  return `${s.repo}@${hubRevision(s)}${where}`;
}

/**
 * Path of a dropped/picked file inside the model folder. Picking a folder gives "my-model/config.json" in
 * webkitRelativePath; dropping loose files gives only the name. The common top folder is stripped by the caller.
 */
export function rawRelativePath(f: File): string {
  const rel = (f as File & { webkitRelativePath?: string }).webkitRelativePath;
  return rel && rel !== '' ? rel : f.name;
}

/** Paths of the folder's files with the common top folder removed (only when every file shares it). */
export function folderPaths(files: readonly File[], given?: readonly string[]): string[] {
  const raw = files.map((f, i) => (given?.[i] ?? rawRelativePath(f)).replace(/\\/g, '/').replace(/^\/+/, ''));
  const tops = new Set(raw.map((p) => (p.includes('/') ? p.slice(0, p.indexOf('/')) : '')));
  if (tops.size === 1 && !tops.has('')) {
    const top = [...tops][0]!;
    return raw.map((p) => p.slice(top.length + 1));
  }
  return raw;
}

/**
 * 64-bit FNV-1a over a string, as 16 hex digits. Only a fingerprint to tell folders apart (not security), so a
 * synchronous hash keeps ids computable without awaiting a WASM hasher.
 */
export function fingerprint(text: string): string {
  let h1 = 0x811c9dc5;
  let h2 = 0x01000193 ^ 0x5bd1e995;
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    h1 = Math.imul(h1 ^ c, 0x01000193) >>> 0;
    h2 = Math.imul(h2 ^ c, 0x5bd1e995) >>> 0;
    h2 = (h2 ^ (h2 >>> 15)) >>> 0;
  }
  return h1.toString(16).padStart(8, '0') + h2.toString(16).padStart(8, '0');
}

/** `folder|${name}|${fingerprint of names+sizes+lastModified}`: a changed file gives a new entry, never a stale one. */
export function folderEntryId(s: FolderSource): string {
  const paths = folderPaths(s.files, s.paths);
  const parts = s.files
    .map((f, i) => `${paths[i]}\u0000${f.size}\u0000${f.lastModified}`)
    .sort();
  return `folder|${s.name}|${fingerprint(parts.join('\n'))}`;
}

export function entryId(s: ModelSource): string {
  return s.kind === 'hub' ? hubEntryId(s) : folderEntryId(s);
}

export function sourceLabel(s: ModelSource): string {
  return s.kind === 'hub' ? hubLabel(s) : `folder ${s.name}`;
}
