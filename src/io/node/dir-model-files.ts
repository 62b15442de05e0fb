// A model directory on disk (Hugging Face layout) as ModelFiles, for the CLI, scripts and tests. Node only.
import { readdirSync, statSync } from 'node:fs';
import { join, relative, sep } from 'node:path';
import { AlloyError } from '../../common/errors.ts';
import type { FileEntry, ModelFiles } from '../model-files.ts';
import { fileSource } from './fs.ts';

/** Lists every file under `dir` (recursively, paths with '/' as the hub writes them); hidden entries skipped. */
export function dirModelFiles(dir: string, label = dir): ModelFiles {
  let st;
  try {
    st = statSync(dir);
  } catch {
    throw new AlloyError(`model directory ${dir} does not exist`, { file: dir });
  }
  if (!st.isDirectory()) throw new AlloyError(`${dir} is not a directory`, { file: dir });
  const files: FileEntry[] = [];
  const walk = (at: string) => {
    for (const e of readdirSync(at, { withFileTypes: true })) {
      if (e.name.startsWith('.')) continue; // .git, .cache: never model files
      const full = join(at, e.name);
      if (e.isDirectory()) walk(full);
      else if (e.isFile()) files.push({ path: relative(dir, full).split(sep).join('/'), size: statSync(full).size });
    }
  };
  walk(dir);
  files.sort((a, b) => (a.path < b.path ? -1 : 1));
  const known = new Set(files.map((f) => f.path));
  return {
    label,
    files,
    async open(path) {
      if (!known.has(path)) throw new AlloyError(`${label}: missing ${path}`, { file: path });
      return fileSource(join(dir, ...path.split('/')));
    },
  };
}
