/**
 * Temperature / top-k / top-p sampling on the GPU (shaders/sample.wgsl) and its CPU reference.
 * Layouts: logits f32 [rows, V]; draws u32 [all rows] (U: the draw u = U / 2³²); tables u32 [768] (EXP2_TABLES);
 * weights u32 [all rows, V] scratch; out u32 [2·outRows]: ids, then the log-probs' f32 bits.
 *
 * Why an integer rule rather than a float one. transformers samples in f32 with softmax, cumsum and
 * multinomial; the CPU sampler (model/sampling.ts `sampleToken`) follows it in float64. A GPU kernel cannot match
 * either to the bit with floats: WGSL's exp is not correctly rounded (it differs between adapters), and a sum's
 * value depends on its reduction order, which differs between a workgroup tree and a CPU loop. A draw u that
 * falls between two versions of the same cumulative sum picks different tokens. So both sides compute the
 * probabilities as integers: the exponent (x − m)·log2(e)/T with two correctly rounded f32 operations (the same
 * bits on every adapter and in JS with Math.fround), floored to 24 fractional bits, then 2^(−q) from three
 * 256-entry Q31 tables (EXP2_TABLES, made once here and uploaded) in 32×32→64-bit integer products. From there
 * every sum is an exact u64, every threshold an integer comparison, and the draw u = U / 2³² (mulberry32's draws
 * are exactly that) becomes target = ⌊U·Z / 2³²⌋. Same integers in, same token out, on every adapter.
 *
 * How it relates to transformers' semantics (the float64 `sampleToken` stays as that reference): a weight is
 * exp((x − m)/T) within the f32 rounding of its exponent (~1.2e-7·(1 + |x − m|/T) relative, what HF's own f32
 * softmax carries) plus 2⁻³¹ of the top token's weight absolute; tokens below 2⁻³² of the top token weigh 0; a
 * top-p tie group at the boundary is kept whole. So the two pick different tokens only when u lies within ~1e-6
 * of a cumulative boundary, or a top-p cumulative within ~1e-6 of 1 − p: tests/engine/ops/sample.test.ts counts
 * it (0 of 8000 draws at V = 512).
 */
import type { KernelRegistry } from '../gpu/kernels.ts';
import { grid1d, launch, requireShape } from './dispatch.ts';

/**
 * Rows of at most this many logits run with one invocation per workgroup (no barriers: see the shader); lower than
 * logsoftmax's 4096, since one lane walks the row some 20 times here (a real GPU would idle longer).
 */
export const SAMPLE_SERIAL_MAX_VOCAB = 1024;
export const SAMPLE_WG = 256;

/** The sampler's settings as the kernel reads them (see `sampleParams`). */
export interface SampleParams {
  /** f32(log2(e) / temperature) */
  scale: number;
  /** 0 = off */
  topK: number;
  /** ⌊(1 − top_p)·2³²⌋; null = top-p off */
  keepP: number | null;
}

/** temperature > 0 (greedy is the argmax kernel); topK 0 or absent = off; topP ≥ 1 or absent = off. */
export function sampleParams(opts: { temperature?: number; topK?: number; topP?: number }): SampleParams {
  const T = opts.temperature ?? 0;
  if (!(T > 0) || !Number.isFinite(T)) throw new RangeError(`sampling needs a finite temperature > 0, got ${T}`);
  const scale = Math.fround(Math.LOG2E / T);
  if (!(scale > 0) || !Number.isFinite(scale)) throw new RangeError(`temperature ${T} is out of f32 range`);
  const topK = Math.max(0, Math.floor(opts.topK ?? 0));
  const topP = opts.topP ?? 1;
  if (Number.isNaN(topP)) throw new RangeError('top_p is NaN');
  const keepP = topP >= 1 ? null : Math.min(0xffffffff, Math.floor((1 - Math.max(topP, 0)) * 2 ** 32));
  return { scale, topK, keepP };
}

/** The draw u ∈ [0, 1) as the kernel takes it: U = ⌊u·2³²⌋ (exact for mulberry32's draws). */
export function drawBits(u: number): number {
  return Math.min(0xffffffff, Math.max(0, Math.floor(u * 2 ** 32)));
}

/** Q31 2^(−j/2⁸), 2^(−j/2¹⁶), 2^(−j/2²⁴) for j < 256: the GPU and the reference read the same table. */
export const EXP2_TABLES: Uint32Array = (() => {
  const t = new Uint32Array(768);
  for (let k = 0; k < 3; k++) for (let j = 0; j < 256; j++) t[k * 256 + j] = Math.round(2 ** 31 * 2 ** (-j / 2 ** (8 * (k + 1))));
  return t;
})();

export interface SampleArgs {
  /** rows in this dispatch (one logits block) */
  rows: number;
  vocab: number;
  params: SampleParams;
  /** the block's first row in draws / weights / out (default 0) */
  row0?: number;
  /** rows of out's id section (default row0 + rows) */
  outRows?: number;
  /** also write each token's log-prob (model's log-softmax, f32) after the ids */
  logProbs?: boolean;
  /** workgroup size; default 1 for rows ≤ SAMPLE_SERIAL_MAX_VOCAB, else SAMPLE_WG (tests run both) */
  workgroup?: number;
}

export interface SampleBuffers {
  logits: GPUBuffer;
  draws: GPUBuffer;
  /** EXP2_TABLES uploaded */
  tables: GPUBuffer;
  /** u32 [all rows, V] */
  weights: GPUBuffer;
  out: GPUBuffer;
}

