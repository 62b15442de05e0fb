/**
 * Which kernels run on a device, as a name (pure, so the page can read ?kernels= without loading the GPU side).
 * 'software' is shaped for WebGPU on the CPU (SwiftShader, WARP, llvmpipe: no workgroup memory, big register
 * blocks, see docs/ARCHITECTURE.md); 'hardware' is the standard shape for real GPUs (shared-memory tiles,
 * 64–256-thread workgroups, mat-vec for decode). gpu/device.ts chooses one per device.
 */
import { AlloyError } from '../common/errors.ts';

export type KernelFamily = 'software' | 'hardware';
export const KERNEL_FAMILIES: readonly KernelFamily[] = ['software', 'hardware'];

/** A requested family (ALLOY_KERNELS, ?kernels=) checked; undefined or '' means "by adapter". */
export function parseKernelFamily(value: string | null | undefined, source: string): KernelFamily | undefined {
  if (value === undefined || value === null || value === '') return undefined;
  if ((KERNEL_FAMILIES as readonly string[]).includes(value)) return value as KernelFamily;
  throw new AlloyError(`${source}=${value}: the kernel family must be ${KERNEL_FAMILIES.join(' or ')}`);
}


/**
 * A requested subgroup use (ALLOY_SUBGROUPS in Node, ?subgroups= in the studio) checked: 'on' requires the device's `subgroups` feature,
 * 'off' keeps every kernel in core WGSL (to compare); undefined or '' means "when the device has them".
 */
export function parseSubgroups(value: string | null | undefined, source: string): boolean | undefined {
  if (value === undefined || value === null || value === '') return undefined;
  if (value === 'on' || value === 'off') return value === 'on';
  throw new AlloyError(`${source}=${value}: subgroups must be on or off`);
}
