// Shared by the GGUF tests: temp folders, stories260K imported from llama2.c (with its SentencePiece tokenizer),
// and reading a Hugging Face folder's tensors back.
import { existsSync } from 'node:fs';
import { mkdtemp, readdir, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { importLlama2cFiles } from '../../../src/io/node/import-llama2c.ts';
import { dirModelFiles } from '../../../src/io/node/dir-model-files.ts';
import { openCheckpoint, type Checkpoint } from '../../../src/io/safetensors/checkpoint.ts';

const DATA = resolve(process.cwd(), '../shared/data/models/stories260K');
export const STORIES_BIN = join(DATA, 'stories260K.bin');
export const STORIES_TOKENIZER = join(DATA, 'tok512.model');

const temps: string[] = [];
export async function tempDir(): Promise<string> {
  const d = await mkdtemp(join(tmpdir(), 'alloy-gguf-'));
  temps.push(d);
  return d;
}
export async function removeTemps(): Promise<void> {
  for (const d of temps.splice(0)) await rm(d, { recursive: true, force: true });
}

/** stories260K as a Hugging Face folder (F32, tied, tokenizer from tok512.model). */
export async function storiesFolder(): Promise<string> {
  for (const p of [STORIES_BIN, STORIES_TOKENIZER]) {
    if (!existsSync(p)) throw new Error(`missing shared test data ${p}: these tests need ../shared/data (see its README)`);
  }
  const out = join(await tempDir(), 'stories260K');
  await importLlama2cFiles(STORIES_BIN, out, STORIES_TOKENIZER);
  return out;
}

export async function checkpointOf(dir: string): Promise<Checkpoint> {
  return openCheckpoint(dirModelFiles(dir));
}

/** Entries of `dir`, hidden ones included (a leftover staging folder would show up here). */
export async function entries(dir: string): Promise<string[]> {
  return existsSync(dir) ? (await readdir(dir)).sort() : [];
}
