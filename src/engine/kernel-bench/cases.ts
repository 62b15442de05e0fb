/**
 * The kernel bench's cases (issue 15): each one a kernel (or the ops the engine runs for one step of work) on a
 * model's real shape, with its FLOPs and the bytes it must move at least, and a check of its output against a
 * float64 CPU reference on sampled entries, so no figure is shown for a wrong result. Sampling keeps the checks
 * cheap at M = 2048: whole references of these shapes would take minutes in JavaScript.
 *
 * Inputs are seeded uniform values in [−1, 1) (weights rounded to BF16, as models load), so a K-long dot product
 * stays around √K/3 and f32 summation error is far below K·2⁻²⁰, the matmul tolerance (a kernel that skips or
 * repeats one k-quad is off by O(1)). Attention and row-op outputs are O(1), checked at 1e-4 (f32 exp/log and
 * sums over ≤ 49152 terms stay well inside).
 */
import { mulberry32 } from '../../common/random.ts';
import { f32ToBf16Bits } from '../../io/safetensors/dtypes.ts';
import { f16Words, f16WordsToF32, roundToF16 } from '../act-dtype.ts';
import type { KernelFamily } from '../kernel-family.ts';
import type { BufferPool } from '../gpu/buffer-pool.ts';
import type { KernelRegistry } from '../gpu/kernels.ts';
import { encodeMatmul, type MatmulArgs } from '../ops/matmul.ts';
import { encodeMatmulW16 } from '../ops/matmul-w16.ts';
import { encodeAttention, encodeAttentionBackward, type AttentionArgs } from '../ops/attention.ts';
import { encodeRmsNorm, encodeRmsNormBackward } from '../ops/rmsnorm.ts';
import { encodeCrossEntropyBackward, encodeLogSoftmax } from '../ops/logsoftmax.ts';
import { encodeAddInPlace } from '../ops/elementwise.ts';
import type { BenchModel } from './models.ts';

export type CaseGroup = 'projection' | 'lora' | 'attention' | 'decode-attention' | 'rows' | 'dispatch';

export interface BenchEnv {
  device: GPUDevice;
  kernels: KernelRegistry;
  pool: BufferPool;
  /** the device's maxStorageBufferBindingSize: shapes whose buffers exceed it are trimmed (and say so) */
  maxBinding: number;
}

export interface CaseCheck {
  /** worst |got − want| over the sampled outputs */
  err: number;
  /** the bound err must stay under */
  tol: number;
}

export interface PreparedCase {
  /** the timed work: dispatches only, so one repetition is one compute pass */
  encode(enc: GPUCommandEncoder): Promise<void>;
  /** runs after at least one encode has been submitted */
  check(): Promise<CaseCheck>;
  release(): void;
}

export interface KernelCase {
  /** stable, for JSON consumers and tables: model.kind.shape */
  id: string;
  group: CaseGroup;
  model: string | null;
  /** what a reader sees: the op, its shape, and any trimming */
  label: string;
  flops: number;
  /** bytes the work must read and write at least (operands once) */
  bytes: number;
  /** dispatches in one repetition (the dispatch-overhead case divides by it) */
  dispatches: number;
  /** the families that run it (absent: both); f16-activation cases are the hardware family's */
  families?: readonly KernelFamily[];
  prepare(env: BenchEnv): Promise<PreparedCase>;
}

/** What the estimates in run.ts need to find each case: its role in a model's step. */
export type CaseRole = 'qkv' | 'o' | 'gate_up' | 'down' | 'lm_head' | 'lora_down' | 'lora_up' | 'lora_dB' | 'lora_dA' | 'attention' | 'attention_backward' | 'decode_attention' | 'decode_attention_f16kv' | 'rmsnorm' | 'rmsnorm_backward' | 'logsoftmax' | 'cross_entropy_backward' | 'dispatch';

export interface RoledCase extends KernelCase {
  role: CaseRole;
  /** rows (M) the case runs; the lm_head may be trimmed to fit one binding */
  rows: number;
  /** the op with f16 activations (act-dtype.ts): the estimates' f16 forward takes these in place of the f32 ones */
  actF16?: boolean;
}

/** The hardware family only: f16 activations are its kernels' variants. */
const HW_ONLY: readonly KernelFamily[] = ['hardware'];

const SAMPLES = 48;

function uniform(n: number, seed: number, scale = 1): Float32Array {
  const r = mulberry32(seed);
  const out = new Float32Array(n);
  for (let i = 0; i < n; i++) out[i] = (r() * 2 - 1) * scale;
  return out;
}

