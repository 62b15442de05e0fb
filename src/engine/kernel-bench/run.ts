/**
 * The kernel bench / GPU check (issue 15): every case of cases.ts run with each kernel family on this device,
 * checked against the CPU reference first (a case that fails its check gets no figure), then timed (timing.ts);
 * GFLOP/s and GB/s per case, and per model an estimate of a training step, a forward of the batch and a decoded
 * token as the sum of the kernel times the engine's step would run. The CLI (`alloy bench kernels`) and the
 * studio's GPU check panel (through the worker) call runKernelBench and show the same report.
 */
import { AlloyError, CancelledError } from '../../common/errors.ts';
import { BufferPool } from '../gpu/buffer-pool.ts';
import { KernelRegistry } from '../gpu/kernels.ts';
import { KERNEL_FAMILIES, type KernelFamily } from '../kernel-family.ts';
import { DEFAULT_CASE_OPTIONS, kernelCases, type CaseGroup, type CaseOptions, type CaseRole, type RoledCase } from './cases.ts';
import { SMOLLM2_MODELS, type BenchModel } from './models.ts';
import { timeCase, timingMethod, type TimingMethod } from './timing.ts';

export interface KernelBenchOptions extends Partial<CaseOptions> {
  families?: readonly KernelFamily[];
  models?: readonly BenchModel[];
  /** case ids (or id prefixes) to run; default all */
  only?: readonly string[];
  onProgress?: (p: { done: number; total: number; family: KernelFamily; case: string }) => void;
  signal?: AbortSignal;
  /** GPU time each measurement aims at (timing.ts TARGET_MS; tests ask less) */
  targetMs?: number;
}

export interface CaseResult {
  id: string;
  family: KernelFamily;
  group: CaseGroup;
  model: string | null;
  label: string;
  /** milliseconds per repetition (per dispatch for the dispatch-overhead case); null when the check failed */
  ms: number | null;
  gflops: number | null;
  gbps: number | null;
  check: { err: number; tol: number; ok: boolean };
  error?: string;
}

export interface StepEstimate {
  model: string;
  family: KernelFamily;
  /** one LoRA training step of `rows` tokens (forward, the frozen weights' input gradients, LoRA's products on
   * all seven projections, attention forward and backward, norms), by the kernel times */
  trainStepMs: number | null;
  /** a forward of `rows` tokens, lm_head included */
  forwardMs: number | null;
  /**
   * the same forward with f16 activations (model/layer.ts layerActsF16): the layer's products, norms and attention
   * by their f16 cases; null for the software family (f32 only) or when a case was not run
   */
  forwardF16Ms: number | null;
  /** one decoded token at context 512 (or the middle context measured) */
  decodeMs: number | null;
  decodeTokPerSec: number | null;
}

export interface KernelBenchReport {
  format: 'alloy-kernel-bench';
  version: 1;
  adapter: { vendor: string; architecture: string; description: string; isFallbackAdapter: boolean };
  features: string[];
  timing: TimingMethod;
  options: CaseOptions;
  results: CaseResult[];
  estimates: StepEstimate[];
  startedAt: string;
  seconds: number;
}

export interface BenchDevice {
  device: GPUDevice;
  adapterInfo: KernelBenchReport['adapter'];
  features: string[];
  limits: { maxStorageBufferBindingSize: number };
}

