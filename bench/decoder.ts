// A model held open for greedy decoding, timed per token from the first generated token to the last (the prompt's
// prefill is not counted): the quant bench and the device check time decode this way.
import { BufferPool } from '../src/engine/gpu/buffer-pool.ts';
import type { GpuContext } from '../src/engine/gpu/device.ts';
import type { KernelRegistry } from '../src/engine/gpu/kernels.ts';
import { generate, loadModel } from '../src/engine/model/index.ts';
import type { KvDtype } from '../src/engine/kv-dtype.ts';
import type { ModelConfig } from '../src/io/config.ts';
import type { Checkpoint } from '../src/io/safetensors/checkpoint.ts';

/** A model loaded for greedy decoding; `pace` is the seconds of its second decode step (the first pays first uses). */
export interface Decoder {
  /** seconds per decoded token over `tokens` greedy steps, from the first generated token to the last */
  secPerToken(tokens: number, kvDtype?: KvDtype): Promise<number>;
  pace: number;
  weightBytes: number;
  dispose(): void;
}

/** an 8-token prompt (ids taken modulo a smaller vocabulary) */
const PROMPT = [1, 400, 5000, 77, 901, 12, 3456, 42];

export async function openDecoder(ctx: GpuContext, kernels: KernelRegistry, ck: Checkpoint, config: ModelConfig): Promise<Decoder> {
  const pool = new BufferPool(ctx.device);
  const model = await loadModel(ctx, kernels, pool, ck, config);
  const prompt = PROMPT.map((id) => id % config.vocabSize);
  const secPerToken = async (tokens: number, kvDtype?: KvDtype) => {
    const at: number[] = [];
    await generate(model, prompt, { temperature: 0, maxTokens: tokens + 1, eosTokenIds: [], onToken: () => void at.push(performance.now()), ...(kvDtype ? { kvDtype } : {}) });
    return (at[at.length - 1]! - at[0]!) / 1000 / tokens;
  };
  try {
    await secPerToken(1);
    return { secPerToken, pace: await secPerToken(1), weightBytes: model.weightBytes, dispose: () => (model.dispose(), pool.destroyAll()) };
  } catch (e) {
    model.dispose();
    pool.destroyAll();
    throw e;
  }
}
