/**
 * `alloy bench kernels --tune`: the hardware family's tile rule measured on this adapter (gpu/hw-tuning.ts). Every
 * tiled product a model's training step runs (its projections at M = rows and LoRA's four skinny products) is
 * timed with each candidate C tile (ops/matmul-hw.ts HW_TILES), each result first checked against the CPU
 * reference; then each candidate minWorkgroups is scored by the sum of the times of the tiles it would pick, and
 * the best one is printed as the table entry to add, with the figures it was chosen from.
 */
import { AlloyError, CancelledError } from '../../common/errors.ts';
import { BufferPool } from '../gpu/buffer-pool.ts';
import { KernelRegistry } from '../gpu/kernels.ts';
import { DEFAULT_HW_TUNING, type HwTuningEntry } from '../gpu/hw-tuning.ts';
import { encodeHwMatmul, HW_TILES, hwMatmulTile } from '../ops/matmul-hw.ts';
import type { MatmulArgs } from '../ops/matmul.ts';
import { matmulCase, type BenchEnv } from './cases.ts';
import type { BenchModel } from './models.ts';
import type { BenchDevice } from './run.ts';
import { timeCase, timingMethod } from './timing.ts';

/** minWorkgroups values scored (the default among them). */
export const TUNE_MIN_WORKGROUPS = [16, 32, 64, 128, 256, 512, 1024] as const;

export interface TuneShape {
  label: string;
  args: MatmulArgs;
  /** ms per tile, by `${M}x${N}`; null where the check failed */
  ms: Record<string, number | null>;
}

export interface TuneReport {
  adapter: BenchDevice['adapterInfo'];
  timing: 'timestamp' | 'wall';
  shapes: TuneShape[];
  /** Σ ms of the picked tiles, per candidate minWorkgroups */
  scores: Record<string, number>;
  /** the table entry to add to gpu/hw-tuning.ts */
  entry: HwTuningEntry;
}

const key = (t: { M: number; N: number }) => `${t.M}x${t.N}`;

/** The tiled products of one training step of each model at `rows` tokens (LoRA rank r). */
export function tuneShapes(models: readonly BenchModel[], rows: number, r: number): { label: string; args: MatmulArgs; w16: boolean }[] {
  const out: { label: string; args: MatmulArgs; w16: boolean }[] = [];
  for (const m of models) {
    const q = m.heads * m.headDim;
    const kv = m.kvHeads * m.headDim;
    // the model's weights are BF16 (packed 16-bit B); LoRA's operands are f32
    const add = (what: string, args: MatmulArgs) => out.push({ label: `${m.name}: ${what} ${args.M}×${args.N}×${args.K}`, args, w16: !what.startsWith('LoRA') });
    add('q|k|v', { M: rows, N: q + 2 * kv, K: m.hidden, transB: true });
    add('o', { M: rows, N: m.hidden, K: q, transB: true });
    add('gate|up', { M: rows, N: 2 * m.intermediate, K: m.hidden, transB: true });
    add('down', { M: rows, N: m.hidden, K: m.intermediate, transB: true });
    add('down input grad', { M: rows, N: m.intermediate, K: m.hidden });
    add('LoRA x·Aᵀ', { M: rows, N: r, K: m.hidden, transB: true });
    add('LoRA dA', { M: r, N: m.hidden, K: rows, transA: true });
  }
  return out;
}

export async function tuneHwMatmul(
  ctx: BenchDevice,
  opts: { models: readonly BenchModel[]; rows: number; r?: number; targetMs?: number; signal?: AbortSignal; onProgress?: (p: { done: number; total: number; case: string }) => void },
): Promise<TuneReport> {
  const env: BenchEnv = { device: ctx.device, kernels: new KernelRegistry(ctx.device, 'hardware'), pool: new BufferPool(ctx.device), maxBinding: ctx.limits.maxStorageBufferBindingSize };
  const method = timingMethod(ctx.device);
  const shapes: TuneShape[] = [];
  const todo = tuneShapes(opts.models, opts.rows, opts.r ?? 16);
  const total = todo.length * HW_TILES.length;
  let done = 0;
  try {
    for (const [i, s] of todo.entries()) {
      const ms: Record<string, number | null> = {};
      for (const tile of HW_TILES) {
        if (opts.signal?.aborted) throw new CancelledError('tuning cancelled');
        opts.onProgress?.({ done: done++, total, case: `${s.label}, tile ${tile.M}×${tile.N}` });
        // the bench's own operands and sampled float64 check, with the product forced to this tile
        const c = matmulCase({ id: `tune.${i}`, role: 'qkv', group: 'projection', model: null, rows: s.args.M, label: s.label }, s.args, s.w16, 7 + i, (k, enc, a, b, out) =>
          encodeHwMatmul(k, enc, a, b, out, s.args, s.w16 ? 'bf16' : undefined, tile),
        );
        const p = await c.prepare(env);
        try {
          const enc = ctx.device.createCommandEncoder();
          await p.encode(enc);
          ctx.device.queue.submit([enc.finish()]);
          const chk = await p.check();
          ms[key(tile)] = chk.err <= chk.tol ? (await timeCase(ctx.device, p, method, opts.targetMs)).ms : null;
        } finally {
          p.release();
        }
      }
      shapes.push({ label: s.label, args: s.args, ms });
    }
  } finally {
    env.pool.destroyAll();
  }
  const scores: Record<string, number> = {};
  for (const mw of TUNE_MIN_WORKGROUPS) {
    scores[mw] = shapes.reduce((sum, s) => sum + (s.ms[key(hwMatmulTile(s.args.M, s.args.N, 1, mw))] ?? Infinity), 0);
  }
  const best = TUNE_MIN_WORKGROUPS.reduce((a, b) => (scores[b]! < scores[a]! ? b : a), DEFAULT_HW_TUNING.minWorkgroups as (typeof TUNE_MIN_WORKGROUPS)[number]);
  if (!Number.isFinite(scores[best]!)) throw new AlloyError('tuning: a tile failed its check against the CPU reference on every candidate; no entry to suggest');
  const a = ctx.adapterInfo;
  const source = `alloy bench kernels --tune on ${a.description} (${method} timing), ${new Date().toISOString().slice(0, 10)}: Σ ms ${TUNE_MIN_WORKGROUPS.map((m) => `${m}→${scores[m]!.toFixed(2)}`).join(', ')}`;
  return { adapter: a, timing: method, shapes, scores, entry: { vendor: a.vendor.toLowerCase(), architecture: a.architecture.toLowerCase(), tuning: { minWorkgroups: best }, source } };
}
