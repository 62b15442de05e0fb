// A model folder the user picked or dropped: files are read in place (folderModelFiles) or copied into the
// cache through the same chunked path as downloads (folderPlan), so it then works offline and survives reloads.
import { blobSource } from './bytes.ts';
import { AlloyError } from '../common/errors.ts';
import type { Opener } from './hub/download.ts';
import type { FileEntry, ModelFiles } from './model-files.ts';
import { INDEX, selectModelFiles, selectModelFilesSync } from './repo-files.ts';
import { folderPaths, sourceLabel, type FolderSource } from './sources.ts';

function filesByPath(s: FolderSource): Map<string, File> {
  const paths = folderPaths(s.files, s.paths);
  const map = new Map<string, File>();
  const dupes = new Set<string>();
  s.files.forEach((f, i) => {
    const p = paths[i]!;
    if (map.has(p)) dupes.add(p);
    else map.set(p, f);
  });
  // Two files at one path means the folder structure was lost (e.g. files sent to the worker without their
  // relative paths): refuse rather than guess which config.json or shard is the right one.
  for (const p of dupes) {
    if (p.endsWith('.json') || p.endsWith('.safetensors') || p.endsWith('.jinja')) {
      throw new AlloyError(
        `folder ${s.name} has more than one ${p}: the subfolder structure was lost; pick the model folder itself`,
        { file: p },
      );
    }
  }
  return map;
}

function entriesOf(map: Map<string, File>): FileEntry[] {
  return [...map].map(([path, f]) => ({ path, size: f.size }));
}

function emptyFolder(s: FolderSource): AlloyError {
  return new AlloyError(`folder ${s.name} is empty: pick the folder that holds config.json and the safetensors files`, {
    file: 'config.json',
  });
}

/** Reads a folder directly, without caching. Throws for a folder without config.json or with only pickles. */
export function folderModelFiles(s: FolderSource): ModelFiles {
  if (s.files.length === 0) throw emptyFolder(s);
  const label = sourceLabel(s);
  const map = filesByPath(s);
  const files = selectModelFilesSync(label, entriesOf(map));
  return {
    label,
    files,
    async open(path) {
      const f = files.some((e) => e.path === path) ? map.get(path) : undefined;
      if (!f) throw new AlloyError(`${label}: missing ${path}`, { file: path });
      return blobSource(f, path);
    },
  };
}

export interface FolderPlan {
  files: FileEntry[];
  opener(file: FileEntry): Opener;
}

/** What to copy into the cache from a folder, and how to read each file from an offset (for resume). */
export async function folderPlan(s: FolderSource): Promise<FolderPlan> {
  if (s.files.length === 0) throw emptyFolder(s);
  const label = sourceLabel(s);
  const map = filesByPath(s);
  const files = await selectModelFiles(label, entriesOf(map), async () => {
    const text = await map.get(INDEX)!.text();
    try {
      return JSON.parse(text) as unknown;
    } catch (e) {
      throw new AlloyError(`${label}: ${INDEX} is not valid JSON (${(e as Error).message})`, { file: INDEX });
    }
  });
  return {
    files,
    opener: (file) => async (offset) => {
      const f = map.get(file.path);
      if (!f) throw new AlloyError(`${label}: missing ${file.path}`, { file: file.path });
      return { start: offset, body: f.slice(offset).stream() };
    },
  };
}
