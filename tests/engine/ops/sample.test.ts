// The sampling kernel's integer rule (ops/sample.ts's CPU reference) against transformers' semantics as the
// float64 sampler implements them (model/sampling.ts sampleToken): weights within f32 rounding of exp((x − m)/T), the
// warpers' ties, and how often the two pick different tokens for the same draw (printed; boundary cases only).
import { describe, expect, it } from 'vitest';
import { drawBits, EXP2_TABLES, sampleParams, sampleReference, sampleWeight } from '../../../src/engine/ops/sample.ts';
import { sampleToken, samplingProbs } from '../../../src/engine/model/sampling.ts';
import { mulberry32 } from '../../../src/common/random.ts';

describe('sample: the integer rule', () => {
  it('tables are Q31 2^(−j/2^8), 2^(−j/2^16), 2^(−j/2^24), rounded', () => {
    expect(EXP2_TABLES[0]).toBe(2 ** 31);
    for (let k = 0; k < 3; k++) {
      for (let j = 0; j < 256; j++) expect(Math.abs(EXP2_TABLES[k * 256 + j]! - 2 ** 31 * 2 ** (-j / 2 ** (8 * (k + 1))))).toBeLessThanOrEqual(0.5);
    }
  });

  it('weights are 2^31·exp((x − m)/T) within f32 rounding of the exponent (and 0 below 2^-32 of the top)', () => {
    const rnd = mulberry32(3);
    for (const T of [0.3, 0.8, 1, 2.5]) {
      const { scale } = sampleParams({ temperature: T });
      for (let n = 0; n < 2000; n++) {
        const m = Math.fround((rnd() - 0.5) * 40);
        const x = Math.fround(m - rnd() * 14 * T);
        const exact = 2 ** 31 * Math.exp((x - m) / T);
        const w = sampleWeight(x, m, scale);
        // x − m and ·scale each round to f32 (2^-24 relative of the exponent), the exponent is floored to 2^-24,
        // and the weight to an integer (1 = 2^-31 of the top token's)
        expect(Math.abs(w - exact)).toBeLessThan(exact * 1.2e-7 * (1 + Math.abs(x - m) / T) + 1);
      }
      expect(sampleWeight(5, 5, scale)).toBe(2 ** 31);
      expect(sampleWeight(-Infinity, 5, scale)).toBe(0);
    }
  });

  it('top-k keeps ties with the k-th value; top-p keeps at least the top token', () => {
    const l = Float32Array.from([1, 3, 2, 3, 0]);
    const p = sampleParams({ temperature: 1, topK: 1 });
    const picks = new Set(Array.from({ length: 64 }, (_, i) => sampleReference(l, 0, 5, p, drawBits(i / 64)).token));
    expect([...picks].sort()).toEqual([1, 3]);
    const top = sampleParams({ temperature: 1, topP: 1e-9 });
    for (let i = 0; i < 16; i++) expect(sampleReference(Float32Array.from([0, 5, 1]), 0, 3, top, drawBits(i / 16)).token).toBe(1);
  });

  it('top-p: a tie group at the boundary is kept whole, the low tail is dropped as HF', () => {
    // probs ∝ [0.05, 0.05, 0.3, 0.6]: ascending cum 0.05, 0.1, 0.4, 1. p = 0.92 drops cum ≤ 0.08: HF (stable sort)
    // would drop token 0 and keep token 1; the kernel keeps the tie group {0, 1} whole.
    const l = Float32Array.from([Math.log(0.05), Math.log(0.05), Math.log(0.3), Math.log(0.6)]);
    const p = sampleParams({ temperature: 1, topP: 0.92 });
    const picks = new Set(Array.from({ length: 200 }, (_, i) => sampleReference(l, 0, 4, p, drawBits(i / 200)).token));
    expect([...picks].sort()).toEqual([0, 1, 2, 3]);
    // p = 0.75 drops cum ≤ 0.25: both tied tokens go
    const q = sampleParams({ temperature: 1, topP: 0.75 });
    const kept = new Set(Array.from({ length: 200 }, (_, i) => sampleReference(l, 0, 4, q, drawBits(i / 200)).token));
    expect([...kept].sort()).toEqual([2, 3]);
  });

  it('picks the float64 sampler’s token except at cumulative boundaries (counted)', () => {
    const rnd = mulberry32(11);
    const V = 512;
    const settings = [{ temperature: 1 }, { temperature: 0.8, topK: 40, topP: 0.9 }, { temperature: 0.6, topP: 0.5 }, { temperature: 1.5, topK: 8 }];
    let draws = 0;
    let differ = 0;
    const logits = new Float32Array(V);
    for (let row = 0; row < 200; row++) {
      const spread = [0.5, 3, 8][row % 3]!;
      for (let i = 0; i < V; i++) logits[i] = (rnd() + rnd() + rnd() - 1.5) * spread;
      for (const opts of settings) {
        const params = sampleParams(opts);
        for (let d = 0; d < 10; d++) {
          const u = rnd();
          const a = sampleToken(logits, opts, () => u);
          const b = sampleReference(logits, 0, V, params, drawBits(u)).token;
          draws++;
          if (a !== b) {
            differ++;
            // a legitimate difference: u within 1e-6 of a boundary of the float64 cumulative distribution
            const probs = samplingProbs(logits, opts);
            let cum = 0;
            let near = Infinity;
            for (const p of probs) {
              cum += p;
              near = Math.min(near, Math.abs(cum - u));
            }
            expect(near).toBeLessThan(1e-6);
          }
        }
      }
    }
    console.log(`integer rule vs float64 sampler: ${differ} of ${draws} draws differ (each within 1e-6 of a boundary)`);
    expect(differ / draws).toBeLessThan(1e-3);
  }, 60_000);
});