export async function runKernelBench(ctx: BenchDevice, opts: KernelBenchOptions = {}): Promise<KernelBenchReport> {
  const t0 = performance.now();
  const options: CaseOptions = { ...DEFAULT_CASE_OPTIONS, ...Object.fromEntries(Object.entries(opts).filter(([k, v]) => k in DEFAULT_CASE_OPTIONS && v !== undefined)) };
  // attention follows the row count unless given: rows = batch × T with T at most 512 (2048 → 4 × 512)
  if (opts.rows !== undefined && opts.attention === undefined) options.attention = { batch: Math.ceil(opts.rows / 512), T: Math.min(512, opts.rows) };
  const families = opts.families ?? KERNEL_FAMILIES;
  const models = opts.models ?? SMOLLM2_MODELS;
  const maxBinding = ctx.limits.maxStorageBufferBindingSize;
  let cases = kernelCases(models, options, maxBinding);
  if (opts.only?.length) cases = cases.filter((c) => opts.only!.some((p) => c.id === p || c.id.startsWith(p)));
  if (cases.length === 0) throw new AlloyError(`no kernel bench case matches ${opts.only?.join(', ')}`);
  const method = timingMethod(ctx.device);
  const results: CaseResult[] = [];
  const runs = (c: RoledCase, family: KernelFamily) => !c.families || c.families.includes(family);
  const total = families.reduce((n, f) => n + cases.filter((c) => runs(c, f)).length, 0);
  let done = 0;
  for (const family of families) {
    const env = { device: ctx.device, kernels: new KernelRegistry(ctx.device, family), pool: new BufferPool(ctx.device), maxBinding };
    try {
      for (const c of cases.filter((x) => runs(x, family))) {
        if (opts.signal?.aborted) throw new CancelledError('kernel bench cancelled');
        opts.onProgress?.({ done, total, family, case: c.label });
        results.push(await runCase(env, c, family, method, opts.targetMs));
        done++;
      }
    } finally {
      env.pool.destroyAll();
    }
  }
  opts.onProgress?.({ done, total, family: families.at(-1)!, case: '' });
  return {
    format: 'alloy-kernel-bench',
    version: 1,
    adapter: ctx.adapterInfo,
    features: ctx.features,
    timing: method,
    options,
    results,
    estimates: families.flatMap((f) => models.map((m) => estimateStep(m, f, cases, results, options))),
    startedAt: new Date(Date.now() - (performance.now() - t0)).toISOString(),
    seconds: (performance.now() - t0) / 1000,
  };
}

async function runCase(env: { device: GPUDevice; kernels: KernelRegistry; pool: BufferPool; maxBinding: number }, c: RoledCase, family: KernelFamily, method: TimingMethod, targetMs?: number): Promise<CaseResult> {
  const base = { id: c.id, family, group: c.group, model: c.model, label: c.label };
  let prepared: Awaited<ReturnType<RoledCase['prepare']>> | null = null;
  try {
    prepared = await c.prepare(env);
    // one untimed run compiles the pipelines and gives the output the check reads
    const enc = env.device.createCommandEncoder({ label: 'kernel-bench.first' });
    await prepared.encode(enc);
    env.device.queue.submit([enc.finish()]);
    const chk = await prepared.check();
    const ok = chk.err <= chk.tol;
    if (!ok) return { ...base, ms: null, gflops: null, gbps: null, check: { ...chk, ok } };
    const { ms } = await timeCase(env.device, prepared, method, targetMs);
    const per = c.group === 'dispatch' ? ms / c.dispatches : ms;
    const rate = (x: number) => (ms > 0 && x > 0 ? x / (ms * 1e6) : null);
    return { ...base, ms: per, gflops: rate(c.flops), gbps: rate(c.bytes), check: { ...chk, ok } };
  } catch (e) {
    if (e instanceof CancelledError) throw e;
    return { ...base, ms: null, gflops: null, gbps: null, check: { err: NaN, tol: NaN, ok: false }, error: (e as Error).message };
  } finally {
    prepared?.release();
  }
}

/**
 * Σ of kernel times for one model's step, as the engine runs it: per layer q|k|v, o, gate|up, down, two RMSNorms
 * and attention; then the final norm and the lm_head (scaled up when the measured head was trimmed to one binding).
 * Training adds, per layer, the frozen weights' input gradients (the same FLOPs as the forward's products: their
 * forward time stands in), attention's backward, two RMSNorm backwards and LoRA's four skinny products on each of
 * the seven projections (the q_proj-shaped ones measured stand in), plus the final norm's backward, the loss
 * backward over the logits (scaled up to M rows when the measured one was trimmed to one binding) and the head's
 * gradient.
 * null when a needed case failed or was not run.
 */
