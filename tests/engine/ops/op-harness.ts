// Shared plumbing for the op tests: one device and ONE kernel registry per test file (SwiftShader compiles a
// pipeline in ~0.5 s, so a registry per test would spend the run compiling), upload, encode, read back.
import { testGpu, testKernels } from '../../helpers/gpu.ts';
import { BufferPool, readBuffer } from '../../../src/engine/gpu/buffer-pool.ts';
import type { KernelRegistry } from '../../../src/engine/gpu/kernels.ts';
import type { KernelFamily } from '../../../src/engine/kernel-family.ts';

// one registry per (family, subgroups) asked for (the default: the device's)
const registries = new Map<string, Promise<KernelRegistry>>();
let pool: BufferPool | undefined;

export interface OpHarness {
  device: GPUDevice;
  kernels: KernelRegistry;
  pool: BufferPool;
}

/**
 * The file's device, pool and registry; `family` picks the kernel family, `subgroups` the subgroup or core variant
 * of the kernels that have both (default: the device's).
 */
export async function harness(family?: KernelFamily, subgroups?: boolean): Promise<OpHarness> {
  const { device } = await testGpu();
  const key = `${family}:${subgroups}`;
  let kernels = registries.get(key);
  if (!kernels) registries.set(key, (kernels = testKernels(family, subgroups)));
  pool ??= new BufferPool(device);
  return { device, kernels: await kernels, pool };
}

/** Encodes with `body`, submits, and reads `out` back as f32 (or u32). */
export async function runAndRead(
  body: (h: OpHarness, enc: GPUCommandEncoder) => Promise<void>,
  out: GPUBuffer,
  count: number,
): Promise<Float32Array> {
  const h = await harness();
  const enc = h.device.createCommandEncoder();
  await body(h, enc);
  h.device.queue.submit([enc.finish()]);
  return new Float32Array(await readBuffer(h.device, out, count * 4));
}

export async function read(buf: GPUBuffer, count: number): Promise<Float32Array> {
  const { device } = await harness();
  return new Float32Array(await readBuffer(device, buf, count * 4));
}

/** Buffers live until the file ends; tests are tiny, and release() would only return them to this pool. */
export function releaseAll(): void {
  pool?.destroyAll();
}
