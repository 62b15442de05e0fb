// The hardware row kernels' subgroup variant (shaders/_hw_reduce_sg.wgsl) on SwiftShader: that it really takes
// the subgroup path there (not its fallback for scattered subgroups), and that it gives the same bits as the core
// variant (_hw_reduce) for every row width, since both compute one fixed tree; the same for the mat-vec (decode),
// whose rows are weight rows. Each variant is also checked against the CPU references in rmsnorm*, logsoftmax*,
// argmax and matvec-norm.gpu.test.ts (matmul*.gpu.test.ts run the device's choice: subgroups here).
import { afterAll, describe, expect, it } from 'vitest';
import { randomArray } from '../../helpers/gpu.ts';
import { harness, releaseAll } from './op-harness.ts';
import { readBuffer } from '../../../src/engine/gpu/buffer-pool.ts';
import { SUBGROUP_SHADER_SOURCES } from '../../../src/engine/gpu/kernels.ts';
import { HW_ROWS } from '../../../src/engine/ops/rows-hw.ts';
import { encodeRmsNorm, encodeRmsNormBackward } from '../../../src/engine/ops/rmsnorm.ts';
import { encodeCrossEntropyBackward, encodeLogSoftmax, encodeTargetLogProb, IGNORE_TARGET } from '../../../src/engine/ops/logsoftmax.ts';
import { encodeArgmax } from '../../../src/engine/ops/argmax.ts';
import { encodeMatmul } from '../../../src/engine/ops/matmul.ts';
import { encodeHwMatvecNormed } from '../../../src/engine/ops/matmul-hw.ts';
import { f32ToBf16Bits } from '../../../src/io/safetensors/dtypes.ts';
import { grid1d, launch } from '../../../src/engine/ops/dispatch.ts';
import { rmsNormBackwardRef } from '../../../src/engine/reference/rmsnorm.ts';
import { maxAbsDiff } from '../../helpers/gpu.ts';

/** Runs a probe shader's probe_main over 3 workgroups with `constants`; returns the two words it writes at group 1. */
async function runProbe(device: GPUDevice, module: GPUShaderModule, constants: Record<string, number>): Promise<Uint32Array> {
  const pipeline = await device.createComputePipelineAsync({ layout: 'auto', compute: { module, entryPoint: 'probe_main', constants } });
  const buf = device.createBuffer({ size: 8, usage: GPUBufferUsage.STORAGE | GPUBufferUsage.COPY_SRC });
  const enc = device.createCommandEncoder();
  const pass = enc.beginComputePass();
  pass.setPipeline(pipeline);
  pass.setBindGroup(1, device.createBindGroup({ layout: pipeline.getBindGroupLayout(1), entries: [{ binding: 0, resource: { buffer: buf } }] }));
  pass.dispatchWorkgroups(3);
  pass.end();
  device.queue.submit([enc.finish()]);
  const out = new Uint32Array(await readBuffer(device, buf, 8));
  buf.destroy();
  return out;
}

