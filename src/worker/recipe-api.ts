// The Recipe panel's side of the worker API (kept beside api.ts so the panels' APIs stay separate): run a recipe
// (a preset or YAML) on a cached model, every variant saved as a cache entry, events streamed.
import type { RecipeEvent, RecipeSummary } from '../engine/recipe/runner.ts';
import type { PresetName } from '../engine/recipe/presets.ts';

export interface RecipeRequest {
  /** the cached model the recipe starts from */
  modelId: string;
  /** a named preset, or the YAML of a recipe (yaml wins) */
  preset?: PresetName;
  yaml?: string;
  /** multiplies every stage's steps (the panel's "steps" knob; tests use a small one) */
  stepsScale?: number;
  /** score only the first N benchmark items */
  benchmarkLimit?: number;
  /** where the recipe's data paths resolve (the site's base URL, e.g. location.origin + BASE_URL) */
  dataBase: string;
}

export interface RecipeVariantEntry {
  /** variant id in the summary ("base", a stage name, "SLERP") */
  variant: string;
  /** the cache entry holding it (the original model's own entry for "base") */
  cacheId: string;
  label: string;
}

export interface RecipeOutcome {
  summary: RecipeSummary;
  entries: RecipeVariantEntry[];
}

export type RecipeEventCallback = (e: RecipeEvent) => void;