function estimateStep(m: BenchModel, family: KernelFamily, cases: readonly RoledCase[], results: readonly CaseResult[], opts: CaseOptions): StepEstimate {
  const byRole = (role: CaseRole, rows: number, id?: string, actF16 = false): number | null => {
    const c = cases.find((x) => x.model === m.name && x.role === role && x.rows === rows && (!id || x.id === id) && !!x.actF16 === actF16);
    const r = c && results.find((x) => x.id === c.id && x.family === family);
    if (!c || !r || r.ms === null) return null;
    // a trimmed lm_head: its time scaled by the rows it would have
    const trim = role === 'lm_head' ? m.vocab / Number(/^lm_head \d+×(\d+)×/.exec(c.label)?.[1] ?? m.vocab) : 1;
    return r.ms * trim;
  };
  const sum = (xs: (number | null)[]) => (xs.some((x) => x === null) ? null : xs.reduce<number>((a, b) => a + b!, 0));
  const M = opts.rows;
  const layerFwd = (rows: number, att: number | null) => sum([byRole('qkv', rows), byRole('o', rows), byRole('gate_up', rows), byRole('down', rows), rows === M ? byRole('rmsnorm', M) : 0, rows === M ? byRole('rmsnorm', M) : 0, att]);
  const fwdLayer = layerFwd(M, byRole('attention', opts.attention.batch * opts.attention.T));
  const forwardMs = sum([fwdLayer === null ? null : fwdLayer * m.layers, byRole('rmsnorm', M), byRole('lm_head', M)]);
  const f16 = (role: CaseRole, rows: number) => byRole(role, rows, undefined, true);
  const f16Layer = sum([f16('qkv', M), f16('o', M), f16('gate_up', M), f16('down', M), f16('rmsnorm', M), f16('rmsnorm', M), f16('attention', opts.attention.batch * opts.attention.T)]);
  // (the final norm and lm_head read the f32 residual: the f32 cases)
  const forwardF16Ms = family === 'hardware' ? sum([f16Layer === null ? null : f16Layer * m.layers, byRole('rmsnorm', M), byRole('lm_head', M)]) : null;
  const ctx = opts.contexts.includes(512) ? 512 : opts.contexts[Math.floor(opts.contexts.length / 2)]!;
  const decLayer = layerFwd(1, byRole('decode_attention', 1, `${m.name.toLowerCase()}.decode_attention.c${ctx}`));
  const decodeMs = sum([decLayer === null ? null : decLayer * m.layers, byRole('lm_head', 1)]);
  const lora = sum([byRole('lora_down', M), byRole('lora_up', M), byRole('lora_dB', M), byRole('lora_dA', M)]);
  const bwdLayer = sum([
    byRole('qkv', M),
    byRole('o', M),
    byRole('gate_up', M),
    byRole('down', M),
    byRole('attention_backward', opts.attention.batch * opts.attention.T),
    byRole('rmsnorm_backward', M),
    byRole('rmsnorm_backward', M),
    lora === null ? null : 7 * lora,
  ]);
  const ce = cases.find((x) => x.model === m.name && x.role === 'cross_entropy_backward');
  const ceMs = ce ? byRole('cross_entropy_backward', ce.rows) : null;
  const lossBwd = ce && ceMs !== null ? (ceMs * M) / ce.rows : null;
  const trainStepMs = sum([forwardMs, bwdLayer === null ? null : bwdLayer * m.layers, byRole('rmsnorm_backward', M), lossBwd, byRole('lm_head', M)]);
  return { model: m.name, family, trainStepMs, forwardMs, forwardF16Ms, decodeMs, decodeTokPerSec: decodeMs ? 1000 / decodeMs : null };
}
