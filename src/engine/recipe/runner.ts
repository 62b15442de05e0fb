/**
 * Runs a recipe on a model (the study's pipeline, REFERENCE-SEMANTICS.md §5): every stage trains a LoRA on the
 * current model and folds it in (fold-model.ts, the base's dtype), which gives the next stage's model; then SLERP of
 * the final model with the original (merge-step.ts), and one more SLERP per t of an optional t-sweep; then every
 * variant (original, after each stage, merged) on the benchmark and on held-out text for perplexity
 * (benchmark-step.ts), and the merge's synergy (summary.ts). DOM-free: the CLI and the worker differ only in
 * the VariantStore they pass (directories or cache entries) and how they read data files.
 *
 * Everything that can be refused is checked before the first step trains: every stage's data is read and tokenised
 * and the benchmark and perplexity text parsed. Events stream out in order (plan, per stage started/step…/finished,
 * per merge started/progress/finished, per variant benchmark started/item…/finished, summary). Cancel (the signal) stops between
 * stages and inside them (between optimizer steps, merged tensors and benchmark batches) with a CancelledError;
 * the output being written is dropped, outputs already committed stay.
 */
import type { ByteSink } from '../../io/bytes.ts';
import type { TrainMode } from '../train/memory.ts';
import { AlloyError, throwIfAborted } from '../../common/errors.ts';
import { parseModelConfig } from '../../io/config.ts';
import { readJson, readText, type ModelFiles } from '../../io/model-files.ts';
import { readPeftAdapter } from '../../io/peft.ts';
import { loadTokenizer } from '../../io/tokenizer.ts';
import { parseBenchmark } from '../../io/benchmarks/load.ts';
import type { MultipleChoiceItem } from '../eval/multiple-choice.ts';
import type { TextDocument } from '../../io/benchmarks/types.ts';
import { runningAccuracy } from '../eval/confidence.ts';
import type { SlerpAccelerator } from '../merge/run.ts';
import type { Method, Sequence } from '../../common/training-data.ts';
import type { StepEvent } from '../train/trainer.ts';
import { evaluateVariant } from './benchmark-step.ts';
import { writeFoldedModel } from './fold-model.ts';
import type { GpuEngineLike } from './gpu.ts';
import { MERGE_YAML, slerpWithOriginal } from './merge-step.ts';
import { recipeToYaml, type Recipe } from './spec.ts';
import { recipeSynergy, variantScore, type RecipeSynergy, type VariantScore } from './summary.ts';
import { stageSequences, stageTrainConfig, trainStage, unitsOf, writeAdapterFiles } from './train-stage.ts';
import { recipeVariants, sweepId, writeOutput, type VariantInfo, type VariantStore } from './variants.ts';

export { recipeVariants, sweepId, type VariantInfo };

export interface PlannedStage {
  name: string;
  method: Method;
  /** LoRA (folded into the model afterwards) or every parameter (full) */
  mode: TrainMode;
  steps: number;
  /** rows, or pairs for DPO/ORPO */
  units: number;
  lr: number;
}

export type RecipeEvent =
  | { type: 'plan'; recipe: string; stages: PlannedStage[]; variants: VariantInfo[]; benchmarkItems: number; perplexityDocs: number }
  | { type: 'stage-started'; index: number; name: string; method: Method; steps: number }
  | { type: 'step'; index: number; name: string; step: StepEvent }
  | { type: 'stage-finished'; index: number; name: string; steps: number; firstLoss: number; lastLoss: number; variant: VariantInfo; seconds: number }
  | { type: 'merge-started'; variant: VariantInfo }
  | { type: 'merge-progress'; done: number; total: number; tensor: string }
  | { type: 'merge-finished'; variant: VariantInfo; tensors: number; seconds: number }
  | { type: 'benchmark-started'; variant: VariantInfo; items: number }
  | { type: 'benchmark-item'; variant: string; index: number; correct: boolean; correctNorm: boolean; pred: number; answer: number; runningAcc: number; lo: number; hi: number }
  | { type: 'benchmark-finished'; score: VariantScore }
  | { type: 'summary'; summary: RecipeSummary };

export interface StageSummary {
  name: string;
  method: Method;
  steps: number;
  losses: number[];
  history: StepEvent[];
  variant: VariantInfo;
  /** the stage's adapter under the store (null: a full stage, whose result is the model itself) */
  adapterName: string | null;
  seconds: number;
}

/** Everything results.json holds (plain data; the files are in RecipeResult). */
export interface RecipeSummary {
  recipe: Recipe;
  recipeYaml: string;
  base: string;
  stepsScale: number;
  stages: StageSummary[];
  merge: { variant: VariantInfo; configYaml: string } | null;
  benchmark: { file: string; items: number } | null;
  perplexity: { file: string; docs: number } | null;
  /** every variant scored on the benchmark and/or the perplexity text (empty with neither) */
  variants: VariantScore[];
  /** null without a merge or a benchmark */
  synergy: { acc: RecipeSynergy; accNorm: RecipeSynergy } | null;
  seconds: number;
}

