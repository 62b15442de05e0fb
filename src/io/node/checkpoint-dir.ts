// Training checkpoints in a directory (Node): checkpoint-<step>.safetensors, written to a temp name and renamed,
// so a file with the final name is always complete (rename is atomic within a directory).
import { mkdirSync, readdirSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { AlloyError } from '../../common/errors.ts';
import type { CheckpointStore } from '../checkpoints.ts';
import type { ByteSource } from '../bytes.ts';
import { fileSource } from './fs.ts';

const NAME = /^checkpoint-(\d+)\.safetensors$/;

export function dirCheckpointStore(dir: string): CheckpointStore {
  const file = (step: number) => join(dir, `checkpoint-${step}.safetensors`);
  return {
    where: dir,
    async save(step, data) {
      mkdirSync(dir, { recursive: true });
      const tmp = join(dir, `.checkpoint-${step}.${process.pid}.tmp`);
      try {
        writeFileSync(tmp, new Uint8Array(await data.arrayBuffer()));
        renameSync(tmp, file(step));
      } catch (e) {
        rmSync(tmp, { force: true });
        throw new AlloyError(`cannot write checkpoint ${file(step)}: ${(e as Error).message}`, { file: file(step) });
      }
    },
    async steps() {
      let names: string[];
      try {
        names = readdirSync(dir);
      } catch {
        return [];
      }
      return names.flatMap((n) => (NAME.exec(n) ? [Number(NAME.exec(n)![1])] : [])).sort((a, b) => a - b);
    },
    async open(step): Promise<ByteSource> {
      try {
        return fileSource(file(step));
      } catch {
        throw new AlloyError(`no checkpoint for step ${step} in ${dir}`, { file: file(step) });
      }
    },
    async delete(step) {
      rmSync(file(step), { force: true });
    },
  };
}
