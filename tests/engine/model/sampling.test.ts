// The sampler's warpers against transformers' rules, on hand-made logits (no GPU).
import { describe, expect, it } from 'vitest';
import { createRng, sampleToken, samplingProbs } from '../../../src/engine/model/sampling.ts';

const logits = Float32Array.from([1, 3, 2, 3, 0]); // tokens 1 and 3 tie for the top

describe('sampling', () => {
  it('temperature 0 is argmax, first maximum (torch.argmax)', () => {
    expect(sampleToken(logits, {}, () => 0.99)).toBe(1);
    expect(Array.from(samplingProbs(logits, { temperature: 0 }))).toEqual([0, 1, 0, 0, 0]);
  });

  it('temperature scales logits before the softmax', () => {
    const p = samplingProbs(logits, { temperature: 2 });
    const e = [...logits].map((x) => Math.exp(x / 2));
    const z = e.reduce((a, b) => a + b);
    p.forEach((pi, i) => expect(pi).toBeCloseTo(e[i]! / z, 12));
  });

  it('top-k keeps ties with the k-th value (HF TopKLogitsWarper)', () => {
    const p = samplingProbs(logits, { temperature: 1, topK: 1 });
    expect(p[1]).toBeCloseTo(0.5, 12);
    expect(p[3]).toBeCloseTo(0.5, 12);
    expect(p[0]! + p[2]! + p[4]!).toBe(0);
    expect([...samplingProbs(logits, { temperature: 1, topK: 3 })].filter((x) => x > 0)).toHaveLength(3);
  });

  it('top-p drops the low tail whose cumulative mass is ≤ 1 − p (HF TopPLogitsWarper)', () => {
    const l = Float32Array.from([Math.log(0.5), Math.log(0.3), Math.log(0.15), Math.log(0.05)]);
    // ascending cumulative: 0.05, 0.2, 0.5, 1. p = 0.75 → drop cum ≤ 0.25: tokens 3 and 2 (logits are f32: 1e-6).
    const p = samplingProbs(l, { temperature: 1, topP: 0.75 });
    expect(p[0]).toBeCloseTo(0.5 / 0.8, 6);
    expect(p[1]).toBeCloseTo(0.3 / 0.8, 6);
    expect(p[2]! + p[3]!).toBe(0);
    // p tiny: the top token always survives.
    expect(samplingProbs(l, { temperature: 1, topP: 1e-9 })[0]).toBe(1);
  });

  it('draws follow the probabilities, reproducibly from the seed', () => {
    const l = Float32Array.from([0, Math.log(3)]); // p = [0.25, 0.75]
    const draw = (seed: number) => {
      const rng = createRng(seed);
      return Array.from({ length: 4000 }, () => sampleToken(l, { temperature: 1 }, rng));
    };
    const a = draw(1);
    expect(draw(1)).toEqual(a);
    const ones = a.filter((t) => t === 1).length / a.length;
    expect(Math.abs(ones - 0.75)).toBeLessThan(0.03);
  });
});