/** Each `fn NAME(…) … { body }` of WGSL source `src`, by name, and which of them are @compute entry points. */
function wgslFunctions(code: string): { bodies: Map<string, string>; entries: string[] } {
  const src = code.replace(/\/\/.*$/gm, ''); // comments name functions too
  const bodies = new Map<string, string>();
  const entries: string[] = [];
  for (const m of src.matchAll(/(@compute[^\n]*\n)?fn (\w+)\(/g)) {
    let i = src.indexOf('{', m.index + m[0].length);
    const start = i;
    for (let depth = 0; ; i++) {
      if (src[i] === '{') depth++;
      else if (src[i] === '}' && --depth === 0) break;
    }
    bodies.set(m[2]!, src.slice(start + 1, i));
    if (m[1]) entries.push(m[2]!);
  }
  return { bodies, entries };
}

/** How many times a call of `fn` runs subgroup_layout, following the calls in its body (loop-free code). */
function verdictsTaken(bodies: Map<string, string>, fn: string): number {
  if (fn === 'subgroup_layout') return 1;
  let n = 0;
  for (const [callee] of bodies) {
    if (callee === fn) continue;
    const calls = [...bodies.get(fn)!.matchAll(new RegExp(`\\b${callee}\\(`, 'g'))].length;
    if (calls > 0) n += calls * verdictsTaken(bodies, callee);
  }
  return n;
}

afterAll(releaseAll);

describe('hardware row kernels with subgroups', () => {
  it('has a subgroup variant of each row kernel, and only of those', () => {
    expect(Object.keys(SUBGROUP_SHADER_SOURCES).sort()).toEqual(
      ['hw_argmax', 'hw_argmax_x1', 'hw_logsoftmax', 'hw_logsoftmax_x1', 'hw_matvec', 'hw_matvec_q', 'hw_matvec_w16', 'hw_rmsnorm', 'hw_rmsnorm_x1', 'hw_rmsnorm_x2'],
    );
    for (const src of Object.values(SUBGROUP_SHADER_SOURCES)) expect(src.startsWith('enable subgroups;\n')).toBe(true);
  });

  // The layout verdict costs a barrier (workgroupUniformLoad): every entry point takes it once, as its first
  // statement (so outside any loop or branch), and the reductions take it as an argument; none takes it itself.
  it('takes the subgroup layout verdict once per kernel invocation', () => {
    const counts: string[] = [];
    for (const [file, src] of Object.entries(SUBGROUP_SHADER_SOURCES)) {
      const { bodies, entries } = wgslFunctions(src);
      expect([...src.matchAll(/workgroupUniformLoad\(/g)].length).toBe(1);
      expect(bodies.get('subgroup_layout')).toContain('workgroupUniformLoad(');
      for (const name of ['row_sum', 'row_max_sum', 'row_argmax', 'row_sum4', 'col_sum']) {
        if (bodies.has(name)) expect(verdictsTaken(bodies, name)).toBe(0);
      }
      expect(entries.length).toBeGreaterThan(0);
      for (const entry of entries) {
        expect(verdictsTaken(bodies, entry), `${file} ${entry}`).toBe(1);
        expect(bodies.get(entry)!.trimStart()).toMatch(/^let sg = (row|col)_layout\(ids\);/);
        counts.push(`${file}.${entry}: ${[...bodies.get(entry)!.matchAll(/\b(row_sum4?|row_max_sum|row_argmax|col_sum|normalize_row)\(/g)].length} reduction call(s), 1 verdict`);
      }
    }
    console.log(counts.join('\n'));
  });

  // A probe entry point added to the real kernel source: what the layout verdict (row_layout) decides for each
  // workgroup shape ops/rows-hw.ts launches (LANES 1…256 per row, ROWS rows a workgroup).
  it('takes the subgroup path on this device for every workgroup shape the rows use', async () => {
    const { device } = await harness('hardware', true);
    const code = `${SUBGROUP_SHADER_SOURCES.hw_argmax_x1!}
@group(1) @binding(0) var<storage, read_write> probe: array<u32>;
@compute @workgroup_size(LANES, ROWS)
fn probe_main(ids: RowIds) {
  let b = min(LANES, row_layout(ids));
  if (ids.lidx == 0u) { probe[0] = b; probe[1] = ids.sg_size; }
}`;
    const module = device.createShaderModule({ code });
    const seen: string[] = [];
    for (let lanes = 1; lanes <= HW_ROWS.maxLanes; lanes *= 2) {
      const rows = Math.max(1, HW_ROWS.minThreads / lanes); // as hwRowShape gives them
      const [block, size] = await runProbe(device, module, { LANES: lanes, ROWS: rows });
      seen.push(`LANES ${lanes} × ROWS ${rows}: subgroup size ${size}, butterfly over ${block}`);
      expect(block).toBe(Math.min(lanes, size!));
    }
    console.log(seen.join('\n'));
  });

  // Widths giving LANES below, at and above SwiftShader's subgroup size of 4 (1, 2, 4, 64, 256 lanes), vec4
  // and scalar, several rows a workgroup and a ragged last one.
  const shapes = [
    [9, 1],
    [13, 2],
    [70, 12],
    [5, 131],
    [6, 1031],
    [3, 4100],
    [2, 4099],
  ] as const;

  async function run(subgroups: boolean, rows: number, width: number): Promise<Uint8Array[]> {
    const { device, kernels, pool } = await harness('hardware', subgroups);
    const x = randomArray(rows * width, rows * 13 + width).map((v) => 8 * v);
    const w = randomArray(width, width + 1);
    const dy = randomArray(rows * width, width + 2);
    const targets = Uint32Array.from({ length: rows }, (_, r) => (r % 3 === 1 ? IGNORE_TARGET : (r * 7919) % width));
    const weights = randomArray(rows, width + 3);
    const X = pool.upload(x);
    const outs = {
      y: pool.alloc(x.byteLength),
      rstd: pool.alloc(rows * 4),
      dx: pool.alloc(x.byteLength),
      dw: pool.upload(new Float32Array(width)),
      logp: pool.alloc(x.byteLength),
      picked: pool.alloc(rows * 4),
      dlogits: pool.alloc(x.byteLength),
      argmax: pool.alloc(rows * 4),
    };
    const enc = device.createCommandEncoder();
    const W = pool.upload(w);
    await encodeRmsNorm(kernels, enc, X, W, outs.y, { rows, hidden: width, eps: 1e-5 }, outs.rstd);
    await encodeRmsNormBackward(kernels, enc, X, W, outs.rstd, pool.upload(dy), outs.dx, { rows, hidden: width }, outs.dw);
    await encodeLogSoftmax(kernels, enc, X, outs.logp, { rows, vocab: width });
    const T = pool.upload(targets);
    await encodeTargetLogProb(kernels, enc, X, T, outs.picked, { rows, vocab: width });
    await encodeCrossEntropyBackward(kernels, enc, X, T, pool.upload(weights), outs.dlogits, { rows, vocab: width });
    await encodeArgmax(kernels, enc, X, outs.argmax, { rows, vocab: width });
    device.queue.submit([enc.finish()]);
    return Promise.all(Object.values(outs).map(async (b) => new Uint8Array(await readBuffer(device, b, b === outs.dw ? width * 4 : b.size))));
  }

  for (const [rows, width] of shapes) {
    it(`rows=${rows} width=${width}: RMSNorm, its backward, log-softmax, target log-prob, CE backward and argmax give the core variant's bits`, async () => {
      const core = await run(false, rows, width);
      const sg = await run(true, rows, width);
      const again = await run(true, rows, width);
      for (let i = 0; i < core.length; i++) {
        expect(Buffer.from(sg[i]!).equals(Buffer.from(core[i]!))).toBe(true);
        expect(Buffer.from(again[i]!).equals(Buffer.from(sg[i]!))).toBe(true);
      }
    });
  }

  // The mat-vec (M ≤ 4 rows of A against each weight row): K giving 1, 16 and 64 lanes, vec4 and gathered A,
  // and the RMSNorm-folded entry with f32 and bf16 weights.
  async function runMatvec(subgroups: boolean, M: number, N: number, K: number): Promise<Uint8Array[]> {
    const { device, kernels, pool } = await harness('hardware', subgroups);
    const a = randomArray(M * K, K + M);
    const w = randomArray(N * K, K + 1);
    const outs = [pool.alloc(M * N * 4), pool.alloc(M * N * 4), pool.alloc(M * N * 4)];
    const enc = device.createCommandEncoder();
    const A = pool.upload(a);
    await encodeMatmul(kernels, enc, A, pool.upload(w), outs[0]!, { M, N, K, transB: true });
    if (K % 4 === 0) {
      const g = pool.upload(randomArray(K, K + 2).map((x) => 1 + 0.5 * x));
      await encodeHwMatvecNormed(kernels, enc, A, g, 1e-5, pool.upload(w), outs[1]!, { M, N, K, transB: true });
      await encodeHwMatvecNormed(kernels, enc, A, g, 1e-5, pool.upload(Uint16Array.from(w, f32ToBf16Bits)), outs[2]!, { M, N, K, transB: true }, 'bf16');
    }
    device.queue.submit([enc.finish()]);
    return Promise.all(outs.map(async (b) => new Uint8Array(await readBuffer(device, b, M * N * 4))));
  }

  for (const [M, N, K] of [
    [1, 37, 3],
    [3, 70, 68],
    [4, 9, 580],
    [2, 33, 1027],
  ] as const) {
    it(`mat-vec M=${M} N=${N} K=${K} (plain and RMSNorm-folded): the core variant's bits`, async () => {
      const core = await runMatvec(false, M, N, K);
      const sg = await runMatvec(true, M, N, K);
      for (let i = 0; i < core.length; i++) expect(Buffer.from(sg[i]!).equals(Buffer.from(core[i]!))).toBe(true);
    });
  }

  // RMSNorm's dγ pass (dw_main, _hw_colsum / _hw_colsum_sg): its subgroup levels are those whose partners are
  // fewer than a subgroup apart, k·DW_COLS < S. SwiftShader's S = 4 leaves none at the DW_COLS ≥ 4 that hwDwCols
  // picks, so DW_COLS 1 and 2 (launched here directly) are what run its subgroup levels on this device (2 and 1
  // of them); 4 and 16 check the all-workgroup-memory path of the twin. Same bits as the core variant, and the CPU
  // reference's dw (tolerance as rmsnorm-backward.gpu.test.ts).
  it('the dγ pass takes the subgroup path on this device (verdict for its 256-invocation workgroup)', async () => {
    const { device } = await harness('hardware', true);
    const code = `${SUBGROUP_SHADER_SOURCES.hw_rmsnorm_x1!}
@group(1) @binding(0) var<storage, read_write> probe: array<u32>;
@compute @workgroup_size(DW_COLS, DW_SPLIT)
fn probe_main(ids: RowIds) {
  let sg = col_layout(ids);
  if (ids.lidx == 0u) { probe[0] = sg; probe[1] = ids.sg_size; }
}`;
    const module = device.createShaderModule({ code });
    for (const cols of [1, 2, 4, 8, 16]) {
      const [sg, size] = await runProbe(device, module, { DW_COLS: cols });
      console.log(`dγ DW_COLS ${cols}: subgroup size ${size}, verdict ${sg}, subgroup levels ${Math.log2(Math.max(1, Math.min(sg! / cols, 256 / cols)))}`);
      expect(sg).toBe(size);
    }
  });

  async function runDw(subgroups: boolean, rows: number, hidden: number, cols: number): Promise<{ dw: Float32Array; err: number }> {
    const { device, kernels, pool } = await harness('hardware', subgroups);
    const seed = rows * 17 + hidden;
    const x = randomArray(rows * hidden, seed);
    const w = randomArray(hidden, seed + 1);
    const dy = randomArray(rows * hidden, seed + 2);
    const dw0 = randomArray(hidden, seed + 3);
    const X = pool.upload(x);
    const R = pool.alloc(rows * 4);
    const DW = pool.upload(dw0);
    const enc = device.createCommandEncoder();
    await encodeRmsNorm(kernels, enc, X, pool.upload(w), pool.alloc(x.byteLength), { rows, hidden, eps: 1e-5 }, R);
    const vec4 = hidden % 4 === 0;
    const quads = vec4 ? hidden / 4 : hidden;
    await launch(kernels, enc, {
      file: vec4 ? 'hw_rmsnorm' : 'hw_rmsnorm_x1',
      entry: 'dw_main',
      constants: { DW_COLS: cols },
      params: [{ u32: rows }, { u32: hidden }, { f32: 0 }],
      buffers: { 1: X, 4: R, 5: pool.upload(dy), 7: DW },
      groups: grid1d(Math.ceil(quads / cols)),
    });
    device.queue.submit([enc.finish()]);
    const dw = new Float32Array(await readBuffer(device, DW, hidden * 4));
    const want = rmsNormBackwardRef(x, w, dy, rows, hidden, 1e-5).dw.map((v, c) => v + dw0[c]!);
    return { dw, err: maxAbsDiff(dw, want) };
  }

  for (const [rows, hidden, cols] of [
    [45, 9, 1],
    [3, 7, 2],
    [301, 13, 1],
    [150, 68, 2],
    [67, 36, 4],
    [5, 4099, 16],
  ] as const) {
    it(`dγ rows=${rows} hidden=${hidden} DW_COLS=${cols}: the core variant's bits, and the CPU reference's dw`, async () => {
      const core = await runDw(false, rows, hidden, cols);
      const sg = await runDw(true, rows, hidden, cols);
      console.log(`dγ rows=${rows} hidden=${hidden} DW_COLS=${cols}: max|Δdw| core ${core.err.toExponential(2)}, subgroups ${sg.err.toExponential(2)}`);
      expect(Buffer.from(sg.dw.buffer).equals(Buffer.from(core.dw.buffer))).toBe(true);
      expect(core.err).toBeLessThan(4e-6);
    });
  }
});
