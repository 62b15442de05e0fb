// The pure parts of a training job, DOM- and GPU-free so they run in Node tests: a dataset file → token sequences
// for the method (io/datasets: readDataset detects the shape, rowsToSequences tokenises as TRL does), the held-out
// split, truncation to the sequence length, the numbers the Train panel shows, and the memory plan with its
// refusals (engine/train/memory.ts) against the adapter's limits.
import { AlloyError } from '../common/errors.ts';
import { formatBytes } from '../io/progress.ts';
import type { ModelConfig } from '../io/config.ts';
import { readDataset } from '../io/datasets/shapes.ts';
import { rowsToSequences, type JsonlRow, type RowOptions, type RowTokenizer } from '../io/datasets/rows.ts';
import { mulberry32 } from '../common/random.ts';
import { planTrainingMemory, type TrainMode } from '../engine/train/memory.ts';
import { isPaired, scoredTokenCount, takesParam, truncateSequence, type Method, type Sequence } from '../engine/train/objectives.ts';
import { trainConfig, type TrainConfig } from '../engine/train/trainer.ts';
import { TRAIN_DEFAULTS } from '../engine/train/defaults.ts';
import { pickShape } from '../engine/train/settings.ts';
import type { WeightDtype } from '../engine/model/weights.ts';
import { bindableBytes, logitRowsPerBlock } from '../engine/model/split.ts';
import type { DatasetStats, TrainDataFile, TrainPlan, TrainSettings } from './train-api.ts';

export interface PreparedData {
  train: Sequence[];
  val?: Sequence[];
  stats: DatasetStats;
}

const pairsOf = isPaired;

/**
 * Rows held out for validation: a seeded permutation (mulberry32(seed), Fisher–Yates from the end, as `alloy train
 * --val-split` does), its first ⌈fraction·n⌉ indices. A preference row stays one pair.
 */
export function splitRows<T>(rows: readonly T[], fraction: number, seed: number): { train: T[]; val: T[] } {
  if (!(fraction > 0 && fraction < 1)) throw new AlloyError(`the validation split must be in (0, 1), got ${fraction}`, { field: 'valSplit' });
  const rand = mulberry32(seed);
  const idx = rows.map((_, i) => i);
  for (let i = idx.length - 1; i > 0; i--) {
    const j = Math.floor(rand() * (i + 1));
    [idx[i], idx[j]] = [idx[j]!, idx[i]!];
  }
  const k = Math.ceil(fraction * rows.length);
  if (k >= rows.length) throw new AlloyError(`a validation split of ${fraction} leaves no training rows out of ${rows.length}`, { field: 'valSplit' });
  const held = new Set(idx.slice(0, k));
  return { train: rows.filter((_, i) => !held.has(i)), val: rows.filter((_, i) => held.has(i)) };
}

/** Sequences of `rows`, cut to seqLen keeping the start (TRL's keep_start); a row left with no scored token is named. */
function sequences(method: Method, rows: JsonlRow[], tok: RowTokenizer, cfg: Pick<ModelConfig, 'vocabSize'>, file: string, seqLen: number, opts: RowOptions) {
  const seqs = rowsToSequences(method, rows, tok, cfg.vocabSize, file, opts);
  let truncated = 0;
  const n = rows.length;
  const out = seqs.map((s, i) => {
    if (s.ids.length <= seqLen) return s;
    truncated++;
    const t = truncateSequence(s, seqLen);
    const row = rows[pairsOf(method) ? i % n : i]!;
    if (t.promptLen >= t.ids.length) {
      throw new AlloyError(
        `${file} line ${row.line}: its prompt is ${t.promptLen} tokens, so a sequence length of ${seqLen} leaves no answer token to train on; raise the sequence length or shorten the prompt`,
        { file, line: row.line, field: 'seqLen' },
      );
    }
    if (t.lossMask && scoredTokenCount(t) === 0) {
      throw new AlloyError(`${file} line ${row.line}: a sequence length of ${seqLen} cuts off every assistant turn, leaving nothing to train on; raise the sequence length`, {
        file,
        line: row.line,
        field: 'seqLen',
      });
    }
    return t;
  });
  // the sequence length that would cut none of them
  return { seqs: out, truncated, needed: Math.max(0, ...seqs.map((s) => s.ids.length)) };
}