/** BF16 bits of f32 values (an even count: the kernels read 16-bit weights in u32 pairs) and their exact values. */
function bf16(values: Float32Array): { bits: Uint16Array; exact: Float32Array } {
  const bits = new Uint16Array(values.length + (values.length % 2));
  const exact = new Float32Array(values.length);
  const u = new Uint32Array(1);
  const f = new Float32Array(u.buffer);
  for (let i = 0; i < values.length; i++) {
    bits[i] = f32ToBf16Bits(values[i]!);
    u[0] = bits[i]! << 16;
    exact[i] = f[0]!;
  }
  return { bits, exact };
}

/** Reads `indices` (f32 elements) of a buffer: one 4-byte copy each into one staging buffer. */
async function readAt(env: BenchEnv, buf: GPUBuffer, indices: readonly number[]): Promise<Float32Array> {
  const staging = env.device.createBuffer({ size: Math.max(4, indices.length * 4), usage: 0x01 /* MAP_READ */ | 0x08 /* COPY_DST */, label: 'kernel-bench.sample' });
  try {
    const enc = env.device.createCommandEncoder({ label: 'kernel-bench.sample' });
    indices.forEach((at, i) => enc.copyBufferToBuffer(buf, at * 4, staging, i * 4, 4));
    env.device.queue.submit([enc.finish()]);
    await staging.mapAsync(0x01);
    return new Float32Array(staging.getMappedRange().slice(0));
  } finally {
    staging.destroy();
  }
}

/** Reads elements `indices` of an f16-pair buffer (act-dtype.ts): the word holding each, decoded. */
async function readF16At(env: BenchEnv, buf: GPUBuffer, indices: readonly number[]): Promise<Float32Array> {
  const words = await readAt(env, buf, indices.map((i) => i >> 1));
  const pairs = f16WordsToF32(new Uint32Array(words.buffer, words.byteOffset, words.length));
  return Float32Array.from(indices, (i, n) => pairs[2 * n + (i & 1)]!);
}

/** An input as a kernel reads it: f32, or rounded to f16 and packed in words (the values the reference sees). */
function actInput(x: Float32Array, f16: boolean | undefined): { values: Float32Array; upload: Float32Array | Uint32Array } {
  if (!f16) return { values: x, upload: x };
  const values = roundToF16(x);
  return { values, upload: f16Words(values) };
}

/** The bound for an output rounded to f16 once more: one f16 half-ulp-ish (2⁻¹⁰ relative) on top of the f32 bound. */
function f16OutTol(f32Tol: number, want: readonly number[]): number {
  return f32Tol + 2 ** -10 * want.reduce((m, w) => Math.max(m, Math.abs(w)), 0);
}

function worst(got: Float32Array, want: readonly number[]): number {
  let e = 0;
  want.forEach((w, i) => (e = Math.max(e, Number.isFinite(got[i]!) ? Math.abs(got[i]! - w) : Infinity)));
  return e;
}

/**
 * C = op(A)·op(B) as encodeMatmul (f32 B) or encodeMatmulW16 (BF16 B, `w16`) runs it. A is [M, K] (or [K, M]
 * when transA); B is [N, K] when transB, else [K, N].
 */
export function matmulCase(
  base: Omit<RoledCase, 'flops' | 'bytes' | 'prepare' | 'dispatches'>,
  args: MatmulArgs,
  w16: boolean,
  seed: number,
  /** the product as the tuner forces it (a given tile); by default encodeMatmul / encodeMatmulW16 */
  run?: (kernels: KernelRegistry, enc: GPUCommandEncoder, a: GPUBuffer, b: GPUBuffer, c: GPUBuffer) => Promise<void>,
): RoledCase {
  const { M, N, K } = args;
  return {
    ...base,
    flops: 2 * M * N * K,
    bytes: M * K * (args.aF16 ? 2 : 4) + N * K * (w16 ? 2 : 4) + M * N * (args.cF16 ? 2 : 4),
    dispatches: 1,
    ...(args.aF16 || args.cF16 ? { families: HW_ONLY, actF16: true } : {}),
    async prepare(env) {
      const { values: a, upload: aUp } = actInput(uniform(M * K, seed), args.aF16);
      const b = uniform(N * K, seed + 1);
      const wb = w16 ? bf16(b) : null;
      const bVals = wb ? wb.exact : b;
      const aBuf = env.pool.upload(aUp, 'kernel-bench.a');
      const bBuf = env.pool.upload(wb ? wb.bits : b, 'kernel-bench.b');
      const cBuf = env.pool.alloc(M * N * (args.cF16 ? 2 : 4), 'kernel-bench.c');
      const at = (i: number, k: number) => (args.transA ? a[k * M + i]! : a[i * K + k]!);
      const bt = (k: number, j: number) => (args.transB ? bVals[j * K + k]! : bVals[k * N + j]!);
      return {
        encode: (enc) =>
          run ? run(env.kernels, enc, aBuf, bBuf, cBuf) : wb ? encodeMatmulW16(env.kernels, enc, aBuf, bBuf, cBuf, { ...args, dtype: 'bf16' }) : encodeMatmul(env.kernels, enc, aBuf, bBuf, cBuf, args),
        async check() {
          const r = mulberry32(seed + 2);
          const picks = Array.from({ length: SAMPLES }, () => [Math.floor(r() * M), Math.floor(r() * N)] as const);
          const got = await (args.cF16 ? readF16At : readAt)(env, cBuf, picks.map(([i, j]) => i * N + j));
          const want = picks.map(([i, j]) => {
            let s = 0;
            for (let k = 0; k < K; k++) s += at(i, k) * bt(k, j);
            return s;
          });
          const tol = K * 2 ** -20;
          return { err: worst(got, want), tol: args.cF16 ? f16OutTol(tol, want) : tol };
        },
        release: () => [aBuf, bBuf, cBuf].forEach((x) => env.pool.release(x)),
      };
    },
  };
}

