/**
 * SLERP on the GPU (shaders/slerp.wgsl) for big tensors: a two-level f32 reduction of ⟨a,a⟩, ⟨b,b⟩, ⟨a,b⟩, a
 * 12-byte readback so the host decides the branch and the coefficients with the very code the CPU path uses
 * (slerpCoefficients: same colinear test, t = 0 / 1 giving exactly 1 and 0), then an elementwise combine.
 * A GpuSlerp keeps its buffers (inputs, output, partials and the two readback buffers) from one tensor to the
 * next, growing them to the largest tensor seen, so a merge allocates GPU memory a handful of times, not per
 * tensor.
 */
import { BufferPool } from '../gpu/buffer-pool.ts';
import type { GpuContext } from '../gpu/device.ts';
import { KernelRegistry } from '../gpu/kernels.ts';
import { grid1d, launch } from '../ops/dispatch.ts';
import { slerpCoefficients, type SlerpCoefficients } from './methods/slerp.ts';
import type { SlerpAccelerator } from './run.ts';

/** Invocations per workgroup of passes 1 and 3 (slerp.wgsl's WG). */
const WG = 64;
/** Most workgroups in the first reduction pass: ≤ 65536 partials, so each thread of pass 2 sums ≤ 256. */
export const MAX_PARTIALS = 1024;
/** Fewest vec4s per invocation of pass 1 before more workgroups are added (small tensors use few). */
const MIN_VEC4_PER_THREAD = 16;
const MAP_READ = 0x01;
const COPY_DST = 0x08;

export interface GpuSlerpResult {
  values: Float32Array;
  coefficients: SlerpCoefficients;
  dots: [number, number, number];
}

/** Pass-1 workgroups for n elements: enough for ≥ 16 vec4s per invocation, at most MAX_PARTIALS. */
export function partialGroups(n: number): number {
  return Math.max(1, Math.min(MAX_PARTIALS, Math.ceil(n / 4 / (WG * MIN_VEC4_PER_THREAD))));
}

export class GpuSlerp {
  private capacity = 0;
  private a?: GPUBuffer;
  private b?: GPUBuffer;
  private out?: GPUBuffer;
  private outRead?: GPUBuffer;
  private readonly partials: GPUBuffer;
  private readonly dots: GPUBuffer;
  private readonly dotsRead: GPUBuffer;

  constructor(
    readonly kernels: KernelRegistry,
    readonly pool: BufferPool,
  ) {
    this.partials = pool.alloc(MAX_PARTIALS * WG * 16, 'slerp.partials');
    this.dots = pool.alloc(16, 'slerp.dots');
    this.dotsRead = pool.alloc(16, 'slerp.dots.read', MAP_READ | COPY_DST);
  }

  /** Input and output buffers for n elements, reallocated only when n outgrows them. */
  private ensure(n: number): void {
    if (n <= this.capacity) return;
    for (const buf of [this.a, this.b, this.out, this.outRead]) if (buf) this.pool.release(buf);
    // rounded up to whole vec4s: the shaders bind these as array<vec4f>
    const bytes = Math.ceil(n / 4) * 16;
    this.a = this.pool.alloc(bytes, 'slerp.a');
    this.b = this.pool.alloc(bytes, 'slerp.b');
    this.out = this.pool.alloc(bytes, 'slerp.out');
    this.outRead = this.pool.alloc(bytes, 'slerp.out.read', MAP_READ | COPY_DST);
    this.pool.trim(); // the smaller ones just released are not coming back
    this.capacity = n;
  }

  async run(t: number, a: Float32Array, b: Float32Array): Promise<GpuSlerpResult> {
    if (a.length !== b.length || a.length === 0) throw new RangeError(`gpu slerp: tensors of ${a.length} and ${b.length} elements`);
    const n = a.length;
    this.ensure(n);
    const device = this.kernels.device;
    const [ba, bb, out, outRead] = [this.a!, this.b!, this.out!, this.outRead!];
    device.queue.writeBuffer(ba, 0, a as Float32Array<ArrayBuffer>);
    device.queue.writeBuffer(bb, 0, b as Float32Array<ArrayBuffer>);
    const groups = partialGroups(n);
    let enc = device.createCommandEncoder();
    await launch(this.kernels, enc, { file: 'slerp', entry: 'partial_dots', params: [{ u32: n }, { u32: 0 }, { f32: 0 }, { f32: 0 }], buffers: { 1: ba, 2: bb, 3: this.partials }, groups: [groups] });
    await launch(this.kernels, enc, { file: 'slerp', entry: 'final_dots', params: [{ u32: n }, { u32: groups * WG }, { f32: 0 }, { f32: 0 }], buffers: { 3: this.partials, 4: this.dots }, groups: [1] });
    enc.copyBufferToBuffer(this.dots, 0, this.dotsRead, 0, 16);
    device.queue.submit([enc.finish()]);
    await this.dotsRead.mapAsync(MAP_READ);
    const d = new Float32Array(this.dotsRead.getMappedRange(0, 16).slice(0));
    this.dotsRead.unmap();
    const triple: [number, number, number] = [d[0]!, d[1]!, d[2]!];
    const c = slerpCoefficients(t, ...triple);
    enc = device.createCommandEncoder();
    await launch(this.kernels, enc, {
      file: 'slerp',
      entry: 'combine',
      params: [{ u32: n }, { u32: 0 }, { f32: c.s0 }, { f32: c.s1 }],
      buffers: { 1: ba, 2: bb, 5: out },
      groups: grid1d(Math.ceil(n / 4 / WG)),
    });
    enc.copyBufferToBuffer(out, 0, outRead, 0, n * 4);
    device.queue.submit([enc.finish()]);
    await outRead.mapAsync(MAP_READ, 0, n * 4);
    const values = new Float32Array(outRead.getMappedRange(0, n * 4).slice(0));
    outRead.unmap();
    return { values, coefficients: c, dots: triple };
  }

  /** Gives every buffer back to the pool. */
  release(): void {
    for (const buf of [this.a, this.b, this.out, this.outRead, this.partials, this.dots, this.dotsRead]) if (buf) this.pool.release(buf);
    this.a = this.b = this.out = this.outRead = undefined;
    this.capacity = 0;
  }
}

/** One SLERP with buffers taken from `pool` and released before it resolves (tests, one-off use). */
export async function gpuSlerp(kernels: KernelRegistry, pool: BufferPool, t: number, a: Float32Array, b: Float32Array): Promise<GpuSlerpResult> {
  const g = new GpuSlerp(kernels, pool);
  try {
    return await g.run(t, a, b);
  } finally {
    g.release();
  }
}

/** True for a software (CPU) WebGPU adapter, where the CPU merge path is faster than any kernel. */
export { isSoftwareAdapter } from '../gpu/device.ts';

/**
 * A SlerpAccelerator on a device: takes tensors of at least `minElements` (small ones are faster on the CPU than
 * an upload and two readbacks) that fit one storage binding.
 */
export function gpuSlerpAccelerator(ctx: GpuContext, minElements = 1 << 18): SlerpAccelerator & { accepts(elements: number): boolean; pool: BufferPool } {
  const pool = new BufferPool(ctx.device);
  const gpu = new GpuSlerp(new KernelRegistry(ctx.device), pool);
  return {
    pool,
    accepts: (elements) => elements >= minElements && Math.ceil(elements / 4) * 16 <= ctx.limits.maxStorageBufferBindingSize,
    slerp: async (t, base, other) => (await gpu.run(t, base, other)).values,
  };
}
