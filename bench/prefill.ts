// A model held open for scoring-shaped forwards: B rows of T tokens, the logits of each row's last position read
// back (what a multiple-choice item or a prefill asks of the GPU), timed from upload to readback. The device check
// times both activation dtypes with it (act-dtype.ts).
import { BufferPool } from '../src/engine/gpu/buffer-pool.ts';
import type { GpuContext } from '../src/engine/gpu/device.ts';
import type { KernelRegistry } from '../src/engine/gpu/kernels.ts';
import { loadModel, readLogits, runForward } from '../src/engine/model/index.ts';
import type { ActDtype } from '../src/engine/act-dtype.ts';
import type { ModelConfig } from '../src/io/config.ts';
import type { Checkpoint } from '../src/io/safetensors/checkpoint.ts';

export interface Scorer {
  /** seconds of one B × T forward with the activations stored as `acts` */
  secPerForward(acts: ActDtype): Promise<number>;
  dispose(): void;
}

export async function openScorer(ctx: GpuContext, kernels: KernelRegistry, ck: Checkpoint, config: ModelConfig, B: number, T: number): Promise<Scorer> {
  const pool = new BufferPool(ctx.device);
  const model = await loadModel(ctx, kernels, pool, ck, config);
  const ids = Uint32Array.from({ length: B * T }, (_, i) => (i % T === 0 ? 1 : (i * 7919) % config.vocabSize));
  const positions = Uint32Array.from({ length: B * T }, (_, i) => i % T);
  const logitRows = Uint32Array.from({ length: B }, (_, b) => b * T + T - 1);
  const secPerForward = async (acts: ActDtype) => {
    model.activations = acts;
    const t0 = performance.now();
    await readLogits(model, await runForward(model, { batch: B, T, ids, positions, mask: null, kv: null, logitRows }));
    return (performance.now() - t0) / 1000;
  };
  return { secPerForward, dispose: () => (model.dispose(), pool.destroyAll()) };
}
