/**
 * Text generation with the KV cache: prefill the prompt, then one step per new token; greedy, temperature,
 * top-k and top-p sampling (sampling.ts) with a seeded RNG; stops on an EOS id, at maxTokens, at the cache's end
 * (max_position_embeddings), or when the per-token callback returns false (the UI's stop button, streaming).
 */
import { prefill, step, stepGreedy } from './kv-cache.ts';
import { createRng, sampleToken, type SamplingOptions } from './sampling.ts';
import type { Model } from './weights.ts';
import type { GpuLora } from '../lora/adapter.ts';

export interface GenerateOptions extends SamplingOptions {
  maxTokens: number;
  /** default: the config's eos_token_id(s); an empty list never stops early */
  eosTokenIds?: readonly number[];
  /** default 0 */
  seed?: number;
  /**
   * Called with each new token (EOS included) as soon as it is chosen; return false to stop after it.
   * `index` counts generated tokens from 0.
   */
  onToken?: (token: number, index: number) => boolean | void;
  /** LoRA adapters added to the projections for the prompt and every step (absent or disabled: the base model) */
  lora?: GpuLora | null;
}

export type FinishReason = 'eos' | 'length' | 'stopped';

export interface GenerateResult {
  /** generated ids, without the prompt; includes the EOS token when one ended the run */
  tokens: number[];
  finishReason: FinishReason;
}

export async function generate(model: Model, prompt: readonly number[], opts: GenerateOptions): Promise<GenerateResult> {
  const maxPos = model.config.maxPositionEmbeddings;
  if (prompt.length === 0) throw new RangeError('generate needs a prompt of at least one token');
  if (prompt.length >= maxPos) throw new RangeError(`prompt of ${prompt.length} tokens leaves no room below max_position_embeddings (${maxPos})`);
  const maxTokens = Math.min(Math.max(0, Math.floor(opts.maxTokens)), maxPos - prompt.length);
  const eos = new Set(opts.eosTokenIds ?? model.config.eosTokenIds);
  const rng = createRng(opts.seed ?? 0);
  const tokens: number[] = [];
  if (maxTokens === 0) return { tokens, finishReason: 'length' };

  // Capacity: the last generated token is never fed back, so prompt + maxTokens − 1 slots suffice.
  const { cache, logits } = await prefill(model, [prompt], { capacity: prompt.length + maxTokens - 1 || 1, lora: opts.lora ?? null });
  try {
    // Greedy steps pick on the GPU (the same first maximum as sampleToken's argmax) and read back one id.
    const greedy = !((opts.temperature ?? 0) > 0);
    let tok = sampleToken(logits[0]!, opts, rng);
    for (;;) {
      tokens.push(tok);
      const keepGoing = opts.onToken?.(tok, tokens.length - 1);
      if (eos.has(tok)) return { tokens, finishReason: 'eos' };
      if (keepGoing === false) return { tokens, finishReason: 'stopped' };
      if (tokens.length >= maxTokens) return { tokens, finishReason: 'length' };
      tok = greedy ? (await stepGreedy(cache, [tok]))[0]! : sampleToken((await step(cache, [tok]))[0]!, opts, rng);
    }
  } finally {
    cache.release();
  }
}
