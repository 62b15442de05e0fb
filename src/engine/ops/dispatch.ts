/**
 * The boilerplate every op shares: compile (cached) → uniforms at binding 0 → bind group → a dispatch in the
 * encoder's open compute pass. Kept out of the op files so each of them shows only its layout, its parameters
 * and its grid.
 *
 * Nothing is allocated per dispatch in steady state: uniform blocks are shared by content and bind groups cached
 * by (pipeline, buffers) in the KernelRegistry, and consecutive dispatches on one encoder share one compute pass
 * (WebGPU orders dispatches within a pass and makes each one's writes visible to the next, so merging passes
 * changes no result). The pass stays open until the encoder is used for anything else: a copy, a clear,
 * another pass or finish() first closes it (the encoder's methods are wrapped once, on first launch), so code
 * that mixes copies and ops on one encoder works unchanged.
 */
import type { BufferOrRange } from '../gpu/buffer-pool.ts';
import type { KernelRegistry, Overrides } from '../gpu/kernels.ts';

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
  /** the uniform block's fields, or a caller-owned uniform buffer (rewritten between submits, e.g. per decode step) */
  params: Field[] | GPUBuffer;
  /** storage buffers (or ranges of them) by binding number (binding 0 is always the uniform block) */
  buffers: Record<number, BufferOrRange>;
  groups: [number, number?, number?];
  label?: string;
}

export async function launch(kernels: KernelRegistry, encoder: GPUCommandEncoder, k: KernelLaunch): Promise<void> {
  const pipeline = await kernels.pipeline(k.file, k.entry ?? 'main', k.constants ?? {});
  const uniform = Array.isArray(k.params) ? kernels.uniformBlock(k.params) : k.params;
  const entries: Array<readonly [number, BufferOrRange]> = [[0, uniform]];
  for (const binding in k.buffers) entries.push([Number(binding), k.buffers[binding]!]);
  const pass = openPass(encoder);
  pass.setPipeline(pipeline);
  pass.setBindGroup(0, kernels.bindGroup(pipeline, entries));
  const [x, y = 1, z = 1] = k.groups;
  pass.dispatchWorkgroups(x, y, z);
}

// A shader names an optional binding even when the override that reads it is off (layout 'auto' is reflected
// before overrides prune the branch): attention's key mask without USE_MASK, split_qkv's bias without BIAS. Such a
// call binds this 16-byte placeholder, one per device, which is never read.
const placeholders = new WeakMap<GPUDevice, GPUBuffer>();
export function unusedBinding(device: GPUDevice): GPUBuffer {
  let b = placeholders.get(device);
  if (!b) {
    b = device.createBuffer({ size: 16, usage: 0x80 /* STORAGE */, label: 'unused-binding' });
    placeholders.set(device, b);
  }
  return b;
}

const openPasses = new WeakMap<GPUCommandEncoder, GPUComputePassEncoder>();
const wrapped = new WeakSet<GPUCommandEncoder>();
/** Every GPUCommandEncoder method that cannot run while a pass is open. */
const CLOSES_PASS = [
  'beginComputePass',
  'beginRenderPass',
  'clearBuffer',
  'copyBufferToBuffer',
  'copyBufferToTexture',
  'copyTextureToBuffer',
  'copyTextureToTexture',
  'finish',
  'resolveQuerySet',
] as const;

/** The encoder's open compute pass, begun (and the encoder's methods wrapped to close it) on first use. */
function openPass(encoder: GPUCommandEncoder): GPUComputePassEncoder {
  let pass = openPasses.get(encoder);
  if (pass) return pass;
  if (!wrapped.has(encoder)) {
    wrapped.add(encoder);
    const e = encoder as unknown as Record<string, unknown>;
    for (const name of CLOSES_PASS) {
      const original = e[name];
      if (typeof original !== 'function') continue;
      e[name] = (...args: unknown[]) => {
        endPass(encoder);
        return (original as (...a: unknown[]) => unknown).apply(encoder, args);
      };
    }
  }
  const timestampWrites = passTimestamps.get(encoder);
  passTimestamps.delete(encoder);
  pass = encoder.beginComputePass(timestampWrites ? { label: 'alloy', timestampWrites } : { label: 'alloy' });
  openPasses.set(encoder, pass);
  return pass;
}

const passTimestamps = new WeakMap<GPUCommandEncoder, GPUComputePassTimestampWrites>();
/**
 * The next compute pass the encoder opens writes these timestamps at its start and end (timestamp-query; the
 * kernel bench times each repetition as one pass: end the one before with endPass).
 */
export function timestampNextPass(encoder: GPUCommandEncoder, writes: GPUComputePassTimestampWrites): void {
  endPass(encoder);
  passTimestamps.set(encoder, writes);
}

/** Ends the encoder's open compute pass, if any (the wrapped encoder methods call this themselves). */
export function endPass(encoder: GPUCommandEncoder): void {
  const pass = openPasses.get(encoder);
  if (!pass) return;
  openPasses.delete(encoder);
  pass.end();
}

/** Shape checks fail in TypeScript with a readable message rather than as a GPU validation error later. */
export function requireShape(ok: boolean, op: string, what: string): void {
  if (!ok) throw new RangeError(`${op}: ${what}`);
}
