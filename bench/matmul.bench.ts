// Matmul throughput at SmolLM2-135M shapes: ours (y = x·Wᵀ runs shaders/matmul_nt.wgsl) against TF.js's WebGPU
// backend on the same adapter in the same process. Both timings include submit + readback of the result, measured
// alike. Rows marked "bf16 W" time our 16-bit-weight kernel (matmul_w16_nt.wgsl, weights left packed on the GPU)
// against TF.js's f32 matmul of the same shape: TF.js has no 16-bit weights, and f32 is what it would run.
// ALLOY_BENCH_ROWS sets M (tokens in the batch; default 128 to keep SwiftShader runs short, 512 = the issue's).
import { it } from 'vitest';
import { acquireNodeDevice, nodeGpu } from '../src/engine/gpu/node-gpu.ts';
import { BufferPool, readBuffer } from '../src/engine/gpu/buffer-pool.ts';
import { KernelRegistry } from '../src/engine/gpu/kernels.ts';
import { encodeMatmul } from '../src/engine/ops/matmul.ts';
import { encodeMatmulW16 } from '../src/engine/ops/matmul-w16.ts';
import { timeIt, writeSuite, type BenchRow } from './report.ts';

const M = Number(process.env.ALLOY_BENCH_ROWS ?? 128);
// [K, N]: q_proj-like, down_proj, up/gate_proj, lm_head (hidden 576, intermediate 1536, vocab 49152)
const SHAPES: Array<[string, number, number]> = [
  ['up/gate_proj', 576, 1536],
  ['down_proj', 1536, 576],
  ['lm_head', 576, 49152],
];

it('matmul: Alloy vs TF.js WebGPU', async () => {
  const ctx = await acquireNodeDevice();
  const { device } = ctx;
  const kernels = new KernelRegistry(device);
  const pool = new BufferPool(device);

  // TF.js looks for navigator.gpu; hand it the same Dawn instance.
  Object.defineProperty(globalThis, 'navigator', { value: { gpu: await nodeGpu(), userAgent: 'node' }, configurable: true });
  const tf = await import('@tensorflow/tfjs-core');
  await import('@tensorflow/tfjs-backend-webgpu');
  await tf.setBackend('webgpu');
  await tf.ready();

  const rows: BenchRow[] = [];
  for (const [name, K, N] of SHAPES) {
    const flop = 2 * M * N * K;
    const A = pool.alloc(M * K * 4);
    const W = pool.alloc(N * K * 4); // [out, in], as HF stores weights
    const C = pool.alloc(M * N * 4);
    // Large products take a minute each on SwiftShader: time them once (after a warm-up).
    const runs = flop > 2e9 ? 1 : 3;
    const ours = await timeIt(async () => {
      const enc = device.createCommandEncoder();
      await encodeMatmul(kernels, enc, A, W, C, { M, N, K, transB: true });
      device.queue.submit([enc.finish()]);
      await readBuffer(device, C, M * N * 4);
    }, runs);
    const a = tf.randomUniform([M, K]);
    const w = tf.randomUniform([N, K]);
    const theirs = await timeIt(async () => {
      const c = tf.matMul(a, w, false, true);
      await c.data();
      c.dispose();
    }, runs);
    a.dispose();
    w.dispose();
    const row = (shape: string, alloy: number) => {
      rows.push({
        shape,
        'Alloy ms': alloy,
        'Alloy GFLOP/s': flop / alloy / 1e6,
        'TF.js ms': theirs,
        'TF.js GFLOP/s': flop / theirs / 1e6,
        'speed-up': theirs / alloy,
      });
      console.log(rows.at(-1));
    };
    row(`${name} ${M}×${K}×${N}`, ours);
    if (flop <= 2e9) {
      // Random bf16 weights in [-1, 1): the top halves of random f32s (no subnormals, which could slow a CPU).
      const bits = new Uint16Array(new Uint32Array(Float32Array.from({ length: N * K }, () => Math.random() * 2 - 1).buffer).map((u) => u >>> 16));
      const W16 = pool.upload(bits);
      const ours16 = await timeIt(async () => {
        const enc = device.createCommandEncoder();
        await encodeMatmulW16(kernels, enc, A, W16, C, { M, N, K, transB: true, dtype: 'bf16' });
        device.queue.submit([enc.finish()]);
        await readBuffer(device, C, M * N * 4);
      }, runs);
      pool.release(W16);
      row(`${name} bf16 W ${M}×${K}×${N}`, ours16);
    }
    pool.release(A);
    pool.release(W);
    pool.release(C);
  }
  writeSuite({
    suite: 'matmul',
    adapter: ctx.adapterInfo.description,
    note: 'Matmul y = x·Wᵀ at SmolLM2-135M shapes (f32; "bf16 W" rows: our kernel with packed bf16 weights against TF.js f32), median of 3 runs (1 for the lm_head shape) after a warm-up, submit to readback. TF.js = @tensorflow/tfjs-backend-webgpu 4.22 on the same Dawn adapter. Both read the whole result back.',
    rows,
  });
});
