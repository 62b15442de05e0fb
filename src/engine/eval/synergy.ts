/**
 * Synergy of a merge, as the study reports it (Lu, Luu, Buehler 2024): the merged model's score against each of
 * its parents and against the parents' mean, and the relative improvement over a chosen baseline,
 * (score − baseline) / baseline. A merge shows synergy when it beats both parents, not only their mean (a linear
 * average of the parents' abilities would land near the mean). Per category too, when items carry one.
 * Pure: the models, their scores and their lineage come in as plain data.
 */
import type { MergeConfig } from '../merge/config.ts';
import { parseModelRef } from '../merge/config.ts';

/** The models a merge config names, base model first, each once ("model+lora" counts as its model). */
export function mergeParentRefs(config: MergeConfig): string[] {
  const refs = [config.baseModel, ...(config.models ?? []).map((m) => m.model), ...(config.slices ?? []).flatMap((s) => [s.baseModel, ...s.sources.map((x) => x.model)])];
  const out: string[] = [];
  for (const r of refs) {
    if (!r) continue;
    let model = r;
    try {
      model = parseModelRef(r).model;
    } catch {
      // an odd reference is kept whole; it will simply match no model
    }
    if (!out.includes(model)) out.push(model);
  }
  return out;
}

export interface LineageModel {
  id: string;
  label: string;
  repo: string;
  /** the model's YAML ref (io/cache/names.ts), when known */
  ref?: string;
  /** refs from the merge's config (repos or labels); null for a model that is not a merge */
  parents: string[] | null;
}

export interface Lineage {
  mergeId: string;
  /** ids of the run's models that the merge names as parents, in the config's order */
  parentIds: string[];
  /** refs the config names that are not among the run's models */
  missing: string[];
}

/**
 * Merges among `models` with at least one parent among them. A ref matches a model by its YAML ref (what the Merge
 * panel writes), its label (what recipes and older studio versions wrote) or its repo; a merge never parents itself.
 */
export function findLineages(models: readonly LineageModel[]): Lineage[] {
  const out: Lineage[] = [];
  for (const m of models) {
    if (!m.parents) continue;
    const parentIds: string[] = [];
    const missing: string[] = [];
    for (const ref of m.parents) {
      const other = models.filter((x) => x.id !== m.id);
      const hit = other.find((x) => x.ref === ref) ?? other.find((x) => x.label === ref) ?? other.find((x) => x.repo === ref);
      if (hit && !parentIds.includes(hit.id)) parentIds.push(hit.id);
      else if (!hit) missing.push(ref);
    }
    if (parentIds.length > 0) out.push({ mergeId: m.id, parentIds, missing });
  }
  return out;
}

/** (score − baseline) / baseline; null when the baseline is 0 (no relative change is defined). */
export function relativeImprovement(score: number, baseline: number): number | null {
  return baseline === 0 ? null : (score - baseline) / baseline;
}

export interface SynergyBar {
  id: string;
  label: string;
  kind: 'merge' | 'parent' | 'mean';
  score: number;
  /** (score − baseline) / baseline */
  relative: number | null;
}

export interface Synergy {
  mergeId: string;
  bars: SynergyBar[];
  parentMean: number;
  /** merge − parent, per parent in lineage order */
  overParents: number[];
  overMean: number;
  /** the merge beats every parent */
  synergistic: boolean;
}

/** The merge's score against its parents, their mean and a baseline score. `score` maps model id → score. */
export function synergyOf(lineage: Lineage, labels: ReadonlyMap<string, string>, score: ReadonlyMap<string, number>, baseline: number): Synergy {
  const s = (id: string) => {
    const v = score.get(id);
    if (v === undefined) throw new Error(`no score for model ${id}`);
    return v;
  };
  const merged = s(lineage.mergeId);
  const parents = lineage.parentIds.map(s);
  const parentMean = parents.reduce((a, b) => a + b, 0) / parents.length;
  const bar = (id: string, kind: SynergyBar['kind'], v: number, label = labels.get(id) ?? id): SynergyBar => ({ id, label, kind, score: v, relative: relativeImprovement(v, baseline) });
  return {
    mergeId: lineage.mergeId,
    bars: [
      ...lineage.parentIds.map((id, i) => bar(id, 'parent', parents[i]!)),
      ...(parents.length > 1 ? [bar('mean', 'mean', parentMean, 'parents’ mean')] : []),
      bar(lineage.mergeId, 'merge', merged),
    ],
    parentMean,
    overParents: parents.map((p) => merged - p),
    overMean: merged - parentMean,
    synergistic: parents.every((p) => merged > p),
  };
}

export interface CategoryScore {
  category: string;
  n: number;
  acc: number;
  accNorm: number;
}

/** Accuracy per category, categories sorted by name; items without one count under "(none)". Empty when no item has one. */
export function categoryScores(items: readonly { category?: string | undefined; correct: boolean; correctNorm: boolean }[]): CategoryScore[] {
  if (!items.some((i) => i.category !== undefined && i.category !== '')) return [];
  const groups = new Map<string, { n: number; k: number; kn: number }>();
  for (const i of items) {
    const c = i.category || '(none)';
    const g = groups.get(c) ?? { n: 0, k: 0, kn: 0 };
    g.n++;
    if (i.correct) g.k++;
    if (i.correctNorm) g.kn++;
    groups.set(c, g);
  }
  return [...groups]
    .sort((a, b) => (a[0] < b[0] ? -1 : a[0] > b[0] ? 1 : 0))
    .map(([category, g]) => ({ category, n: g.n, acc: g.k / g.n, accNorm: g.kn / g.n }));
}
