// The sampling kernel against its CPU reference (ops/sample.ts), token for token: many random rows (flat, peaked,
// with tied logits, −∞ and NaN entries), many seeds' draws, every warper combination, short rows (one invocation
// per workgroup) and long ones (a full workgroup), and both workgroup shapes on the same rows. Any difference
// fails: the rule is integer arithmetic on both sides, so there is no tolerance. Log-probs (f32 on the GPU) are
// compared with the float64 log-softmax within 1e-4.
import { afterAll, describe, expect, it } from 'vitest';
import { readBuffer } from '../../../src/engine/gpu/buffer-pool.ts';
import { drawBits, encodeSample, EXP2_TABLES, sampleParams, sampleReference, type SampleParams } from '../../../src/engine/ops/sample.ts';
import { mulberry32 } from '../../../src/common/random.ts';
import { harness, releaseAll } from './op-harness.ts';

afterAll(() => {
  releaseAll();
  console.log(`sample kernel vs CPU reference: ${compared} draws compared, all equal; max |Δ log-prob| ${maxLpDiff.toExponential(2)}`);
});

let compared = 0;
let maxLpDiff = 0;

/** Rows of varied shape: spread (flat … peaked), ties, −∞ and NaN entries, from one seed. */
function makeRows(rows: number, V: number, seed: number): Float32Array {
  const rnd = mulberry32(seed);
  const out = new Float32Array(rows * V);
  for (let r = 0; r < rows; r++) {
    const spread = [0.3, 2, 6, 15][r % 4]!;
    const row = out.subarray(r * V, (r + 1) * V);
    for (let i = 0; i < V; i++) {
      // a sum of uniforms: bell-shaped, plus a few outliers on top
      row[i] = (rnd() + rnd() + rnd() - 1.5) * spread + (rnd() < 0.01 ? 3 * spread : 0);
    }
    if (r % 3 === 1 && V > 4) {
      // ties: a quarter of the row copies values from elsewhere (the top value among them)
      let top = 0;
      for (let i = 1; i < V; i++) if (row[i]! > row[top]!) top = i;
      for (let i = 0; i < V; i += 4) row[i] = row[(i * 7 + 3) % V]!;
      row[V - 1] = row[top]!;
      row[0] = row[top]!;
    }
    if (r % 5 === 2 && V > 3) {
      row[1] = -Infinity;
      row[V - 2] = -Infinity;
    }
    if (r % 7 === 3 && V > 3) row[2] = NaN;
  }
  return out;
}

async function compare(V: number, rows: number, opts: { temperature: number; topK?: number; topP?: number }, seed: number, workgroup?: number): Promise<void> {
  const { device, kernels, pool } = await harness();
  const params: SampleParams = sampleParams(opts);
  const logits = makeRows(rows, V, seed);
  const rng = mulberry32(seed ^ 0x5eed);
  const draws = Uint32Array.from({ length: rows }, () => drawBits(rng()));
  const out = pool.alloc(rows * 8);
  const enc = device.createCommandEncoder();
  await encodeSample(
    kernels,
    enc,
    { logits: pool.upload(logits), draws: pool.upload(draws), tables: pool.upload(EXP2_TABLES), weights: pool.alloc(rows * V * 4), out },
    { rows, vocab: V, params, logProbs: true, workgroup },
  );
  device.queue.submit([enc.finish()]);
  const got = new Uint32Array(await readBuffer(device, out, rows * 8));
  const lps = new Float32Array(got.buffer, rows * 4, rows);
  const want = Array.from({ length: rows }, (_, r) => sampleReference(logits, r * V, V, params, draws[r]!));
  expect([...got.subarray(0, rows)], `V ${V} ${JSON.stringify(opts)} seed ${seed} WG ${workgroup ?? 'default'}`).toEqual(want.map((w) => w.token));
  for (let r = 0; r < rows; r++) maxLpDiff = Math.max(maxLpDiff, Math.abs(lps[r]! - want[r]!.logProb));
  expect(maxLpDiff).toBeLessThan(1e-4);
  compared += rows;
}

const SETTINGS = [
  { temperature: 1 },
  { temperature: 0.8, topK: 40, topP: 0.9 },
  { temperature: 0.5, topK: 1 },
  { temperature: 2, topP: 0.5 },
  { temperature: 1.3, topP: 1e-3 },
  { temperature: 0.7, topK: 3, topP: 0.99 },
  { temperature: 0.05, topK: 500 },
  { temperature: 1, topP: 0 },
];

describe('sample kernel = CPU reference, exactly', () => {
  for (const V of [1, 2, 7, 64, 512]) {
    it(`V ${V}: every warper combination, 64 rows × 4 seeds each`, async () => {
      for (const [i, opts] of SETTINGS.entries()) for (let s = 0; s < 4; s++) await compare(V, 64, opts, V * 1000 + i * 10 + s);
    });
  }

  it('V 512 with a full workgroup (the long-row shape) on the same rows', async () => {
    for (const [i, opts] of SETTINGS.entries()) for (let s = 0; s < 2; s++) await compare(512, 64, opts, 512 * 1000 + i * 10 + s, 64);
  });

  it('V 5000 (a full workgroup) and V 5000 with one invocation', async () => {
    for (const [i, opts] of SETTINGS.entries()) await compare(5000, 16, opts, 77 + i);
    for (const [i, opts] of SETTINGS.slice(0, 3).entries()) await compare(5000, 8, opts, 99 + i, 1);
  });

  it('row blocks (a split lm_head): each dispatch writes its rows of one shared output, draws by absolute row', async () => {
    const { device, kernels, pool } = await harness();
    const V = 300;
    const rows = 8;
    const params = sampleParams({ temperature: 0.9, topK: 50, topP: 0.95 });
    const logits = makeRows(rows, V, 42);
    const rng = mulberry32(43);
    const draws = Uint32Array.from({ length: rows }, () => drawBits(rng()));
    const shared = { draws: pool.upload(draws), tables: pool.upload(EXP2_TABLES), weights: pool.alloc(rows * V * 4), out: pool.alloc(rows * 8) };
    const enc = device.createCommandEncoder();
    for (const [row0, n] of [[0, 3], [3, 5]] as const) {
      const block = pool.upload(logits.slice(row0 * V, (row0 + n) * V));
      await encodeSample(kernels, enc, { ...shared, logits: block }, { rows: n, vocab: V, params, row0, outRows: rows, logProbs: true });
    }
    device.queue.submit([enc.finish()]);
    const got = new Uint32Array(await readBuffer(device, shared.out, rows * 8));
    const want = Array.from({ length: rows }, (_, r) => sampleReference(logits, r * V, V, params, draws[r]!));
    expect([...got.subarray(0, rows)]).toEqual(want.map((w) => w.token));
    const lps = new Float32Array(got.buffer, rows * 4, rows);
    for (let r = 0; r < rows; r++) expect(Math.abs(lps[r]! - want[r]!.logProb)).toBeLessThan(1e-4);
    compared += rows;
  });

  it('V 50 000 (a large vocabulary), top-k 40 / top-p 0.9 and plain temperature', async () => {
    await compare(50_000, 8, SETTINGS[1]!, 5);
    await compare(50_000, 8, SETTINGS[0]!, 6);
  });
});
