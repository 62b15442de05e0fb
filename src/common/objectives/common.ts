/**
 * What every objective shares (REFERENCE-SEMANTICS.md §2): the batch layout, the options, the record an objective
 * registers (registry.ts), and the small float64 helpers its loss is written with.
 *
 * Every objective is a function of the per-token log-probs logp[s][t] = log softmax(logits[s, t])[target[s][t]]
 * only, so its whole backward is the vector w[s][t] = −dL/dlogp[s][t]: the model's backward then starts from
 * dlogits[s, t] = w[s][t]·(softmax − onehot(target)) (encodeCrossEntropyBackward). One backward pass serves all.
 *
 * Layout (per sequence s of n tokens, row-major as the model's batch rows):
 *   ids [n]; row t (0 ≤ t < n−1) predicts ids[t+1]; the last row predicts nothing (target −1).
 *   targets[s] Int32Array [n]   (−1 = not scored by this objective)
 *   logp[s]    Float64Array [n] (0 where the target is −1)
 *   weights[s] Float64Array [n] (0 where the target is −1)
 * Paired objectives (DPO, IPO, ORPO) take batches laid out as TRL concatenates them:
 * [chosen_0 … chosen_{P−1}, rejected_0 … rejected_{P−1}].
 * `promptLen` counts the prompt tokens of a sequence (0 for raw text); "completion rows" are t with t+1 ≥ promptLen.
 */

import type { Sequence } from '../training-data.ts';

export type { Sequence };

export interface ObjectiveOptions {
  /** DPO / IPO / ORPO beta (TRL default 0.1; IPO's τ) */
  beta?: number;
  /** DPO cDPO label smoothing ε (TRL ≤ 0.28 sigmoid loss), default 0 */
  labelSmoothing?: number;
  /**
   * Objectives with a reference (DPO, IPO): each sequence's log-prob under the reference (the model with adapters
   * off), as that objective's `reference` statistic computes it (summed for DPO, length-averaged for IPO).
   */
  refLogps?: readonly number[];
  /**
   * Gradient accumulation (accumulate.ts): how many items the whole optimizer step has, when this batch is one
   * micro-batch of it. Unpaired objectives: scored tokens (the summed NLL is divided by it, TRL's
   * num_items_in_batch); paired: pairs (this batch's pair-mean loss counts P / stepItems of the step).
   * Default: this batch's own.
   */
  stepItems?: number;
}

export interface ObjectiveResult {
  loss: number;
  /** w[s][t] = −dL/dlogp[s][t] */
  weights: Float64Array[];
  /** extra numbers worth logging (rewards, log-odds, …) */
  metrics: Record<string, number>;
}

/** An objective's hyperparameters: the ObjectiveOptions keys (plus SFT's data option) a person may set. */
export type ObjectiveParamKey = 'beta' | 'labelSmoothing' | 'assistantOnlyLoss';

export interface ObjectiveParam {
  key: ObjectiveParamKey;
  /** the TRL config field it is, e.g. "DPOConfig.beta" */
  trl: string;
  /** what it means for this objective (the Train panel's hint and the CLI usage) */
  help: string;
}

/**
 * TRL's row kinds an objective trains on: 'text' (every token: {text}, {messages}, {input_ids}), 'prompt-completion'
 * (text rows too, and prompt/completion rows scored on the completion), 'preference' (prompt/chosen/rejected).
 */
export type RowKind = 'text' | 'prompt-completion' | 'preference';

/**
 * One objective, as mergekit registers a merge method: everything the trainer, the CLI, the recipe, the dataset
 * checks and the panels need to know about it. Adding one is a module exporting this and a line in registry.ts.
 */
