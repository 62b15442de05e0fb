/**
 * Text generation with the KV cache: prefill the prompt, then one step per new token; greedy, temperature,
 * top-k and top-p sampling with a seeded RNG (one draw per sampled token); stops on an EOS id, at maxTokens, at
 * the cache's end (max_position_embeddings), or when the per-token callback returns false (the UI's stop button,
 * streaming).
 *
 * Where a token is picked: a decode step picks on the GPU (greedy: ops/argmax.ts; sampling: ops/sample.ts) and
 * reads back the id (and the log-prob when asked), unless `sampler: 'cpu'` asks for the logits row, which
 * sampling.ts `sampleTokenExact` then samples by the same rule; the prompt's first token is always picked on
 * the CPU (the prefill reads its last row anyway). Both paths give the same tokens for the same seed.
 */
import { prefill, step } from './kv-cache.ts';
import { createRng, sampleTokenExact, type SamplingOptions } from './sampling.ts';
import { drawBits, sampleParams } from '../ops/sample.ts';
import { argmax } from './score.ts';
import type { Model } from './weights.ts';
import type { GpuLora } from '../lora/adapter.ts';
import type { KvDtype } from '../kv-dtype.ts';

export interface GenerateOptions extends SamplingOptions {
  maxTokens: number;
  /** default: the config's eos_token_id(s); an empty list never stops early */
  eosTokenIds?: readonly number[];
  /** default 0 */
  seed?: number;
  /**
   * Called with each new token (EOS included) as soon as it is chosen; return false to stop after it.
   * `index` counts generated tokens from 0; `logProb` is given when `logProbs` is set.
   */
  onToken?: (token: number, index: number, logProb?: number) => boolean | void;
  /**
   * Where decode steps pick their token: 'gpu' (default) reads back the id; 'cpu' reads back the logits row
   * and samples it on the CPU by the same rule (the same tokens; for a caller that wants the row).
   */
  sampler?: 'gpu' | 'cpu';
  /**
   * Also report each token's log-prob under the model (log-softmax of its logits at temperature 1, no warpers:
   * what scoring computes). GPU steps compute it in f32 (8 bytes read back instead of 4); greedy steps then
   * read the logits row instead (the argmax kernel gives no log-prob).
   */
  logProbs?: boolean;
  /** LoRA adapters added to the projections for the prompt and every step (absent or disabled: the base model) */
  lora?: GpuLora | null;
  /** how the KV cache stores keys and values (kv-dtype.ts); default the model's kvDtype */
  kvDtype?: KvDtype;
}

export type FinishReason = 'eos' | 'length' | 'stopped';

export interface GenerateResult {
  /** generated ids, without the prompt; includes the EOS token when one ended the run */
  tokens: number[];
  /** with `logProbs`: each token's log-prob under the model */
  logProbs?: number[];
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
  const logProbs: number[] | undefined = opts.logProbs ? [] : undefined;
  const done = (finishReason: FinishReason): GenerateResult => (logProbs ? { tokens, logProbs, finishReason } : { tokens, finishReason });
  if (maxTokens === 0) return done('length');

  // Capacity: the last generated token is never fed back, so prompt + maxTokens − 1 slots suffice.
  const { cache, logits } = await prefill(model, [prompt], { capacity: prompt.length + maxTokens - 1 || 1, lora: opts.lora ?? null, kvDtype: opts.kvDtype ?? model.kvDtype });
  try {
    const greedy = !((opts.temperature ?? 0) > 0);
    const params = greedy ? null : sampleParams(opts);
    // the logits row comes back when asked for, or when a greedy step must also give a log-prob
    const onCpu = opts.sampler === 'cpu' || (greedy && !!opts.logProbs);
    /** a token and its log-prob from a row read back */
    const fromRow = (row: Float32Array): [number, number] => {
      const t = sampleTokenExact(row, opts, rng);
      return [t, opts.logProbs ? rowLogProb(row, t) : NaN];
    };
    /** the reason to stop after this token, or null to go on */
    const accept = (tok: number, lp: number): FinishReason | null => {
      tokens.push(tok);
      logProbs?.push(lp);
      const keepGoing = opts.onToken?.(tok, tokens.length - 1, logProbs ? lp : undefined);
      if (eos.has(tok)) return 'eos';
      if (keepGoing === false) return 'stopped';
      return tokens.length >= maxTokens ? 'length' : null;
    };
    let [tok, lp] = fromRow(logits[0]!);
    let end = accept(tok, lp);
    if (onCpu) {
      while (!end) {
        [tok, lp] = fromRow((await step(cache, [tok]))[0]!);
        end = accept(tok, lp);
      }
      return done(end);
    }
    // GPU picks, chained: step n + 1 is queued (its input is step n's pick, still on the GPU) before step n's
    // token is read, so encoding a step overlaps the GPU's work on the one before. A stop decided on a token
    // leaves one step computed for nothing; the draws are taken one per step in order, as unchained steps take them.
    const submit = (input: number[] | 'picked') =>
      cache.submitStep(input, greedy ? 'argmax' : 'sample', greedy ? undefined : { params: params!, draws: Uint32Array.of(drawBits(rng())), logProbs: !!opts.logProbs });
    if (end) return done(end);
    let pending = await submit([tok]);
    for (;;) {
      // the step after `pending` is needed only if its token can still be within maxTokens
      const next = tokens.length + 2 <= maxTokens ? await submit('picked') : null;
      const out = await pending.read;
      end = accept(out[0]!, opts.logProbs ? new Float32Array(out.buffer, 4, 1)[0]! : NaN);
      if (end) {
        await next?.read; // its mapping must end before the cache is released
        return done(end);
      }
      pending = next!;
    }
  } finally {
    cache.release();
  }
}

/** log-softmax of `row` at `token`, float64 (as scoring's reference computes it) */
function rowLogProb(row: Float32Array, token: number): number {
  const m = row[argmax(row, 0, row.length)]!;
  let sum = 0;
  for (const x of row) sum += Math.exp(x - m);
  return row[token]! - m - Math.log(sum);
}