export interface RecipeResult {
  summary: RecipeSummary;
  /** files of every variant by id (the original included), and each stage's adapter by stage name */
  files: Map<string, ModelFiles>;
  adapters: Map<string, ModelFiles>;
}

export interface RunRecipeOptions {
  recipe: Recipe;
  base: ModelFiles;
  /** what variant labels start with, e.g. "stories260K" (default: the last path segment of base.label) */
  baseLabel?: string;
  gpu: GpuEngineLike;
  /** a data or benchmark path of the recipe → its text */
  readText: (path: string) => Promise<string>;
  store: VariantStore;
  /** multiplies every stage's steps (at least 1 step remains) */
  stepsScale?: number;
  accelerator?: SlerpAccelerator;
  /**
   * How the merge's mergekit_config.yml names the two models (default: their labels, which is how the Benchmark
   * panel finds a merge's parents; the CLI gives folder paths so `alloy merge` can rerun the YAML)
   */
  mergeRefs?: { original: string; tuned: string };
  onEvent?: (e: RecipeEvent) => void;
  signal?: AbortSignal;
  now?: () => number;
}

function readBenchmarkItems(text: string, file: string, limit: number | null): MultipleChoiceItem[] {
  const b = parseBenchmark(text, file);
  if (b.kind !== 'multiple-choice') throw new AlloyError(`${file}: the recipe's benchmark must be multiple-choice, this file is ${b.kind}`, { file, field: 'benchmark' });
  return limit === null ? b.items : b.items.slice(0, limit);
}

function readPerplexityDocs(text: string, file: string, limit: number | null): TextDocument[] {
  const b = parseBenchmark(text, file);
  if (b.kind !== 'perplexity') throw new AlloyError(`${file}: the recipe's perplexity text must be .txt or JSONL {text}, this file is ${b.kind}`, { file, field: 'perplexity' });
  return limit === null ? b.docs : b.docs.slice(0, limit);
}

