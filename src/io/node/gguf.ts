// GGUF import/export on disk (Node only), published all at once: a folder through writeDirStaged, a file written
// under a hidden sibling name and renamed, so a refused, truncated or interrupted conversion leaves nothing behind.
import { renameSync, rmSync } from 'node:fs';
import { basename, resolve } from 'node:path';
import { exportGguf, type GgufExport, type GgufExportOptions } from '../gguf/export.ts';
import { importGguf, type GgufImport, type GgufImportOptions } from '../gguf/import.ts';
import { dirModelFiles } from './dir-model-files.ts';
import { fileSink, fileSource } from './fs.ts';
import { stagingDir, writeDirStaged } from './staged-dir.ts';

/** GGUF file → Hugging Face folder `outDir` (which must not exist or be empty). */
export async function importGgufFile(path: string, outDir: string, opts: GgufImportOptions = {}): Promise<GgufImport> {
  const source = fileSource(path);
  return writeDirStaged(outDir, (sinkFor) => importGguf(source, sinkFor, opts));
}

/** Hugging Face folder → GGUF file `outFile` (replaced only when the export completes). */
export async function exportGgufFile(modelDir: string, outFile: string, opts: GgufExportOptions): Promise<GgufExport> {
  const out = resolve(outFile);
  const tmp = stagingDir(out);
  try {
    const result = await exportGguf(dirModelFiles(modelDir, opts.name ?? basename(resolve(modelDir))), await fileSink(tmp), opts);
    renameSync(tmp, out);
    return result;
  } catch (e) {
    rmSync(tmp, { force: true });
    throw e;
  }
}