/** Scores of query row (b, i, h) against keys 0..S−1 of its KV head, scaled (float64); −∞ where not visible. */
function scoresOf(q: Float32Array, k: Float32Array, a: Required<Pick<AttentionArgs, 'T' | 'S' | 'nHeads' | 'nKv' | 'headDim'>> & { past: number }, b: number, i: number, h: number): Float64Array {
  const { T, S, nHeads: H, nKv, headDim: D, past } = a;
  const kh = Math.floor(h / (H / nKv));
  const scale = 1 / Math.sqrt(D);
  const s = new Float64Array(S).fill(-Infinity);
  const qo = ((b * T + i) * H + h) * D;
  for (let j = 0; j <= Math.min(S - 1, past + i); j++) {
    const ko = ((b * S + j) * nKv + kh) * D;
    let d = 0;
    for (let x = 0; x < D; x++) d += q[qo + x]! * k[ko + x]!;
    s[j] = d * scale;
  }
  return s;
}

/** softmax(s) (float64) and its log-sum-exp. */
function softmaxOf(s: Float64Array): { p: Float64Array; lse: number } {
  let m = -Infinity;
  for (const x of s) m = Math.max(m, x);
  let z = 0;
  for (const x of s) z += Math.exp(x - m);
  const lse = m + Math.log(z);
  return { p: s.map((x) => Math.exp(x - lse)), lse };
}

interface AttentionShape {
  batch: number;
  T: number;
  S: number;
  nHeads: number;
  nKv: number;
  headDim: number;
  past: number;
  /** k, v are an f16 KV cache (model/kv-dtype.ts): rounded to f16 and packed two to a word */
  kvF16?: boolean;
  /** q and the output are f16 activations (act-dtype.ts; the hardware family) */
  actF16?: boolean;
}

function attentionInputs(sh: AttentionShape, seed: number) {
  const { batch: B, T, S, nHeads: H, nKv, headDim: D } = sh;
  const kv = (s: number) => (sh.kvF16 ? roundToF16(uniform(B * S * nKv * D, s)) : uniform(B * S * nKv * D, s));
  const q = uniform(B * T * H * D, seed);
  return { q: sh.actF16 ? roundToF16(q) : q, k: kv(seed + 1), v: kv(seed + 2) };
}


