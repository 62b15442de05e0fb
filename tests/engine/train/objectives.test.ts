// The TRL objectives on the CPU: each loss against values worked out by hand, and each objective's per-token
// weights w = −dL/dlogp against central finite differences of the loss in the token log-probs
// (float64, h = 1e-6, max error ≤ 1e-7 relative to max |w|).
import { describe, expect, it } from 'vitest';
import {
  computeObjective,
  dpoSigmoid,
  isLinearInLogp,
  ipoSquared,
  log1mexp,
  logSigmoid,
  METHODS,
  objectiveOf,
  objectiveTargets,
  orpoOddsRatio,
  referenceLogps,
  type Method,
  type Sequence,
} from '../../../src/engine/train/objectives.ts';
import { random64 } from '../../helpers/finite-diff.ts';

describe('stable helpers', () => {
  it('logSigmoid and log1mexp match the naive forms where those are accurate, and stay finite where not', () => {
    for (const x of [-3, -0.5, 0, 0.7, 4]) expect(logSigmoid(x)).toBeCloseTo(Math.log(1 / (1 + Math.exp(-x))), 14);
    for (const x of [-5, -0.8, -0.6, -1e-3]) expect(log1mexp(x)).toBeCloseTo(Math.log(1 - Math.exp(x)), 12);
    expect(logSigmoid(-800)).toBe(-800);
    expect(log1mexp(-1e-12)).toBeCloseTo(Math.log(1e-12), 6);
  });
});

