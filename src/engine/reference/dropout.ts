/**
 * CPU reference of shaders/dropout.wgsl: the same per-element hash, written out again (not imported from the
 * kernel's host code) so a mistake in one is caught by the other. The stream key comes from ops/dropout.ts's
 * dropoutKey, which both sides share (it is host code, not a kernel).
 * Inverted dropout: out[i] = keep(i) ? f32(x[i]·inv) : 0, inv = f32(1/(1−p)); keep(i) ⇔ pcg(pcg(i) ^ key) ≥ round(p·2³²).
 * The product of two f32 values is exact in float64, so Math.fround of it is the GPU's correctly rounded f32 product.
 */
function pcg(v: number): number {
  const state = (Math.imul(v >>> 0, 747796405) + 2891336453) >>> 0;
  const word = Math.imul(((state >>> ((state >>> 28) + 4)) ^ state) >>> 0, 277803737) >>> 0;
  return ((word >>> 22) ^ word) >>> 0;
}

/** The mask as multipliers: 0 where dropped, f32(1/(1−p)) where kept. */
export function dropoutMaskRef(n: number, p: number, key: number): Float32Array {
  const thr = Math.min(0xffffffff, Math.round(p * 2 ** 32));
  const inv = Math.fround(1 / (1 - p));
  const out = new Float32Array(n);
  for (let i = 0; i < n; i++) out[i] = (pcg(pcg(i) ^ key) >>> 0) >= thr ? inv : 0;
  return out;
}

/** out = mask ⊙ x in f32, as the kernel's forward. */
export function dropoutRef(x: ArrayLike<number>, p: number, key: number): Float32Array {
  const m = dropoutMaskRef(x.length, p, key);
  return m.map((s, i) => (s === 0 ? 0 : Math.fround(Math.fround(x[i]!) * s)));
}