/** The forward: causal attention (one query per sequence at the end of the cache for decode). */
function attentionCase(base: Omit<RoledCase, 'flops' | 'bytes' | 'prepare' | 'dispatches'>, sh: AttentionShape, seed: number): RoledCase {
  const { batch: B, T, S, nHeads: H, nKv, headDim: D } = sh;
  // causal: query i sees past + i + 1 keys; QKᵀ and PV are 2·D flops each per (query, key)
  const pairs = B * H * (T * sh.past + (T * (T + 1)) / 2);
  return {
    ...base,
    flops: 4 * D * pairs,
    bytes: (sh.actF16 ? 2 : 4) * D * 2 * B * T * H + (sh.kvF16 ? 2 : 4) * D * 2 * B * S * nKv,
    dispatches: 1,
    ...(sh.actF16 ? { families: HW_ONLY, actF16: true } : {}),
    async prepare(env) {
      const { q, k, v } = attentionInputs(sh, seed);
      const cached = (x: Float32Array, label: string) => env.pool.upload(sh.kvF16 ? f16Words(x) : x, label);
      const act = sh.actF16 ? 2 : 4;
      const bufs = [env.pool.upload(sh.actF16 ? f16Words(q) : q, 'kernel-bench.q'), cached(k, 'kernel-bench.k'), cached(v, 'kernel-bench.v'), env.pool.alloc((q.length * act + 3) & ~3, 'kernel-bench.out')] as const;
      const args: AttentionArgs = { ...sh };
      return {
        encode: (enc) => encodeAttention(env.kernels, enc, bufs[0], bufs[1], bufs[2], bufs[3], args),
        async check() {
          const r = mulberry32(seed + 3);
          const rows = Array.from({ length: Math.min(8, B * T * H) }, () => [Math.floor(r() * B), Math.floor(r() * T), Math.floor(r() * H)] as const);
          const idx: number[] = [];
          const want: number[] = [];
          for (const [b, i, h] of rows) {
            const { p } = softmaxOf(scoresOf(q, k, sh, b, i, h));
            const kh = Math.floor(h / (H / nKv));
            for (let x = 0; x < D; x++) {
              let o = 0;
              for (let j = 0; j < S; j++) if (p[j]) o += p[j]! * v[((b * S + j) * nKv + kh) * D + x]!;
              idx.push(((b * T + i) * H + h) * D + x);
              want.push(o);
            }
          }
          const got = await (sh.actF16 ? readF16At : readAt)(env, bufs[3], idx);
          return { err: worst(got, want), tol: sh.actF16 ? f16OutTol(1e-4, want) : 1e-4 };
        },
        release: () => bufs.forEach((x) => env.pool.release(x)),
      };
    },
  };
}

/** The backward (dq, dk, dv from dOut), after a forward that saved the log-sum-exps. */
function attentionBackwardCase(base: Omit<RoledCase, 'flops' | 'bytes' | 'prepare' | 'dispatches'>, sh: AttentionShape, seed: number): RoledCase {
  const { batch: B, T, S, nHeads: H, nKv, headDim: D } = sh;
  const pairs = B * H * (T * sh.past + (T * (T + 1)) / 2);
  return {
    ...base,
    // recomputed QKᵀ, dOut·Vᵀ, dS·K, dSᵀ·Q, Pᵀ·dOut: 5 products of 2·D per (query, key)
    flops: 10 * D * pairs,
    bytes: 4 * D * (4 * B * T * H + 4 * B * S * nKv),
    dispatches: 3,
    async prepare(env) {
      const { q, k, v } = attentionInputs(sh, seed);
      const dOut = uniform(q.length, seed + 4);
      const up = (x: Float32Array, l: string) => env.pool.upload(x, l);
      const bufs = {
        q: up(q, 'kernel-bench.q'),
        k: up(k, 'kernel-bench.k'),
        v: up(v, 'kernel-bench.v'),
        out: env.pool.alloc(q.byteLength, 'kernel-bench.out'),
        lse: env.pool.alloc(B * T * H * 4, 'kernel-bench.lse'),
        dOut: up(dOut, 'kernel-bench.dout'),
        dq: env.pool.alloc(q.byteLength, 'kernel-bench.dq'),
        dk: env.pool.alloc(k.byteLength, 'kernel-bench.dk'),
        dv: env.pool.alloc(v.byteLength, 'kernel-bench.dv'),
        stats: env.pool.alloc(B * T * H * 8, 'kernel-bench.stats'),
      };
      const args: AttentionArgs = { ...sh };
      const fwd = env.device.createCommandEncoder({ label: 'kernel-bench.attention-forward' });
      await encodeAttention(env.kernels, fwd, bufs.q, bufs.k, bufs.v, bufs.out, args, undefined, bufs.lse);
      env.device.queue.submit([fwd.finish()]);
      return {
        encode: (enc) => encodeAttentionBackward(env.kernels, enc, bufs, args),
        async check() {
          // one (batch row, KV head) group: its heads' probabilities in float64, then sampled rows of dq, dk, dv
          const r = mulberry32(seed + 5);
          const b = Math.floor(r() * B);
          const kh = Math.floor(r() * nKv);
          const group = H / nKv;
          const heads = Array.from({ length: group }, (_, g) => kh * group + g);
          const P = new Map<string, Float64Array>();
          const dS = new Map<string, Float64Array>();
          for (const h of heads) {
            for (let i = 0; i < T; i++) {
              const { p } = softmaxOf(scoresOf(q, k, sh, b, i, h));
              const oRow = ((b * T + i) * H + h) * D;
              const dp = new Float64Array(S);
              let delta = 0;
              for (let j = 0; j < S; j++) {
                if (!p[j]) continue;
                let d = 0;
                for (let x = 0; x < D; x++) d += dOut[oRow + x]! * v[((b * S + j) * nKv + kh) * D + x]!;
                dp[j] = d;
                delta += p[j]! * d;
              }
              P.set(`${h},${i}`, p);
              dS.set(`${h},${i}`, p.map((pj, j) => pj * (dp[j]! - delta)));
            }
          }
          const scale = 1 / Math.sqrt(D);
          const picks = Array.from({ length: 4 }, () => [Math.floor(r() * T), Math.floor(r() * S), heads[Math.floor(r() * group)]!] as const);
          const [dqIdx, dqWant, dkIdx, dkWant, dvIdx, dvWant] = [[], [], [], [], [], []] as number[][];
          for (const [i, j, h] of picks) {
            const ds = dS.get(`${h},${i}`)!;
            for (let x = 0; x < D; x++) {
              let s = 0;
              for (let jj = 0; jj < S; jj++) if (ds[jj]) s += ds[jj]! * k[((b * S + jj) * nKv + kh) * D + x]!;
              dqIdx!.push(((b * T + i) * H + h) * D + x);
              dqWant!.push(scale * s);
              let sk = 0;
              let sv = 0;
              for (const hh of heads) {
                for (let ii = 0; ii < T; ii++) {
                  const pij = P.get(`${hh},${ii}`)![j]!;
                  if (!pij) continue;
                  const qo = ((b * T + ii) * H + hh) * D;
                  sk += dS.get(`${hh},${ii}`)![j]! * q[qo + x]!;
                  sv += pij * dOut[qo + x]!;
                }
              }
              const kvAt = ((b * S + j) * nKv + kh) * D + x;
              dkIdx!.push(kvAt);
              dkWant!.push(scale * sk);
              dvIdx!.push(kvAt);
              dvWant!.push(sv);
            }
          }
          const err = Math.max(
            worst(await readAt(env, bufs.dq, dqIdx!), dqWant!),
            worst(await readAt(env, bufs.dk, dkIdx!), dkWant!),
            worst(await readAt(env, bufs.dv, dvIdx!), dvWant!),
          );
          return { err, tol: 1e-4 };
        },
        release: () => Object.values(bufs).forEach((x) => env.pool.release(x)),
      };
    },
  };
}

