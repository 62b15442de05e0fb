import { describe, expect, it } from 'vitest';
import { testGpu, testKernels } from '../../helpers/gpu.ts';
import { BufferPool, readBuffer, sizeClass } from '../../../src/engine/gpu/buffer-pool.ts';
import { KernelRegistry, SHADER_SOURCES } from '../../../src/engine/gpu/kernels.ts';
import { acquireDevice, deviceSubgroups } from '../../../src/engine/gpu/device.ts';
import { nodeGpu } from '../../../src/engine/gpu/node-gpu.ts';

describe('WebGPU device in Node (Dawn)', () => {
  it('gets an adapter with its own limits, not the 128 MiB default', async () => {
    const ctx = await testGpu();
    expect(ctx.adapterInfo.description.length).toBeGreaterThan(0);
    // SwiftShader grants 1 GiB per binding; any real adapter at least the spec default.
    expect(ctx.limits.maxStorageBufferBindingSize).toBeGreaterThanOrEqual(128 * 1024 * 1024);
    expect(ctx.hasShaderF16).toBe(ctx.features.includes('shader-f16'));
  });

  it('pools buffers and accounts for live, pooled and peak bytes', async () => {
    const { device } = await testGpu();
    const pool = new BufferPool(device);
    const a = pool.alloc(1000);
    const b = pool.alloc(3000);
    expect(pool.stats()).toMatchObject({ liveBytes: sizeClass(1000) + sizeClass(3000), pooledBytes: 0, liveBuffers: 2 });
    pool.release(a);
    expect(pool.stats().pooledBytes).toBe(sizeClass(1000));
    const c = pool.alloc(900); // same size class: reused, no new memory
    expect(c).toBe(a);
    expect(pool.stats().peakBytes).toBe(sizeClass(1000) + sizeClass(3000));
    pool.release(b);
    pool.release(c);
    pool.trim();
    expect(pool.stats()).toMatchObject({ liveBytes: 0, pooledBytes: 0 });
  });

  it('round-trips data through a buffer, odd byte lengths included', async () => {
    const { device } = await testGpu();
    const pool = new BufferPool(device);
    const data = new Uint8Array([1, 2, 3, 4, 5, 6, 7]);
    const buf = pool.upload(data);
    const back = new Uint8Array(await readBuffer(device, buf, 7));
    expect([...back]).toEqual([...data]);
    pool.destroyAll();
  });

  it('loads every WGSL file in shaders/ and reports compile errors with the file name', async () => {
    const { device } = await testGpu();
    expect(Object.keys(SHADER_SOURCES)).toContain('matmul');
    const kernels = await testKernels();
    await expect(kernels.pipeline('matmul')).resolves.toBeDefined();
    await expect(kernels.pipeline('no_such_kernel')).rejects.toThrow(/no_such_kernel\.wgsl/);
  });

  it('decides subgroups once per device: where the adapter offers them, unless turned off (ALLOY_SUBGROUPS=off)', async () => {
    const ctx = await testGpu();
    // SwiftShader's Dawn adapter offers subgroups, so the hardware family's subgroup variants run in these tests
    expect(ctx.features).toContain('subgroups');
    expect(ctx.subgroups).toBe(process.env.ALLOY_SUBGROUPS !== 'off');
    expect(new KernelRegistry(ctx.device).subgroups).toBe(ctx.subgroups);
    const off = await acquireDevice({ gpu: await nodeGpu(), subgroups: false });
    try {
      expect(off.subgroups).toBe(false);
      expect(off.subgroupsForced).toBe(true);
      expect(deviceSubgroups(off.device)).toBe(false);
      expect(new KernelRegistry(off.device).subgroups).toBe(false);
    } finally {
      off.device.destroy();
    }
  });
});
