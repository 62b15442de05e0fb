/**
 * The boilerplate every op shares: compile (cached) → uniforms at binding 0 → bind group → one compute pass.
 * Kept out of the op files so each of them shows only its layout, its parameters and its grid.
 */
import type { KernelRegistry, Overrides } from '../gpu/kernels.ts';
import { uniforms } from '../gpu/kernels.ts';

export type Field = { u32: number } | { f32: number };

/** WebGPU's default maxComputeWorkgroupsPerDimension; grids above it fold into y. */
export const MAX_GROUPS_PER_DIM = 65535;

/**
 * A 1-D count of workgroups as an (x, y) grid that respects the per-dimension limit. Shaders rebuild the linear
 * index as wg.y * num_workgroups.x + wg.x and must bounds-check it, since x·y may exceed `groups`.
 */
export function grid1d(groups: number): [number, number] {
  if (groups <= MAX_GROUPS_PER_DIM) return [Math.max(1, groups), 1];
  const y = Math.ceil(groups / MAX_GROUPS_PER_DIM);
  return [Math.ceil(groups / y), y];
}

export interface KernelLaunch {
  file: string;
  entry?: string;
  constants?: Overrides;
  params: Field[];
  /** storage buffers by binding number (binding 0 is always the uniform block) */
  buffers: Record<number, GPUBuffer>;
  groups: [number, number?, number?];
  label?: string;
}

export async function launch(kernels: KernelRegistry, encoder: GPUCommandEncoder, k: KernelLaunch): Promise<void> {
  const device = kernels.device;
  const pipeline = await kernels.pipeline(k.file, k.entry ?? 'main', k.constants ?? {});
  const entries: GPUBindGroupEntry[] = [{ binding: 0, resource: { buffer: uniforms(device, k.params) } }];
  for (const [binding, buffer] of Object.entries(k.buffers)) entries.push({ binding: Number(binding), resource: { buffer } });
  const bind = device.createBindGroup({ layout: kernels.layout(pipeline), entries });
  const pass = encoder.beginComputePass({ label: k.label ?? `${k.file}.${k.entry ?? 'main'}` });
  pass.setPipeline(pipeline);
  pass.setBindGroup(0, bind);
  const [x, y = 1, z = 1] = k.groups;
  pass.dispatchWorkgroups(x, y, z);
  pass.end();
}

/** Shape checks fail in TypeScript with a readable message rather than as a GPU validation error later. */
export function requireShape(ok: boolean, op: string, what: string): void {
  if (!ok) throw new RangeError(`${op}: ${what}`);
}
