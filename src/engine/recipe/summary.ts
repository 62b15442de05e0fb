/**
 * A recipe's results as plain data: each variant's accuracy and acc_norm with 95% Wilson intervals and lm-eval's
 * stderr (eval/confidence.ts), recomputed from the per-item results it keeps, and the merge's synergy as the study
 * reports it (eval/synergy.ts): the merged model against each parent (the original and the final stage's model)
 * and their mean, and every variant's relative improvement over the original, (score − base) / base.
 */
import { summarize, type AccuracySummary } from '../eval/confidence.ts';
import type { ItemResult } from '../eval/multiple-choice.ts';
import type { PerplexityScore } from '../eval/perplexity.ts';
import { relativeImprovement, synergyOf, type Synergy } from '../eval/synergy.ts';

export type VariantKind = 'base' | 'stage' | 'merge';

/** One item's scores as a recipe keeps them: its ItemResult without the scored strings, and its position. */
export type VariantItem = { index: number } & Omit<ItemResult, 'context' | 'continuations'>;

/** A variant's perplexity on the recipe's held-out text (lm-eval's wikitext metrics; eval/perplexity.ts). */
export interface VariantPerplexity {
  /** documents */
  n: number;
  tokens: number;
  wordPerplexity: number;
  bytePerplexity: number;
  bitsPerByte: number;
  /** per token of this model's tokenizer: comparable between the variants of one recipe */
  tokenPerplexity: number;
}

export interface VariantScore {
  /** "base", a stage's name, "SLERP", or a sweep's "SLERP-t0.25" */
  id: string;
  label: string;
  kind: VariantKind;
  /** a merge's scalar t when it is a point of the t-sweep */
  t?: number;
  /** null when the recipe has no perplexity text */
  perplexity: VariantPerplexity | null;
  acc: AccuracySummary;
  accNorm: AccuracySummary;
  items: VariantItem[];
}

export function variantPerplexity(p: PerplexityScore): VariantPerplexity {
  return { n: p.n, tokens: p.tokens, wordPerplexity: p.wordPerplexity, bytePerplexity: p.bytePerplexity, bitsPerByte: p.bitsPerByte, tokenPerplexity: p.tokenPerplexity };
}

export function variantScore(
  id: string,
  label: string,
  kind: VariantKind,
  items: readonly ItemResult[],
  perplexity: PerplexityScore | null = null,
  t?: number,
): VariantScore {
  return {
    id,
    label,
    kind,
    ...(t !== undefined ? { t } : {}),
    perplexity: perplexity ? variantPerplexity(perplexity) : null,
    acc: summarize(items.map((r) => r.correct)),
    accNorm: summarize(items.map((r) => r.correctNorm)),
    items: items.map((r, index) => ({
      index,
      ...(r.category !== undefined ? { category: r.category } : {}),
      logProbs: r.logProbs,
      pred: r.pred,
      predNorm: r.predNorm,
      answer: r.answer,
      correct: r.correct,
      correctNorm: r.correctNorm,
    })),
  };
}

export type Metric = 'acc' | 'acc_norm';

export interface RecipeSynergy {
  metric: Metric;
  /** the variant every relative improvement is measured against (the original model) */
  baselineId: string;
  synergy: Synergy;
  /** (score − baseline) / baseline per variant id */
  relative: Record<string, number | null>;
}

export const metricOf = (v: VariantScore, m: Metric): number => (m === 'acc' ? v.acc.acc : v.accNorm.acc);

/** Synergy of `mergeId` over its parents (in order), relative to `baselineId`, on one metric. */
export function recipeSynergy(variants: readonly VariantScore[], mergeId: string, parentIds: readonly string[], baselineId: string, metric: Metric): RecipeSynergy {
  const score = new Map(variants.map((v) => [v.id, metricOf(v, metric)]));
  const labels = new Map(variants.map((v) => [v.id, v.label]));
  const baseline = score.get(baselineId);
  if (baseline === undefined) throw new Error(`no variant ${baselineId}`);
  return {
    metric,
    baselineId,
    synergy: synergyOf({ mergeId, parentIds: [...parentIds], missing: [] }, labels, score, baseline),
    relative: Object.fromEntries(variants.map((v) => [v.id, relativeImprovement(metricOf(v, metric), baseline)])),
  };
}

const pct = (x: number) => `${(100 * x).toFixed(1)}%`;
const signedPct = (x: number | null) => (x === null ? 'n/a' : `${x >= 0 ? '+' : '−'}${(100 * Math.abs(x)).toFixed(1)}%`);
const pts = (x: number) => `${x >= 0 ? '+' : '−'}${(100 * Math.abs(x)).toFixed(1)} pts`;

/** One line: the merge's score, against each parent and their mean, and relative to the baseline. */
export function synergyLine(s: RecipeSynergy): string {
  const y = s.synergy;
  const merge = y.bars.find((b) => b.kind === 'merge')!;
  const parents = y.bars.filter((b) => b.kind === 'parent');
  return (
    `synergy (${s.metric}): ${merge.label} ${pct(merge.score)} vs ` +
    parents.map((p, i) => `${p.label} ${pct(p.score)} (${pts(y.overParents[i]!)})`).join(', ') +
    `, parents' mean ${pct(y.parentMean)} (${pts(y.overMean)}); relative to ${s.baselineId}: ${signedPct(merge.relative)}; ` +
    (y.synergistic ? 'the merge beats both parents' : 'no synergy (the merge does not beat both parents)')
  );
}
