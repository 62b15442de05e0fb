/**
 * Column blocks in and out of one packed matrix (shaders/columns.wgsl): packed [rows, w0 + w1 + w2] ↔ dense
 * a [rows, w0], b [rows, w1], c [rows, w2] (c absent for two blocks). Pure copies of 32-bit words, so bit-exact
 * (f32, or f16 pairs with even widths: `f16`); the fused projections (q|k|v, gate|up) use them where training or
 * LoRA needs the blocks apart.
 */
import type { KernelRegistry } from '../gpu/kernels.ts';
import { grid1d, launch, requireShape } from './dispatch.ts';

export interface ColumnBlocks {
  rows: number;
  /** each block's width in elements */
  widths: readonly [number, number] | readonly [number, number, number];
  /**
   * The matrices are f16 activations (act-dtype.ts: two halves a u32 word, the lower index in the low half): every
   * width must be even, so each block is whole words, and the copy moves words at half the widths (bit-exact).
   */
  f16?: boolean;
}

// A two-block call binds this for c (layout 'auto' reflects every binding the entry point names).
const spare = new WeakMap<GPUDevice, GPUBuffer>();
function placeholder(device: GPUDevice): GPUBuffer {
  let b = spare.get(device);
  if (!b) {
    b = device.createBuffer({ size: 16, usage: 0x80 /* STORAGE */, label: 'columns.unused' });
    spare.set(device, b);
  }
  return b;
}

async function encodeColumns(kernels: KernelRegistry, encoder: GPUCommandEncoder, entry: 'split' | 'pack', packed: GPUBuffer, parts: readonly GPUBuffer[], blocks: ColumnBlocks): Promise<void> {
  if (blocks.f16) requireShape(blocks.widths.every((w) => w % 2 === 0), 'columns', `f16 column blocks need even widths (whole words of two values), got ${blocks.widths.join(', ')}`);
  const [w0 = 0, w1 = 0, w2 = 0] = blocks.widths.map((w) => (blocks.f16 ? w / 2 : w));
  requireShape(parts.length === blocks.widths.length, 'columns', `${blocks.widths.length} blocks need ${blocks.widths.length} buffers, got ${parts.length}`);
  requireShape(new Set([packed, ...parts]).size === parts.length + 1, 'columns', 'packed and the blocks must be distinct buffers');
  const n = blocks.rows * (w0 + w1 + w2);
  await launch(kernels, encoder, {
    file: 'columns',
    entry,
    params: [{ u32: blocks.rows }, { u32: w0 }, { u32: w1 }, { u32: w2 }],
    buffers: { 1: packed, 2: parts[0]!, 3: parts[1]!, 4: parts[2] ?? placeholder(kernels.device) },
    groups: grid1d(Math.ceil(n / 256)),
  });
}

/** Each block of packed into its own buffer. */
export function encodeSplitColumns(kernels: KernelRegistry, encoder: GPUCommandEncoder, packed: GPUBuffer, parts: readonly GPUBuffer[], blocks: ColumnBlocks): Promise<void> {
  return encodeColumns(kernels, encoder, 'split', packed, parts, blocks);
}

/** The blocks side by side in packed. */
export function encodePackColumns(kernels: KernelRegistry, encoder: GPUCommandEncoder, parts: readonly GPUBuffer[], packed: GPUBuffer, blocks: ColumnBlocks): Promise<void> {
  return encodeColumns(kernels, encoder, 'pack', packed, parts, blocks);
}

/** Where a column block sits in a row-major matrix: its row stride and first column, in elements. */
export interface ColumnWindow {
  stride: number;
  col: number;
}

/**
 * dst[r, dstAt.col + j] = src[r, srcAt.col + j] for r < rows, j < cols (shaders/copy_columns.wgsl): one dispatch
 * where a copyBufferToBuffer per row would do (a split lm_head's logit columns, model/head.ts). Bit-exact.
 */
export async function encodeCopyColumns(
  kernels: KernelRegistry,
  encoder: GPUCommandEncoder,
  src: GPUBuffer,
  srcAt: ColumnWindow,
  dst: GPUBuffer,
  dstAt: ColumnWindow,
  rows: number,
  cols: number,
): Promise<void> {
  requireShape(src !== dst, 'copy_columns', 'src and dst must be distinct buffers');
  requireShape(srcAt.col + cols <= srcAt.stride && dstAt.col + cols <= dstAt.stride, 'copy_columns', `a ${cols}-column block must fit both rows`);
  await launch(kernels, encoder, {
    file: 'copy_columns',
    params: [{ u32: rows }, { u32: cols }, { u32: srcAt.stride }, { u32: srcAt.col }, { u32: dstAt.stride }, { u32: dstAt.col }],
    buffers: { 1: src, 2: dst },
    groups: grid1d(Math.ceil((rows * cols) / 256)),
  });
}
