// Turns a picked (<input webkitdirectory>) or dropped folder into what a folder ModelSource carries: the Files
// and, in the same order, their paths inside the model folder. The paths travel explicitly because
// webkitRelativePath is empty for dropped files and does not survive postMessage into the worker.

/** The names a pick or drop of loose files (no common folder) gets. */
export const PICKED_FILES = 'picked files';
export const DROPPED_FILES = 'dropped files';

export interface PickedFolder {
  name: string;
  files: File[];
  paths: string[];
}

/** Strips the folder name every path starts with (the picked/dropped folder itself). */
function fromPaths(entries: { file: File; path: string }[], fallbackName: string): PickedFolder {
  const tops = new Set(entries.map((e) => (e.path.includes('/') ? e.path.slice(0, e.path.indexOf('/')) : '')));
  const top = tops.size === 1 && !tops.has('') ? [...tops][0]! : null;
  return {
    name: top ?? fallbackName,
    files: entries.map((e) => e.file),
    paths: entries.map((e) => (top ? e.path.slice(top.length + 1) : e.path)),
  };
}

export function folderFromInput(list: FileList | null): PickedFolder | null {
  if (!list || list.length === 0) return null;
  const entries = [...list].map((file) => ({
    file,
    path: ((file as { webkitRelativePath?: string }).webkitRelativePath || file.name).replace(/^\/+/, ''),
  }));
  return fromPaths(entries, PICKED_FILES);
}

function readEntries(dir: FileSystemDirectoryEntry): Promise<FileSystemEntry[]> {
  const reader = dir.createReader();
  const all: FileSystemEntry[] = [];
  // readEntries returns at most ~100 entries per call; keep calling until it returns an empty batch.
  return new Promise((resolve, reject) => {
    const next = () =>
      reader.readEntries((batch) => {
        if (batch.length === 0) resolve(all);
        else {
          all.push(...batch);
          next();
        }
      }, reject);
    next();
  });
}

function entryFile(entry: FileSystemFileEntry): Promise<File> {
  return new Promise((resolve, reject) => entry.file(resolve, reject));
}

async function walk(entry: FileSystemEntry, prefix: string, out: { file: File; path: string }[]): Promise<void> {
  const path = prefix ? `${prefix}/${entry.name}` : entry.name;
  if (entry.isFile) {
    out.push({ file: await entryFile(entry as FileSystemFileEntry), path });
  } else if (entry.isDirectory) {
    for (const child of await readEntries(entry as FileSystemDirectoryEntry)) await walk(child, path, out);
  }
}

/**
 * Reads a drop. Must be called synchronously inside the drop handler: DataTransfer items are only readable
 * during the event, so the entries are taken first and walked afterwards.
 */
export function folderFromDrop(dt: DataTransfer): Promise<PickedFolder | null> {
  const roots: FileSystemEntry[] = [];
  const loose: File[] = [];
  for (const item of [...dt.items]) {
    if (item.kind !== 'file') continue;
    const entry = item.webkitGetAsEntry?.();
    if (entry) roots.push(entry);
    else {
      const f = item.getAsFile();
      if (f) loose.push(f);
    }
  }
  return (async () => {
    const out: { file: File; path: string }[] = loose.map((file) => ({ file, path: file.name }));
    for (const root of roots) await walk(root, '', out);
    return out.length === 0 ? null : fromPaths(out, DROPPED_FILES);
  })();
}