/** RMSNorm forward; `yF16`: the normed rows written as f16 activations (the f32 residual in, as a layer runs it). */
function rmsNormCase(base: Omit<RoledCase, 'flops' | 'bytes' | 'prepare' | 'dispatches'>, rows: number, hidden: number, seed: number, yF16 = false): RoledCase {
  const eps = 1e-5;
  return {
    ...base,
    flops: 4 * rows * hidden,
    bytes: (yF16 ? 6 : 8) * rows * hidden + 4 * hidden,
    dispatches: 1,
    ...(yF16 ? { families: HW_ONLY, actF16: true } : {}),
    async prepare(env) {
      const x = uniform(rows * hidden, seed);
      const w = uniform(hidden, seed + 1);
      const bufs = [env.pool.upload(x, 'kernel-bench.x'), env.pool.upload(w, 'kernel-bench.w'), env.pool.alloc(rows * hidden * (yF16 ? 2 : 4), 'kernel-bench.y')] as const;
      return {
        encode: (enc) => encodeRmsNorm(env.kernels, enc, bufs[0], bufs[1], bufs[2], { rows, hidden, eps, ...(yF16 ? { yF16 } : {}) }),
        async check() {
          const r = mulberry32(seed + 2);
          const picks = Array.from({ length: SAMPLES }, () => [Math.floor(r() * rows), Math.floor(r() * hidden)] as const);
          const want = picks.map(([i, c]) => {
            let ss = 0;
            for (let j = 0; j < hidden; j++) ss += x[i * hidden + j]! ** 2;
            return (x[i * hidden + c]! / Math.sqrt(ss / hidden + eps)) * w[c]!;
          });
          const got = await (yF16 ? readF16At : readAt)(env, bufs[2], picks.map(([i, c]) => i * hidden + c));
          return { err: worst(got, want), tol: yF16 ? f16OutTol(1e-4, want) : 1e-4 };
        },
        release: () => bufs.forEach((b) => env.pool.release(b)),
      };
    },
  };
}