describe('losses against hand-computed values', () => {
  it('token-mean NLL: SFT scores completion rows only, CPT every row', () => {
    const seqs: Sequence[] = [
      { ids: [5, 6, 7, 8], promptLen: 2 },
      { ids: [1, 2, 3], promptLen: 1 },
    ];
    const logp = [Float64Array.of(-1, -2, -3, 0), Float64Array.of(-4, -5, 0)];
    // SFT: rows predicting tokens at index ≥ promptLen: seq0 rows 1, 2 (−2, −3); seq1 rows 0, 1 (−4, −5) → 14/4
    const sft = computeObjective('sft', seqs, logp);
    expect(sft.loss).toBeCloseTo(14 / 4, 14);
    expect(Array.from(sft.weights[0]!)).toEqual([0, 0.25, 0.25, 0]);
    // CPT: all 5 rows → 15/5
    expect(computeObjective('cpt', seqs, logp).loss).toBeCloseTo(3, 14);
  });

  it("one micro-batch of an accumulated step: Σ NLL / the step's tokens; a pair batch counts P / the step's pairs", () => {
    const seqs: Sequence[] = [{ ids: [5, 6, 7, 8], promptLen: 2 }];
    const logp = [Float64Array.of(-1, -2, -3, 0)];
    // SFT: this micro-batch scores 2 tokens (−2, −3) of a step of 10 → 5/10, weights 1/10
    const sft = computeObjective('sft', seqs, logp, { stepItems: 10 });
    expect(sft.loss).toBeCloseTo(0.5, 14);
    expect(Array.from(sft.weights[0]!)).toEqual([0, 0.1, 0.1, 0]);
    // a micro-batch with nothing scored adds nothing (the step as a whole is checked in accumulate.ts)
    const none = computeObjective('sft', [{ ids: [5, 6], promptLen: 2 }], [Float64Array.of(0, 0)], { stepItems: 10 });
    expect(none.loss === 0).toBe(true);
    // DPO: 1 pair of a step of 4 → a quarter of its loss and of its weights
    const pair: Sequence[] = [
      { ids: [1, 2, 3], promptLen: 1 },
      { ids: [1, 2, 4], promptLen: 1 },
    ];
    const lp = [Float64Array.of(-1, -2, 0), Float64Array.of(-1.5, -0.5, 0)];
    const opts = { beta: 0.5, refLogps: [-3, -2] };
    const alone = computeObjective('dpo', pair, lp, opts);
    const quarter = computeObjective('dpo', pair, lp, { ...opts, stepItems: 4 });
    expect(quarter.loss).toBeCloseTo(alone.loss / 4, 15);
    expect(quarter.weights[1]![0]).toBeCloseTo(alone.weights[1]![0]! / 4, 15);
  });

  it('DPO sigmoid: −log σ(βΔ), with cDPO smoothing', () => {
    // Δ = (−3 − −4) − (−5 − −4.5) = 1 + 0.5 = 1.5; β = 0.5 → z = 0.75
    const plain = dpoSigmoid([-3], [-5], [-4], [-4.5], 0.5);
    expect(plain.loss).toBeCloseTo(Math.log(1 + Math.exp(-0.75)), 14);
    const eps = 0.1;
    const smooth = dpoSigmoid([-3], [-5], [-4], [-4.5], 0.5, eps);
    expect(smooth.loss).toBeCloseTo(0.9 * Math.log(1 + Math.exp(-0.75)) + 0.1 * Math.log(1 + Math.exp(0.75)), 14);
    // mean over pairs
    const two = dpoSigmoid([-3, -1], [-5, -1], [-4, -1], [-4.5, -1], 0.5);
    expect(two.loss).toBeCloseTo((Math.log(1 + Math.exp(-0.75)) + Math.log(2)) / 2, 14);
  });

  it('IPO: (Δ − 1/(2β))² on hand values, mean over pairs', () => {
    // Δ = (−1 − −1.5) − (−2 − −1.25) = 0.5 + 0.75 = 1.25; β = 0.5 → 1/(2β) = 1 → ℓ = 0.0625
    const one = ipoSquared([-1], [-2], [-1.5], [-1.25], 0.5);
    expect(one.loss).toBeCloseTo(0.0625, 15);
    expect(one.dChosen[0]).toBeCloseTo(2 * 0.25, 15);
    // a second pair with Δ = 0 adds (0 − 1)² = 1: mean (0.0625 + 1) / 2
    expect(ipoSquared([-1, -3], [-2, -3], [-1.5, -3], [-1.25, -3], 0.5).loss).toBeCloseTo(1.0625 / 2, 15);
  });

  it('IPO on a batch = the float64 formula of TRL (average completion log-probs, policy and reference alike)', () => {
    // answers of 3 and 1 completion rows (pair 0), 2 and 4 (pair 1): averages, not sums, enter Δ
    const seqs: Sequence[] = [
      { ids: [1, 2, 3, 4, 5], promptLen: 2 },
      { ids: [1, 6, 7, 8], promptLen: 2 },
      { ids: [1, 2, 9], promptLen: 2 },
      { ids: [1, 6, 7, 10, 11, 12], promptLen: 3 },
    ];
    const targets = objectiveTargets('ipo', seqs);
    const lp = (seed: number) => targets.map((tg, s) => random64(tg.length, seed + s, 1).map((x, t) => (tg[t]! >= 0 ? -2 + x : 0)));
    const policy = lp(11);
    const refModel = lp(23);
    const beta = 0.3;
    // TRL: concatenated_forward sums the masked per-token log-probs and divides by loss_mask.sum(-1) for "ipo"
    const avg = (logp: Float64Array[]) =>
      seqs.map((s, i) => {
        let sum = 0;
        let n = 0;
        for (let t = 0; t + 1 < s.ids.length; t++) if (t + 1 >= s.promptLen) (sum += logp[i]![t]!), n++;
        return sum / n;
      });
    const pi = avg(policy);
    const ref = avg(refModel);
    const want = [0, 1].map((i) => (pi[i]! - ref[i]! - (pi[2 + i]! - ref[2 + i]!) - 1 / (2 * beta)) ** 2).reduce((a, b) => a + b) / 2;
    const refLogps = referenceLogps('ipo', seqs, refModel);
    expect(refLogps).toEqual(ref);
    const got = computeObjective('ipo', seqs, policy, { beta, refLogps });
    console.log(`ipo: loss ${got.loss} vs the float64 formula ${want}`);
    expect(Math.abs(got.loss - want)).toBeLessThanOrEqual(1e-15 * Math.max(1, want));
    // one micro-batch of a step of 8 pairs counts 2/8 of it
    const share = computeObjective('ipo', seqs, policy, { beta, refLogps, stepItems: 8 });
    expect(share.loss).toBeCloseTo(got.loss / 4, 15);
    expect(share.weights[3]![3]).toBeCloseTo(got.weights[3]![3]! / 4, 15);
  });

  it('every registered objective is complete: a name matching its key, targets, a loss, and a reference iff it reads refLogps', () => {
    for (const m of METHODS) {
      const o = objectiveOf(m);
      expect(o.name).toBe(m);
      expect(o.paired).toBe(o.rows === 'preference');
      expect(o.paired ? o.pairTokenisation !== undefined : o.pairTokenisation === undefined).toBe(true);
    }
    expect(METHODS.filter((m) => objectiveOf(m).reference)).toEqual(['dpo', 'ipo']);
  });

  it('linearInLogp (grad.ts: weights before the forward, one submit) holds: the weights do not depend on the log-probs', () => {
    expect(METHODS.filter(isLinearInLogp)).toEqual(['cpt', 'sft']);
    const seqs: Sequence[] = [
      { ids: [1, 5, 6, 7, 8, 2], promptLen: 3 },
      { ids: [4, 4, 4, 4], promptLen: 0 },
    ];
    for (const m of METHODS.filter(isLinearInLogp)) {
      const targets = objectiveTargets(m, seqs);
      const zeros = targets.map((tg) => new Float64Array(tg.length));
      const logp = targets.map((tg, s) => Float64Array.from(tg, (y, t) => (y >= 0 ? -1 - 3 * Math.abs(Math.sin(7 * s + t)) : 0)));
      for (const stepItems of [undefined, 9]) {
        const opts = stepItems ? { stepItems } : {};
        expect(computeObjective(m, seqs, logp, opts).weights).toEqual(computeObjective(m, seqs, zeros, opts).weights);
      }
    }
  });

  it('ORPO odds ratio: −β·log σ(log-odds) from mean log-probs', () => {
    const c = -0.4;
    const r = -1.2;
    const odds = (p: number) => Math.exp(p) / (1 - Math.exp(p));
    const lo = Math.log(odds(c) / odds(r));
    const got = orpoOddsRatio([c], [r], 0.1);
    expect(got.logOdds[0]).toBeCloseTo(lo, 13);
    expect(got.loss).toBeCloseTo(-0.1 * Math.log(1 / (1 + Math.exp(-lo))), 14);
  });

  it('ORPO total = NLL over the whole chosen sequence (prompt included) + odds term', () => {
    const seqs: Sequence[] = [
      { ids: [1, 2, 3, 4], promptLen: 2 },
      { ids: [1, 2, 9], promptLen: 2 },
    ];
    const logp = [Float64Array.of(-1, -2, -0.5, 0), Float64Array.of(0, -3, 0)];
    const res = computeObjective('orpo', seqs, logp, { beta: 0.2 });
    const nll = (1 + 2 + 0.5) / 3; // all three rows of the chosen sequence
    const pc = (-2 - 0.5) / 2; // completion rows 1, 2
    const pr = -3;
    expect(res.loss).toBeCloseTo(nll + orpoOddsRatio([pc], [pr], 0.2).loss, 14);
  });
});

