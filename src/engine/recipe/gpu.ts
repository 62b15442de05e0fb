// What the recipe needs of a GPU: a device with its pool and kernel registry (the worker's gpuEngine() and the
// CLI's acquireNodeDevice + pool + registry both fit).
import type { GpuContext } from '../gpu/device.ts';
import type { BufferPool } from '../gpu/buffer-pool.ts';
import type { KernelRegistry } from '../gpu/kernels.ts';

export interface GpuEngineLike {
  ctx: Pick<GpuContext, 'device' | 'limits'>;
  pool: BufferPool;
  kernels: KernelRegistry;
}
