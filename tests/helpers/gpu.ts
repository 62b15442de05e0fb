// One WebGPU device per test file, on Dawn in Node. A GPU test that cannot get an adapter fails loudly with
// what to install; it never skips.
import { acquireNodeDevice } from '../../src/engine/gpu/node-gpu.ts';
import type { GpuContext } from '../../src/engine/gpu/device.ts';
import type { KernelFamily } from '../../src/engine/kernel-family.ts';
import { KernelRegistry } from '../../src/engine/gpu/kernels.ts';
import { mulberry32 } from '../../src/common/random.ts';

let ctx: Promise<GpuContext> | undefined;

export function testGpu(): Promise<GpuContext> {
  ctx ??= acquireNodeDevice();
  return ctx;
}

/**
 * A registry on the test device: of `family`, or by default of the device's (the adapter's, or ALLOY_KERNELS);
 * with `subgroups` true or false, the kernels' subgroup or core variant (default: the device's choice).
 */
export async function testKernels(family?: KernelFamily, subgroups?: boolean): Promise<KernelRegistry> {
  const c = await testGpu();
  return new KernelRegistry(c.device, family, undefined, subgroups);
}

/** Deterministic uniform values in [-1, 1) from the engine's seeded stream, so failures reproduce. */
export function randomArray(n: number, seed: number): Float32Array {
  const next = mulberry32(seed);
  const out = new Float32Array(n);
  for (let i = 0; i < n; i++) out[i] = next() * 2 - 1;
  return out;
}

export function maxAbsDiff(a: ArrayLike<number>, b: ArrayLike<number>): number {
  if (a.length !== b.length) throw new Error(`length ${a.length} vs ${b.length}`);
  let m = 0;
  for (let i = 0; i < a.length; i++) m = Math.max(m, Math.abs(a[i]! - b[i]!));
  return m;
}

/**
 * The kernel variants the op tests run: the software family, and the hardware family in core WGSL and with
 * subgroup operations (SwiftShader offers `subgroups`, subgroup size 4; a registry asked for them on a device
 * without the feature throws, so the subgroup variant is never skipped silently).
 */
export const KERNEL_VARIANTS = [
  { name: 'software family', family: 'software', subgroups: false },
  { name: 'hardware family', family: 'hardware', subgroups: false },
  { name: 'hardware family, subgroups', family: 'hardware', subgroups: true },
] as const satisfies ReadonlyArray<{ name: string; family: KernelFamily; subgroups: boolean }>;

export type KernelVariant = (typeof KERNEL_VARIANTS)[number];
/** The hardware family's two variants (core WGSL, subgroups), for the tests of its own shapes. */
export const HW_VARIANTS = KERNEL_VARIANTS.filter((v) => v.family === 'hardware');