export function prepareTrainData(
  data: TrainDataFile,
  valData: TrainDataFile | null,
  settings: Pick<TrainSettings, 'method' | 'seqLen' | 'valSplit' | 'seed'> & Partial<Pick<TrainSettings, 'assistantOnlyLoss'>>,
  tok: RowTokenizer,
  cfg: Pick<ModelConfig, 'vocabSize' | 'maxPositionEmbeddings'>,
): PreparedData {
  const { method, seqLen } = settings;
  if (!Number.isInteger(seqLen) || seqLen < 2) throw new AlloyError(`the sequence length must be a whole number ≥ 2, got ${seqLen}`, { field: 'seqLen' });
  if (seqLen > cfg.maxPositionEmbeddings) {
    throw new AlloyError(`the sequence length ${seqLen} is longer than the model reads (max_position_embeddings ${cfg.maxPositionEmbeddings})`, { field: 'seqLen' });
  }
  const ds = readDataset(data.text, data.name, { method });
  let rows = ds.rows;
  let valRows: JsonlRow[] = [];
  let valSource: DatasetStats['valSource'] = 'none';
  let valFile = data.name;
  if (valData) {
    valRows = readDataset(valData.text, valData.name, { method }).rows;
    valSource = 'file';
    valFile = valData.name;
  } else if (settings.valSplit > 0) {
    const s = splitRows(rows, settings.valSplit, settings.seed);
    rows = s.train;
    valRows = s.val;
    valSource = 'split';
  }
  // SFT only: the panel keeps the box's state across methods, so another method's run ignores it
  const opts = { assistantOnlyLoss: takesParam(method, 'assistantOnlyLoss') && (settings.assistantOnlyLoss ?? TRAIN_DEFAULTS.assistantOnlyLoss) };
  const train = sequences(method, rows, tok, cfg, data.name, seqLen, opts);
  const val = valRows.length ? sequences(method, valRows, tok, cfg, valFile, seqLen, opts).seqs : undefined;
  const tokens = train.seqs.reduce((s, x) => s + x.ids.length, 0);
  const stats: DatasetStats = {
    file: data.name,
    format: ds.format,
    shape: { id: ds.shape.id, label: ds.shape.label, fields: ds.shape.fields },
    rows: rows.length,
    tokens,
    scoredTokens: train.seqs.reduce((s, x) => s + scoredTokenCount(x), 0),
    longest: Math.max(...train.seqs.map((s) => s.ids.length)),
    truncated: train.truncated,
    needed: train.needed,
    valRows: valRows.length,
    valTokens: (val ?? []).reduce((s, x) => s + x.ids.length, 0),
    valSource,
  };
  return { train: train.seqs, ...(val ? { val } : {}), stats };
}

/** The safetensors dtype of the embedding → how the frozen weights sit on the GPU (16-bit stays 16-bit). */
export function weightDtypeOf(dtype: string): WeightDtype {
  return dtype === 'BF16' ? 'bf16' : dtype === 'F16' ? 'f16' : 'f32';
}

export interface Limits {
  maxStorageBufferBindingSize: number;
  maxBufferSize: number;
}

