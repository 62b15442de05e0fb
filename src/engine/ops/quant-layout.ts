/**
 * The GPU layout of a ggml block-quantised weight (shaders/_quant_blocks.wgsl documents it word by word): GGUF
 * blocks re-laid at upload so every field is read from aligned u32 words, at the same bytes per weight (Q8_0
 * 34 B, Q4_0 18 B, Q5_0 22 B, Q4_K 144 B, Q5_K 176 B, Q6_K 210 B per block; the 2-byte f16 scales that break
 * 4-byte alignment move to a table after the blocks, padded to a whole word; Q4_K and Q5_K blocks are whole words
 * already and stay as they are). Pure: the CPU side of the shaders' contract.
 */
import { AlloyError } from '../../common/errors.ts';

/**
 * The quantised types the GPU kernels read, with their ggml id, weights and GGUF bytes per block, the words a
 * block takes in the GPU layout, and whether its f16 scale moves to the table after the blocks.
 */
export const GPU_QUANT_TYPES = {
  Q8_0: { id: 8, block: 32, bytes: 34, bodyWords: 8, scaleTable: true },
  Q4_0: { id: 2, block: 32, bytes: 18, bodyWords: 4, scaleTable: true },
  Q5_0: { id: 6, block: 32, bytes: 22, bodyWords: 5, scaleTable: true },
  Q4_K: { id: 12, block: 256, bytes: 144, bodyWords: 36, scaleTable: false },
  Q5_K: { id: 13, block: 256, bytes: 176, bodyWords: 44, scaleTable: false },
  Q6_K: { id: 14, block: 256, bytes: 210, bodyWords: 52, scaleTable: true },
} as const;
export type GpuQuantType = keyof typeof GPU_QUANT_TYPES;

export function isGpuQuantType(type: string): type is GpuQuantType {
  return Object.hasOwn(GPU_QUANT_TYPES, type);
}

/** Where the f16 scale table starts (in words) and the buffer's size in words, for `blocks` blocks. */
export function quantGpuWords(type: GpuQuantType, blocks: number): { dOff: number; words: number } {
  const t = GPU_QUANT_TYPES[type];
  const dOff = blocks * t.bodyWords;
  return { dOff, words: t.scaleTable ? dOff + Math.ceil(blocks / 2) : dOff };
}

/** Bytes a [rows, cols] weight of `type` takes on the GPU (what memory plans count). */
export function quantGpuBytes(type: GpuQuantType, rows: number, cols: number): number {
  return quantGpuWords(type, (rows * cols) / GPU_QUANT_TYPES[type].block).words * 4;
}

/**
 * GGUF tensor bytes of a [rows, cols] weight → the GPU layout. `name` is for messages: a row that is not whole
 * blocks, or data of the wrong length, is refused naming the tensor.
 */
export function packQuantForGpu(type: GpuQuantType, data: Uint8Array, rows: number, cols: number, name = 'weight'): Uint32Array<ArrayBuffer> {
  const t = GPU_QUANT_TYPES[type];
  if (cols % t.block !== 0) throw new AlloyError(`${name}: a ${type} row of ${cols} weights is not whole ${t.block}-weight blocks`, { tensor: name });
  const blocks = (rows * cols) / t.block;
  if (data.byteLength !== blocks * t.bytes) {
    throw new AlloyError(`${name}: ${type} [${rows}, ${cols}] needs ${blocks * t.bytes} bytes, the tensor has ${data.byteLength}`, { tensor: name });
  }
  const { dOff, words } = quantGpuWords(type, blocks);
  const out = new Uint32Array(words);
  const bytes = new Uint8Array(out.buffer);
  const halves = new Uint16Array(out.buffer);
  for (let b = 0; b < blocks; b++) {
    const src = b * t.bytes;
    const dst = b * t.bodyWords * 4;
    switch (type) {
      case 'Q8_0':
      case 'Q4_0':
      case 'Q5_0': // f16 d, then the quants (Q5_0: the 32 high bits qh, then the nibbles qs)
        halves[dOff * 2 + b] = data[src]! | (data[src + 1]! << 8);
        bytes.set(data.subarray(src + 2, src + t.bytes), dst);
        break;
      case 'Q4_K':
      case 'Q5_K': // whole words: d|dmin, scales (Q5_K: then qh), qs
        bytes.set(data.subarray(src, src + t.bytes), dst);
        break;
      case 'Q6_K': // ql, qh, scales, then f16 d
        bytes.set(data.subarray(src, src + 208), dst);
        halves[dOff * 2 + b] = data[src + 208]! | (data[src + 209]! << 8);
        break;
    }
  }
  return out;
}
