// The Recipe panel's state, kept at the app level so a run goes on streaming while another tab is shown: the plan,
// each stage's loss curve (the Trainer's step events as they came), the merge's progress, each variant's scores as
// its items stream in, and the final summary with the synergy. Pure bookkeeping of the worker's RecipeEvents.
import type { SerializedError } from '../../common/errors.ts';
import type { PlannedStage, RecipeEvent, RecipeSummary, VariantInfo } from '../../engine/recipe/runner.ts';
import type { StepEvent } from '../../engine/train/trainer.ts';
import type { BenchmarkRun } from '../../common/benchmark-run.ts';
import type { PresetName } from '../../engine/recipe/presets.ts';
import type { RecipeOutcome, RecipeRequest } from '../../worker/recipe-api.ts';
import { toSerialized, type Job, type StudioClient } from './studio-client.svelte.ts';
import { recipeToYaml } from '../../engine/recipe/spec.ts';
import type { LoadedRecipe } from './recipe-handoff.ts';

export type RecipeStatus = 'idle' | 'running' | 'cancelling' | 'done' | 'cancelled' | 'failed';
export type StageStatus = 'waiting' | 'training' | 'done';

export interface LiveStage extends PlannedStage {
  status: StageStatus;
  history: StepEvent[];
  variant: VariantInfo | null;
}

export interface LiveVariant {
  info: VariantInfo;
  /** items scored so far, correct so far */
  done: number;
  correct: number;
  correctNorm: number;
  /** perplexity per token of the recipe's held-out text, once scored (null: none yet, or no text) */
  perplexity: number | null;
  status: 'waiting' | 'scoring' | 'done';
}

export interface RecipeForm {
  modelId: string;
  preset: PresetName;
  stepsScale: number;
  /** 0 = every item */
  benchmarkLimit: number;
}

/** The recipe's results as a BenchmarkRun, so the Benchmark panel's SynergyView draws them unchanged. */
export function summaryAsRun(s: RecipeSummary, entries: RecipeOutcome['entries']): BenchmarkRun {
  const label = (id: string) => entries.find((e) => e.variant === id)?.label ?? id;
  const lastStage = s.stages.at(-1)?.name;
  return {
    id: `recipe-${Date.now()}`,
    createdAt: Date.now(),
    seconds: s.seconds,
    benchmark: { name: s.benchmark?.file ?? 'benchmark', source: 'built-in', format: 'jsonl', items: s.benchmark?.items ?? 0 },
    options: { limit: s.recipe.benchmark?.limit ?? null, fewShot: 0, chatTemplate: false },
    models: s.variants.map((v) => ({
      model: {
        id: entries.find((e) => e.variant === v.id)?.cacheId ?? v.id,
        label: label(v.id),
        repo: label(v.id),
        parents: v.kind === 'merge' && lastStage ? [label('base'), label(lastStage)] : null,
      },
      items: v.items.map((it) => ({
        index: it.index,
        question: '',
        ...(it.category !== undefined ? { category: it.category } : {}),
        context: '',
        continuations: [],
        logprobs: it.logProbs,
        answer: it.answer,
        pred: it.pred,
        predNorm: it.predNorm,
        correct: it.correct,
        correctNorm: it.correctNorm,
      })),
    })),
  };
}

export class RecipeSession {
  form = $state<RecipeForm>({ modelId: '', preset: 'demo', stepsScale: 1, benchmarkLimit: 0 });
  /** a recipe loaded from a file (Alloy YAML or a TRL stage config), run instead of the preset while set */
  loaded = $state<(LoadedRecipe & { fileName: string }) | null>(null);
  status = $state<RecipeStatus>('idle');
  error = $state<SerializedError | null>(null);
  recipeName = $state('');
  stages = $state<LiveStage[]>([]);
  merge = $state<{ variant: VariantInfo | null; done: number; total: number; finished: boolean }>({ variant: null, done: 0, total: 0, finished: false });
  variants = $state<LiveVariant[]>([]);
  benchmarkItems = $state(0);
  perplexityDocs = $state(0);
  summary = $state<RecipeSummary | null>(null);
  outcome = $state<RecipeOutcome | null>(null);
  #job: Job<RecipeOutcome> | null = null;

  constructor(private readonly client: StudioClient) {}

  get running(): boolean {
    return this.status === 'running' || this.status === 'cancelling';
  }

  #reset(): void {
    this.error = null;
    this.recipeName = '';
    this.stages = [];
    this.merge = { variant: null, done: 0, total: 0, finished: false };
    this.variants = [];
    this.benchmarkItems = 0;
    this.perplexityDocs = 0;
    this.summary = null;
    this.outcome = null;
  }

  on(e: RecipeEvent): void {
    switch (e.type) {
      case 'plan':
        this.recipeName = e.recipe;
        this.stages = e.stages.map((s) => ({ ...s, status: 'waiting', history: [], variant: null }));
        this.variants = e.variants.map((info) => ({ info, done: 0, correct: 0, correctNorm: 0, perplexity: null, status: 'waiting' }));
        this.benchmarkItems = e.benchmarkItems;
        this.perplexityDocs = e.perplexityDocs;
        break;
      case 'stage-started':
        this.stages[e.index]!.status = 'training';
        break;
      case 'step':
        this.stages[e.index]!.history.push(e.step);
        break;
      case 'stage-finished':
        this.stages[e.index]!.status = 'done';
        this.stages[e.index]!.variant = e.variant;
        break;
      case 'merge-started':
        this.merge = { variant: e.variant, done: 0, total: 0, finished: false };
        break;
      case 'merge-progress':
        this.merge.done = e.done;
        this.merge.total = e.total;
        break;
      case 'merge-finished':
        this.merge.finished = true;
        break;
      case 'benchmark-started': {
        const v = this.variants.find((x) => x.info.id === e.variant.id);
        if (v) v.status = 'scoring';
        break;
      }
      case 'benchmark-item': {
        const v = this.variants.find((x) => x.info.id === e.variant);
        if (v) {
          v.done++;
          if (e.correct) v.correct++;
          if (e.correctNorm) v.correctNorm++;
        }
        break;
      }
      case 'benchmark-finished': {
        const v = this.variants.find((x) => x.info.id === e.score.id);
        if (v) {
          v.status = 'done';
          v.perplexity = e.score.perplexity?.tokenPerplexity ?? null;
        }
        break;
      }
      case 'summary':
        this.summary = e.summary;
        break;
    }
  }

  async run(dataBase: string): Promise<void> {
    if (this.running || !this.form.modelId) return;
    this.#reset();
    this.status = 'running';
    const req: RecipeRequest = {
      modelId: this.form.modelId,
      ...(this.loaded ? { yaml: recipeToYaml(this.loaded.recipe) } : { preset: this.form.preset }),
      stepsScale: this.form.stepsScale,
      ...(this.form.benchmarkLimit > 0 ? { benchmarkLimit: this.form.benchmarkLimit } : {}),
      dataBase,
    };
    const job = this.client.runRecipe(req, (e) => this.on(e));
    this.#job = job;
    try {
      this.outcome = await job.done;
      this.summary = this.outcome.summary;
      this.status = 'done';
    } catch (e) {
      const err = toSerialized(e);
      if (err.name === 'CancelledError') this.status = 'cancelled';
      else {
        this.error = err;
        this.status = 'failed';
      }
    } finally {
      this.#job = null;
    }
  }

  cancel(): void {
    if (!this.#job || this.status !== 'running') return;
    this.status = 'cancelling';
    this.client.cancelJob(this.#job.id);
  }
}
