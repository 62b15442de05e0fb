/**
 * Matmul with a ggml block-quantised weight (Q8_0, Q4_0, Q5_0, Q4_K, Q5_K, Q6_K) that stays packed on the GPU: the kernels
 * read the blocks (laid out by quant-layout.ts, documented in shaders/_quant_blocks.wgsl) and de-quantise in
 * registers, to the same values as ggml's de-quantiser. W is [rows, cols] as GGUF stores it (rows = output
 * features). Two products, as a frozen weight needs:
 * - transB (forward, y = x·Wᵀ): C[M, rows] = alpha·A[M, cols]·Wᵀ + beta·C;
 * - plain (backward, dX = dY·W): C[M, cols] = alpha·A[M, rows]·W + beta·C.
 * Kernels by family, picked as for 16-bit weights (matmul-w16.ts, matmul-hw.ts): software: matmul_q_nt_4x4
 * (matmulUses4x4's small shapes), matmul_q_nt, matmul_q (plain); hardware: hw_matvec_q (M ≤ MATVEC.maxRows),
 * hw_matmul_q (the tiled kernel, either form).
 */
import type { KernelRegistry } from '../gpu/kernels.ts';
import { grid1d, launch, requireShape } from './dispatch.ts';
import { HW_TILE_K, hwMatmulTile, hwUsesMatvec, MATVEC, matvecLanes } from './matmul-hw.ts';
import { actVariant, MATMUL_TILE, matmulUses4x4, nt4x4Groups, ntColGroups, ntRowGroups, requireActF16 } from './matmul.ts';
import { GPU_QUANT_TYPES, quantGpuWords, type GpuQuantType } from './quant-layout.ts';

/**
 * At most this many 4-column groups per thread in matmul_q_nt (matmul_nt takes up to 8): each group inlines 4
 * block decoders into the k loop, and SwiftShader's compiler did not finish a Q4_K kernel with 8 (32 decoders)
 * in minutes, while 2 compile in about a second. The decoded quads are still reused for 16 rows of A.
 */
export const Q_NT_MAX_COL_GROUPS = 2;

/** A quantised weight on the GPU: its packed buffer, ggml type and stored shape [rows, cols]. */
export interface QuantMatrix {
  buffer: GPUBuffer;
  type: GpuQuantType;
  rows: number;
  cols: number;
}

export interface MatmulQArgs {
  /** rows of A (and C) */
  M: number;
  /** true: C = A·Wᵀ (A [M, cols]); false: C = A·W (A [M, rows]) */
  transB: boolean;
  alpha?: number;
  beta?: number;
  /** f16 A / f16 C, the hardware family only: MatmulArgs.aF16 / cF16 */
  aF16?: boolean;
  cF16?: boolean;
}

export async function encodeMatmulQ(
  kernels: KernelRegistry,
  encoder: GPUCommandEncoder,
  a: GPUBuffer,
  w: QuantMatrix,
  c: GPUBuffer,
  args: MatmulQArgs,
  /** the hardware tiled kernel's C tile (tests force each one); by default hwMatmulTile's choice */
  tile?: { M: number; N: number },
): Promise<void> {
  const { M, transB } = args;
  const t = GPU_QUANT_TYPES[w.type];
  const blocks = (w.rows * w.cols) / t.block;
  const { dOff, words } = quantGpuWords(w.type, blocks);
  requireShape(w.cols % t.block === 0 && Number.isInteger(blocks), 'matmul_q', `a ${w.type} row of ${w.cols} is not whole blocks`);
  requireShape(w.buffer.size >= words * 4, 'matmul_q', `the ${w.type} [${w.rows}, ${w.cols}] weight needs ${words * 4} bytes`);
  const N = transB ? w.rows : w.cols;
  const K = transB ? w.cols : w.rows;
  const params = [{ u32: M }, { u32: N }, { u32: K }, { u32: w.cols }, { u32: dOff }, { u32: 0 }, { f32: args.alpha ?? 1 }, { f32: args.beta ?? 0 }];
  const QTYPE = t.id;
  const buffers = { 1: a, 2: w.buffer, 3: c };
  const shape = { M, N, K, transB };
  // bF16 is no field here (B is the quantized weight); a caller passing MatmulArgs anyway is refused by name
  requireActF16(kernels.family, { M, N, aF16: args.aF16, bF16: (args as { bF16?: boolean }).bF16, cF16: args.cF16 }, 'matmul_q', true);
  if (kernels.family === 'hardware') {
    if (hwUsesMatvec(shape)) {
      const lanes = matvecLanes(K);
      const rows = MATVEC.threads / lanes;
      await launch(kernels, encoder, { file: actVariant('hw_matvec_q', args), constants: { QTYPE, ROWS: rows, LANES: lanes }, params, buffers, groups: [...grid1d(Math.ceil(N / rows))] });
      return;
    }
    const tl = tile ?? hwMatmulTile(M, N, 1, kernels.hwTuning.minWorkgroups);
    await launch(kernels, encoder, {
      file: actVariant('hw_matmul_q', args),
      // A [M, K] loads whole vec4s when K % 4 == 0 (always in the forward form: K = cols is whole blocks)
      constants: { QTYPE, TRANS_B: transB, A_VEC: K % 4 === 0, TILE_M: tl.M, TILE_N: tl.N, TILE_K: HW_TILE_K },
      params,
      buffers,
      groups: [Math.ceil(N / tl.N), Math.ceil(M / tl.M)],
    });
    return;
  }
  if (transB && matmulUses4x4(shape)) {
    await launch(kernels, encoder, { file: 'matmul_q_nt_4x4', constants: { QTYPE }, params, buffers, groups: nt4x4Groups(M, N, 1) });
    return;
  }
  if (transB) {
    const rowGroups = ntRowGroups(M);
    const colGroups = Math.min(Q_NT_MAX_COL_GROUPS, ntColGroups(N));
    await launch(kernels, encoder, {
      file: 'matmul_q_nt',
      constants: { QTYPE, ROW_GROUPS: rowGroups, COL_GROUPS: colGroups },
      params,
      buffers,
      groups: [Math.ceil(N / (32 * colGroups)), Math.ceil(M / (32 * rowGroups))],
    });
    return;
  }
  await launch(kernels, encoder, { file: 'matmul_q', constants: { QTYPE }, params, buffers, groups: [Math.ceil(N / MATMUL_TILE.N), Math.ceil(M / MATMUL_TILE.M)] });
}