function logSoftmaxCase(base: Omit<RoledCase, 'flops' | 'bytes' | 'prepare' | 'dispatches'>, rows: number, vocab: number, seed: number): RoledCase {
  return {
    ...base,
    flops: 5 * rows * vocab,
    bytes: 8 * rows * vocab,
    dispatches: 1,
    async prepare(env) {
      const x = uniform(rows * vocab, seed, 8);
      const bufs = [env.pool.upload(x, 'kernel-bench.logits'), env.pool.alloc(x.byteLength, 'kernel-bench.logp')] as const;
      return {
        encode: (enc) => encodeLogSoftmax(env.kernels, enc, bufs[0], bufs[1], { rows, vocab }),
        async check() {
          const r = mulberry32(seed + 1);
          const picks = Array.from({ length: SAMPLES }, () => [Math.floor(r() * rows), Math.floor(r() * vocab)] as const);
          const lse = new Map<number, number>();
          const want = picks.map(([i, c]) => {
            if (!lse.has(i)) lse.set(i, softmaxOf(Float64Array.from(x.subarray(i * vocab, (i + 1) * vocab))).lse);
            return x[i * vocab + c]! - lse.get(i)!;
          });
          return { err: worst(await readAt(env, bufs[1], picks.map(([i, c]) => i * vocab + c)), want), tol: 1e-4 };
        },
        release: () => bufs.forEach((b) => env.pool.release(b)),
      };
    },
  };
}

/** RMSNorm's input gradient dx from the forward's saved rstd (LoRA training: no norm-weight gradient). */
function rmsNormBackwardCase(base: Omit<RoledCase, 'flops' | 'bytes' | 'prepare' | 'dispatches'>, rows: number, hidden: number, seed: number): RoledCase {
  const eps = 1e-5;
  return {
    ...base,
    flops: 7 * rows * hidden,
    bytes: 12 * rows * hidden + 4 * hidden + 4 * rows,
    dispatches: 1,
    async prepare(env) {
      const x = uniform(rows * hidden, seed);
      const w = uniform(hidden, seed + 1);
      const dy = uniform(rows * hidden, seed + 2);
      const rstd = new Float32Array(rows);
      for (let i = 0; i < rows; i++) {
        let ss = 0;
        for (let j = 0; j < hidden; j++) ss += x[i * hidden + j]! ** 2;
        rstd[i] = 1 / Math.sqrt(ss / hidden + eps);
      }
      const p = env.pool;
      const bufs = [p.upload(x, 'kernel-bench.x'), p.upload(w, 'kernel-bench.w'), p.upload(rstd, 'kernel-bench.rstd'), p.upload(dy, 'kernel-bench.dy'), p.alloc(x.byteLength, 'kernel-bench.dx')] as const;
      return {
        encode: (enc) => encodeRmsNormBackward(env.kernels, enc, bufs[0], bufs[1], bufs[2], bufs[3], bufs[4], { rows, hidden }),
        async check() {
          const r = mulberry32(seed + 3);
          const picks = Array.from({ length: SAMPLES }, () => [Math.floor(r() * rows), Math.floor(r() * hidden)] as const);
          const want = picks.map(([i, c]) => {
            const inv = rstd[i]!;
            let s = 0;
            for (let j = 0; j < hidden; j++) s += dy[i * hidden + j]! * w[j]! * x[i * hidden + j]!;
            return inv * dy[i * hidden + c]! * w[c]! - (x[i * hidden + c]! * inv ** 3 * s) / hidden;
          });
          return { err: worst(await readAt(env, bufs[4], picks.map(([i, c]) => i * hidden + c)), want), tol: 1e-4 };
        },
        release: () => bufs.forEach((b) => env.pool.release(b)),
      };
    },
  };
}

/**
 * The loss backward over the vocabulary: dlogits = w·(softmax − onehot(target)). Into its own buffer, so every
 * repetition reads the same logits (training runs it in place over them: the same reads and writes).
 */
function crossEntropyBackwardCase(base: Omit<RoledCase, 'flops' | 'bytes' | 'prepare' | 'dispatches'>, rows: number, vocab: number, seed: number): RoledCase {
  return {
    ...base,
    flops: 6 * rows * vocab,
    bytes: 8 * rows * vocab,
    dispatches: 1,
    async prepare(env) {
      const x = uniform(rows * vocab, seed, 8);
      const r0 = mulberry32(seed + 1);
      const targets = Uint32Array.from({ length: rows }, () => Math.floor(r0() * vocab));
      const weights = new Float32Array(rows).fill(1 / rows);
      const p = env.pool;
      const bufs = [p.upload(x, 'kernel-bench.logits'), p.upload(targets, 'kernel-bench.targets'), p.upload(weights, 'kernel-bench.weights'), p.alloc(x.byteLength, 'kernel-bench.dlogits')] as const;
      return {
        encode: (enc) => encodeCrossEntropyBackward(env.kernels, enc, bufs[0], bufs[1], bufs[2], bufs[3], { rows, vocab }),
        async check() {
          const r = mulberry32(seed + 2);
          const picks = Array.from({ length: SAMPLES }, () => [Math.floor(r() * rows), Math.floor(r() * vocab)] as const);
          const lse = new Map<number, number>();
          const want = picks.map(([i, c]) => {
            if (!lse.has(i)) lse.set(i, softmaxOf(Float64Array.from(x.subarray(i * vocab, (i + 1) * vocab))).lse);
            return weights[i]! * (Math.exp(x[i * vocab + c]! - lse.get(i)!) - (c === targets[i] ? 1 : 0));
          });
          return { err: worst(await readAt(env, bufs[3], picks.map(([i, c]) => i * vocab + c)), want), tol: 1e-4 };
        },
        release: () => bufs.forEach((b) => env.pool.release(b)),
      };
    },
  };
}