/** The memory plan of a step and whether it fits the adapter's limits and the budget. */
export function assessPlan(
  cfg: ModelConfig,
  dtype: WeightDtype,
  settings: Pick<TrainSettings, 'method' | 'microBatch' | 'rank' | 'targets'> & Partial<Pick<TrainSettings, 'recompute' | 'dropout' | 'mode'>>,
  stats: Pick<DatasetStats, 'rows' | 'longest'> & Partial<DatasetStats>,
  limits: Limits,
  budget: number,
  /** the base's tensors stored as ggml blocks (a quantised base: packed bytes), io/safetensors ggmlTypesOf */
  matrixTypes: Readonly<Record<string, string>> = {},
): TrainPlan {
  const pairs = pairsOf(settings.method);
  const rowsPerForward = Math.min(settings.microBatch, stats.rows) * (pairs ? 2 : 1);
  const seqLen = stats.longest;
  const recompute = settings.recompute ?? false;
  const mode: TrainMode = settings.mode === 'full' ? 'full' : 'lora';
  const opts = { dtype, matrixTypes, rows: rowsPerForward, seqLen, r: settings.rank, targets: settings.targets, method: settings.method, dropout: (settings.dropout ?? 0) > 0, mode };
  const binding = Math.min(bindableBytes(limits.maxStorageBufferBindingSize), limits.maxBufferSize);
  // The plan splits vocabulary tables and logits to fit the binding as the loaded model does (model/split.ts).
  const memory = planTrainingMemory(cfg, { ...opts, recompute, maxBindingBytes: binding });
  const other = planTrainingMemory(cfg, { ...opts, recompute: !recompute, maxBindingBytes: binding });
  const otherMode = planTrainingMemory(cfg, { ...opts, recompute, maxBindingBytes: binding, mode: mode === 'full' ? 'lora' : 'full' });
  const BT = rowsPerForward * seqLen;
  const blockRows = Math.min(BT, logitRowsPerBlock(cfg.vocabSize, binding));
  const blocks = Math.ceil(BT / blockRows);
  const widest = Math.max(cfg.intermediateSize, cfg.hiddenSize, cfg.numHeads * cfg.headDim);
  const candidates = [
    { what: blocks > 1 ? `logits block [${blockRows}, ${cfg.vocabSize}] (1 of ${blocks})` : `logits [${rowsPerForward}×${seqLen}, ${cfg.vocabSize}]`, bytes: blockRows * cfg.vocabSize * 4 },
    { what: `activation [${rowsPerForward}×${seqLen}, ${widest}]`, bytes: BT * widest * 4 },
  ];
  const largestBuffer = candidates.reduce((a, b) => (b.bytes > a.bytes ? b : a));
  let refusal: string | null = null;
  if (largestBuffer.bytes > binding) {
    refusal =
      `one training step needs a buffer of ${formatBytes(largestBuffer.bytes)} (${largestBuffer.what}), more than this GPU binds at once ` +
      `(${formatBytes(binding)}): lower the micro-batch or the sequence length`;
  } else if (memory.poolTotal > budget && mode === 'full') {
    const lora = otherMode.poolTotal <= budget ? `; LoRA (r ${settings.rank}) would fit: ${formatBytes(otherMode.poolTotal)}` : '';
    refusal =
      `full fine-tuning needs ${formatBytes(memory.poolTotal)} of GPU memory (every parameter's gradient and AdamW state, and f32 master copies of 16-bit weights), ` +
      `more than the budget of ${formatBytes(budget)}${lora}: train a LoRA adapter instead, lower the micro-batch or the sequence length${recompute ? '' : ', turn on per-layer recomputation'}, or raise the budget if your GPU has the memory`;
  } else if (memory.poolTotal > budget) {
    refusal =
      `the plan needs ${formatBytes(memory.poolTotal)} of GPU memory, more than the budget of ${formatBytes(budget)}: lower the micro-batch, ` +
      `the sequence length or the rank, adapt fewer projections${recompute ? '' : ', turn on per-layer recomputation'}, or raise the budget if your GPU has the memory`;
  }
  return {
    dataset: stats as DatasetStats,
    memory,
    otherRecomputeTotal: other.poolTotal,
    mode,
    otherModeTotal: otherMode.poolTotal,
    optimizerBytes: memory.optimizer,
    activationBytes: memory.kept + memory.backward + memory.head + memory.logits,
    rowsPerForward,
    seqLen,
    limits: { ...limits, budget },
    largestBuffer,
    refusal,
  };
}

/**
 * The Trainer's config from the panel's settings: every field both records hold (the schema's 'config' fields,
 * settings.ts) copied by key, then what differs: no validation without validation rows, and the objective's
 * options, a nested TRL-shaped record the checkpoint stores as it is (beta always, as every stored run has it; DPO's
 * smoothing only where the objective reads it, so a resume with another ε is refused; `??`: a run record stored
 * before the setting existed lacks it).
 */
export function configOf(s: TrainSettings, hasVal: boolean): TrainConfig {
  return trainConfig({
    ...(pickShape('config', s) as Pick<TrainConfig, 'method' | 'steps'>),
    evalEvery: hasVal ? s.evalEvery : 0,
    objective: { beta: s.beta, ...(takesParam(s.method, 'labelSmoothing') ? { labelSmoothing: s.labelSmoothing ?? TRAIN_DEFAULTS.labelSmoothing } : {}) },
  });
}
