/**
 * Scoring one variant, lm-evaluation-harness style (engine/eval), with the model loaded once for both measures:
 * the recipe's multiple-choice benchmark (each item's choices scored by summed log-probability with the generic
 * "Question: …\nAnswer:" prompt, the model's own tokenizer, BOS as `alloy eval` adds it, results streamed per item)
 * and the perplexity of held-out text (rolling windows over the model's length, as `alloy eval` on a .txt/{text}
 * file: what the training cost on general text).
 */
import { AlloyError } from '../../common/errors.ts';
import { parseModelConfig } from '../../io/config.ts';
import { readJson, type ModelFiles } from '../../io/model-files.ts';
import { openCheckpoint } from '../../io/safetensors/checkpoint.ts';
import { loadTokenizer } from '../../io/tokenizer.ts';
import type { TextDocument } from '../../io/benchmarks/types.ts';
import { encodePairs, evaluateMultipleChoice, type ItemResult, type MultipleChoiceItem, type MultipleChoiceScore } from '../eval/multiple-choice.ts';
import { evaluatePerplexity, type PerplexityScore } from '../eval/perplexity.ts';
import { loadModel, scoreContinuations } from '../model/index.ts';
import type { GpuEngineLike } from './gpu.ts';

export interface BenchmarkStepOptions {
  gpu: GpuEngineLike;
  files: ModelFiles;
  items: readonly MultipleChoiceItem[];
  /** held-out documents for perplexity (empty: none) */
  docs?: readonly TextDocument[];
  onItem?: (r: ItemResult, index: number) => void;
  /** after each perplexity document is scored */
  onDocument?: (index: number) => void;
  signal?: AbortSignal;
}

export interface VariantEvaluation {
  /** null without items */
  multipleChoice: MultipleChoiceScore | null;
  /** null without documents */
  perplexity: PerplexityScore | null;
}

export async function evaluateVariant(o: BenchmarkStepOptions): Promise<VariantEvaluation> {
  const config = parseModelConfig(await readJson(o.files, 'config.json'), `${o.files.label}/config.json`);
  const tok = await loadTokenizer(o.files);
  const model = await loadModel(o.gpu.ctx, o.gpu.kernels, o.gpu.pool, await openCheckpoint(o.files), config);
  try {
    const encode = (t: string) => tok.encode(t);
    const multipleChoice = o.items.length
      ? await evaluateMultipleChoice(o.items, async (reqs) => (await scoreContinuations(model, encodePairs(encode, reqs))).map((s) => s.logProb), {
          itemsPerBatch: 8,
          ...(o.onItem ? { onItem: o.onItem } : {}),
          ...(o.signal ? { signal: o.signal } : {}),
        })
      : null;
    let perplexity: PerplexityScore | null = null;
    if (o.docs?.length) {
      const prefix = tok.bosTokenId ?? tok.eosTokenIds[0];
      if (prefix === undefined) throw new AlloyError(`${o.files.label}: the tokenizer has neither a BOS nor an EOS token to start the first perplexity window with`);
      perplexity = await evaluatePerplexity(o.docs, async (reqs) => (await scoreContinuations(model, reqs)).map((s) => s.logProb), {
        encode: (t) => tok.encode(t, { addSpecialTokens: false }),
        prefixToken: prefix,
        maxLength: config.maxPositionEmbeddings,
        ...(o.onDocument ? { onDocument: (_r: unknown, i: number) => o.onDocument!(i) } : {}),
        ...(o.signal ? { signal: o.signal } : {}),
      });
    }
    return { multipleChoice, perplexity };
  } finally {
    model.dispose();
  }
}
