// Saving what the studio made: a Blob through a download link, or a model's files written one by one into a folder
// the user picked with the File System Access API (Chromium's showDirectoryPicker). Both stream from the Blobs the
// worker handed over (the cache's own chunks), so a model is never copied into memory.
import { CancelledError, throwIfAborted } from '../../common/errors.ts';
import { ProgressMeter, type ProgressFn } from '../../io/progress.ts';

export function saveBlob(blob: Blob, fileName: string): void {
  const url = URL.createObjectURL(blob);
  const a = document.createElement('a');
  a.href = url;
  a.download = fileName;
  document.body.append(a);
  a.click();
  a.remove();
  setTimeout(() => URL.revokeObjectURL(url), 60_000);
}

type DirectoryPicker = (opts?: { mode?: 'read' | 'readwrite'; id?: string }) => Promise<FileSystemDirectoryHandle>;

/** showDirectoryPicker where the browser has it (Chromium on desktop), else null. */
export function directoryPicker(): DirectoryPicker | null {
  const f = (globalThis as unknown as { showDirectoryPicker?: DirectoryPicker }).showDirectoryPicker;
  return typeof f === 'function' ? f.bind(globalThis) : null;
}

export interface FolderFile {
  path: string;
  blob: Blob;
}

/**
 * Writes `files` into a new sub-folder `name` of `parent` (a name already there gets " (2)", " (3)", …), each file
 * streamed from its Blob. A failure or a cancel removes the sub-folder, so what the user finds is complete or absent.
 * Returns the sub-folder's name.
 */
export async function writeFolder(
  parent: FileSystemDirectoryHandle,
  name: string,
  files: readonly FolderFile[],
  opts: { signal?: AbortSignal; onProgress?: ProgressFn } = {},
): Promise<string> {
  let folder = name;
  for (let n = 2; await exists(parent, folder); n++) folder = `${name} (${n})`;
  const dir = await parent.getDirectoryHandle(folder, { create: true });
  const meter = new ProgressMeter(files.reduce((s, f) => s + f.blob.size, 0), opts.onProgress, 'writing files');
  try {
    for (const f of files) {
      throwIfAborted(opts.signal, 'export');
      const parts = f.path.split('/');
      let d = dir;
      for (const p of parts.slice(0, -1)) d = await d.getDirectoryHandle(p, { create: true });
      const handle = await d.getFileHandle(parts.at(-1)!, { create: true });
      const out = await handle.createWritable();
      try {
        // Slice by slice, so a cancel lands within a big file and progress moves.
        const step = 16 * 1024 * 1024;
        for (let at = 0; at < f.blob.size; at += step) {
          if (opts.signal?.aborted) throw new CancelledError('export');
          const slice = f.blob.slice(at, Math.min(f.blob.size, at + step));
          await out.write(slice);
          meter.add(slice.size, f.path);
        }
        await out.close();
      } catch (e) {
        await out.abort().catch(() => undefined);
        throw e;
      }
    }
    meter.finish();
    return folder;
  } catch (e) {
    await parent.removeEntry(folder, { recursive: true }).catch(() => undefined);
    throw e;
  }
}

async function exists(parent: FileSystemDirectoryHandle, name: string): Promise<boolean> {
  try {
    await parent.getDirectoryHandle(name);
    return true;
  } catch {
    try {
      await parent.getFileHandle(name);
      return true;
    } catch {
      return false;
    }
  }
}
