// The whole model on the hardware kernel family (ALLOY_KERNELS=hardware, so every registry made from this file's
// device dispatches the hardware kernels, on SwiftShader here): the forward against the float64 reference for
// every fixture, decoding through the KV cache (the mat-vec path, M = 1) against the same reference, and greedy
// stories260K equal to llama2.c's tokens (which the software family also reproduces).
//
// Tolerances are logits.gpu.test.ts's (1e-5 against the reference, measured there 7e-7 to 1e-6): the families
// differ only in f32 summation order. Decode rows are held to the reference too, not to the full forward on the
// GPU (1e-6 there), since the mat-vec and the tiled kernel sum in different orders.
import { existsSync, readFileSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';

import { forward, generate, loadModel, prefill, step } from '../../../src/engine/model/index.ts';
import { importLlama2c } from '../../../src/io/llama2c.ts';
import { fileSink, fileSource } from '../../../src/io/node/fs.ts';
import { dirModelFiles } from '../../../src/io/node/dir-model-files.ts';
import { parseModelConfig } from '../../../src/io/config.ts';
import { readJson } from '../../../src/io/model-files.ts';
import { openCheckpoint } from '../../../src/io/safetensors/checkpoint.ts';
import { testGpu } from '../../helpers/gpu.ts';
import { countGpuCalls, perUnit, type GpuCallCounts } from '../../../src/engine/gpu/call-counter.ts';
import { gpuShared, loadFixture, maxAbsDiff, SEQ, type Fixture } from './model-fixtures.ts';

// Read by acquireNodeDevice when this file's device is first acquired (in the first test), so setting it after
// the imports is soon enough; vitest runs each GPU test file in its own process.
process.env.ALLOY_KERNELS = 'hardware';

const TOL = 1e-5;
const loaded: Fixture[] = [];
const temps: string[] = [];

afterAll(async () => {
  for (const f of loaded) f.model.dispose();
  (await gpuShared()).pool.destroyAll();
  for (const d of temps) await rm(d, { recursive: true, force: true });
});

describe('hardware kernel family: the whole model', () => {
  it('ALLOY_KERNELS=hardware selects the hardware family on any adapter (SwiftShader here)', async () => {
    const ctx = await testGpu();
    expect(ctx.kernelFamily).toBe('hardware');
    expect(ctx.kernelFamilyForced).toBe(true);
    expect((await gpuShared()).kernels.family).toBe('hardware');
  });

  for (const name of ['tiny-llama', 'tiny-llama-bf16', 'tiny-llama-untied', 'tiny-qwen2', 'tiny-qwen3', 'tiny-smollm3', 'tiny-gemma3']) {
    it(`${name}: forward max |Δlogit| ≤ ${TOL} against the reference`, async () => {
      const f = await loadFixture(name);
      loaded.push(f);
      const [got] = await forward(f.model, [SEQ]);
      const err = maxAbsDiff(got!, f.reference(SEQ));
      console.log(`hardware ${name}: forward max|Δlogit| = ${err.toExponential(2)} (T=${SEQ.length})`);
      expect(err).toBeLessThanOrEqual(TOL);
    });
  }

  // A cache of SEQ.length slots decodes with the plain tiled attention; one of FLASH_CAPACITY slots is long enough
  // for flash-decoding (ops/attention-hw.ts hwAttentionShape: ≥ 2 slices of 32 slots), whose slices past the
  // written keys are empty; tiny-gemma3's sliding layers then decode through a ring of KV slots.
  const FLASH_CAPACITY = 96;
  for (const [name, capacity] of [['tiny-llama', SEQ.length], ['tiny-llama-bf16', SEQ.length], ['tiny-gemma3', SEQ.length], ['tiny-llama', FLASH_CAPACITY], ['tiny-gemma3', FLASH_CAPACITY]] as const) {
    it(`${name}: prefill + decode steps (mat-vec) match the reference at every position, cache of ${capacity} slots`, async () => {
      const f = loaded.find((x) => x.name === name)!;
      const V = f.config.vocabSize;
      const want = f.reference(SEQ);
      const k = 4;
      const { cache, logits } = await prefill(f.model, [SEQ.slice(0, k)], { capacity });
      try {
        let err = maxAbsDiff(logits[0]!, want.subarray((k - 1) * V, k * V));
        for (let t = k; t < SEQ.length; t++) {
          const [row] = await step(cache, [SEQ[t]!]);
          err = Math.max(err, maxAbsDiff(row!, want.subarray(t * V, (t + 1) * V)));
        }
        console.log(`hardware ${name}: KV-cache (${capacity} slots) decode max|Δlogit| vs reference = ${err.toExponential(2)}`);
        expect(err).toBeLessThanOrEqual(TOL);
      } finally {
        cache.release();
      }
    });
  }

  it('tiny-llama: a decoded token runs 4 dispatches fewer than in the software family (the norms fold into q|k|v and gate|up)', async () => {
    // dispatch-counts.gpu.test.ts holds the software family to 22 per token on this model (2 layers); here each
    // layer's two RMSNorms ride in the next mat-vec (hw_matvec main_norm)
    const f = loaded.find((x) => x.name === 'tiny-llama')!;
    const counter = countGpuCalls(f.model.device);
    let counted: GpuCallCounts | null = null;
    try {
      await generate(f.model, SEQ.slice(0, 5), {
        temperature: 0,
        maxTokens: 14,
        eosTokenIds: [],
        onToken: (_, i) => {
          if (i === 4) counter.reset();
          if (i === 12) counted = counter.snapshot();
        },
      });
    } finally {
      counter.dispose();
    }
    const per = perUnit(counted!, 8);
    console.log(`hardware tiny-llama per decoded token: ${JSON.stringify(per)}`);
    expect(per.dispatches).toBe(18);
    expect(per.buffers).toBe(0);
    expect(per.bindGroups).toBe(0);
    expect(per.submits).toBe(1);
  });

  it('tiny-llama: flash-decoding adds one dispatch a layer (the slices\' reduce) to a decoded token', async () => {
    // steps over a short cache (plain tiled attention) against a cache long enough to split the keys
    const f = loaded.find((x) => x.name === 'tiny-llama')!;
    const perStep = async (capacity: number) => {
      const { cache } = await prefill(f.model, [SEQ.slice(0, 4)], { capacity });
      const counter = countGpuCalls(f.model.device);
      try {
        await step(cache, [SEQ[4]!]); // warm
        counter.reset();
        for (let t = 5; t < 9; t++) await step(cache, [SEQ[t]!]);
        return perUnit(counter.snapshot(), 4);
      } finally {
        counter.dispose();
        cache.release();
      }
    };
    const plain = await perStep(SEQ.length);
    const flash = await perStep(FLASH_CAPACITY);
    console.log(`hardware tiny-llama per step: cache ${SEQ.length} ${JSON.stringify(plain)}, cache ${FLASH_CAPACITY} ${JSON.stringify(flash)}`);
    // (measured 17 → 19 on tiny-llama's 2 layers; step() reads whole logit rows, so no argmax dispatch)
    expect(flash.dispatches - plain.dispatches).toBe(f.config.numLayers);
    // and nothing else: the slices' partials live in the registry's scratch, made during the warm step (bind
    // groups are left out: step() takes its logits buffers from the pool, so their count varies with its state)
    for (const key of ['buffers', 'passes', 'submits', 'writeBuffers', 'readBytes'] as const) expect(flash[key], key).toBe(plain[key]);
  });

  // llama2c.gpu.test.ts holds the software family (SwiftShader's default) to the same llama2.c tokens, so equal
  // here means equal to the software family's tokens too.
  it('stories260K: greedy tokens for 200 positions equal llama2.c (and so the software family)', async () => {
    const MODEL_DIR = join(resolve(process.cwd(), '../shared/data'), 'models/stories260K');
    const BIN = join(MODEL_DIR, 'stories260K.bin');
    const REF = join(MODEL_DIR, 'greedy-reference.json');
    for (const p of [BIN, REF]) {
      if (!existsSync(p)) throw new Error(`missing shared test data ${p}: these tests need ../shared/data (see its README)`);
    }
    const ref = JSON.parse(readFileSync(REF, 'utf8')) as { start: number[]; token_ids: number[] };
    const out = await mkdtemp(join(tmpdir(), 'alloy-hwfamily-'));
    temps.push(out);
    await importLlama2c(fileSource(BIN), (name) => fileSink(join(out, name)));
    const files = dirModelFiles(out, 'stories260K');
    const config = parseModelConfig(await readJson(files, 'config.json'));
    const ctx = await testGpu();
    const { pool, kernels } = await gpuShared();
    const want = ref.token_ids.slice(ref.start.length);
    const model = await loadModel(ctx, kernels, pool, await openCheckpoint(files), config);
    try {
      const t0 = performance.now();
      const got = await generate(model, ref.start, { maxTokens: want.length, temperature: 0, eosTokenIds: [] });
      console.log(`hardware stories260K: ${want.length} greedy tokens in ${((performance.now() - t0) / 1000).toFixed(1)} s`);
      expect(got.tokens).toEqual(want);
    } finally {
      model.dispose();
    }
  }, 300_000);
});
