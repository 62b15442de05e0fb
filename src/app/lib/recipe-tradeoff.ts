// The Recipe panel's trade-off chart as data: accuracy on the domain benchmark against the perplexity of held-out
// general text, per variant of a recipe's summary.
import type { RecipeSummary } from '../../engine/recipe/runner.ts';

export interface TradeoffPoint {
  /** the variant's id in the summary ("base", a stage's name, "SLERP", "SLERP-t0.25"): short enough to print beside a point */
  id: string;
  label: string;
  /** perplexity per token of the held-out text */
  ppl: number;
  /** its log: the mean loss per token in nats, the chart's x (perplexity spans orders of magnitude after SFT) */
  nats: number;
  /** benchmark accuracy */
  acc: number;
}

/**
 * The trade-off between the domain and general text, for a chart of accuracy against perplexity: the SLERP t-sweep
 * as a path from the original (t = 0) through each sweep point to the last stage's model (t = 1), and every other
 * variant (the stages before, the recipe's own merge) as a labelled point. Null without both measures.
 */
export function tradeoff(s: RecipeSummary): { sweep: (TradeoffPoint & { t: number })[]; others: TradeoffPoint[] } | null {
  if (!s.benchmark || !s.perplexity || s.variants.some((v) => !v.perplexity)) return null;
  const point = (v: RecipeSummary['variants'][number]): TradeoffPoint => ({ id: v.id, label: v.label, ppl: v.perplexity!.tokenPerplexity, nats: Math.log(v.perplexity!.tokenPerplexity), acc: v.acc.acc });
  const last = s.stages.at(-1)?.name;
  const ends = s.variants.filter((v) => v.id === 'base' || v.id === last);
  const sweep = [
    ...ends.filter((v) => v.id === 'base').map((v) => ({ t: 0, ...point(v) })),
    ...s.variants.filter((v) => v.t !== undefined).map((v) => ({ t: v.t!, ...point(v) })),
    ...ends.filter((v) => v.id === last).map((v) => ({ t: 1, ...point(v) })),
  ].sort((a, b) => a.t - b.t);
  const others = s.variants.filter((v) => v.t === undefined && v.id !== 'base' && v.id !== last).map(point);
  return { sweep, others };
}
