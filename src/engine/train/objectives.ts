/**
 * Training objectives as TRL defines them (REFERENCE-SEMANTICS.md §2), on the CPU in float64.
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
 * DPO and ORPO batches are laid out as TRL concatenates them: [chosen_0 … chosen_{P−1}, rejected_0 … rejected_{P−1}].
 * `promptLen` counts the prompt tokens of a sequence (0 for raw text); "completion rows" are t with t+1 ≥ promptLen.
 */

import type { Method, Sequence } from '../../common/training-data.ts';

/** Whether `method` trains on chosen/rejected pairs (its unit is a pair, its batches [chosen…, rejected…]). */
export function isPaired(method: Method): boolean {
  return method === 'dpo' || method === 'orpo';
}

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

export interface ObjectiveOptions {
  /** DPO / ORPO beta (TRL default 0.1) */
  beta?: number;
  /** DPO cDPO label smoothing ε (TRL ≤ 0.28 sigmoid loss), default 0 */
  labelSmoothing?: number;
  /** DPO: summed completion log-probs of each sequence under the reference (adapters disabled) */
  refLogps?: readonly number[];
  /**
   * Gradient accumulation (accumulate.ts): how many items the whole optimizer step has, when this batch is one
   * micro-batch of it. CPT/SFT: scored tokens (the summed NLL is divided by it, TRL's num_items_in_batch);
   * DPO/ORPO: pairs (this batch's pair-mean loss counts P / stepItems of the step). Default: this batch's own.
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
// Which rows each objective scores.

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

/**
 * The targets the model must gather log-probs for under `method`: the union of what the loss terms read.
 * ORPO reads the chosen sequences in full (NLL) and the rejected ones on their completion.
 */
export function objectiveTargets(method: Method, seqs: readonly Sequence[]): Int32Array[] {
  if (method === 'cpt') return seqs.map(allTargets);
  if (method === 'orpo') {
    const P = pairCount(seqs);
    return seqs.map((s, i) => (i < P ? allTargets(s) : completionTargets(s)));
  }
  return seqs.map(completionTargets);
}

function pairCount(seqs: readonly Sequence[]): number {
  if (seqs.length % 2 !== 0 || seqs.length === 0) throw new RangeError(`a preference batch needs [chosen…, rejected…], got ${seqs.length} sequences`);
  return seqs.length / 2;
}

/** Σ of logp over a sequence's completion rows, and how many there are. */
function completionSum(seq: Sequence, logp: Float64Array): { sum: number; count: number } {
  let sum = 0;
  let count = 0;
  for (let t = Math.max(0, seq.promptLen - 1); t + 1 < seq.ids.length; t++) {
    sum += logp[t]!;
    count++;
  }
  return { sum, count };
}

/** Adds c to w[t] on every completion row of seq. */
function addOnCompletion(seq: Sequence, w: Float64Array, c: number): void {
  for (let t = Math.max(0, seq.promptLen - 1); t + 1 < seq.ids.length; t++) w[t] = w[t]! + c;
}

// ---------------------------------------------------------------------------------------------------------------
// The losses.

/** Scored rows (target ≥ 0) over every sequence. */
export function scoredCount(targets: readonly Int32Array[]): number {
  let count = 0;
  for (const tg of targets) for (const x of tg) if (x >= 0) count++;
  return count;
}

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

/**
 * DPO (Rafailov et al. 2023), sigmoid loss with cDPO label smoothing ε (TRL ≤ 0.28):
 *   Δ = (π_c − ref_c) − (π_r − ref_r),  ℓ = −(1−ε)·log σ(βΔ) − ε·log σ(−βΔ),  L = mean over pairs.
 * Returns L and dL/dπ_c, dL/dπ_r per pair (the policy's summed completion log-probs).
 */
export function dpoSigmoid(
  pc: readonly number[],
  pr: readonly number[],
  refC: readonly number[],
  refR: readonly number[],
  beta: number,
  eps = 0,
): { loss: number; dChosen: number[]; dRejected: number[]; margins: number[] } {
  const P = pc.length;
  let loss = 0;
  const dChosen: number[] = [];
  const dRejected: number[] = [];
  const margins: number[] = [];
  for (let i = 0; i < P; i++) {
    const delta = pc[i]! - refC[i]! - (pr[i]! - refR[i]!);
    const z = beta * delta;
    loss += (-(1 - eps) * logSigmoid(z) - eps * logSigmoid(-z)) / P;
    // d/dz [−(1−ε) log σ(z) − ε log σ(−z)] = −(1−ε)·σ(−z) + ε·σ(z)
    const dz = (-(1 - eps) * sigmoid(-z) + eps * sigmoid(z)) / P;
    dChosen.push(beta * dz);
    dRejected.push(-beta * dz);
    margins.push(delta);
  }
  return { loss, dChosen, dRejected, margins };
}

/**
 * ORPO's odds-ratio term (Hong et al. 2024) on mean completion log-probs p_c, p_r:
 *   log_odds = (p_c − p_r) − (log(1 − e^{p_c}) − log(1 − e^{p_r})),  L_OR = −mean(β·log σ(log_odds)).
 * Returns L_OR and dL_OR/dp_c, dL_OR/dp_r per pair. d log_odds/dp_c = 1/(1 − e^{p_c}), d/dp_r = −1/(1 − e^{p_r}).
 */
export function orpoOddsRatio(
  pc: readonly number[],
  pr: readonly number[],
  beta: number,
): { loss: number; dChosen: number[]; dRejected: number[]; logOdds: number[] } {
  const P = pc.length;
  let loss = 0;
  const dChosen: number[] = [];
  const dRejected: number[] = [];
  const logOdds: number[] = [];
  for (let i = 0; i < P; i++) {
    const c = pc[i]!;
    const r = pr[i]!;
    const lo = c - r - (log1mexp(c) - log1mexp(r));
    loss -= (beta * logSigmoid(lo)) / P;
    const dlo = (-beta * sigmoid(-lo)) / P;
    // 1/(1 − eˣ) = −1/expm1(x), exact for x near 0 too
    dChosen.push(dlo * (-1 / Math.expm1(c)));
    dRejected.push(dlo * (1 / Math.expm1(r)));
    logOdds.push(lo);
  }
  return { loss, dChosen, dRejected, logOdds };
}

// ---------------------------------------------------------------------------------------------------------------
// The objectives, composed from the losses above, with their per-token weights.

/**
 * L and w = −dL/dlogp for `method` on a batch. `logp[s][t]` must hold the log-prob of objectiveTargets(method)
 * at every scored row (other rows are not read).
 */
export function computeObjective(method: Method, seqs: readonly Sequence[], logp: readonly Float64Array[], opts: ObjectiveOptions = {}): ObjectiveResult {
  if (method === 'cpt' || method === 'sft') {
    const { loss, weights } = tokenMeanNll(objectiveTargets(method, seqs), logp, opts.stepItems);
    return { loss, weights, metrics: {} };
  }
  const P = pairCount(seqs);
  const r = pairObjective(method, seqs, logp, opts, P);
  // One micro-batch of an accumulated step counts P of its stepItems pairs (TRL: the micro-batch mean / accum).
  const share = P / (opts.stepItems ?? P);
  if (share !== 1) {
    r.loss *= share;
    for (const w of r.weights) for (let t = 0; t < w.length; t++) w[t] = w[t]! * share;
  }
  return r;
}

/** DPO or ORPO on one batch of P pairs, as the mean over its pairs. */
function pairObjective(method: Method, seqs: readonly Sequence[], logp: readonly Float64Array[], opts: ObjectiveOptions, P: number): ObjectiveResult {
  const beta = opts.beta ?? 0.1;
  const weights = seqs.map((s) => new Float64Array(s.ids.length));
  const sums = seqs.map((s, i) => completionSum(s, logp[i]!));
  for (const [i, s] of sums.entries()) {
    if (s.count === 0) throw new RangeError(`sequence ${i} of the preference batch has no completion token`);
  }
  if (method === 'dpo') {
    const ref = opts.refLogps;
    if (!ref || ref.length !== seqs.length) throw new RangeError('DPO needs the reference log-prob of every sequence (refLogps)');
    const pol = sums.map((s) => s.sum);
    const r = dpoSigmoid(pol.slice(0, P), pol.slice(P), ref.slice(0, P), ref.slice(P), beta, opts.labelSmoothing ?? 0);
    for (let i = 0; i < P; i++) {
      addOnCompletion(seqs[i]!, weights[i]!, -r.dChosen[i]!);
      addOnCompletion(seqs[P + i]!, weights[P + i]!, -r.dRejected[i]!);
    }
    const mean = (a: number[]) => a.reduce((x, y) => x + y, 0) / a.length;
    return { loss: r.loss, weights, metrics: { 'rewards/margins': beta * mean(r.margins) } };
  }
  // ORPO: NLL over the whole chosen sequences (prompt included) + the odds-ratio term on mean completion logps.
  const chosenTargets = seqs.slice(0, P).map(allTargets);
  const nll = tokenMeanNll(chosenTargets, logp.slice(0, P));
  const mean = sums.map((s) => s.sum / s.count);
  const or = orpoOddsRatio(mean.slice(0, P), mean.slice(P), beta);
  for (let i = 0; i < P; i++) {
    weights[i]!.set(nll.weights[i]!);
    addOnCompletion(seqs[i]!, weights[i]!, -or.dChosen[i]! / sums[i]!.count);
    addOnCompletion(seqs[P + i]!, weights[P + i]!, -or.dRejected[i]! / sums[P + i]!.count);
  }
  return {
    loss: nll.loss + or.loss,
    weights,
    metrics: { nll: nll.loss, log_odds_chosen: or.logOdds.reduce((a, b) => a + b, 0) / P },
  };
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
