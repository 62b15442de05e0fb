// The worker's recipe job: runRecipe (engine/recipe) on a cached model with the worker's GPU. Folded stage models
// and the merge become cache entries (written like a merge: chunks under a partial record, manifest last, dropped
// on failure or cancel), so the Chat, Merge and Benchmark panels see them; adapters stay in memory (they are not
// models the cache lists). Data files are fetched from the site, as the other panels' built-in files are.
import { AlloyError } from '../common/errors.ts';
import type { ModelFiles } from '../io/model-files.ts';
import type { WeightCache } from '../io/cache/weight-cache.ts';
import { createEntryWriter } from '../io/cache/store.ts';
import { distinctLabel, modelRefs, shortName } from '../io/cache/names.ts';
import { parseRecipeYaml } from '../engine/recipe/spec.ts';
import { presetRecipe, RECIPE_DEFAULTS } from '../engine/recipe/presets.ts';
import { recipeVariants, runRecipe, type RecipeEvent } from '../engine/recipe/runner.ts';
import { memoryVariantStore, type VariantStore } from '../engine/recipe/variants.ts';
import { gpuEngine } from './gpu-state.ts';
import type { RecipeOutcome, RecipeRequest } from './recipe-api.ts';

export interface RecipeDeps {
  cache(): Promise<WeightCache>;
  files(id: string): Promise<ModelFiles>;
}

/**
 * Models into new cache entries, adapters into memory; `ids` maps each committed model's output name → entry id,
 * `labels` → the label the cache gave it (numbered when a recipe is run again: stories260K-CPT-2).
 */
function cacheStore(deps: RecipeDeps, ids: Map<string, string>, labels: Map<string, string>): VariantStore {
  const adapters = memoryVariantStore();
  return {
    async create(spec) {
      if (spec.kind === 'adapter') return adapters.create(spec);
      const w = await createEntryWriter(await deps.cache(), { label: spec.label, source: 'merge', repo: 'recipe', lineage: { stage: `recipe ${spec.name}` } });
      return {
        openSink: (name) => w.openSink(name),
        async commit() {
          const entry = await w.commit();
          ids.set(spec.name, entry.id);
          labels.set(spec.name, entry.label);
          return deps.files(entry.id);
        },
        abort: () => w.abort(),
      };
    },
  };
}

async function fetchText(base: string, path: string): Promise<string> {
  const url = new URL(path, base);
  let res: Response;
  try {
    res = await fetch(url);
  } catch (e) {
    throw new AlloyError(`could not fetch the recipe's ${path} (${(e as Error).message})`, { file: path });
  }
  if (!res.ok) throw new AlloyError(`could not fetch the recipe's ${path}: HTTP ${res.status}`, { file: path });
  return res.text();
}

export async function runRecipeJob(deps: RecipeDeps, req: RecipeRequest, signal: AbortSignal, onEvent?: (e: RecipeEvent) => void): Promise<RecipeOutcome> {
  const recipe = req.yaml ? parseRecipeYaml(req.yaml, RECIPE_DEFAULTS, 'recipe.yaml') : presetRecipe(req.preset ?? 'demo');
  if (req.benchmarkLimit !== undefined && recipe.benchmark) recipe.benchmark.limit = req.benchmarkLimit;
  const entry = (await (await deps.cache()).list()).find((m) => m.id === req.modelId);
  if (!entry) throw new AlloyError(`No cached model with id ${req.modelId} (it may have been deleted in another tab)`);
  const base = await deps.files(req.modelId);
  // variant labels start from the model's short name (alloy-demo/stories260K → stories260K-CPT, …; a model made
  // here by its label, not its "repo" merge/train/recipe)
  const baseLabel = shortName(entry);
  const ids = new Map<string, string>();
  const labels = new Map<string, string>();
  // The merge's YAML names the original by its ref (names.ts: YAML-safe) and the tuned model by the label the cache
  // will give it (numbered if an earlier run made one so named), so the Benchmark panel matches both parents.
  const cached = await (await deps.cache()).list();
  const tuned = recipeVariants(recipe, baseLabel).filter((v) => v.kind === 'stage').at(-1)?.label ?? baseLabel;
  const mergeRefs = { original: modelRefs(cached).get(entry.id) ?? entry.label, tuned: distinctLabel(tuned, cached.map((m) => m.label)) };
  const { summary } = await runRecipe({
    recipe,
    base,
    baseLabel,
    gpu: await gpuEngine(),
    readText: (path) => fetchText(req.dataBase, path),
    store: cacheStore(deps, ids, labels),
    ...(req.stepsScale !== undefined ? { stepsScale: req.stepsScale } : {}),
    mergeRefs,
    signal,
    ...(onEvent ? { onEvent } : {}),
  });
  const entries = recipeVariants(recipe, baseLabel).map((v) => ({ variant: v.id, label: v.kind === 'base' ? entry.label : (labels.get(v.name) ?? v.label), cacheId: v.kind === 'base' ? entry.id : ids.get(v.name)! }));
  return { summary, entries };
}