export interface Objective<Name extends string = string> {
  name: Name;
  /** the short name people read (CLI output, the Train panel's radio) */
  label: string;
  /** one line on what it trains and how */
  about: string;
  /** whose loss this is, e.g. "TRL DPOTrainer, loss_type=\"ipo\"" */
  source: string;
  /** the batch's unit is a chosen/rejected pair, laid out [chosen…, rejected…] */
  paired: boolean;
  /** the rows it trains on (dataset checks, the Data panel) */
  rows: RowKind;
  /** how a preference row becomes token ids: as TRL's DPOTrainer or ORPOTrainer tokenises it (paired only) */
  pairTokenisation?: 'dpo' | 'orpo';
  /** validation reports perplexity: the loss is a token-mean NLL */
  perplexity: boolean;
  /**
   * The loss is linear in the log-probs, so w = −dL/dlogp does not depend on them (CPT, SFT: 1/tokens on every
   * scored row): the weights are known before the forward, and the training step needs no mid-step readback
   * (engine/train/grad.ts runs forward, gather and backward as one submit). Absent: false.
   */
  linearInLogp?: boolean;
  /** its hyperparameters, in the order forms list them */
  params: readonly ObjectiveParam[];
  /** targets the model must gather log-probs for: the union of what the loss terms read */
  targets(seqs: readonly Sequence[]): Int32Array[];
  /**
   * The reference model's per-sequence statistic the loss compares against (the model with adapters off);
   * absent: the objective needs no reference forward.
   */
  reference?(seqs: readonly Sequence[], logp: readonly Float64Array[]): number[];
  /**
   * L and w = −dL/dlogp on one batch, as if the batch were the whole step: a token mean over its scored tokens
   * (`stepItems` tokens when given) for unpaired objectives, the mean over its P pairs for paired ones (the
   * registry scales that by P / stepItems).
   */
  loss(seqs: readonly Sequence[], logp: readonly Float64Array[], opts: ObjectiveOptions): ObjectiveResult;
}

// ---------------------------------------------------------------------------------------------------------------
// Small numerically stable helpers.

/** log σ(x) = −softplus(−x), without overflow for large |x|. */
export function logSigmoid(x: number): number {
  return x >= 0 ? -Math.log1p(Math.exp(-x)) : x - Math.log1p(Math.exp(x));
}

export function sigmoid(x: number): number {
  return x >= 0 ? 1 / (1 + Math.exp(-x)) : Math.exp(x) / (1 + Math.exp(x));
}

/** log(1 − eˣ) for x < 0, branching at −ln 2 as TRL (and Mächler 2012) do, so neither side loses digits. */
export function log1mexp(x: number): number {
  return x < -Math.LN2 ? Math.log1p(-Math.exp(x)) : Math.log(-Math.expm1(x));
}

// ---------------------------------------------------------------------------------------------------------------
// Sequences and which rows are scored.

/** The first n tokens of a sequence (TRL's keep_start truncation), its loss mask cut alike. */
export function truncateSequence(seq: Sequence, n: number): Sequence {
  if (seq.ids.length <= n) return seq;
  return { ids: seq.ids.slice(0, n), promptLen: seq.promptLen, ...(seq.lossMask ? { lossMask: seq.lossMask.slice(0, n) } : {}) };
}

/** Tokens a completion-scoring objective (SFT, DPO) trains on: those after the prompt, inside the loss mask. */
export function scoredTokenCount(seq: Sequence): number {
  let n = 0;
  for (let i = Math.max(1, seq.promptLen); i < seq.ids.length; i++) if (!seq.lossMask || seq.lossMask[i] === 1) n++;
  return n;
}

/** Row t targets ids[t+1] where `scored(t+1)`, else −1; the last row never has a target. */
function targetsWhere(seq: Sequence, scored: (tokenIndex: number) => boolean): Int32Array {
  const n = seq.ids.length;
  const out = new Int32Array(n).fill(-1);
  for (let t = 0; t + 1 < n; t++) if (scored(t + 1)) out[t] = seq.ids[t + 1]!;
  return out;
}

/**
 * Completion tokens only (SFT prompt/completion, DPO, ORPO's odds); every token when promptLen is 0; only those in
 * the loss mask when there is one (SFT's assistant_only_loss).
 */
export function completionTargets(seq: Sequence): Int32Array {
  const mask = seq.lossMask;
  return targetsWhere(seq, (i) => i >= seq.promptLen && (!mask || mask[i] === 1));
}

/** Every token, prompt included (CPT, ORPO's NLL on the chosen sequence). */
export function allTargets(seq: Sequence): Int32Array {
  return targetsWhere(seq, () => true);
}

