// Matmul throughput at SmolLM2-135M shapes: ours (y = x·Wᵀ runs shaders/matmul_nt.wgsl) against TF.js's WebGPU
// backend on the same adapter in the same process. Both timings include submit + readback of the result, measured
// alike. Rows marked "bf16 W" time our 16-bit-weight kernel (matmul_nt.wgsl's W16 variant, weights left packed on the GPU)
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

/** Alloy's result against TF.js's on the same inputs. Entries of x and W lie in [-1, 1), so the partial sums of a
 * K-term dot stay around √K/3 and two f32 summation orders differ by a few ulps of that per step: well under
 * K·2⁻²⁰ (1.5e-3 at K = 1536). A wrong kernel (or zero-filled inputs) is off by O(1). */
function check(what: string, got: Float32Array, want: Float32Array, K: number): void {
  let worst = 0;
  for (let i = 0; i < want.length; i++) worst = Math.max(worst, Math.abs(got[i]! - want[i]!));
  const tol = K * 2 ** -20;
  console.log(`${what}: max |Alloy − TF.js| = ${worst.toExponential(2)} (tolerance ${tol.toExponential(2)})`);
  if (!(worst <= tol)) throw new Error(`matmul bench: ${what} differs from TF.js by ${worst} (> ${tol}); not timing a wrong result`);
}

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
    // One set of random inputs for every contender. W is bf16-exact (the top halves of random f32s in [-1, 1):
    // no subnormals, which could slow a CPU), so the packed-bf16 rows multiply the very numbers TF.js gets in f32
    // and all outputs must agree up to f32 summation order.
    const x = Float32Array.from({ length: M * K }, () => Math.random() * 2 - 1);
    const bits = new Uint16Array(new Uint32Array(Float32Array.from({ length: N * K }, () => Math.random() * 2 - 1).buffer).map((u) => u >>> 16));
    const wF32 = new Float32Array(new Uint32Array(Array.from(bits, (b) => b << 16)).buffer);
    const A = pool.upload(x);
    const W = pool.upload(wF32); // [out, in], as HF stores weights
    const C = pool.alloc(M * N * 4);
    // Large products take a minute each on SwiftShader: time them once. The checked run below is the warm-up.
    const runs = flop > 2e9 ? 1 : 3;
    const a = tf.tensor2d(x, [M, K]);
    const w = tf.tensor2d(wF32, [N, K]);
    const runTheirs = async () => {
      const c = tf.matMul(a, w, false, true);
      const out = (await c.data()) as Float32Array;
      c.dispose();
      return out;
    };
    const runOurs = async (encode: (enc: GPUCommandEncoder) => Promise<void>) => {
      const enc = device.createCommandEncoder();
      await encode(enc);
      device.queue.submit([enc.finish()]);
      return new Float32Array(await readBuffer(device, C, M * N * 4));
    };
    const f32 = (enc: GPUCommandEncoder) => encodeMatmul(kernels, enc, A, W, C, { M, N, K, transB: true });
    const want = await runTheirs();
    check(`${name} f32`, await runOurs(f32), want, K);
    const ours = await timeIt(async () => void (await runOurs(f32)), runs, 0);
    const theirs = await timeIt(async () => void (await runTheirs()), runs, 0);
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
      const W16 = pool.upload(bits);
      const w16 = (enc: GPUCommandEncoder) => encodeMatmulW16(kernels, enc, A, W16, C, { M, N, K, transB: true, dtype: 'bf16' });
      check(`${name} bf16 W`, await runOurs(w16), want, K);
      const ours16 = await timeIt(async () => void (await runOurs(w16)), runs, 0);
      pool.release(W16);
      row(`${name} bf16 W ${M}×${K}×${N}`, ours16);
    }
    a.dispose();
    w.dispose();
    pool.release(A);
    pool.release(W);
    pool.release(C);
  }
  writeSuite({
    suite: 'matmul',
    adapter: ctx.adapterInfo.description,
    note: 'Matmul y = x·Wᵀ at SmolLM2-135M shapes (f32; "bf16 W" rows: our kernel with packed bf16 weights against TF.js f32), median of 3 runs (1 for the lm_head shape) after a warm-up, submit to readback. TF.js = @tensorflow/tfjs-backend-webgpu 4.22 on the same Dawn adapter. Both multiply the same random x and bf16-exact W, and the warm-up outputs are checked against each other (max |Δ| ≤ K·2⁻²⁰) before anything is timed. Both read the whole result back.',
    rows,
  });
});
