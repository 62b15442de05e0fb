// stories260K → GGUF → Hugging Face folder, run on the GPU model: f32 gives bit-identical logits and llama2.c's own
// greedy output; f16 and Q8_0 stay within the error their weight rounding implies.
import { readFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { parseModelConfig } from '../../../src/io/config.ts';
import { readJson } from '../../../src/io/model-files.ts';
import { dirModelFiles } from '../../../src/io/node/dir-model-files.ts';
import { exportGgufFile, importGgufFile } from '../../../src/io/node/gguf.ts';
import { openCheckpoint } from '../../../src/io/safetensors/checkpoint.ts';
import { forward, generate, loadModel, type Model } from '../../../src/engine/model/index.ts';
import { gpuShared, maxAbsDiff } from '../../engine/model/model-fixtures.ts';
import { testGpu } from '../../helpers/gpu.ts';
import { gemma3LlamaCppFolder, removeTemps, smollm3LlamaCppFolder, storiesFolder, tempDir } from './helpers.ts';

afterAll(removeTemps);

const REF = resolve(process.cwd(), '../shared/data/models/stories260K/greedy-reference.json');
/** BOS, then "Once upon a time" in tok512 ids, and a few more */
const IDS = [1, 403, 407, 261, 378, 18, 300, 66, 410, 511, 2, 5];

async function load(dir: string): Promise<Model> {
  const files = dirModelFiles(dir);
  const config = parseModelConfig(await readJson(files, 'config.json'));
  const { pool, kernels } = await gpuShared();
  return loadModel(await testGpu(), kernels, pool, await openCheckpoint(files), config);
}

async function viaGguf(src: string, type: 'f32' | 'f16' | 'q8_0'): Promise<string> {
  const dir = await tempDir();
  await exportGgufFile(src, join(dir, `m.gguf`), { type });
  await importGgufFile(join(dir, 'm.gguf'), join(dir, 'hf'));
  return join(dir, 'hf');
}

describe('GGUF round trip on the GPU: stories260K', () => {
  it('f32: identical logits and llama2.c greedy output; f16 and Q8_0 within their rounding', async () => {
    const src = await storiesFolder();
    const base = await load(src);
    const want = (await forward(base, [IDS]))[0]!;

    const f32 = await load(await viaGguf(src, 'f32'));
    const got32 = (await forward(f32, [IDS]))[0]!;
    expect(maxAbsDiff(got32, want)).toBe(0);
    const ref = JSON.parse(readFileSync(REF, 'utf8')) as { start: number[]; steps: number; token_ids: number[] };
    const greedy = await generate(f32, ref.start, { maxTokens: ref.steps, temperature: 0, eosTokenIds: [] });
    expect(greedy.tokens).toEqual(ref.token_ids.slice(ref.start.length));

    let scale = 0;
    for (const x of want) scale = Math.max(scale, Math.abs(x));
    const f16 = await load(await viaGguf(src, 'f16'));
    const d16 = maxAbsDiff((await forward(f16, [IDS]))[0]!, want);
    const q8 = await load(await viaGguf(src, 'q8_0'));
    const d8 = maxAbsDiff((await forward(q8, [IDS]))[0]!, want);
    console.log(`stories260K logits (max |logit| ${scale.toFixed(2)}): f32 max diff 0; f16 ${d16.toExponential(2)}; Q8_0 ${d8.toExponential(2)}`);
    // f16 weights carry a relative error ≤ 2⁻¹¹ each; through 5 layers that stays well under 1% of the logit range.
    expect(d16).toBeLessThan(5e-3 * scale);
    // Q8_0 steps are absmax/127 per 32 weights: up to ~0.4% relative per weight, an order of magnitude more than f16.
    expect(d8).toBeLessThan(5e-2 * scale);
    for (const m of [base, f32, f16, q8]) m.dispose();
  });
});

describe('GGUF round trip on the GPU: Gemma 3 ("gemma3") and SmolLM3 ("smollm3") in llama.cpp\'s layer patterns', () => {
  // 10 tokens: past Gemma's 4-token window, so the sliding layers' masks matter
  const TOKENS = [1, 40, 300, 7, 99, 250, 12, 383, 5, 77];
  for (const [label, folder, bound] of [
    // every matrix comes back byte-equal and the norms as w' = (w + 1) − 1 in f32; the engine's 1 + w' is then
    // exactly the file's 1 + w, so the logits are bit-identical too
    ['gemma3', gemma3LlamaCppFolder, 0],
    // byte-equal: the same logits bit for bit
    ['smollm3', smollm3LlamaCppFolder, 0],
  ] as const) {
    it(`${label}: the imported model's logits equal the original's`, async () => {
      const src = await folder();
      const base = await load(src);
      const want = (await forward(base, [TOKENS]))[0]!;
      const back = await load(await viaGguf(src, 'f32'));
      const d = maxAbsDiff((await forward(back, [TOKENS]))[0]!, want);
      console.log(`${label} via f32 GGUF: logits max |diff| ${d.toExponential(2)}`);
      expect(d).toBeLessThanOrEqual(bound);
      base.dispose();
      back.dispose();
    });
  }
});
