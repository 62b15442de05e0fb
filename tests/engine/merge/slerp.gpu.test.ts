// The WGSL SLERP (two-level f32 reduction + combine) against the CPU reference, on sizes that are not vec4 or
// workgroup multiples, one above the point where pass 1 stops adding workgroups (MAX_PARTIALS·256 elements
// and more), the colinear fallback, and one GpuSlerp reused across sizes (its buffers grow and are reused).
// Tolerance: the dots are f32 sums on the GPU vs float64 on the CPU; coefficients agree to ~1e-6, so elements
// agree to 1e-5 relative.
import { describe, expect, it } from 'vitest';
import { gpuSlerp, GpuSlerp, MAX_PARTIALS } from '../../../src/engine/merge/gpu-slerp.ts';
import { dots, slerp, slerpCoefficients } from '../../../src/engine/merge/methods/slerp.ts';
import { BufferPool } from '../../../src/engine/gpu/buffer-pool.ts';
import { randomArray, testGpu, testKernels } from '../../helpers/gpu.ts';

function maxRel(got: Float32Array, want: Float32Array): number {
  let m = 0;
  for (let i = 0; i < want.length; i++) m = Math.max(m, Math.abs(got[i]! - want[i]!) / Math.max(1, Math.abs(want[i]!)));
  return m;
}

describe('slerp.wgsl', () => {
  it('matches the CPU slerp on awkward sizes and t values', async () => {
    const kernels = await testKernels();
    const pool = new BufferPool((await testGpu()).device);
    for (const [n, seed] of [[1, 1], [255, 2], [257, 3], [4099, 4], [MAX_PARTIALS * 256 + 1001, 5]] as const) {
      const a = randomArray(n, seed);
      const b = randomArray(n, seed + 50);
      for (const t of n > 5000 ? [0.37] : [0.1, 0.5, 0.9]) {
        const r = await gpuSlerp(kernels, pool, t, a, b);
        const [aa, bb, ab] = dots(a, b);
        expect(Math.abs(r.dots[0] - aa) / aa).toBeLessThan(1e-5);
        expect(Math.abs(r.dots[1] - bb) / bb).toBeLessThan(1e-5);
        expect(Math.abs(r.dots[2] - ab)).toBeLessThan(1e-5 * Math.sqrt(aa * bb));
        expect(r.coefficients.linear).toBe(slerpCoefficients(t, aa, bb, ab).linear);
        expect(maxRel(r.values, slerp(t, a, b))).toBeLessThan(1e-5);
      }
    }
    expect(pool.stats().liveBuffers).toBe(0);
  });

  it('reuses one GpuSlerp across tensors of different sizes (stale data past n never leaks in)', async () => {
    const kernels = await testKernels();
    const pool = new BufferPool((await testGpu()).device);
    const g = new GpuSlerp(kernels, pool);
    for (const [n, seed] of [[70001, 20], [3, 21], [4097, 22], [70001, 23]] as const) {
      const a = randomArray(n, seed);
      const b = randomArray(n, seed + 50);
      expect(maxRel((await g.run(0.6, a, b)).values, slerp(0.6, a, b)), `n = ${n}`).toBeLessThan(1e-5);
    }
    g.release();
    expect(pool.stats().liveBuffers).toBe(0);
  });

  it('takes the colinear fallback like the CPU, and t = 0 / 1 give the parents exactly', async () => {
    const kernels = await testKernels();
    const pool = new BufferPool((await testGpu()).device);
    const a = randomArray(3001, 9);
    const twice = a.map((x) => 2 * x);
    const r = await gpuSlerp(kernels, pool, 0.3, a, twice);
    expect(r.coefficients.linear).toBe(true);
    expect(maxRel(r.values, slerp(0.3, a, twice))).toBeLessThan(1e-6);
    const b = randomArray(3001, 10);
    expect(Array.from((await gpuSlerp(kernels, pool, 0, a, b)).values)).toEqual(Array.from(a));
    expect(Array.from((await gpuSlerp(kernels, pool, 1, a, b)).values)).toEqual(Array.from(b));
  });
});
