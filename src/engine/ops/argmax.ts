/**
 * Row-wise argmax (shaders/argmax.wgsl): out u32 [rows] = the first maximum of each row of logits f32 [rows, V],
 * the same pick as the CPU sampler's argmax (model/score.ts). Greedy decoding reads back these ids, 4 bytes a
 * row, instead of the logits. With `row0`, row r's id goes to out[row0 + r] (one block of a batch's logits).
 * The hardware family's kernel (shaders/hw_argmax*.wgsl: up to 256 lanes a row, vec4 loads) is dispatched
 * through rows-hw.ts; the pick is the same.
 */
import type { KernelRegistry } from '../gpu/kernels.ts';
import { launch, requireShape } from './dispatch.ts';
import { launchHwRows } from './rows-hw.ts';

export async function encodeArgmax(kernels: KernelRegistry, encoder: GPUCommandEncoder, logits: GPUBuffer, out: GPUBuffer, args: { rows: number; vocab: number; row0?: number }): Promise<void> {
  const { rows, vocab } = args;
  requireShape(rows > 0 && vocab > 0, 'argmax', `rows (${rows}) and vocab (${vocab}) must be positive`);
  requireShape(rows <= 65535, 'argmax', `at most 65535 rows, got ${rows}`);
  requireShape(out.size >= ((args.row0 ?? 0) + rows) * 4, 'argmax', `out holds fewer than ${(args.row0 ?? 0) + rows} ids`);
  const params = [{ u32: rows }, { u32: vocab }, { u32: args.row0 ?? 0 }];
  if (kernels.family === 'hardware') {
    await launchHwRows(kernels, encoder, { file: 'hw_argmax', entry: 'main', rows, width: vocab, params, buffers: { 1: logits, 2: out } });
    return;
  }
  await launch(kernels, encoder, {
    file: 'argmax',
    params,
    buffers: { 1: logits, 2: out },
    groups: [rows],
  });
}
