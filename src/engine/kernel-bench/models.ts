/**
 * The model shapes the kernel bench measures (issue 15): SmolLM2's three sizes, the models students load most,
 * as their Hugging Face config.json sets them. The benches that build synthetic checkpoints (bench/synthetic.ts)
 * read the same table.
 */
import { AlloyError } from '../../common/errors.ts';

export interface BenchModel {
  name: string;
  hidden: number;
  intermediate: number;
  layers: number;
  heads: number;
  kvHeads: number;
  headDim: number;
  vocab: number;
}

export const SMOLLM2_MODELS: readonly BenchModel[] = [
  { name: 'SmolLM2-135M', hidden: 576, intermediate: 1536, layers: 30, heads: 9, kvHeads: 3, headDim: 64, vocab: 49152 },
  { name: 'SmolLM2-360M', hidden: 960, intermediate: 2560, layers: 32, heads: 15, kvHeads: 5, headDim: 64, vocab: 49152 },
  { name: 'SmolLM2-1.7B', hidden: 2048, intermediate: 8192, layers: 24, heads: 32, kvHeads: 32, headDim: 64, vocab: 49152 },
];

/** HF config.json fields of a bench model (the ones that set shapes). */
export function benchModelConfigFields(m: BenchModel): Record<string, number> {
  return {
    hidden_size: m.hidden,
    intermediate_size: m.intermediate,
    num_hidden_layers: m.layers,
    num_attention_heads: m.heads,
    num_key_value_heads: m.kvHeads,
    vocab_size: m.vocab,
  };
}

/** A model by its name or the size after "SmolLM2-" (135M, 360m, 1.7B); the error lists what exists. */
export function findBenchModel(name: string, models: readonly BenchModel[] = SMOLLM2_MODELS): BenchModel {
  const key = name.trim().toLowerCase();
  const m = models.find((x) => x.name.toLowerCase() === key || x.name.toLowerCase().endsWith(`-${key}`));
  if (!m) throw new AlloyError(`no bench model "${name}" (known: ${models.map((x) => x.name).join(', ')})`);
  return m;
}
