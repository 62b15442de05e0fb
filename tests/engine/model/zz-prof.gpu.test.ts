import { it } from 'vitest';
import { dirModelFiles } from '../../../src/io/node/dir-model-files.ts';
import { readJson } from '../../../src/io/model-files.ts';
import { parseModelConfig } from '../../../src/io/config.ts';
import { openCheckpoint } from '../../../src/io/safetensors/checkpoint.ts';
import { acquireNodeDevice } from '../../../src/engine/gpu/node-gpu.ts';
import { BufferPool } from '../../../src/engine/gpu/buffer-pool.ts';
import { KernelRegistry } from '../../../src/engine/gpu/kernels.ts';
import { loadModel, scoreContinuations } from '../../../src/engine/model/index.ts';

it('prof', async () => {
  const files = dirModelFiles('public/demo/stories260K');
  const config = parseModelConfig(await readJson(files, 'config.json'));
  const ctx = await acquireNodeDevice();
  const pool = new BufferPool(ctx.device);
  const model = await loadModel(ctx, new KernelRegistry(ctx.device), pool, await openCheckpoint(files), config);
  const ctxOf = (i: number) => Array.from({ length: 500 }, (_, t) => ((t * 31 + i * 7) % 500) + 3);
  const shared = Array.from({ length: 4 }, (_, i) => [0, 1, 2, 3].map((c) => ({ context: ctxOf(i), continuation: [300 + c] }))).flat();
  const distinct = shared.map((r, j) => ({ context: [...r.context.slice(0, -1), 10 + j], continuation: r.continuation }));
  await scoreContinuations(model, shared.slice(0, 4));
  for (const [name, reqs] of [['shared', shared], ['distinct', distinct], ['shared', shared], ['distinct', distinct]] as const) {
    const t0 = performance.now();
    await scoreContinuations(model, reqs);
    console.log(`${name}: ${((performance.now() - t0) / 4).toFixed(0)} ms per item`);
  }
}, 600000);
