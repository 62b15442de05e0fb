/**
 * The device check (issue 15, "when a GPU is lent"): what a lent GPU must measure, in one run, with both kernel
 * families on the adapter Dawn finds:
 *   1. the kernel bench (engine/kernel-bench: every SmolLM2 projection at M = 2048 and M = 1, LoRA's skinny
 *      products, attention forward and backward, decode attention, norms, dispatch overhead), each case checked
 *      against the CPU reference before it is timed; one model at a time, so a run cut short keeps what it measured;
 *   2. a SmolLM2-135M-shaped LoRA training step (random BF16 weights, 4 × 512 tokens, r 16 on all seven
 *      projections, CPT; the Trainer's whole step, clipping and AdamW included), beside the kernel bench's estimate
 *      of the same step (Σ of its kernel times) and PyTorch's step on the same GPU (bench/lora_step_torch.py);
 *   3. greedy decode of the same model, with the f32 and the f16 KV cache, and its scoring-shaped forward (4 × 512
 *      tokens, each row's last logits read back) with f32 and, on the hardware family, f16 activations;
 *   4. the hardware family's tile rule measured on this adapter (kernel-bench/tune.ts, `alloy bench kernels
 *      --tune`): the gpu/hw-tuning.ts entry to add for it;
 *   5. the hardware family's row kernels and mat-vecs again without subgroups, where the adapter has them;
 *   6. the kernel bench of the larger models, as long as the budget lasts.
 * Every section rewrites device.json and device.md in the output directory as it ends, so the files that come back
 * from a run stopped at its time limit hold every section that finished. bench/device/run-on-device.sh runs it on a
 * lent machine; bench/device/import.ts files what came back into bench/results and the README.
 *
 * `quick` runs the same code on tiny shapes (the throughput bench's tiny Llama, a few kernel cases), so that the
 * GPU tier proves the whole path on SwiftShader and the script cannot rot between the sessions that get a GPU.
 */
import { spawnSync } from 'node:child_process';
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { acquireDevice, type GpuContext } from '../../src/engine/gpu/device.ts';
import { KernelRegistry } from '../../src/engine/gpu/kernels.ts';
import { nodeGpu } from '../../src/engine/gpu/node-gpu.ts';
import { KERNEL_FAMILIES, type KernelFamily } from '../../src/engine/kernel-family.ts';
import { runKernelBench, type KernelBenchReport } from '../../src/engine/kernel-bench/run.ts';
import { formatKernelReport } from '../../src/engine/kernel-bench/format.ts';
import { tuneHwMatmul, type TuneReport } from '../../src/engine/kernel-bench/tune.ts';
import { findBenchModel, SMOLLM2_MODELS, type BenchModel } from '../../src/engine/kernel-bench/models.ts';
import type { ModelConfig } from '../../src/io/config.ts';
import { openDecoder } from '../decoder.ts';
import { openScorer } from '../prefill.ts';
import { machine, type BenchRow } from '../report.ts';
import { smolConfig, syntheticCheckpoint, tinyLlamaConfig } from '../synthetic.ts';
import { alloySteps, ALPHA, R, type Measured } from '../train-steps.ts';

/** What one run measures: the full plan on a lent GPU, the quick one on SwiftShader (tests). */
export interface DevicePlan {
  /** kernel bench: models, rows (M), the cases to keep (id prefixes; all when absent), GPU ms per measurement */
  kernels: { models: readonly BenchModel[]; rows: number; only?: readonly string[]; targetMs?: number };
  /** the training step: model, B × T tokens, untimed warm-up steps and timed ones (the median is kept) */
  train: { name: string; config: ModelConfig; B: number; T: number; warmup: number; steps: number; r: number; alpha: number };
  /** greedy decode of the training step's model: tokens per sample, samples per KV dtype (the median is kept) */
  decode: { tokens: number; samples: number };
  /** the same model's scoring-shaped forward: B × T tokens, samples per activation dtype (the median is kept) */
  prefill: { B: number; T: number; samples: number };
  /** PyTorch's step on the same shapes: the interpreter and torch's device ('cuda', 'cpu') */
  torch: { python: string; device: string };
  /** the tile sweep: models whose step's products are timed with every tile, at M = rows */
  tune: { models: readonly BenchModel[]; rows: number; targetMs?: number };
  /** kernel cases (id prefixes) timed again with the hardware family in core WGSL, where the adapter has subgroups */
  noSubgroups: readonly string[];
}

