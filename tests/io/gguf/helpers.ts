// Shared by the GGUF tests: temp folders, stories260K imported from llama2.c (with its SentencePiece tokenizer), a
// random model with 256-wide rows for the K-quants, Gemma 3 and SmolLM3 fixture variants in llama.cpp's layer
// patterns, and reading a Hugging Face folder's tensors back.
import { copyFileSync, existsSync, mkdirSync, readFileSync, readdirSync, writeFileSync } from 'node:fs';
import { mkdtemp, readdir, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { importLlama2cFiles } from '../../../src/io/node/import-llama2c.ts';
import { dirModelFiles } from '../../../src/io/node/dir-model-files.ts';
import { openCheckpoint, type Checkpoint } from '../../../src/io/safetensors/checkpoint.ts';
import { writeSafetensors } from '../../../src/io/safetensors/writer.ts';
import { expectedTensorShapes, parseModelConfig } from '../../../src/io/config.ts';
import { fileSink } from '../../../src/io/node/fs.ts';
import { mulberry32 } from '../../../src/common/random.ts';

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

/**
 * A random Llama whose rows are whole 256-element super-blocks (hidden 256, intermediate 512, 2 layers, 4 heads of
 * 64, 2 KV heads, tied, tiny-llama's 384-token vocabulary), so the K-quant presets really use Q4_K and Q6_K —
 * stories260K's rows (64 and 172) are not whole super-blocks and fall back to Q5_0/Q8_0/F16 as llama.cpp's do.
 * Weights ~ N(0, 0.02²)-ish, norms around 1.
 */
export async function wideFolder(): Promise<string> {
  const { ensureFixtures, OWNER, REVISION } = await import('../../../scripts/fixtures/index.ts');
  await ensureFixtures('public/hub');
  const base = resolve('public/hub', OWNER, 'tiny-llama', 'resolve', REVISION);
  const dir = join(await tempDir(), 'wide');
  mkdirSync(dir, { recursive: true });
  for (const f of readdirSync(base)) if (f !== 'model.safetensors' && f !== 'config.json') copyFileSync(join(base, f), join(dir, f));
  const config = { ...(JSON.parse(readFileSync(join(base, 'config.json'), 'utf8')) as Record<string, unknown>), hidden_size: 256, intermediate_size: 512 };
  writeFileSync(join(dir, 'config.json'), JSON.stringify(config, null, 2));
  const shapes = expectedTensorShapes(parseModelConfig(config));
  const tensors = [...shapes].map(([name, shape], k) => {
    const n = shape.reduce((a, b) => a * b, 1);
    const next = mulberry32(100 + k);
    const norm = name.endsWith('norm.weight');
    const data = Float32Array.from({ length: n }, () => (next() * 2 - 1) * (norm ? 0.2 : 0.035) + (norm ? 1 : 0));
    return { name, dtype: 'F32' as const, shape, data: new Uint8Array(data.buffer) };
  });
  await writeSafetensors(await fileSink(join(dir, 'model.safetensors')), tensors, { format: 'pt' });
  return dir;
}

/** A copy of fixture `repo` with its config edited and fresh fixture weights (seed `seed`) for the new shapes. */
export async function variantFolder(repo: string, edit: (config: Record<string, unknown>) => Record<string, unknown>, seed: string): Promise<string> {
  const { ensureFixtures, OWNER, REVISION } = await import('../../../scripts/fixtures/index.ts');
  const { fixtureTensors } = await import('../../../scripts/fixtures/weights.ts');
  await ensureFixtures('public/hub');
  const base = join('public/hub', OWNER, repo, 'resolve', REVISION);
  const dir = join(await tempDir(), repo);
  mkdirSync(dir, { recursive: true });
  for (const f of readdirSync(base)) if (f !== 'model.safetensors' && f !== 'config.json') copyFileSync(join(base, f), join(dir, f));
  const config = edit(JSON.parse(readFileSync(join(base, 'config.json'), 'utf8')) as Record<string, unknown>);
  writeFileSync(join(dir, 'config.json'), JSON.stringify(config, null, 2));
  await writeSafetensors(await fileSink(join(dir, 'model.safetensors')), fixtureTensors(expectedTensorShapes(parseModelConfig(config)), 'F32', seed), { format: 'pt' });
  return dir;
}

/** tiny-gemma3 with llama.cpp's gemma3 layout: 6 layers (0-4 sliding, 5 global), query_pre_attn_scalar = head_dim. */
export function gemma3LlamaCppFolder(): Promise<string> {
  return variantFolder(
    'tiny-gemma3',
    (c) => {
      const { _sliding_window_pattern: _, ...rest } = c;
      const types = Array.from({ length: 6 }, (_, i) => (i === 5 ? 'full_attention' : 'sliding_attention'));
      return { ...rest, num_hidden_layers: 6, layer_types: types, query_pre_attn_scalar: 32 };
    },
    'tiny-gemma3-gguf',
  );
}

/** tiny-smollm3 with llama.cpp's smollm3 layout: 4 layers, layer 3 NoPE. */
export function smollm3LlamaCppFolder(): Promise<string> {
  return variantFolder(
    'tiny-smollm3',
    (c) => ({ ...c, num_hidden_layers: 4, no_rope_layers: [1, 1, 1, 0], layer_types: new Array(4).fill('full_attention') }),
    'tiny-smollm3-gguf',
  );
}
