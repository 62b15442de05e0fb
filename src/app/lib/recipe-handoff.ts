// The Recipe panel's hand-off, both ways, on the main thread (no GPU, no model: text files only).
// Out: the recipe as the cluster folder (engine/recipe/cluster-export.ts), its data fetched from the site, as a
// store-only .zip (io/zip.ts: no dependency, works offline) or written into a picked folder (File System Access).
// In: a recipe file — Alloy's recipe YAML or a TRL / alignment-handbook stage config — read into a Recipe, with the
// warnings of everything that did not carry over.
import { AlloyError } from '../../common/errors.ts';
import { exportCluster, importTrlStageYaml, mergeYamlIntoRecipe, slug, type ExportFile } from '../../engine/recipe/cluster-export.ts';
import { RECIPE_DEFAULTS } from '../../engine/recipe/presets.ts';
import { parseRecipeYaml, type Recipe } from '../../engine/recipe/spec.ts';
import { parseYamlDocument } from '../../io/yaml.ts';
import { zipStore } from '../../io/zip.ts';
import type { FolderFile } from './save-file.ts';

/** A recipe path → its text, fetched relative to the site (where the demo data and benchmarks live). */
export function siteReader(base: string): (path: string) => Promise<string> {
  return async (path) => {
    const url = new URL(path, base);
    const res = await fetch(url);
    if (!res.ok) throw new AlloyError(`recipe data ${path}: ${res.status} ${res.statusText} from ${url.href}`, { file: path });
    return res.text();
  };
}

export interface HandoffFolder {
  /** the folder name the zip (or the picked folder) holds it under */
  name: string;
  files: ExportFile[];
}

export async function handoffFolder(recipe: Recipe, baseModel: string, dataBase: string): Promise<HandoffFolder> {
  const files = await exportCluster({ recipe, baseModel: baseModel.trim(), readText: siteReader(dataBase) });
  return { name: `${slug(recipe.name)}-cluster`, files };
}

export function handoffZip(f: HandoffFolder): { blob: Blob; fileName: string } {
  const enc = new TextEncoder();
  const bytes = zipStore(f.files.map((x) => ({ name: `${f.name}/${x.path}`, data: enc.encode(x.text) })));
  return { blob: new Blob([bytes], { type: 'application/zip' }), fileName: `${f.name}.zip` };
}

export function handoffFolderFiles(f: HandoffFolder): FolderFile[] {
  return f.files.map((x) => ({ path: x.path, blob: new Blob([x.text], { type: 'text/plain' }) }));
}

export interface LoadedRecipe {
  recipe: Recipe;
  /** what the file was: Alloy's recipe YAML, a TRL stage config, or a mergekit YAML (the merge of the recipe shown) */
  kind: 'alloy' | 'trl' | 'mergekit';
  warnings: string[];
  /** the model a TRL config names (model_name_or_path) */
  baseModel: string | null;
}

/**
 * A dropped or picked recipe file: Alloy's recipe YAML (it has stages), a mergekit SLERP YAML (it has merge_method:
 * its t becomes the merge of `current`, the recipe shown) or a TRL stage config (a one-stage recipe).
 */
export function loadRecipeText(text: string, fileName: string, current: Recipe): LoadedRecipe {
  const value: unknown = parseYamlDocument(text, fileName).doc.toJS();
  if (typeof value === 'object' && value !== null && 'stages' in value) return { recipe: parseRecipeYaml(text, RECIPE_DEFAULTS, fileName), kind: 'alloy', warnings: [], baseModel: null };
  if (typeof value === 'object' && value !== null && 'merge_method' in value) return { ...mergeYamlIntoRecipe(current, text, fileName), kind: 'mergekit' };
  const r = importTrlStageYaml(text, fileName);
  return { recipe: r.recipe, kind: 'trl', warnings: r.warnings, baseModel: r.baseModel };
}
