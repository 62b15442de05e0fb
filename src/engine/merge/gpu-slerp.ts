/**
 * SLERP on the GPU (shaders/slerp.wgsl) for big tensors: a two-level f32 reduction of ⟨a,a⟩, ⟨b,b⟩, ⟨a,b⟩, a
 * 12-byte readback so the host decides the branch and the coefficients with the very code the CPU path uses
 * (slerpCoefficients: same colinear test, t = 0 / 1 giving exactly 1 and 0), then an elementwise combine.
 */
import { BufferPool, readBuffer } from '../gpu/buffer-pool.ts';
import type { GpuContext } from '../gpu/device.ts';
import { KernelRegistry } from '../gpu/kernels.ts';
import { grid1d, launch } from '../ops/dispatch.ts';
import { slerpCoefficients, type SlerpCoefficients } from './methods/slerp.ts';
import type { SlerpAccelerator } from './run.ts';

const WG = 256;
/** Most workgroups in the first reduction pass (each thread of pass 2 then sums ≤ 16 partials). */
export const MAX_PARTIALS = 4096;

export interface GpuSlerpResult {
  values: Float32Array;
  coefficients: SlerpCoefficients;
  dots: [number, number, number];
}

export async function gpuSlerp(kernels: KernelRegistry, pool: BufferPool, t: number, a: Float32Array, b: Float32Array): Promise<GpuSlerpResult> {
  if (a.length !== b.length || a.length === 0) throw new RangeError(`gpu slerp: tensors of ${a.length} and ${b.length} elements`);
  const device = kernels.device;
  const n = a.length;
  const groups = Math.min(MAX_PARTIALS, Math.ceil(n / WG));
  const ba = pool.upload(a, 'slerp.a');
  const bb = pool.upload(b, 'slerp.b');
  const partials = pool.alloc(groups * 3 * 4, 'slerp.partials');
  const dots = pool.alloc(16, 'slerp.dots');
  const out = pool.alloc(n * 4, 'slerp.out');
  try {
    let enc = device.createCommandEncoder();
    await launch(kernels, enc, { file: 'slerp', entry: 'partial_dots', params: [{ u32: n }, { u32: groups * WG }, { f32: 0 }, { f32: 0 }], buffers: { 1: ba, 2: bb, 3: partials }, groups: [groups] });
    await launch(kernels, enc, { file: 'slerp', entry: 'final_dots', params: [{ u32: n }, { u32: groups }, { f32: 0 }, { f32: 0 }], buffers: { 3: partials, 4: dots }, groups: [1] });
    device.queue.submit([enc.finish()]);
    const d = new Float32Array(await readBuffer(device, dots, 12));
    const triple: [number, number, number] = [d[0]!, d[1]!, d[2]!];
    const c = slerpCoefficients(t, ...triple);
    enc = device.createCommandEncoder();
    await launch(kernels, enc, {
      file: 'slerp',
      entry: 'combine',
      params: [{ u32: n }, { u32: 0 }, { f32: c.s0 }, { f32: c.s1 }],
      buffers: { 1: ba, 2: bb, 5: out },
      groups: grid1d(Math.ceil(n / WG)),
    });
    device.queue.submit([enc.finish()]);
    return { values: new Float32Array(await readBuffer(device, out, n * 4)), coefficients: c, dots: triple };
  } finally {
    for (const buf of [ba, bb, partials, dots, out]) pool.release(buf);
  }
}

/**
 * A SlerpAccelerator on a device: takes tensors of at least `minElements` (small ones are faster on the CPU than
 * an upload and two readbacks) that fit one storage binding.
 */
export function gpuSlerpAccelerator(ctx: GpuContext, minElements = 1 << 18): SlerpAccelerator & { pool: BufferPool } {
  const kernels = new KernelRegistry(ctx.device);
  const pool = new BufferPool(ctx.device);
  return {
    pool,
    accepts: (elements) => elements >= minElements && elements * 4 <= ctx.limits.maxStorageBufferBindingSize,
    slerp: async (t, base, other) => {
      const r = await gpuSlerp(kernels, pool, t, base, other);
      pool.trim(); // tensors differ in size from one to the next; keeping them pooled would only grow memory
      return r.values;
    },
  };
}
