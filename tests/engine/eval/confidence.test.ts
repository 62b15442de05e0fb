// Accuracy statistics of the Benchmark panel: Wilson's 95% interval (against published values and its defining
// equation), lm-eval's stderr (against its sample-standard-deviation definition), the running curve.
import { describe, expect, it } from 'vitest';
import { accuracyStderr, runningAccuracy, summarize, wilsonInterval, Z95 } from '../../../src/engine/eval/confidence.ts';

describe('wilsonInterval', () => {
  it('matches published 95% intervals', () => {
    // 5/10 → [0.2366, 0.7634]; 0/10 → [0, 0.2775]; 10/10 → [0.7225, 1]
    const a = wilsonInterval(5, 10);
    expect(a.lo).toBeCloseTo(0.2366, 4);
    expect(a.hi).toBeCloseTo(0.7634, 4);
    const b = wilsonInterval(0, 10);
    expect(b.lo).toBe(0);
    expect(b.hi).toBeCloseTo(Z95 ** 2 / (10 + Z95 ** 2), 12);
    const c = wilsonInterval(10, 10);
    expect(c.hi).toBe(1);
    expect(c.lo).toBeCloseTo(1 - b.hi, 12);
  });

  it('has ends where the score test is exactly at z: |p̂ − p| = z·√(p(1−p)/n)', () => {
    for (const [k, n] of [[3, 7], [17, 48], [1, 22], [40, 41]] as const) {
      const { lo, hi } = wilsonInterval(k, n);
      for (const p of [lo, hi]) expect(Math.abs(k / n - p)).toBeCloseTo(Z95 * Math.sqrt((p * (1 - p)) / n), 12);
      expect(lo).toBeLessThan(k / n);
      expect(hi).toBeGreaterThan(k / n);
    }
  });

  it('is the whole [0, 1] before any item', () => {
    expect(wilsonInterval(0, 0)).toEqual({ lo: 0, hi: 1 });
  });
});

describe('accuracyStderr', () => {
  it('is lm-eval mean_stderr: sample std (n − 1) over √n', () => {
    const xs = [1, 0, 1, 1, 0, 1, 1];
    const mu = xs.reduce((a, b) => a + b, 0) / xs.length;
    const sd = Math.sqrt(xs.reduce((a, x) => a + (x - mu) ** 2, 0) / (xs.length - 1));
    expect(accuracyStderr(5, 7)).toBeCloseTo(sd / Math.sqrt(xs.length), 14);
    expect(accuracyStderr(1, 1)).toBeNull();
  });
});

describe('runningAccuracy / summarize', () => {
  it('gives accuracy and interval after each item', () => {
    const pts = runningAccuracy([true, false, true, true]);
    expect(pts.map((p) => p.n)).toEqual([1, 2, 3, 4]);
    expect(pts.map((p) => p.acc)).toEqual([1, 0.5, 2 / 3, 0.75]);
    expect(pts[3]).toMatchObject(wilsonInterval(3, 4));
    const s = summarize([true, false, true, true]);
    expect(s).toMatchObject({ n: 4, correct: 3, acc: 0.75, ci95: wilsonInterval(3, 4), stderr: accuracyStderr(3, 4) });
  });
});
