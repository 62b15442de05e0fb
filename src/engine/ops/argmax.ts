/**
 * Row-wise argmax (shaders/argmax.wgsl): out u32 [rows] = the first maximum of each row of logits f32 [rows, V],
 * the same pick as the CPU sampler's argmax (model/score.ts). Greedy decoding reads back these ids, 4 bytes a
 * row, instead of the logits. With `row0`, row r's id goes to out[row0 + r] (one block of a batch's logits).
 */
import type { KernelRegistry } from '../gpu/kernels.ts';
import { launch, requireShape } from './dispatch.ts';

export async function encodeArgmax(kernels: KernelRegistry, encoder: GPUCommandEncoder, logits: GPUBuffer, out: GPUBuffer, args: { rows: number; vocab: number; row0?: number }): Promise<void> {
  const { rows, vocab } = args;
  requireShape(rows > 0 && vocab > 0, 'argmax', `rows (${rows}) and vocab (${vocab}) must be positive`);
  requireShape(rows <= 65535, 'argmax', `at most 65535 rows, got ${rows}`);
  requireShape(out.size >= ((args.row0 ?? 0) + rows) * 4, 'argmax', `out holds fewer than ${(args.row0 ?? 0) + rows} ids`);
  await launch(kernels, encoder, {
    file: 'argmax',
    params: [{ u32: rows }, { u32: vocab }, { u32: args.row0 ?? 0 }],
    buffers: { 1: logits, 2: out },
    groups: [rows],
  });
}