/** The fixed cost of one dispatch: DISPATCHES tiny adds in one pass (the sum checked), timed per dispatch. */
const DISPATCHES = 64;
function dispatchCase(): RoledCase {
  return {
    id: 'dispatch.overhead',
    role: 'dispatch',
    group: 'dispatch',
    model: null,
    rows: 1,
    label: `dispatch overhead (${DISPATCHES} 4-element adds in one pass, per dispatch)`,
    flops: 0,
    bytes: 0,
    dispatches: DISPATCHES,
    async prepare(env) {
      const acc = env.pool.upload(new Float32Array(4), 'kernel-bench.acc');
      const one = env.pool.upload(new Float32Array([1, 2, 3, 4]), 'kernel-bench.one');
      let runs = 0;
      return {
        async encode(enc) {
          runs++;
          for (let i = 0; i < DISPATCHES; i++) await encodeAddInPlace(env.kernels, enc, acc, one, { n: 4 });
        },
        async check() {
          // every repetition adds DISPATCHES × (1, 2, 3, 4); exact in f32 at these sizes
          const got = await readAt(env, acc, [0, 1, 2, 3]);
          return { err: worst(got, [1, 2, 3, 4].map((x) => x * DISPATCHES * runs)), tol: 0.5 };
        },
        release: () => [acc, one].forEach((b) => env.pool.release(b)),
      };
    },
  };
}

export interface CaseOptions {
  /** rows of the batched products (tokens in a training micro-batch: B·T); default 2048 = 4 × 512 */
  rows: number;
  /** attention's batch × sequence; default 4 × 512 */
  attention: { batch: number; T: number };
  /** decode attention's context lengths; default 128, 512, 2048 */
  contexts: readonly number[];
  /** LoRA rank of the skinny products; default 16 */
  r: number;
}

export const DEFAULT_CASE_OPTIONS: CaseOptions = { rows: 2048, attention: { batch: 4, T: 512 }, contexts: [128, 512, 2048], r: 16 };

/**
 * Every case for `models`: per model its projections as the engine runs them (q|k|v and gate|up fused, BF16
 * weights) at M = rows and M = 1, the lm_head (trimmed to one binding), LoRA's four skinny products on a
 * q_proj-shaped module, attention forward and backward, decode attention per context, RMSNorm forward and backward,
 * log-softmax and the cross-entropy backward;
 * then one dispatch-overhead case.
 */