const smol135 = findBenchModel('135M');

export const FULL_PLAN: DevicePlan = {
  kernels: { models: SMOLLM2_MODELS, rows: 2048 },
  train: { name: 'SmolLM2-135M shapes (random BF16)', config: smolConfig('135M'), B: 4, T: 512, warmup: 1, steps: 3, r: R, alpha: ALPHA },
  decode: { tokens: 128, samples: 3 },
  prefill: { B: 4, T: 512, samples: 3 },
  torch: { python: 'python3', device: 'cuda' },
  tune: { models: [smol135, findBenchModel('1.7B')], rows: 2048 },
  noSubgroups: ['smollm2-135m.qkv.m1', 'smollm2-135m.down.m1', 'smollm2-135m.lm_head.m1', 'smollm2-135m.rmsnorm', 'smollm2-135m.logsoftmax', 'smollm2-135m.cross_entropy_backward'],
};

export const QUICK_PLAN: DevicePlan = {
  kernels: { models: [smol135], rows: 64, only: ['smollm2-135m.o.m', 'smollm2-135m.decode_attention.c128', 'dispatch'], targetMs: 5 },
  train: { name: 'tiny Llama (D 128, 4 layers)', config: tinyLlamaConfig(), B: 2, T: 32, warmup: 1, steps: 1, r: 4, alpha: 8 },
  decode: { tokens: 2, samples: 1 },
  prefill: { B: 2, T: 16, samples: 1 },
  // the anchor's CPU run (Debian's python3-torch, which CI installs): the same code path as CUDA's but the device
  torch: { python: '/usr/bin/python3', device: 'cpu' },
  tune: { models: [{ name: 'tiny Llama', hidden: 128, intermediate: 352, layers: 4, heads: 4, kvHeads: 2, headDim: 32, vocab: 512 }], rows: 16, targetMs: 2 },
  noSubgroups: ['smollm2-135m.o.m1'],
};

/**
 * FP32 (non-tensor-core) peaks from the vendors' data sheets, for "matmul ≥ 40% of the card's fp32 peak"; matched
 * against the adapter's description. ALLOY_FP32_PEAK_TFLOPS overrides (a card not listed here).
 */
const FP32_PEAK_TFLOPS: readonly [RegExp, number][] = [
  [/H200/i, 66.9],
  [/H100.*PCIe/i, 51.2],
  [/H100/i, 66.9],
  [/A100/i, 19.5],
  [/RTX 4090/i, 82.6],
  [/RTX 3060 Laptop/i, 10.9],
];

export function fp32PeakTflops(description: string, env = process.env.ALLOY_FP32_PEAK_TFLOPS): number | null {
  if (env) return Number(env);
  return FP32_PEAK_TFLOPS.find(([re]) => re.test(description))?.[1] ?? null;
}

export interface FamilyRun {
  family: KernelFamily;
  train?: Measured & { error?: string };
  decode?: { f32TokPerSec: number; f16TokPerSec: number; samples: { f32: number[]; f16: number[] } } | { error: string };
  /** the scoring-shaped forward: f16 activations on the hardware family only (the software family runs f32) */
  prefill?: { f32TokPerSec: number; f16TokPerSec: number | null } | { error: string };
}

export interface DeviceCheckResult {
  suite: 'device';
  adapter: string;
  adapterInfo: GpuContext['adapterInfo'];
  features: string[];
  limits: GpuContext['limits'];
  subgroupSizes: GpuContext['subgroupSizes'];
  machine: string;
  date: string;
  plan: { kernels: { models: string[]; rows: number }; train: Omit<DevicePlan['train'], 'config'>; decode: DevicePlan['decode']; prefill: DevicePlan['prefill']; quick: boolean };
  families: FamilyRun[];
  kernelBench: KernelBenchReport | null;
  /** the hardware family's mat-vecs and row kernels in core WGSL (subgroups off), where the adapter has subgroups */
  kernelBenchNoSubgroups: KernelBenchReport | null;
  tune: TuneReport | null;
  torch: { tok_per_s: number; step_s: number; torch: string; device: string } | { error: string } | null;
  /** sections not run, or failed as a whole, each with why (the time budget ran out, say) */
  skipped: string[];
  rows: BenchRow[];
  note: string;
  seconds: number;
}