export async function encodeSample(kernels: KernelRegistry, encoder: GPUCommandEncoder, b: SampleBuffers, args: SampleArgs): Promise<void> {
  const { rows, vocab, params } = args;
  const row0 = args.row0 ?? 0;
  const outRows = args.outRows ?? row0 + rows;
  requireShape(rows > 0 && vocab > 0, 'sample', `rows (${rows}) and vocab (${vocab}) must be positive`);
  requireShape(vocab < 2 ** 22, 'sample', `at most 2^22 logits a row (u64 mass sums), got ${vocab}`);
  requireShape(row0 + rows <= outRows, 'sample', `rows ${row0}…${row0 + rows - 1} do not fit ${outRows} output rows`);
  const wg = args.workgroup ?? (vocab <= SAMPLE_SERIAL_MAX_VOCAB ? 1 : SAMPLE_WG);
  const flags = (params.keepP !== null ? 1 : 0) | (args.logProbs ? 2 : 0);
  await launch(kernels, encoder, {
    file: 'sample',
    constants: { WG: wg },
    params: [
      { u32: rows },
      { u32: vocab },
      { u32: params.topK },
      { u32: params.keepP ?? 0 },
      { f32: params.scale },
      { u32: flags },
      { u32: row0 },
      { u32: outRows },
    ],
    buffers: { 1: b.logits, 2: b.draws, 3: b.tables, 4: b.weights, 5: b.out },
    groups: grid1d(rows),
  });
}

// ---- CPU reference ------------------------------------------------------------------------------------------
// The same rule, written independently of the kernel's algorithm (sorting where the kernel selects by radix,
// doubles and BigInt where it carries u64 in two words): the test compares tokens exactly.

/** The logit's order-preserving u32 key: −0 → +0, NaN → 0 (never kept). */
export function sampleKey(x: number): number {
  if (Number.isNaN(x)) return 0;
  const f = new Float32Array([x === 0 ? 0 : x]);
  const b = new Uint32Array(f.buffer)[0]!;
  return b >= 0x80000000 ? ~b >>> 0 : (b | 0x80000000) >>> 0;
}

/** ⌊a·b / 2³¹⌋ for a, b ≤ 2³¹ (16-bit halves keep every partial product exact in a double) */
function q31(a: number, b: number): number {
  const ah = Math.floor(a / 65536);
  const al = a % 65536;
  const bh = Math.floor(b / 65536);
  const bl = b % 65536;
  return 2 * ah * bh + Math.floor(((ah * bl + al * bh) * 65536 + al * bl) / 2 ** 31);
}

/** The Q31 weight of logit x given the row's largest logit m (x ≤ m), as the kernel computes it. */
export function sampleWeight(x: number, m: number, scale: number): number {
  const e = Math.fround(Math.fround(Math.fround(x) - Math.fround(m)) * scale);
  const q = Math.floor(Math.min(e * -16777216, 1073741824));
  const n = Math.floor(q / 2 ** 24);
  if (n >= 32) return 0;
  const f = q % 2 ** 24;
  const w = q31(q31(EXP2_TABLES[f >>> 16]!, EXP2_TABLES[256 + ((f >>> 8) & 255)]!), EXP2_TABLES[512 + (f & 255)]!);
  return Math.floor(w / 2 ** n);
}

export interface SampleResult {
  token: number;
  /** the model's log-prob of the token (float64 log-softmax of the f32 logits) */
  logProb: number;
}

/** One row's token for draw U (see `drawBits`): what the kernel writes, exactly. */
export function sampleReference(logits: ArrayLike<number>, offset: number, V: number, params: SampleParams, U: number): SampleResult {
  const xs = Float32Array.from({ length: V }, (_, i) => logits[offset + i]!);
  const keys = Uint32Array.from(xs, sampleKey);
  let mk = 0;
  for (const k of keys) mk = Math.max(mk, k);
  const mIndex = keys.indexOf(mk);
  const m = xs[mIndex]! === 0 ? 0 : xs[mIndex]!;

  // top-k: the k-th largest key
  let tauK = 1;
  if (params.topK > 0 && params.topK < V) tauK = Math.max(1, Uint32Array.from(keys).sort()[V - params.topK]!);
  const w = new Float64Array(V);
  let Z = 0; // < 2^22 · 2^31: exact in a double
  for (let i = 0; i < V; i++) {
    if (keys[i]! >= tauK) w[i] = sampleWeight(xs[i]!, m, params.scale);
    Z += w[i]!;
  }

  // top-p: ascending by key, the first token whose cumulative mass exceeds thr sets the key kept from
  let tauP = 0;
  if (params.keepP !== null) {
    const thr = (BigInt(Z) * BigInt(params.keepP)) >> 32n;
    const order = Array.from({ length: V }, (_, i) => i).sort((a, b) => keys[a]! - keys[b]! || a - b);
    let cum = 0n;
    for (const i of order) {
      cum += BigInt(w[i]!);
      if (cum > thr) {
        tauP = keys[i]!;
        break;
      }
    }
  }
  let Zk = 0;
  for (let i = 0; i < V; i++) if (keys[i]! >= tauP) Zk += w[i]!;

  // the draw: the first token (index order) whose inclusive cumulative mass exceeds ⌊U·Zk / 2³²⌋
  const target = Number((BigInt(U) * BigInt(Zk)) >> 32n);
  let token = 0xffffffff;
  let acc = 0;
  for (let i = 0; i < V; i++) {
    if (keys[i]! < tauP) continue;
    acc += w[i]!;
    if (target < acc) {
      token = i;
      break;
    }
  }
  let s = 0;
  for (const x of xs) if (!Number.isNaN(x)) s += Math.exp(x - m);
  return { token, logProb: xs[token]! - m - Math.log(s) };
}
