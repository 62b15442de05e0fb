// stories260K (karpathy's tinyllamas, llama2.c legacy format) imported into a Hugging Face folder and run on the GPU
// model: greedy generation from BOS must reproduce llama2.c's own greedy output token for token.
import { existsSync, readFileSync } from 'node:fs';
import { copyFile, mkdtemp, rm, truncate, readdir } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { importLlama2c } from '../../src/io/llama2c.ts';
import { fileSink, fileSource } from '../../src/io/node/fs.ts';
import { dirModelFiles } from '../../src/io/node/dir-model-files.ts';
import { parseModelConfig } from '../../src/io/config.ts';
import { readJson } from '../../src/io/model-files.ts';
import { openCheckpoint } from '../../src/io/safetensors/checkpoint.ts';
import { generate, loadModel } from '../../src/engine/model/index.ts';
import { gpuShared } from '../engine/model/model-fixtures.ts';
import { testGpu } from '../helpers/gpu.ts';

const DATA = resolve(process.cwd(), '../shared/data');
const MODEL_DIR = join(DATA, 'models/stories260K');
const BIN = join(MODEL_DIR, 'stories260K.bin');
const REF = join(MODEL_DIR, 'greedy-reference.json');

function requireData(): void {
  for (const p of [BIN, REF]) {
    if (!existsSync(p)) throw new Error(`missing shared test data ${p}: these tests need ../shared/data (see its README)`);
  }
}

const temps: string[] = [];
async function tempDir(): Promise<string> {
  const d = await mkdtemp(join(tmpdir(), 'alloy-llama2c-'));
  temps.push(d);
  return d;
}
afterAll(async () => {
  for (const d of temps) await rm(d, { recursive: true, force: true });
});

describe('llama2.c import: stories260K', () => {
  it('greedy generation from BOS for 200 positions reproduces llama2.c token ids exactly', async () => {
    requireData();
    const ref = JSON.parse(readFileSync(REF, 'utf8')) as { start: number[]; steps: number; token_ids: number[] };
    expect(ref.start).toEqual([1]);
    const out = await tempDir();
    const result = await importLlama2c(fileSource(BIN), (name) => fileSink(join(out, name)));
    expect(result.header).toMatchObject({ dim: 64, hiddenDim: 172, nLayers: 5, nHeads: 8, nKvHeads: 4, vocabSize: 512, seqLen: 512, tied: true });
    expect((await readdir(out)).sort()).toEqual(['config.json', 'model.safetensors']);

    const files = dirModelFiles(out, 'stories260K');
    const config = parseModelConfig(await readJson(files, 'config.json'));
    expect(config.tieWordEmbeddings).toBe(true);
    const checkpoint = await openCheckpoint(files);
    expect(checkpoint.names()).not.toContain('lm_head.weight');
    const ctx = await testGpu();
    const { pool, kernels } = await gpuShared();
    const model = await loadModel(ctx, kernels, pool, checkpoint, config);

    // token_ids holds the start token, then one token per position (llama2.c's `steps` forwards, pos 0 … steps-1).
    const want = ref.token_ids.slice(ref.start.length);
    expect(want.length).toBe(ref.steps);
    const got = await generate(model, ref.start, { maxTokens: want.length, temperature: 0, eosTokenIds: [] });
    expect(got.tokens).toEqual(want);
  });

  it('refuses a truncated checkpoint, naming expected and actual bytes, and writes nothing', async () => {
    requireData();
    const dir = await tempDir();
    const cut = join(dir, 'truncated.bin');
    await copyFile(BIN, cut);
    const size = fileSource(BIN).size;
    await truncate(cut, size - 4);
    const out = join(dir, 'out');
    await expect(importLlama2c(fileSource(cut), (name) => fileSink(join(out, name)))).rejects.toThrow(
      `expected ${size} bytes, actual ${size - 4} bytes`,
    );
    expect(existsSync(out)).toBe(false);
  });
});
