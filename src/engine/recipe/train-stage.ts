/**
 * One training stage of a recipe: the stage's rows as token sequences for the current model, a fresh PEFT-initialised
 * LoRA trained on them by the Trainer, the adapter read back as a PEFT folder's two files; or (mode full) every
 * parameter trained and the model itself written out (train/full-model.ts) before the GPU copy goes. The GPU model lives only
 * for the stage (loaded from the current model's files, disposed at the end), so one stage's memory never adds to
 * the next one's.
 */
import { AlloyError, CancelledError } from '../../common/errors.ts';
import type { ModelConfig } from '../../io/config.ts';
import { readDataset } from '../../io/datasets/shapes.ts';
import { rowsToSequences, type RowTokenizer } from '../../io/datasets/rows.ts';
import type { ModelFiles } from '../../io/model-files.ts';
import { ADAPTER_CONFIG, ADAPTER_WEIGHTS } from '../../io/peft.ts';
import { openCheckpoint } from '../../io/safetensors/checkpoint.ts';
import { writeSafetensors, type TensorToWrite } from '../../io/safetensors/writer.ts';
import type { ByteSink } from '../../io/bytes.ts';
import { createLora, peftConfigJson, readLoraTensors } from '../lora/adapter.ts';
import { loadModel } from '../model/index.ts';
import { isPaired, takesParam, truncateSequence, type Sequence } from '../train/objectives.ts';
import { TrainControl, Trainer, trainConfig, type StepEvent, type TrainConfig, type TrainResult } from '../train/trainer.ts';
import type { GpuEngineLike } from './gpu.ts';
import { createFullParams } from '../train/full-params.ts';
import { writeFullModel } from '../train/full-model.ts';
import { stageSteps, stageWarmup, type Recipe, type StageSpec } from './spec.ts';

/**
 * The stage's rows (the first `rows` when set) as sequences of at most seq_len tokens: TRL's collators truncate
 * keep_start, so the prompt stays and the end of the answer goes (as `alloy train --seq-len` does).
 */
export function stageSequences(stage: StageSpec, recipe: Recipe, text: string, tok: RowTokenizer, config: ModelConfig): Sequence[] {
  const ds = readDataset(text, stage.data, { method: stage.method });
  const rows = stage.rows === null ? ds.rows : ds.rows.slice(0, stage.rows);
  const seqLen = Math.min(stage.seqLen ?? recipe.seqLen, config.maxPositionEmbeddings);
  return rowsToSequences(stage.method, rows, tok, config.vocabSize, stage.data).map((s) => {
    const t = truncateSequence(s, seqLen);
    if (t.promptLen >= t.ids.length) throw new AlloyError(`${stage.data}: seq_len ${seqLen} leaves a row with no answer token (stage ${stage.name})`, { file: stage.data, field: 'seq_len' });
    return t;
  });
}

/** Training units: rows, or chosen/rejected pairs for paired objectives (sequences hold all chosen, then all rejected). */
export function unitsOf(stage: StageSpec, seqs: readonly Sequence[]): number {
  return isPaired(stage.method) ? seqs.length / 2 : seqs.length;
}

export function stageTrainConfig(stage: StageSpec, recipe: Recipe, units: number, stepsScale = 1): TrainConfig {
  const steps = stageSteps(stage, units, stepsScale);
  return trainConfig({
    method: stage.method,
    steps,
    lr: stage.lr,
    schedule: stage.schedule,
    warmupSteps: stageWarmup(stage, steps),
    weightDecay: stage.weightDecay,
    maxGradNorm: stage.maxGradNorm,
    microBatch: stage.microBatch,
    accum: stage.accum,
    seed: recipe.seed,
    objective: { beta: stage.beta, ...(takesParam(stage.method, 'labelSmoothing') ? { labelSmoothing: stage.labelSmoothing } : {}) },
  });
}

export interface TrainedStage {
  result: TrainResult;
  /** PEFT adapter_model.safetensors tensors (F32) and adapter_config.json (empty for a full stage) */
  adapterTensors: TensorToWrite[];
  adapterConfig: Record<string, unknown>;
}

export interface TrainStageOptions {
  gpu: GpuEngineLike;
  files: ModelFiles;
  config: ModelConfig;
  recipe: Recipe;
  train: TrainConfig;
  seqs: Sequence[];
  onStep?: (e: StepEvent) => void;
  signal?: AbortSignal;
  /** a full stage: stores the trained model through the writer it is given, while the GPU copy is alive */
  saveFull?: (write: (openSink: (name: string) => Promise<ByteSink>) => Promise<void>) => Promise<void>;
}

export async function trainStage(o: TrainStageOptions): Promise<TrainedStage> {
  const { gpu, recipe } = o;
  const model = await loadModel(gpu.ctx, gpu.kernels, gpu.pool, await openCheckpoint(o.files), o.config);
  const full = o.saveFull ? createFullParams(model) : null;
  const lora = full ? null : createLora(model, { r: recipe.lora.rank, alpha: recipe.lora.alpha, targets: recipe.lora.targets, seed: recipe.seed });
  const trainer = new Trainer(model, full ?? lora!, o.train, { train: o.seqs }, { onEvent: (e) => (e.type === 'step' ? o.onStep?.(e) : undefined) });
  const control = new TrainControl();
  const onAbort = () => control.cancel();
  o.signal?.addEventListener('abort', onAbort, { once: true });
  if (o.signal?.aborted) control.cancel();
  try {
    const result = await trainer.run(control);
    if (result.status === 'cancelled') throw new CancelledError('recipe');
    if (result.status === 'nan') throw new AlloyError(result.message ?? `training stopped at step ${result.step}: non-finite loss`);
    if (full) {
      await o.saveFull!((openSink) => writeFullModel(o.files, model, full, openSink, o.signal));
      return { result, adapterTensors: [], adapterConfig: {} };
    }
    return { result, adapterTensors: await readLoraTensors(model, lora!, 'params'), adapterConfig: peftConfigJson(lora!, o.files.label) };
  } finally {
    o.signal?.removeEventListener('abort', onAbort);
    trainer.dispose();
    lora?.dispose();
    full?.dispose();
    model.dispose();
  }
}

/** A PEFT folder's files through a sink factory. */
export async function writeAdapterFiles(t: TrainedStage, openSink: (name: string) => Promise<ByteSink>): Promise<void> {
  await writeSafetensors(await openSink(ADAPTER_WEIGHTS), t.adapterTensors, { format: 'pt' });
  const sink = await openSink(ADAPTER_CONFIG);
  await sink.write(new TextEncoder().encode(JSON.stringify(t.adapterConfig, null, 2) + '\n'));
  await sink.close();
}