export function kernelCases(models: readonly BenchModel[], opts: CaseOptions, maxBinding: number): RoledCase[] {
  const out: RoledCase[] = [];
  let seed = 1;
  const next = () => (seed += 10);
  for (const m of models) {
    const slug = m.name.toLowerCase();
    const C = m.hidden;
    const qDim = m.heads * m.headDim;
    const kvDim = m.kvHeads * m.headDim;
    const projections: Array<[CaseRole, string, number, number]> = [
      ['qkv', 'q|k|v', qDim + 2 * kvDim, C],
      ['o', 'o', C, qDim],
      ['gate_up', 'gate|up', 2 * m.intermediate, C],
      ['down', 'down', C, m.intermediate],
      ['lm_head', 'lm_head', m.vocab, C],
    ];
    for (const M of [opts.rows, 1]) {
      for (const [role, name, N0, K] of projections) {
        // one binding holds the weight (BF16) and the output: the engine splits bigger heads the same way
        const N = role === 'lm_head' ? Math.min(N0, Math.floor(maxBinding / (2 * K)), Math.floor(maxBinding / (4 * M))) : N0;
        const trimmed = N < N0 ? ` (first ${N} of ${N0} rows: one binding)` : '';
        out.push(matmulCase({ id: `${slug}.${role}.m${M}`, role, group: 'projection', model: m.name, rows: M, label: `${name} ${M}×${N}×${K} BF16${trimmed}` }, { M, N, K, transB: true }, true, next()));
      }
    }
    // the layer's projections as a prefill with f16 activations runs them (model/layer.ts): q|k|v and gate|up read
    // and write f16, o and down read f16 and add into the f32 residual
    for (const [role, name, N, K] of projections.filter(([role]) => role !== 'lm_head')) {
      const io = role === 'qkv' || role === 'gate_up' ? { aF16: true, cF16: true } : { aF16: true };
      const what = io.cF16 ? 'f16 in and out' : 'f16 in';
      out.push(matmulCase({ id: `${slug}.${role}.m${opts.rows}.f16act`, role, group: 'projection', model: m.name, rows: opts.rows, label: `${name} ${opts.rows}×${N}×${K} BF16, ${what}` }, { M: opts.rows, N, K, transB: true, ...io }, true, next()));
    }
    const M = opts.rows;
    const r = opts.r;
    const lora = (role: CaseRole, what: string, args: MatmulArgs) =>
      out.push(matmulCase({ id: `${slug}.${role}`, role, group: 'lora', model: m.name, rows: M, label: `LoRA ${what} ${args.M}×${args.N}×${args.K}` }, args, false, next()));
    lora('lora_down', 'x·Aᵀ', { M, N: r, K: C, transB: true });
    lora('lora_up', 'xa·Bᵀ', { M, N: qDim, K: r, transB: true });
    lora('lora_dB', 'dB = dYᵀ·xa', { M: qDim, N: r, K: M, transA: true });
    lora('lora_dA', 'dA = gᵀ·x', { M: r, N: C, K: M, transA: true });
    const { batch, T } = opts.attention;
    const sh: AttentionShape = { batch, T, S: T, nHeads: m.heads, nKv: m.kvHeads, headDim: m.headDim, past: 0 };
    const heads = `(${m.heads}, ${m.kvHeads}) heads × ${m.headDim}`;
    out.push(attentionCase({ id: `${slug}.attention`, role: 'attention', group: 'attention', model: m.name, rows: batch * T, label: `attention ${batch} × ${T}, ${heads}` }, sh, next()));
    out.push(
      attentionCase(
        { id: `${slug}.attention.f16act`, role: 'attention', group: 'attention', model: m.name, rows: batch * T, label: `attention ${batch} × ${T}, ${heads}, f16 activations` },
        { ...sh, actF16: true, kvF16: true },
        next(),
      ),
    );
    out.push(attentionBackwardCase({ id: `${slug}.attention_backward`, role: 'attention_backward', group: 'attention', model: m.name, rows: batch * T, label: `attention backward ${batch} × ${T}, ${heads}` }, sh, next()));
    for (const ctx of opts.contexts) {
      const dec: AttentionShape = { batch: 1, T: 1, S: ctx, nHeads: m.heads, nKv: m.kvHeads, headDim: m.headDim, past: ctx - 1 };
      out.push(attentionCase({ id: `${slug}.decode_attention.c${ctx}`, role: 'decode_attention', group: 'decode-attention', model: m.name, rows: 1, label: `decode attention, context ${ctx}, ${heads}` }, dec, next()));
      // the same over an f16 KV cache (half the bytes of keys and values read: --kv-cache f16)
      out.push(
        attentionCase(
          { id: `${slug}.decode_attention_f16kv.c${ctx}`, role: 'decode_attention_f16kv', group: 'decode-attention', model: m.name, rows: 1, label: `decode attention, context ${ctx}, ${heads}, f16 KV cache` },
          { ...dec, kvF16: true },
          next(),
        ),
      );
    }
    out.push(rmsNormCase({ id: `${slug}.rmsnorm`, role: 'rmsnorm', group: 'rows', model: m.name, rows: M, label: `RMSNorm ${M} × ${C}` }, M, C, next()));
    out.push(rmsNormCase({ id: `${slug}.rmsnorm.f16act`, role: 'rmsnorm', group: 'rows', model: m.name, rows: M, label: `RMSNorm ${M} × ${C}, f16 out` }, M, C, next(), true));
    out.push(rmsNormBackwardCase({ id: `${slug}.rmsnorm_backward`, role: 'rmsnorm_backward', group: 'rows', model: m.name, rows: M, label: `RMSNorm backward ${M} × ${C}` }, M, C, next()));
    const lsRows = Math.max(1, Math.min(M, Math.floor(maxBinding / (4 * m.vocab))));
    out.push(logSoftmaxCase({ id: `${slug}.logsoftmax`, role: 'logsoftmax', group: 'rows', model: m.name, rows: lsRows, label: `log-softmax ${lsRows} × ${m.vocab}` }, lsRows, m.vocab, next()));
    out.push(crossEntropyBackwardCase({ id: `${slug}.cross_entropy_backward`, role: 'cross_entropy_backward', group: 'rows', model: m.name, rows: lsRows, label: `cross-entropy backward ${lsRows} × ${m.vocab}` }, lsRows, m.vocab, next()));
  }
  out.push(dispatchCase());
  return out;
}
