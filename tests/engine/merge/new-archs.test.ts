// SLERP of two Qwen3, two SmolLM3 and two Gemma 3 checkpoints (each fixture and a copy moved by noise): every
// output tensor — the q/k norms and Gemma's pre/post-feed-forward norms included, per layer as mergekit's
// architecture files list them — equals SLERP from the formula, and the output config keeps what makes the
// architecture (its class, layer types, NoPE layers). Float64 reference rounded to f32 once; tolerance as
// run.test.ts (1e-5 relative).
import { beforeAll, describe, expect, it } from 'vitest';
import { join } from 'node:path';
import { ensureFixtures, OWNER, REVISION } from '../../../scripts/fixtures/index.ts';
import { memoryModelFiles, readJson, type ModelFiles } from '../../../src/io/model-files.ts';
import { writeCheckpoint } from '../../../src/io/safetensors/checkpoint.ts';
import { encodeFromF32 } from '../../../src/io/safetensors/dtypes.ts';
import { parseMergeYaml } from '../../../src/engine/merge/config.ts';
import { runMerge } from '../../../src/engine/merge/run.ts';
import { expectedTensorShapes, parseModelConfig } from '../../../src/io/config.ts';
import { randomArray } from '../../helpers/gpu.ts';
import { concat, MemorySinks, readDir, readWeights, slerpRef, type Weights } from './merge-helpers.ts';


const files: Record<string, Record<string, Uint8Array>> = {};
beforeAll(async () => {
  await ensureFixtures('public/hub');
  for (const name of ['tiny-qwen3', 'tiny-smollm3', 'tiny-gemma3']) files[name] = readDir(join('public/hub', OWNER, name, 'resolve', REVISION));
});

describe('SLERP of the new architectures', () => {
  for (const name of ['tiny-qwen3', 'tiny-smollm3', 'tiny-gemma3']) {
    it(`${name}: every tensor is SLERP of the parents' and the config keeps the architecture`, async () => {
      const a = memoryModelFiles(files[name]!, 'A');
      const aw = await readWeights(a);
      const bw: Weights = new Map([...aw].map(([n, t], i) => {
        const noise = randomArray(t.data.length, 500 + i);
        return [n, { shape: t.shape, data: t.data.map((x, j) => x + 0.3 * noise[j]!) }];
      }));
      const weightSinks = new MemorySinks();
      await writeCheckpoint([...bw].map(([n, t]) => ({ name: n, dtype: 'F32' as const, shape: t.shape, data: encodeFromF32('F32', t.data) })), { openSink: weightSinks.open });
      const bFiles = { ...files[name]! };
      delete bFiles['model.safetensors'];
      for (const [k, v] of weightSinks.files) bFiles[k] = concat(v);
      const models: Record<string, ModelFiles> = { A: a, B: memoryModelFiles(bFiles, 'B') };

      const outSinks = new MemorySinks();
      await runMerge({
        config: parseMergeYaml('models:\n  - model: A\n  - model: B\nmerge_method: slerp\nbase_model: A\nparameters:\n  t: 0.3\n').config,
        resolveModel: async (ref) => models[ref]!,
        openSink: outSinks.open,
      });
      const out = outSinks.model();
      const got = await readWeights(out);
      const cfgIn = parseModelConfig(await readJson(a, 'config.json'));
      const cfgOut = parseModelConfig(await readJson(out, 'config.json'));
      expect(cfgOut).toEqual(cfgIn);
      expect([...got.keys()].sort()).toEqual([...expectedTensorShapes(cfgIn).keys()].sort());
      let worst = 0;
      for (const [n, t] of got) {
        const want = slerpRef(0.3, aw.get(n)!.data, bw.get(n)!.data);
        for (let i = 0; i < want.length; i++) worst = Math.max(worst, Math.abs(t.data[i]! - want[i]!) / Math.max(1, Math.abs(want[i]!)));
      }
      console.log(`${name}: SLERP t=0.3 of ${got.size} tensors, max rel err ${worst.toExponential(2)}`);
      expect(worst).toBeLessThan(1e-5);
    });
  }
});
