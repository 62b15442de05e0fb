// The WebGPU call counter on Dawn: a known sequence of calls gives exact counts (and still computes the right
// thing through the wrappers), reset zeroes, and dispose puts the device's own methods back (Dawn's methods live
// on the native prototype; the counter shadows them with own properties, which dispose deletes).
import { describe, expect, it } from 'vitest';
import { countGpuCalls, perUnit } from '../../../src/engine/gpu/call-counter.ts';
import { testGpu } from '../../helpers/gpu.ts';

const SHADER = /* wgsl */ `
@group(0) @binding(0) var<storage, read_write> data: array<f32>;
@compute @workgroup_size(16) fn main(@builtin(global_invocation_id) g: vec3u) {
  data[g.x] = data[g.x] + 1.0;
}`;

describe('countGpuCalls', () => {
  it('counts a known sequence exactly, and the wrapped calls still do their work', async () => {
    const { device } = await testGpu();
    const module = device.createShaderModule({ code: SHADER });
    const counter = countGpuCalls(device);

    const data = device.createBuffer({ size: 64, usage: GPUBufferUsage.STORAGE | GPUBufferUsage.COPY_SRC | GPUBufferUsage.COPY_DST });
    const readback = device.createBuffer({ size: 64, usage: GPUBufferUsage.MAP_READ | GPUBufferUsage.COPY_DST });
    device.createBuffer({ size: 16, usage: GPUBufferUsage.UNIFORM }).destroy();
    device.queue.writeBuffer(data, 0, new Float32Array(16).fill(1)); // 64 bytes
    // dataOffset and size count elements for a typed array: 4 floats = 16 bytes
    device.queue.writeBuffer(data, 16, new Float32Array([9, 9, 5, 5, 5, 5, 9, 9]), 2, 4);
    const pipeline = device.createComputePipeline({ layout: 'auto', compute: { module, entryPoint: 'main' } });
    await device.createComputePipelineAsync({ layout: 'auto', compute: { module, entryPoint: 'main' } });
    const bind = device.createBindGroup({ layout: pipeline.getBindGroupLayout(0), entries: [{ binding: 0, resource: { buffer: data } }] });

    const enc = device.createCommandEncoder();
    for (const n of [2, 1]) {
      const pass = enc.beginComputePass();
      pass.setPipeline(pipeline);
      pass.setBindGroup(0, bind);
      for (let i = 0; i < n; i++) pass.dispatchWorkgroups(1);
      pass.end();
    }
    enc.copyBufferToBuffer(data, 0, readback, 0, 64);
    device.queue.submit([enc.finish()]);
    await readback.mapAsync(GPUMapMode.READ, 0, 32);
    const got = [...new Float32Array(readback.getMappedRange(0, 32))];
    readback.unmap();

    // 1 + 3 dispatches everywhere, 5 + 3 where the second write landed (elements 4..7)
    expect(got).toEqual([4, 4, 4, 4, 8, 8, 8, 8]);
    const want = {
      buffers: 3,
      bindGroups: 1,
      encoders: 1,
      pipelines: 2,
      passes: 2,
      dispatches: 3,
      copies: 1,
      submits: 1,
      writeBuffers: 2,
      writeBytes: 64 + 16,
      mapAsyncs: 1,
      readBytes: 32,
    };
    expect(counter.snapshot()).toEqual(want);
    expect(perUnit(counter.snapshot(), 2).writeBytes).toBe(40);

    // a whole-buffer map counts the buffer's size
    const enc2 = device.createCommandEncoder();
    enc2.copyBufferToBuffer(data, 0, readback, 0, 64);
    device.queue.submit([enc2.finish()]);
    counter.reset();
    await readback.mapAsync(GPUMapMode.READ);
    readback.unmap();
    expect(counter.snapshot()).toEqual({ ...Object.fromEntries(Object.keys(want).map((k) => [k, 0])), mapAsyncs: 1, readBytes: 64 });

    const before = counter.snapshot();
    counter.dispose();
    for (const k of ['createBuffer', 'createBindGroup', 'createCommandEncoder', 'createComputePipeline', 'createComputePipelineAsync'] as const) {
      expect(Object.hasOwn(device, k)).toBe(false);
    }
    expect(Object.hasOwn(device.queue, 'submit')).toBe(false);
    expect(Object.hasOwn(device.queue, 'writeBuffer')).toBe(false);
    // nothing is counted after dispose, not even through objects wrapped before it
    device.createBuffer({ size: 16, usage: GPUBufferUsage.UNIFORM }).destroy();
    const enc3 = device.createCommandEncoder();
    enc3.copyBufferToBuffer(data, 0, readback, 0, 64);
    device.queue.submit([enc3.finish()]);
    await readback.mapAsync(GPUMapMode.READ);
    readback.unmap();
    expect(counter.snapshot()).toEqual(before);
    data.destroy();
    readback.destroy();
  });
});
