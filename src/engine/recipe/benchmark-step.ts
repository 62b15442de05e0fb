/**
 * Scoring one variant on the recipe's multiple-choice benchmark, lm-evaluation-harness style (engine/eval): the
 * model loaded from its files for the run, each item's choices scored by summed log-probability with the generic
 * "Question: …\nAnswer:" prompt, the model's own tokenizer (BOS as `alloy eval` adds it), results streamed per item.
 */
import { parseModelConfig } from '../../io/config.ts';
import { readJson, type ModelFiles } from '../../io/model-files.ts';
import { openCheckpoint } from '../../io/safetensors/checkpoint.ts';
import { loadTokenizer } from '../../io/tokenizer.ts';
import { encodePairs, evaluateMultipleChoice, type ItemResult, type MultipleChoiceItem, type MultipleChoiceScore } from '../eval/multiple-choice.ts';
import { loadModel, scoreContinuations } from '../model/index.ts';
import type { GpuEngineLike } from './gpu.ts';

export interface BenchmarkStepOptions {
  gpu: GpuEngineLike;
  files: ModelFiles;
  items: readonly MultipleChoiceItem[];
  onItem?: (r: ItemResult, index: number) => void;
  signal?: AbortSignal;
}

export async function benchmarkVariant(o: BenchmarkStepOptions): Promise<MultipleChoiceScore> {
  const config = parseModelConfig(await readJson(o.files, 'config.json'), `${o.files.label}/config.json`);
  const tok = await loadTokenizer(o.files);
  const model = await loadModel(o.gpu.ctx, o.gpu.kernels, o.gpu.pool, await openCheckpoint(o.files), config);
  try {
    const encode = (t: string) => tok.encode(t);
    return await evaluateMultipleChoice(o.items, async (reqs) => (await scoreContinuations(model, encodePairs(encode, reqs))).map((s) => s.logProb), {
      itemsPerBatch: 8,
      ...(o.onItem ? { onItem: o.onItem } : {}),
      ...(o.signal ? { signal: o.signal } : {}),
    });
  } finally {
    model.dispose();
  }
}