export async function runRecipe(o: RunRecipeOptions): Promise<RecipeResult> {
  const { recipe, signal } = o;
  const now = o.now ?? (() => performance.now());
  const t0 = now();
  const emit = (e: RecipeEvent) => o.onEvent?.(e);
  const scale = o.stepsScale ?? 1;
  if (!(scale > 0)) throw new AlloyError(`steps scale must be > 0, got ${scale}`, { field: 'steps-scale' });
  if (recipe.merge && recipe.stages.length === 0) throw new AlloyError('a merge needs at least one training stage', { field: 'merge' });
  const baseLabel = o.baseLabel ?? (o.base.label.split('/').filter(Boolean).at(-1) || 'model');
  const config = parseModelConfig(await readJson(o.base, 'config.json'), `${o.base.label}/config.json`);
  const tok = await loadTokenizer(o.base);
  const variants = recipeVariants(recipe, baseLabel);

  // Refuse bad data before anything trains.
  const seqs: Sequence[][] = [];
  for (const s of recipe.stages) seqs.push(stageSequences(s, recipe, await o.readText(s.data), tok, config));
  const items = recipe.benchmark ? readBenchmarkItems(await o.readText(recipe.benchmark.file), recipe.benchmark.file, recipe.benchmark.limit) : [];
  const docs = recipe.perplexity ? readPerplexityDocs(await o.readText(recipe.perplexity.file), recipe.perplexity.file, recipe.perplexity.limit) : [];
  const trainConfigs = recipe.stages.map((s, i) => stageTrainConfig(s, recipe, unitsOf(s, seqs[i]!), scale));
  emit({
    type: 'plan',
    recipe: recipe.name,
    stages: recipe.stages.map((s, i) => ({ name: s.name, method: s.method, mode: s.mode, steps: trainConfigs[i]!.steps, units: unitsOf(s, seqs[i]!), lr: s.lr })),
    variants,
    benchmarkItems: items.length,
    perplexityDocs: docs.length,
  });

  const files = new Map<string, ModelFiles>([['base', o.base]]);
  const adapters = new Map<string, ModelFiles>();
  const stages: StageSummary[] = [];
  let current = o.base;
  for (const [i, s] of recipe.stages.entries()) {
    throwIfAborted(signal, 'recipe');
    const variant = variants[i + 1]!;
    const ts = now();
    emit({ type: 'stage-started', index: i, name: s.name, method: s.method, steps: trainConfigs[i]!.steps });
    // a full stage writes its model while the GPU copy is alive; a LoRA stage's adapter is folded afterwards
    let fullModel: ModelFiles | null = null;
    const saveFull = async (write: (openSink: (name: string) => Promise<ByteSink>) => Promise<void>) => {
      fullModel = await writeOutput(o.store, { kind: 'model', name: variant.name, label: variant.label }, write);
    };
    const trained = await trainStage({
      gpu: o.gpu,
      files: current,
      config,
      recipe,
      train: trainConfigs[i]!,
      seqs: seqs[i]!,
      onStep: (step) => emit({ type: 'step', index: i, name: s.name, step }),
      ...(signal ? { signal } : {}),
      ...(s.mode === 'full' ? { saveFull } : {}),
    });
    let adapterName: string | null = null;
    if (fullModel) current = fullModel;
    else {
      adapterName = `adapters/${variant.name}`;
      const adapterFiles = await writeOutput(o.store, { kind: 'adapter', name: adapterName, label: `${variant.label} adapter` }, (sink) => writeAdapterFiles(trained, sink));
      const adapter = await readPeftAdapter(adapterFiles);
      const base = current;
      current = await writeOutput(o.store, { kind: 'model', name: variant.name, label: variant.label }, (sink) => writeFoldedModel(base, adapter, sink, signal));
      adapters.set(s.name, adapterFiles);
    }
    files.set(variant.id, current);
    const losses = trained.result.history.map((h) => h.loss);
    const seconds = (now() - ts) / 1000;
    stages.push({ name: s.name, method: s.method, steps: trained.result.step, losses, history: trained.result.history, variant, adapterName, seconds });
    emit({ type: 'stage-finished', index: i, name: s.name, steps: trained.result.step, firstLoss: losses[0] ?? NaN, lastLoss: losses.at(-1) ?? NaN, variant, seconds });
  }

  let merge: RecipeSummary['merge'] = null;
  // The recipe's merge, then the t-sweep's: each a SLERP of the original with the last stage's model.
  const tuned = variants.filter((v) => v.kind === 'stage').at(-1);
  for (const variant of variants.filter((v) => v.kind === 'merge')) {
    throwIfAborted(signal, 'recipe');
    const tm = now();
    emit({ type: 'merge-started', variant });
    let tensors = 0;
    const merged = await writeOutput(o.store, { kind: 'model', name: variant.name, label: variant.label }, async (sink) => {
      const r = await slerpWithOriginal({
        original: o.base,
        tuned: current,
        refs: o.mergeRefs ?? { original: baseLabel, tuned: tuned!.label },
        t: variant.t ?? recipe.merge!.t,
        numLayers: config.numLayers,
        openSink: sink,
        ...(o.accelerator ? { accelerator: o.accelerator } : {}),
        onProgress: (p) => emit({ type: 'merge-progress', done: p.tensorsDone, total: p.tensorsTotal, tensor: p.tensor }),
        ...(signal ? { signal } : {}),
      });
      tensors = r.plan.tensors.length;
    });
    files.set(variant.id, merged);
    if (variant.id === 'SLERP') merge = { variant, configYaml: await readText(merged, MERGE_YAML) };
    emit({ type: 'merge-finished', variant, tensors, seconds: (now() - tm) / 1000 });
  }

  const scores: VariantScore[] = [];
  if (recipe.benchmark || recipe.perplexity) {
    for (const v of variants) {
      throwIfAborted(signal, 'recipe');
      emit({ type: 'benchmark-started', variant: v, items: items.length });
      const correct: boolean[] = [];
      const score = await evaluateVariant({
        gpu: o.gpu,
        files: files.get(v.id)!,
        items,
        docs,
        onItem: (r, index) => {
          correct.push(r.correct);
          const run = runningAccuracy(correct).at(-1)!;
          emit({ type: 'benchmark-item', variant: v.id, index, correct: r.correct, correctNorm: r.correctNorm, pred: r.pred, answer: r.answer, runningAcc: run.acc, lo: run.lo, hi: run.hi });
        },
        ...(signal ? { signal } : {}),
      });
      const vs = variantScore(v.id, v.label, v.kind, score.multipleChoice?.items ?? [], score.perplexity, v.t);
      scores.push(vs);
      emit({ type: 'benchmark-finished', score: vs });
    }
  }

  const lastStage = variants.filter((v) => v.kind === 'stage').at(-1);
  const synergy =
    recipe.merge && recipe.benchmark && lastStage
      ? {
          acc: recipeSynergy(scores, 'SLERP', ['base', lastStage.id], 'base', 'acc'),
          accNorm: recipeSynergy(scores, 'SLERP', ['base', lastStage.id], 'base', 'acc_norm'),
        }
      : null;
  const summary: RecipeSummary = {
    recipe,
    recipeYaml: recipeToYaml(recipe),
    base: baseLabel,
    stepsScale: scale,
    stages,
    merge,
    benchmark: recipe.benchmark ? { file: recipe.benchmark.file, items: items.length } : null,
    perplexity: recipe.perplexity ? { file: recipe.perplexity.file, docs: docs.length } : null,
    variants: scores,
    synergy,
    seconds: (now() - t0) / 1000,
  };
  emit({ type: 'summary', summary });
  return { summary, files, adapters };
}
