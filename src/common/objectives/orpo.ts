/**
 * ORPO (Hong et al. 2024) as TRL's ORPOTrainer: the NLL of the whole chosen sequence (prompt included, token mean)
 * plus an odds-ratio term on the mean completion log-probs p_c, p_r:
 *   log_odds = (p_c − p_r) − (log(1 − e^{p_c}) − log(1 − e^{p_r})),  L_OR = −mean(β·log σ(log_odds)).
 * No reference model.
 */
import {
  addOnCompletion,
  allTargets,
  completionSums,
  completionTargets,
  log1mexp,
  logSigmoid,
  pairCount,
  sigmoid,
  tokenMeanNll,
  type Objective,
} from './common.ts';

/** L_OR and dL_OR/dp_c, dL_OR/dp_r per pair. d log_odds/dp_c = 1/(1 − e^{p_c}), d/dp_r = −1/(1 − e^{p_r}). */
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

export const orpo: Objective<'orpo'> = {
  name: 'orpo',
  label: 'ORPO',
  about: 'odds-ratio preference optimisation: NLL of the chosen answer + an odds-ratio term',
  source: 'TRL ORPOTrainer',
  paired: true,
  rows: 'preference',
  pairTokenisation: 'orpo',
  perplexity: false,
  params: [{ key: 'beta', trl: 'ORPOConfig.beta', help: "weight of the odds-ratio term against the chosen answer's NLL (TRL 0.1)" }],
  // the chosen sequences in full (NLL), the rejected ones on their completion (odds)
  targets(seqs) {
    const P = pairCount(seqs);
    return seqs.map((s, i) => (i < P ? allTargets(s) : completionTargets(s)));
  },
  loss(seqs, logp, opts) {
    const P = pairCount(seqs);
    const beta = opts.beta ?? 0.1;
    const weights = seqs.map((s) => new Float64Array(s.ids.length));
    const sums = completionSums(seqs, logp);
    const nll = tokenMeanNll(seqs.slice(0, P).map(allTargets), logp.slice(0, P));
    const avg = sums.map((s) => s.sum / s.count);
    const or = orpoOddsRatio(avg.slice(0, P), avg.slice(P), beta);
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
  },
};
