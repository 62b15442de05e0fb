// The byte-to-byte SLERP (slerp-bytes.ts, the streaming merge's fast path) against what run.ts did before it:
// decode, round to the load dtype, slerp() in float32/float64, round again, encode. It must agree bit for bit
// (same float64 dot order, same float32 combine, same round-to-nearest-even), across chunk boundaries, for
// every stored/load/out dtype combination, with NaN, ±Inf, ±0 and values that round up into the exponent.
import { describe, expect, it } from 'vitest';
import { decodeToF32, encodeFromF32, type FloatDType } from '../../../src/io/safetensors/dtypes.ts';
import { slerp } from '../../../src/engine/merge/methods/slerp.ts';
import { CHUNK, decodeBytes, encodeMerged, slerpBytes, SlerpScratch } from '../../../src/engine/merge/slerp-bytes.ts';
import { isSoftwareAdapter } from '../../../src/engine/merge/gpu-slerp.ts';

function values(n: number, seed: number): Float32Array {
  let s = seed >>> 0;
  const out = new Float32Array(n);
  for (let i = 0; i < n; i++) {
    s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
    out[i] = (s / 4294967296 - 0.5) * 0.2;
  }
  // awkward values: the NaN/Inf lanes are at the end so they do not poison the dots of the first checks
  out.set([0, -0, 1.00390625, 65520, 3.3895314e38, 1e-40, -1e-45], 0);
  return out;
}

const roundTo = (d: FloatDType | null, x: Float32Array) => (d === null || d === 'F32' ? x : decodeToF32(d, encodeFromF32(d, x)));
/** index of the first differing byte, -1 when equal (toEqual on 100k-element arrays is slow) */
const diff = (got: Uint8Array, want: Uint8Array) => {
  if (got.length !== want.length) return -2;
  for (let i = 0; i < got.length; i++) if (got[i] !== want[i]) return i;
  return -1;
};

describe('slerpBytes', () => {
  const n = 2 * CHUNK + 333; // three chunks, the last partial
  const dtypes: FloatDType[] = ['BF16', 'F16', 'F32'];
  it('matches decode → slerp → encode bit for bit for every dtype combination', { timeout: 60_000 }, () => {
    const scratch = new SlerpScratch();
    for (const stored of dtypes)
      for (const load of [null, ...dtypes])
        for (const out of dtypes) {
          const a = { dtype: stored, bytes: encodeFromF32(stored, values(n, 1)) };
          const b = { dtype: stored, bytes: encodeFromF32(stored, values(n, 2)) };
          for (const t of [0, 0.3, 1]) {
            const want = encodeFromF32(out, roundTo(load, slerp(t, roundTo(load, decodeToF32(stored, a.bytes)), roundTo(load, decodeToF32(stored, b.bytes)))));
            const got = slerpBytes(t, a, b, load, out, scratch).bytes;
            expect(diff(got, want), `${stored} → ${load} → ${out}, t = ${t}`).toBe(-1);
          }
        }
  });

  it('keeps NaN, ±Inf and the colinear fallback as the float path does', () => {
    const x = values(n, 3);
    x.set([NaN, Infinity, -Infinity], n - 3);
    const a = { dtype: 'F32' as const, bytes: new Uint8Array(x.buffer) };
    const twice = { dtype: 'F32' as const, bytes: new Uint8Array(x.map((v) => 2 * v).buffer) };
    for (const out of dtypes) {
      const r = slerpBytes(0.4, a, twice, null, out);
      expect(diff(r.bytes, encodeFromF32(out, slerp(0.4, x, x.map((v) => 2 * v)))), out).toBe(-1);
    }
    const y = values(n, 4).fill(0.01, 0, 8); // no huge values: 3·y must stay finite
    const c = { dtype: 'F32' as const, bytes: new Uint8Array(y.buffer) };
    const colinear = slerpBytes(0.4, c, { dtype: 'F32', bytes: new Uint8Array(y.map((v) => 3 * v).buffer) }, 'BF16', 'BF16');
    expect(colinear.coefficients.linear).toBe(true);
  });

  it('decodes and encodes for an accelerator exactly as the float path rounds', () => {
    const x = values(n, 5);
    const raw = { dtype: 'BF16' as const, bytes: encodeFromF32('BF16', x) };
    const dec = decodeBytes(raw, 'F16');
    expect(diff(new Uint8Array(dec.buffer), new Uint8Array(roundTo('F16', decodeToF32('BF16', raw.bytes)).buffer))).toBe(-1);
    for (const load of [null, ...dtypes]) for (const out of dtypes) expect(diff(encodeMerged(x, load, out), encodeFromF32(out, roundTo(load, x))), `${load} → ${out}`).toBe(-1);
  });
});

describe('isSoftwareAdapter', () => {
  it('tells SwiftShader from a GPU', () => {
    expect(isSoftwareAdapter({ adapterInfo: { vendor: 'google', architecture: 'swiftshader', description: 'SwiftShader driver 5.0.0' } })).toBe(true);
    expect(isSoftwareAdapter({ adapterInfo: { vendor: 'nvidia', architecture: 'hopper', description: 'NVIDIA H200' } })).toBe(false);
    expect(isSoftwareAdapter({ adapterInfo: { vendor: 'apple', architecture: 'metal-3', description: '' } })).toBe(false);
  });
});