export interface DeviceCheckOptions {
  out: string;
  quick?: boolean;
  /** seconds the whole check may take; a section that would start after it is skipped (and listed) */
  budgetSec?: number;
  log?: (line: string) => void;
}

/** the kernel bench's reports, one per model, as one report */
function mergeReports(parts: readonly KernelBenchReport[]): KernelBenchReport | null {
  if (parts.length === 0) return null;
  return { ...parts[0]!, results: parts.flatMap((p) => p.results), estimates: parts.flatMap((p) => p.estimates), seconds: parts.reduce((s, p) => s + p.seconds, 0) };
}

export async function runDeviceCheck(o: DeviceCheckOptions): Promise<DeviceCheckResult> {
  const plan = o.quick ? QUICK_PLAN : FULL_PLAN;
  const log = o.log ?? ((s: string) => console.error(s));
  const t0 = performance.now();
  const elapsed = () => (performance.now() - t0) / 1000;
  const budget = o.budgetSec ?? Infinity;
  const gpu = await nodeGpu();
  // one device per family: the family is a property of the device (gpu/device.ts), as in the studio
  const ctxs = new Map<KernelFamily, GpuContext>();
  for (const family of KERNEL_FAMILIES) ctxs.set(family, await acquireDevice({ gpu, kernels: family }));
  const first = ctxs.get('software')!;
  const { train, decode, prefill } = plan;
  const result: DeviceCheckResult = {
    suite: 'device',
    adapter: first.adapterInfo.description,
    adapterInfo: first.adapterInfo,
    features: first.features,
    limits: first.limits,
    subgroupSizes: first.subgroupSizes,
    machine: machine(),
    date: new Date().toISOString(),
    plan: {
      kernels: { models: plan.kernels.models.map((m) => m.name), rows: plan.kernels.rows },
      train: { name: train.name, B: train.B, T: train.T, warmup: train.warmup, steps: train.steps, r: train.r, alpha: train.alpha },
      decode,
      prefill,
      quick: o.quick ?? false,
    },
    families: KERNEL_FAMILIES.map((family) => ({ family })),
    kernelBench: null,
    kernelBenchNoSubgroups: null,
    tune: null,
    torch: null,
    skipped: [],
    rows: [],
    note: '',
    seconds: 0,
  };
  const benchParts: KernelBenchReport[] = [];
  const save = () => {
    result.kernelBench = mergeReports(benchParts);
    result.seconds = elapsed();
    const { rows, note } = summarize(result, plan);
    result.rows = rows;
    result.note = note;
    mkdirSync(o.out, { recursive: true });
    writeFileSync(join(o.out, 'device.json'), JSON.stringify(result, null, 2) + '\n');
    writeFileSync(join(o.out, 'device.md'), deviceMarkdown(result));
  };
  const section = async (name: string, work: () => Promise<void>) => {
    if (elapsed() > budget) {
      result.skipped.push(`${name}: the ${budget} s budget was spent`);
      log(`skipped ${name} (${elapsed().toFixed(0)} s of ${budget} s spent)`);
    } else {
      log(`${name} (at ${elapsed().toFixed(0)} s)`);
      await work();
    }
    save();
  };
  log(`adapter: ${result.adapter}; features: ${result.features.join(', ')}; subgroup sizes ${result.subgroupSizes ? `${result.subgroupSizes.min}–${result.subgroupSizes.max}` : 'not reported'}`);
  save();
  const benchModel = async (m: BenchModel) => {
    try {
      const report = await runKernelBench(first, {
        models: [m],
        rows: plan.kernels.rows,
        ...(plan.kernels.only ? { only: plan.kernels.only } : {}),
        ...(plan.kernels.targetMs ? { targetMs: plan.kernels.targetMs } : {}),
        onProgress: (p) => p.case && log(`  [${p.done + 1}/${p.total}] ${p.family}: ${p.case}`),
      });
      benchParts.push(report);
    } catch (e) {
      // a case's own failure is in its result; this is the bench failing as a whole (a device lost, say)
      result.skipped.push(`kernel bench, ${m.name}: ${(e as Error).message}`);
      log(`  failed: ${(e as Error).message}`);
    }
  };
  // the training model's kernel bench first: the step's estimate needs it
  const [headModel, ...otherModels] = plan.kernels.models;
  await section(`kernel bench, ${headModel!.name}`, () => benchModel(headModel!));
  for (const f of result.families) {
    await section(`training step, ${f.family} kernels`, async () => {
      try {
        f.train = await alloySteps(ctxs.get(f.family)!, new KernelRegistry(ctxs.get(f.family)!.device), train.config, syntheticCheckpoint(train.config), train.B, train.T, {
          steps: train.steps,
          warmup: train.warmup,
          r: train.r,
          alpha: train.alpha,
        });
        log(`  ${f.train.stepSec.toFixed(3)} s/step, ${f.train.tokPerSec.toFixed(0)} tok/s, loss ${f.train.loss0.toFixed(3)} → ${f.train.lossN.toFixed(3)}`);
      } catch (e) {
        f.train = { tokPerSec: NaN, stepSec: NaN, peak: NaN, loss0: NaN, lossN: NaN, error: (e as Error).message };
        log(`  failed: ${(e as Error).message}`);
      }
    });
  }
  for (const f of result.families) {
    await section(`greedy decode, ${f.family} kernels`, async () => {
      const ctx = ctxs.get(f.family)!;
      try {
        const dec = await openDecoder(ctx, new KernelRegistry(ctx.device), syntheticCheckpoint(train.config), train.config);
        try {
          const samples = { f32: [] as number[], f16: [] as number[] };
          await dec.secPerToken(decode.tokens, 'f16'); // the f16 cache's kernels compile untimed too
          for (let i = 0; i < decode.samples; i++) {
            samples.f32.push(1 / (await dec.secPerToken(decode.tokens, 'f32')));
            samples.f16.push(1 / (await dec.secPerToken(decode.tokens, 'f16')));
          }
          f.decode = { f32TokPerSec: median(samples.f32), f16TokPerSec: median(samples.f16), samples };
          log(`  ${f.decode.f32TokPerSec.toFixed(1)} tok/s (f16 KV cache ${f.decode.f16TokPerSec.toFixed(1)})`);
        } finally {
          dec.dispose();
        }
      } catch (e) {
        f.decode = { error: (e as Error).message };
        log(`  failed: ${(e as Error).message}`);
      }
    });
  }
  for (const f of result.families) {
    await section(`scoring forward ${prefill.B} × ${prefill.T}, ${f.family} kernels`, async () => {
      const ctx = ctxs.get(f.family)!;
      try {
        const sc = await openScorer(ctx, new KernelRegistry(ctx.device), syntheticCheckpoint(train.config), train.config, prefill.B, prefill.T);
        try {
          const dtypes = f.family === 'hardware' ? (['f32', 'f16'] as const) : (['f32'] as const);
          for (const a of dtypes) await sc.secPerForward(a); // compiles untimed
          const tok = { f32: [] as number[], f16: [] as number[] };
          for (let i = 0; i < prefill.samples; i++) for (const a of dtypes) tok[a].push((prefill.B * prefill.T) / (await sc.secPerForward(a)));
          f.prefill = { f32TokPerSec: median(tok.f32), f16TokPerSec: tok.f16.length ? median(tok.f16) : null };
          log(`  ${fmt(f.prefill.f32TokPerSec)} tok/s${f.prefill.f16TokPerSec ? ` (f16 activations ${fmt(f.prefill.f16TokPerSec)})` : ''}`);
        } finally {
          sc.dispose();
        }
      } catch (e) {
        f.prefill = { error: (e as Error).message };
        log(`  failed: ${(e as Error).message}`);
      }
    });
  }
  await section(`PyTorch step on ${plan.torch.device}`, async () => {
    result.torch = torchStep(plan.torch, train);
    log(`  ${JSON.stringify(result.torch)}`);
  });
  const hwCtx = ctxs.get('hardware')!;
  await section('hardware tiles by measurement', async () => {
    try {
      result.tune = await tuneHwMatmul(hwCtx, { ...plan.tune, onProgress: (p) => log(`  [${p.done + 1}/${p.total}] ${p.case}`) });
      log(`  entry: ${JSON.stringify(result.tune.entry)}`);
    } catch (e) {
      result.skipped.push(`hardware tiles by measurement: ${(e as Error).message}`);
    }
  });
  if (hwCtx.subgroups) {
    await section('hardware kernels without subgroups', async () => {
      const core = await acquireDevice({ gpu, kernels: 'hardware', subgroups: false });
      try {
        result.kernelBenchNoSubgroups = await runKernelBench(core, { models: [headModel!], families: ['hardware'], rows: plan.kernels.rows, only: plan.noSubgroups, ...(plan.kernels.targetMs ? { targetMs: plan.kernels.targetMs } : {}) });
      } catch (e) {
        result.skipped.push(`hardware kernels without subgroups: ${(e as Error).message}`);
      } finally {
        core.device.destroy();
      }
    });
  }
  for (const m of otherModels) await section(`kernel bench, ${m.name}`, () => benchModel(m));
  for (const ctx of ctxs.values()) ctx.device.destroy();
  log(`done in ${elapsed().toFixed(0)} s`);
  return result;
}