/** Central differences of L(logp) in every scored entry, against the weights: w = −dL/dlogp. */
function checkWeights(method: Method, seqs: Sequence[], seed: number, extra: { beta?: number; labelSmoothing?: number; stepItems?: number } = {}) {
  const targets = objectiveTargets(method, seqs);
  const logp = targets.map((tg, s) => random64(tg.length, seed + s, 1).map((x, t) => (tg[t]! >= 0 ? -1.5 + x : 0)));
  const refLogps = seqs.map((_, i) => -6 + i);
  const opts = { ...extra, refLogps };
  const { weights } = computeObjective(method, seqs, logp, opts);
  const h = 1e-6;
  let err = 0;
  let scale = 0;
  for (const [s, tg] of targets.entries()) {
    for (let t = 0; t < tg.length; t++) {
      if (tg[t]! < 0) {
        expect(weights[s]![t]).toBe(0);
        continue;
      }
      const keep = logp[s]![t]!;
      logp[s]![t] = keep + h;
      const up = computeObjective(method, seqs, logp, opts).loss;
      logp[s]![t] = keep - h;
      const down = computeObjective(method, seqs, logp, opts).loss;
      logp[s]![t] = keep;
      const fd = -(up - down) / (2 * h);
      err = Math.max(err, Math.abs(fd - weights[s]![t]!));
      scale = Math.max(scale, Math.abs(fd));
    }
  }
  return err / scale;
}

describe('per-token weights against finite differences of the loss', () => {
  const sft: Sequence[] = [
    { ids: [1, 5, 6, 7, 8, 2], promptLen: 3 },
    { ids: [1, 9, 2], promptLen: 1 },
    { ids: [4, 4, 4, 4], promptLen: 0 },
  ];
  const pairs: Sequence[] = [
    { ids: [1, 5, 6, 7, 2], promptLen: 2 },
    { ids: [1, 8, 9, 2], promptLen: 3 },
    { ids: [1, 5, 3, 2], promptLen: 2 },
    { ids: [1, 8, 9, 4, 4, 2], promptLen: 3 },
  ];
  const cases: Array<[string, Method, Sequence[], { beta?: number; labelSmoothing?: number; stepItems?: number }]> = [
    ['cpt', 'cpt', sft, {}],
    ['sft', 'sft', sft, {}],
    ['dpo', 'dpo', pairs, { beta: 0.3 }],
    ['dpo + label smoothing', 'dpo', pairs, { beta: 0.3, labelSmoothing: 0.2 }],
    ['ipo', 'ipo', pairs, { beta: 0.3 }],
    ['ipo, one micro-batch of 6 pairs', 'ipo', pairs, { beta: 0.3, stepItems: 6 }],
    ['orpo', 'orpo', pairs, { beta: 0.25 }],
  ];
  for (const [name, method, seqs, extra] of cases) {
    it(`${name}: relative error ≤ 1e-7`, () => {
      const rel = checkWeights(method, seqs, 7, extra);
      console.log(`${name}: weights vs finite differences, rel err ${rel.toExponential(2)}`);
      expect(rel).toBeLessThan(1e-7);
    });
  }
});
