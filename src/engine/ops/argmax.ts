/**
 * Row-wise argmax (shaders/argmax.wgsl): out u32 [rows] = the first maximum of each row of logits f32 [rows, V],
 * the same pick as the CPU sampler's argmax (model/score.ts). Greedy decoding reads back these ids, 4 bytes a
 * row, instead of the logits.
 */
import type { KernelRegistry } from '../gpu/kernels.ts';
import { launch, requireShape } from './dispatch.ts';

export async function encodeArgmax(kernels: KernelRegistry, encoder: GPUCommandEncoder, logits: GPUBuffer, out: GPUBuffer, args: { rows: number; vocab: number }): Promise<void> {
  const { rows, vocab } = args;
  requireShape(rows > 0 && vocab > 0, 'argmax', `rows (${rows}) and vocab (${vocab}) must be positive`);
  requireShape(rows <= 65535, 'argmax', `at most 65535 rows, got ${rows}`);
  await launch(kernels, encoder, {
    file: 'argmax',
    params: [{ u32: rows }, { u32: vocab }],
    buffers: { 1: logits, 2: out },
    groups: [rows],
  });
}