const median = (xs: readonly number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;

/** bench/lora_step_torch.py on the training step's shapes, in f32 on `torch.device` */
function torchStep(torch: DevicePlan['torch'], train: DevicePlan['train']): DeviceCheckResult['torch'] {
  const c = train.config;
  const args = { D: c.hiddenSize, L: c.numLayers, H: c.numHeads, KV: c.numKvHeads, I: c.intermediateSize, V: c.vocabSize, B: train.B, T: train.T, r: train.r, alpha: train.alpha, device: torch.device, warmup: 2, steps: 5 };
  const p = spawnSync(torch.python, ['bench/lora_step_torch.py', JSON.stringify(args)], { encoding: 'utf8', timeout: 180_000 });
  if (p.status !== 0) return { error: `${torch.python} bench/lora_step_torch.py: ${(p.stderr || p.error?.message || `exit ${p.status}`).trim().split('\n').slice(-3).join(' ')}` };
  try {
    return JSON.parse(p.stdout.trim().split('\n').at(-1)!);
  } catch {
    return { error: `unreadable output: ${p.stdout.slice(0, 200)}` };
  }
}

const fmt = (x: number | null | undefined, digits = 3) => (x === null || x === undefined || !Number.isFinite(x) ? '—' : x >= 100 ? x.toFixed(0) : x.toPrecision(digits));
const ratio = (hw: number | null | undefined, sw: number | null | undefined) => (hw && sw && Number.isFinite(hw / sw) ? `${(hw / sw).toFixed(2)}×` : '—');

/** The table the README shows: one row per measurement, a column per family, hardware ÷ software, the anchor. */
function summarize(r: DeviceCheckResult, plan: DevicePlan): { rows: BenchRow[]; note: string } {
  const fam = (f: KernelFamily) => r.families.find((x) => x.family === f)!;
  const rows: BenchRow[] = [];
  const peak = fp32PeakTflops(r.adapter);
  const kb = r.kernelBench;
  const bestMatmul = (f: KernelFamily) => {
    const xs = (kb?.results ?? []).filter((x) => x.family === f && x.group === 'projection' && x.model !== null && x.id.endsWith(`.m${plan.kernels.rows}`) && x.gflops !== null);
    return xs.length ? xs.reduce((a, b) => (b.gflops! > a.gflops! ? b : a)) : null;
  };
  const mm = { software: bestMatmul('software'), hardware: bestMatmul('hardware') };
  const pctPeak = (g: number | null | undefined) => (g && peak ? ` (${((g / (peak * 1000)) * 100).toFixed(1)}% of ${peak} TFLOP/s)` : '');
  rows.push({
    work: `best projection matmul at M = ${plan.kernels.rows}, GFLOP/s`,
    software: mm.software ? `${fmt(mm.software.gflops)}${pctPeak(mm.software.gflops)}` : '—',
    hardware: mm.hardware ? `${fmt(mm.hardware.gflops)}${pctPeak(mm.hardware.gflops)}: ${mm.hardware.model} ${mm.hardware.label}` : '—',
    'hardware ÷ software': ratio(mm.hardware?.gflops, mm.software?.gflops),
    anchor: peak ? `target ≥ 40% of the fp32 peak (${peak} TFLOP/s)` : 'fp32 peak unknown (ALLOY_FP32_PEAK_TFLOPS)',
  });
  const sw = fam('software');
  const hw = fam('hardware');
  const torchOk = r.torch && 'tok_per_s' in r.torch ? r.torch : null;
  const trainTok = (f: FamilyRun) => (f.train && !f.train.error ? f.train.tokPerSec : null);
  rows.push({
    work: `LoRA step, ${plan.train.name}, ${plan.train.B} × ${plan.train.T}, r ${plan.train.r}, all projections: tok/s (s/step)`,
    software: sw.train ? (sw.train.error ? `failed: ${sw.train.error}` : `${fmt(sw.train.tokPerSec)} (${fmt(sw.train.stepSec)} s)`) : '—',
    hardware: hw.train ? (hw.train.error ? `failed: ${hw.train.error}` : `${fmt(hw.train.tokPerSec)} (${fmt(hw.train.stepSec)} s)`) : '—',
    'hardware ÷ software': ratio(trainTok(hw), trainTok(sw)),
    anchor: torchOk ? `PyTorch ${torchOk.torch} f32 on ${torchOk.device}: ${fmt(torchOk.tok_per_s)} tok/s; hardware = ${ratio(trainTok(hw), torchOk.tok_per_s)} PyTorch` : r.torch && 'error' in r.torch ? `PyTorch: ${r.torch.error}` : 'target: hardware ≥ 5× software',
  });
  const est = (f: KernelFamily) => kb?.estimates.find((e) => e.family === f && e.model === smol135.name)?.trainStepMs ?? null;
  // (a plan that keeps some kernel cases only, the quick one, has no estimate: '—')
  const vs = (f: FamilyRun) => (f.train && !f.train.error && est(f.family) ? `${fmt(est(f.family)! / 1000)} s = ${((est(f.family)! / 1000 / f.train.stepSec) * 100).toFixed(0)}% of the wall step` : '—');
  rows.push({ work: `the same step by the kernel bench: Σ of its kernel times at M = ${plan.kernels.rows}`, software: vs(sw), hardware: vs(hw), 'hardware ÷ software': '—', anchor: 'the rest is the engine: submits, readbacks, optimizer, clipping' });
  const dec = (f: FamilyRun) => (f.decode && 'f32TokPerSec' in f.decode ? f.decode : null);
  const decText = (f: FamilyRun, k: 'f32TokPerSec' | 'f16TokPerSec') => (f.decode && 'error' in f.decode ? `failed: ${f.decode.error}` : fmt(dec(f)?.[k]));
  rows.push({
    work: `greedy decode, ${plan.train.name}, ${plan.decode.tokens} tokens: tok/s`,
    software: decText(sw, 'f32TokPerSec'),
    hardware: decText(hw, 'f32TokPerSec'),
    'hardware ÷ software': ratio(dec(hw)?.f32TokPerSec, dec(sw)?.f32TokPerSec),
    anchor: 'target: hardware ≥ 10× software',
  });
  rows.push({
    work: 'the same decode with an f16 KV cache: tok/s',
    software: decText(sw, 'f16TokPerSec'),
    hardware: decText(hw, 'f16TokPerSec'),
    'hardware ÷ software': ratio(dec(hw)?.f16TokPerSec, dec(sw)?.f16TokPerSec),
    anchor: `f16 ÷ f32 cache, hardware: ${ratio(dec(hw)?.f16TokPerSec, dec(hw)?.f32TokPerSec)}`,
  });
  const pre = (f: FamilyRun) => (f.prefill && 'f32TokPerSec' in f.prefill ? f.prefill : null);
  const preText = (f: FamilyRun, k: 'f32TokPerSec' | 'f16TokPerSec') => (f.prefill && 'error' in f.prefill ? `failed: ${f.prefill.error}` : fmt(pre(f)?.[k]));
  rows.push({
    work: `scoring forward, ${plan.train.name}, ${plan.prefill.B} × ${plan.prefill.T} (last-row logits): tok/s`,
    software: preText(sw, 'f32TokPerSec'),
    hardware: preText(hw, 'f32TokPerSec'),
    'hardware ÷ software': ratio(pre(hw)?.f32TokPerSec, pre(sw)?.f32TokPerSec),
    anchor: 'a multiple-choice batch or a prefill',
  });
  rows.push({
    work: 'the same forward with f16 activations: tok/s',
    software: '— (f32 only)',
    hardware: preText(hw, 'f16TokPerSec'),
    'hardware ÷ software': ratio(pre(hw)?.f16TokPerSec, pre(sw)?.f32TokPerSec),
    anchor: `f16 ÷ f32 activations, hardware: ${ratio(pre(hw)?.f16TokPerSec, pre(hw)?.f32TokPerSec)}`,
  });
  const core = r.kernelBenchNoSubgroups;
  if (core) {
    const pairs = core.results.flatMap((c) => {
      const sg = kb?.results.find((x) => x.family === 'hardware' && x.id === c.id);
      return sg?.ms && c.ms ? [`${c.label}: ${(c.ms / sg.ms).toFixed(2)}×`] : [];
    });
    rows.push({ work: 'hardware kernels in core WGSL ÷ with subgroups (time)', software: '—', hardware: pairs.join('; ') || '—', 'hardware ÷ software': '—', anchor: 'above 1: subgroups pay' });
  }
  if (r.tune) {
    rows.push({
      work: `hardware tile rule measured here (${r.tune.shapes.length} products at M = ${plan.tune.rows})`,
      software: '—',
      hardware: `minWorkgroups ${r.tune.entry.tuning.minWorkgroups}; Σ ms ${Object.entries(r.tune.scores).map(([k, v]) => `${k}: ${fmt(v)}`).join(', ')}`,
      'hardware ÷ software': '—',
      anchor: 'entry for HW_TUNING_TABLE in device.json (tune.entry)',
    });
  }
  const failed = [...(kb?.results ?? []), ...(core?.results ?? [])].filter((x) => !x.check.ok);
  const note =
    `The device check (bench/device/check.ts${plan === QUICK_PLAN ? ', quick plan' : ''}): both kernel families on ${r.adapter}, ` +
    `kernel timing by ${kb ? (kb.timing === 'timestamp' ? 'GPU timestamp queries' : 'submit-to-readback wall time') : '—'}; ` +
    `${kb ? `${kb.results.length} kernel cases, ${failed.length} failed their CPU check${failed.length ? ` (${failed.map((x) => `${x.family} ${x.id}`).join(', ')})` : ''}` : 'kernel bench not run'}. ` +
    `Training: the Trainer's whole step (forward, backward, clipping, AdamW), median of ${plan.train.steps} after ${plan.train.warmup} warm-up. ` +
    `Decode: median of ${plan.decode.samples} samples timed from the first generated token to the last. ` +
    `Scoring forward: median of ${plan.prefill.samples}, upload to readback. ` +
    (r.skipped.length ? `Skipped: ${r.skipped.join('; ')}. ` : '') +
    `${r.seconds.toFixed(0)} s in all.`;
  return { rows, note };
}

/** device.md: the summary table, then the kernel bench's own report */
export function deviceMarkdown(r: DeviceCheckResult): string {
  const cols = ['work', 'software', 'hardware', 'hardware ÷ software', 'anchor'];
  const table = [`| ${cols.join(' | ')} |`, `| ${cols.map(() => '---').join(' | ')} |`, ...r.rows.map((row) => `| ${cols.map((c) => String(row[c] ?? '')).join(' | ')} |`)].join('\n');
  const kernels = r.kernelBench ? `\n\n## Kernel bench\n\n\`\`\`\n${formatKernelReport(r.kernelBench)}\`\`\`\n` : '\n';
  return `${r.note}\n\nAdapter: ${r.adapter}; host: ${r.machine}; run ${r.date.slice(0, 10)}.\n\n${table}${kernels}`;
}
