/**
 * DPO (Rafailov et al. 2023) as TRL's DPOTrainer, loss_type="sigmoid", with cDPO label smoothing ε:
 *   π_c, π_r   the policy's summed completion log-probs of the chosen / rejected answer
 *   ref_c, ref_r the same under the reference (the model with adapters off)
 *   Δ = (π_c − ref_c) − (π_r − ref_r),  ℓ = −(1−ε)·log σ(βΔ) − ε·log σ(−βΔ),  L = mean over pairs.
 */
import { addOnCompletion, completionLogps, completionSums, completionTargets, logSigmoid, mean, pairCount, sigmoid, type Objective } from './common.ts';

/** L and dL/dπ_c, dL/dπ_r per pair, and Δ per pair. */
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

export const dpo: Objective<'dpo'> = {
  name: 'dpo',
  label: 'DPO',
  about: 'direct preference optimisation on chosen/rejected pairs; reference = the model with adapters off',
  source: 'TRL DPOTrainer, loss_type="sigmoid"',
  paired: true,
  rows: 'preference',
  pairTokenisation: 'dpo',
  perplexity: false,
  params: [
    { key: 'beta', trl: 'DPOConfig.beta', help: 'how far the policy may move from the reference: higher keeps it closer (TRL 0.1)' },
    {
      key: 'labelSmoothing',
      trl: 'DPOConfig.label_smoothing',
      help: "cDPO's ε in [0, 0.5): the assumed chance a preference label is flipped (TRL 0.0)",
    },
  ],
  targets: (seqs) => seqs.map(completionTargets),
  reference: completionLogps,
  loss(seqs, logp, opts) {
    const P = pairCount(seqs);
    const beta = opts.beta ?? 0.1;
    const weights = seqs.map((s) => new Float64Array(s.ids.length));
    const pol = completionSums(seqs, logp).map((s) => s.sum);
    const ref = opts.refLogps;
    if (!ref || ref.length !== seqs.length) throw new RangeError('DPO needs the reference log-prob of every sequence (refLogps)');
    const r = dpoSigmoid(pol.slice(0, P), pol.slice(P), ref.slice(0, P), ref.slice(P), beta, opts.labelSmoothing ?? 0);
    for (let i = 0; i < P; i++) {
      addOnCompletion(seqs[i]!, weights[i]!, -r.dChosen[i]!);
      addOnCompletion(seqs[P + i]!, weights[P + i]!, -r.dRejected[i]!);
    }
    return { loss: r.loss, weights, metrics: { 'rewards/margins': beta * mean(r.margins) } };
  },
};
