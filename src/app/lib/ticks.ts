// Axis ticks for the studio's SVG charts: "nice" steps (1, 2 or 5 × 10^k) inside the domain, labels with just
// enough decimals that neighbours differ (a loss axis over 6.18–6.25 reads 6.18, 6.20, 6.22, 6.24, never
// "6.2, 6.2, 6.2"), and whole-number steps on integer axes (steps, layers, counts). Pure: tests/app/ticks.test.ts.

export interface Ticks {
  values: number[];
  /** how each value is written: the step's decimals, so ticks never repeat a label */
  format: (v: number) => string;
}

/** The nice step nearest to `raw` from above: 1, 2, 2.5 or 5 × 10^k (2.5 only off integer axes; at least 1 on them). */
export function niceStep(raw: number, integer = false): number {
  if (!(raw > 0) || !Number.isFinite(raw)) return 1;
  const p = 10 ** Math.floor(Math.log10(raw));
  const f = (raw / p) * (1 - 1e-9); // 5e-5 / 1e-5 is 5.000000000000001
  const m = f <= 1 ? 1 : f <= 2 ? 2 : f <= 2.5 && !integer ? 2.5 : f <= 5 ? 5 : 10;
  const step = Number((m * p).toPrecision(12));
  return integer ? Math.max(1, Math.round(step)) : step;
}

/** Decimals that write every multiple of `step` exactly (0.25 → 2, 0.02 → 2, 5 → 0). */
export function stepDecimals(step: number): number {
  for (let d = 0; d < 12; d++) {
    const x = step * 10 ** d;
    if (Math.abs(Math.round(x) - x) < 1e-6 * x) return d;
  }
  return 12;
}

/**
 * As many ticks as fit in `max` (default 5, at least 2) on multiples of the smallest nice step that keeps them
 * within it, inside [lo, hi]. A zero-width domain gets its single value. Magnitudes below 1e-3 or from 1e6 are
 * written in exponent form, with the mantissa digits the step needs.
 */
export function niceTicks(lo: number, hi: number, opts: { max?: number; integer?: boolean } = {}): Ticks {
  const max = Math.max(2, opts.max ?? 5);
  const integer = opts.integer ?? false;
  if (!Number.isFinite(lo) || !Number.isFinite(hi)) return { values: [], format: String };
  if (hi < lo) [lo, hi] = [hi, lo];
  if (hi === lo) return { values: [lo], format: (v) => formatPlain(v, integer ? 0 : stepDecimals(Math.abs(v) || 1)) };
  // from a step far too fine, up through the nice steps until the ticks fit
  let step = niceStep((hi - lo) / (max - 1) / 10, integer);
  let values = multiples(lo, hi, step);
  while (values.length > max) values = multiples(lo, hi, (step = niceStep(step * 1.01, integer)));
  const big = Math.max(Math.abs(lo), Math.abs(hi));
  if (big >= 1e6 || (big < 1e-3 && big > 0)) {
    const e = Math.floor(Math.log10(big));
    const digits = Math.min(6, stepDecimals(step / 10 ** e));
    return { values, format: (v) => (v === 0 ? '0' : v.toExponential(Math.max(1, digits))) };
  }
  const decimals = integer ? 0 : stepDecimals(step);
  return { values, format: (v) => formatPlain(v, decimals) };
}

function multiples(lo: number, hi: number, step: number): number[] {
  const eps = step * 1e-9;
  const out: number[] = [];
  for (let k = Math.ceil((lo - eps) / step); k * step <= hi + eps; k++) out.push(Number((k * step).toPrecision(12)));
  return out;
}

function formatPlain(v: number, decimals: number): string {
  const s = v.toFixed(decimals);
  return /^-0(\.0*)?$/.test(s) ? s.slice(1) : s;
}

/**
 * Labels shortened to `chars` keeping what tells them apart: a shared beginning gives way to "…" and the end
 * ("stories260K-CPT-SFT" and "stories260K-CPT-SFT-SLERP" → "…CPT-SFT", "…SFT-SLERP").
 */
export function distinctShort(labels: readonly string[], chars: number): string[] {
  return labels.map((l) => (l.length <= chars ? l : `…${l.slice(l.length - (chars - 1))}`));
}