/** Scored rows (target ≥ 0) over every sequence. */
export function scoredCount(targets: readonly Int32Array[]): number {
  let count = 0;
  for (const tg of targets) for (const x of tg) if (x >= 0) count++;
  return count;
}

/** P of a [chosen…, rejected…] batch. */
export function pairCount(seqs: readonly Sequence[]): number {
  if (seqs.length % 2 !== 0 || seqs.length === 0) throw new RangeError(`a preference batch needs [chosen…, rejected…], got ${seqs.length} sequences`);
  return seqs.length / 2;
}

/** Σ of logp over a sequence's completion rows, and how many there are. */
export function completionSum(seq: Sequence, logp: Float64Array): { sum: number; count: number } {
  let sum = 0;
  let count = 0;
  for (let t = Math.max(0, seq.promptLen - 1); t + 1 < seq.ids.length; t++) {
    sum += logp[t]!;
    count++;
  }
  return { sum, count };
}

/** Every sequence's completion sums; a preference sequence without a completion token is refused. */
export function completionSums(seqs: readonly Sequence[], logp: readonly Float64Array[]): { sum: number; count: number }[] {
  const sums = seqs.map((s, i) => completionSum(s, logp[i]!));
  for (const [i, s] of sums.entries()) {
    if (s.count === 0) throw new RangeError(`sequence ${i} of the preference batch has no completion token`);
  }
  return sums;
}

/** Adds c to w[t] on every completion row of seq. */
export function addOnCompletion(seq: Sequence, w: Float64Array, c: number): void {
  for (let t = Math.max(0, seq.promptLen - 1); t + 1 < seq.ids.length; t++) w[t] = w[t]! + c;
}

export const mean = (a: readonly number[]): number => a.reduce((x, y) => x + y, 0) / a.length;

// ---------------------------------------------------------------------------------------------------------------
// The token-level loss CPT, SFT and ORPO's NLL term share.

/**
 * Token-level cross-entropy, averaged over every scored token (TRL's num_items_in_batch):
 * L = −Σ_{s,t} m[s][t]·logp[s][t] / N, so w = m / N, where N = Σ m of this batch, or `stepTokens` (the whole
 * effective batch's count) when the batch is one micro-batch of an accumulated step.
 */
export function tokenMeanNll(targets: readonly Int32Array[], logp: readonly Float64Array[], stepTokens?: number): { loss: number; weights: Float64Array[] } {
  const count = stepTokens ?? scoredCount(targets);
  if (count === 0) throw new RangeError('no token of the batch is scored (every row is prompt or too short)');
  let sum = 0;
  const weights = targets.map((tg, s) => {
    const w = new Float64Array(tg.length);
    for (let t = 0; t < tg.length; t++) {
      if (tg[t]! < 0) continue;
      sum += logp[s]![t]!;
      w[t] = 1 / count;
    }
    return w;
  });
  return { loss: -sum / count, weights };
}

/** Per-sequence target log-probs from float64 logits [n, V] (CPU reference side). */
export function gatherLogp(logits: Float64Array, V: number, targets: Int32Array): Float64Array {
  const out = new Float64Array(targets.length);
  for (let t = 0; t < targets.length; t++) {
    const y = targets[t]!;
    if (y < 0) continue;
    let max = -Infinity;
    for (let c = 0; c < V; c++) max = Math.max(max, logits[t * V + c]!);
    let sum = 0;
    for (let c = 0; c < V; c++) sum += Math.exp(logits[t * V + c]! - max);
    out[t] = logits[t * V + y]! - max - Math.log(sum);
  }
  return out;
}

/** Summed completion log-probs per sequence (DPO's sequence log-prob), e.g. of the reference model. */
export function completionLogps(seqs: readonly Sequence[], logp: readonly Float64Array[]): number[] {
  return seqs.map((s, i) => completionSum(s, logp[i]!).sum);
}

/** Mean completion log-prob per sequence (IPO's and ORPO's length-normalised sequence log-prob). */
export function averageCompletionLogps(seqs: readonly Sequence[], logp: readonly Float64Array[]): number[] {
  return seqs.map((s, i) => {
    const { sum, count } = completionSum(s, logp[i]!);
    return sum / count;
  });
}
