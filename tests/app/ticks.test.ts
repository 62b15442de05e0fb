// Axis ticks (src/app/lib/ticks.ts): nice steps inside the domain, labels that differ, integer axes in whole numbers.
import { describe, expect, it } from 'vitest';
import { distinctShort, niceStep, niceTicks, stepDecimals } from '../../src/app/lib/ticks.ts';

const labels = (lo: number, hi: number, o?: Parameters<typeof niceTicks>[2]) => {
  const t = niceTicks(lo, hi, o);
  return t.values.map(t.format);
};

describe('niceTicks', () => {
  it('gives a narrow loss range distinct labels (the recipe chart read "6.2, 6.2, 6.2")', () => {
    const l = labels(6.181, 6.249);
    expect(new Set(l).size).toBe(l.length);
    expect(l.length).toBeGreaterThanOrEqual(3);
    expect(l).toEqual(['6.20', '6.22', '6.24']);
    expect(labels(6.2, 6.2004)).toEqual(['6.2000', '6.2001', '6.2002', '6.2003', '6.2004']);
  });

  it('uses 1, 2, 2.5 or 5 × 10^k steps and ends inside the domain', () => {
    expect(labels(0, 1)).toEqual(['0.00', '0.25', '0.50', '0.75', '1.00']);
    expect(labels(0, 10)).toEqual(['0.0', '2.5', '5.0', '7.5', '10.0']);
    expect(labels(-0.3, 0.45)).toEqual(['-0.2', '0.0', '0.2', '0.4']);
    expect(niceStep(0.17)).toBe(0.2);
    expect(niceStep(3.2)).toBe(5);
    expect(stepDecimals(0.25)).toBe(2);
    expect(stepDecimals(0.02)).toBe(2);
    expect(stepDecimals(50)).toBe(0);
  });

  it('puts integer axes (steps, layers) on whole numbers, never 1.0 / 5.5 / 10', () => {
    expect(labels(1, 10, { integer: true })).toEqual(['2', '4', '6', '8', '10']);
    expect(labels(0, 1, { integer: true })).toEqual(['0', '1']);
    expect(labels(0, 3, { integer: true })).toEqual(['0', '1', '2', '3']);
    expect(labels(0, 1000, { integer: true, max: 3 })).toEqual(['0', '500', '1000']);
  });

  it('writes tiny and huge values in exponent form, still distinct', () => {
    expect(labels(0, 2e-4)).toEqual(['0', '5.0e-5', '1.0e-4', '1.5e-4', '2.0e-4']);
    expect(labels(1.2e-5, 1.3e-5)).toEqual(['1.200e-5', '1.225e-5', '1.250e-5', '1.275e-5', '1.300e-5']);
  });

  it('one value for a zero-width domain; at most `max` ticks', () => {
    expect(labels(3, 3)).toEqual(['3']);
    for (const [lo, hi] of [[0, 7], [0.1, 0.93], [-5, 1234], [6.1, 6.35]] as const) expect(niceTicks(lo, hi, { max: 4 }).values.length).toBeLessThanOrEqual(4);
  });
});

describe('distinctShort', () => {
  it('keeps the ends of long labels, which tell recipe variants apart', () => {
    const l = distinctShort(['stories260K', 'stories260K-CPT', 'stories260K-CPT-SFT', 'stories260K-CPT-SFT-SLERP'], 12);
    expect(l).toEqual(['stories260K', '…ies260K-CPT', '…60K-CPT-SFT', '…T-SFT-SLERP']);
    expect(new Set(l).size).toBe(4);
    expect(l.every((x) => x.length <= 12)).toBe(true);
  });
});
