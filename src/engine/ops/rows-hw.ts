/**
 * The hardware kernel family's row-wise ops (KernelRegistry.family === 'hardware'): RMSNorm forward/backward
 * (shaders/hw_rmsnorm*.wgsl), log-softmax / target log-prob / cross-entropy backward (hw_logsoftmax*.wgsl) and
 * greedy decoding's argmax (hw_argmax*.wgsl). encodeRmsNorm, encodeLogSoftmax, encodeArgmax and the rest dispatch
 * here on a hardware-family registry; this module only picks the variant (vec4 when the row width is a multiple
 * of 4, so every row starts on a 16-byte boundary; scalar otherwise; vec2 for RMSNorm rows of f16 activations whose
 * width is not a multiple of 4, hwRowFile) and the workgroup shape. The shape lives here
 * only: the shaders take it as override constants (LANES, ROWS, DW_COLS).
 */
import type { KernelRegistry, Overrides } from '../gpu/kernels.ts';
import { grid1d, launch, type Field } from './dispatch.ts';
import { AlloyError } from '../../common/errors.ts';

/** Invocations per row at most, and per workgroup at least (narrow rows share a workgroup). */
export const HW_ROWS = { maxLanes: 256, minThreads: 64 } as const;

/**
 * A row's workgroup shape for a width of `width` elements: the file variant (vec4 or scalar), LANES invocations
 * per row (the largest power of 2 not above the row's Q count, so no lane starts idle, at most HW_ROWS.maxLanes)
 * and ROWS rows per workgroup (so that a workgroup has at least HW_ROWS.minThreads invocations).
 */
export function hwRowShape(width: number): { vec4: boolean; lanes: number; rows: number } {
  const vec4 = width % 4 === 0;
  return { vec4, ...rowLanes(vec4 ? width / 4 : width) };
}

function rowLanes(quads: number): { lanes: number; rows: number } {
  let lanes = 1;
  while (lanes * 2 <= Math.min(quads, HW_ROWS.maxLanes)) lanes *= 2;
  return { lanes, rows: Math.max(1, HW_ROWS.minThreads / lanes) };
}

/**
 * The file and shape of a row kernel of `width` elements: `file` (vec4), `file_x1` (scalar), or, for rows with f16
 * activations (act-dtype.ts) whose width is even but not a multiple of 4, `file_x2` (vec2: one word of two f16
 * values a Q, since a scalar invocation would race its neighbour for the other half of a word), with the `tags`
 * of the f16 storage twins (gpu/kernels.ts variantSource) appended.
 */
export function hwRowFile(file: string, width: number, tags: readonly string[] = []): { file: string; lanes: number; rows: number; qw: 1 | 2 | 4 } {
  if (tags.length > 0 && width % 4 !== 0) {
    if (width % 2 !== 0) throw new AlloyError(`${file}: rows of f16 activations need an even width, got ${width}`);
    return { file: [`${file}_x2`, ...tags].join('+'), ...rowLanes(width / 2), qw: 2 };
  }
  const shape = hwRowShape(width);
  return { file: [shape.vec4 ? file : `${file}_x1`, ...tags].join('+'), lanes: shape.lanes, rows: shape.rows, qw: shape.vec4 ? 4 : 1 };
}

/**
 * Columns (in Qs) per workgroup of the column-parallel dw pass (shaders/_hw_rmsnorm.wgsl dw_main: 256
 * invocations, 256/cols row slices each): 16 when that still launches 128 workgroups, else 8, else 4, so a narrow
 * hidden size (SmolLM2-135M's 144 vec4s) gets 36 workgroups rather than 9 (each row's 4 Qs, 64 bytes, still
 * fill whole 32-byte memory sectors).
 */
export function hwDwCols(quads: number): number {
  for (const cols of [16, 8]) if (Math.ceil(quads / cols) >= 128) return cols;
  return 4;
}

export async function launchHwRows(
  kernels: KernelRegistry,
  encoder: GPUCommandEncoder,
  k: {
    file: 'hw_rmsnorm' | 'hw_logsoftmax' | 'hw_argmax';
    entry: string;
    rows: number;
    width: number;
    params: Field[];
    buffers: Record<number, GPUBuffer>;
    constants?: Overrides;
    /** f16 storage twins to use (hw_rmsnorm: 'x16' reads x, 'y16' writes y as f16 pairs); see hwRowFile */
    tags?: readonly string[];
  },
): Promise<void> {
  const shape = hwRowFile(k.file, k.width, k.tags);
  await launch(kernels, encoder, {
    file: shape.file,
    entry: k.entry,
    constants: { ...k.constants, LANES: shape.lanes, ROWS: shape.rows },
    params: k.params,
    buffers: k.buffers,
    groups: grid1d(Math.ceil(k.rows / shape.rows)),
  });
}

/** dw += Σ_rows dy ⊙ x·r, column-parallel (one dispatch, fixed-order reduction over rows); `tags` as launchHwRows'. */
export async function launchHwRmsNormDw(
  kernels: KernelRegistry,
  encoder: GPUCommandEncoder,
  k: { rows: number; hidden: number; x: GPUBuffer; rstd: GPUBuffer; dy: GPUBuffer; dw: GPUBuffer; tags?: readonly string[] },
): Promise<void> {
  // the rows' file for this width (x as f16 pairs, tag x16: vec4, or vec2 when H is not a multiple of 4)
  const { file, qw } = hwRowFile('hw_rmsnorm', k.hidden, k.tags);
  const quads = k.hidden / qw;
  const cols = hwDwCols(quads);
  await launch(kernels, encoder, {
    file,
    entry: 'dw_main',
    constants: { DW_COLS: cols },
    params: [{ u32: k.rows }, { u32: k.hidden }, { f32: 0 }],
    buffers: { 1: k.x, 4: k.rstd, 5: k.dy, 7: k.dw },
    groups: grid1d(Math.ceil(quads / cols)),
  });
}
