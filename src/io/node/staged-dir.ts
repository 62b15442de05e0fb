// Publishing a folder all at once: files are written into a hidden sibling of the target and the sibling is
// renamed onto the target only after the last file is closed, so a failed or interrupted write leaves no target
// and no half-written folder behind (rename within one parent directory is atomic). Node only.
import { existsSync, readdirSync, renameSync, rmSync } from 'node:fs';
import { basename, dirname, join, resolve } from 'node:path';
import type { ByteSink } from '../bytes.ts';
import { AlloyError } from '../../common/errors.ts';
import { fileSink } from './fs.ts';

/** The hidden sibling a staged write of `out` goes to; its prefix lets tests and users recognise leftovers. */
export function stagingDir(out: string): string {
  return join(dirname(out), `.${basename(out)}.alloy-partial-${process.pid}-${Date.now()}`);
}

/**
 * Runs `write` with sinks into a staging folder, then renames it to `out`. `out` must not exist or be empty:
 * an import never overwrites.
 */
export async function writeDirStaged<T>(out: string, write: (sinkFor: (name: string) => Promise<ByteSink>) => Promise<T>): Promise<T> {
  const target = resolve(out);
  if (existsSync(target) && readdirSync(target).length > 0) {
    throw new AlloyError(`${out} exists and is not empty; choose a new directory (nothing is overwritten)`, { file: out });
  }
  const tmp = stagingDir(target);
  try {
    const result = await write((name) => fileSink(join(tmp, ...name.split('/'))));
    if (!existsSync(tmp)) throw new AlloyError(`nothing was written for ${out}`, { file: out });
    if (existsSync(target)) rmSync(target, { recursive: true }); // empty (checked above)
    renameSync(tmp, target);
    return result;
  } catch (e) {
    rmSync(tmp, { recursive: true, force: true });
    throw e;
  }
}
