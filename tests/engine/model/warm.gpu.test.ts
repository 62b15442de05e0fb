// warmKernels at load: afterwards, greedy and sampled decoding, a prefill and a scoring batch compile no pipeline
// (counted with countGpuCalls on a fresh KernelRegistry, so nothing was compiled before the warm-up).
import { describe, expect, it } from 'vitest';
import { join } from 'node:path';
import { ensureFixtures, OWNER, REVISION } from '../../../scripts/fixtures/index.ts';
import { parseModelConfig } from '../../../src/io/config.ts';
import { readJson } from '../../../src/io/model-files.ts';
import { dirModelFiles } from '../../../src/io/node/dir-model-files.ts';
import { openCheckpoint } from '../../../src/io/safetensors/checkpoint.ts';
import { BufferPool } from '../../../src/engine/gpu/buffer-pool.ts';
import { KernelRegistry } from '../../../src/engine/gpu/kernels.ts';
import { countGpuCalls } from '../../../src/engine/gpu/call-counter.ts';
import { forward, generate, loadModel, scoreContinuations, warmKernels } from '../../../src/engine/model/index.ts';
import { testGpu } from '../../helpers/gpu.ts';

describe('warmKernels', () => {
  // tiny-gemma3: its own pipelines (windowed attention, GeGLU, the embedding scale, the sandwich norms) warm too
  for (const name of ['tiny-llama', 'tiny-llama-bf16', 'tiny-gemma3']) {
    it(`${name}: after the warm-up, decoding, prefill and scoring compile nothing`, async () => {
      await ensureFixtures('public/hub');
      const files = dirModelFiles(join('public/hub', OWNER, name, 'resolve', REVISION));
      const config = parseModelConfig(await readJson(files, 'config.json'));
      const ctx = await testGpu();
      const pool = new BufferPool(ctx.device);
      const model = await loadModel(ctx, new KernelRegistry(ctx.device), pool, await openCheckpoint(files), config);
      const compiled = countGpuCalls(ctx.device);
      const phases: string[] = [];
      try {
        await warmKernels(model, (p) => phases.push(`${p.phase} ${p.done}/${p.total}`));
        const during = compiled.snapshot().pipelines;
        compiled.reset();
        const prompt = [1, 5, 9, 13, 17, 21, 2, 3, 4, 6, 7];
        await generate(model, prompt, { maxTokens: 6 });
        await generate(model, prompt.slice(0, 3), { maxTokens: 6, temperature: 0.8, topK: 20, topP: 0.9, seed: 4 });
        await forward(model, [prompt, prompt.slice(0, 7), prompt.slice(0, 2)]);
        await scoreContinuations(model, [
          { context: prompt, continuation: [7, 8] },
          { context: prompt.slice(0, 4), continuation: [9] },
        ]);
        // choices sharing a context: the prefix-shared path (a forked KV cache)
        await scoreContinuations(model, [
          { context: prompt, continuation: [7, 8, 9] },
          { context: prompt, continuation: [10, 11] },
        ]);
        const after = compiled.snapshot().pipelines;
        console.log(`${name}: ${during} pipelines compiled by the warm-up, ${after} afterwards; progress ${phases.at(-1)}`);
        expect(during).toBeGreaterThan(5);
        expect(after).toBe(0);
        expect(phases.at(-1)).toBe('compiling kernels 4/4');
      } finally {
        compiled.dispose();
        model.dispose();
        pool.destroyAll();
      }
    });
  }
});
