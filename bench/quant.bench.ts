// Issue 17's benchmark: weight bytes of SmolLM2-135M/360M/1.7B at BF16, Q8_0, Q4_0 and Q4_K_M (exact, from the
// memory plans of what loadModel keeps packed), and for each shape greedy decode tokens/s and a QLoRA training
// step's tokens/s at each type (random BF16 weights quantised by the studio's "load as 4-bit" path,
// io/quantize-model.ts; the step is train-steps.ts's Trainer run: LoRA r 8 on all seven projections over the base
// in its type, CPT on one 64-token row; bench/train-smol.bench.ts times the 4 × 512 step on the 16-bit
// base). A full-depth 360M or 1.7B model would take hours here, so those two are timed by depth extension, as
// bench/train-full.bench.ts does for memory: the model at depths 2 and 3 (the same widths, heads and vocabulary,
// smolConfig(size, depth); the depth-2 model loads the first layers of the depth-3 checkpoint, so each type is
// quantised once), each timed per decoded token after a warm-up (over ≥ 8 tokens, about 10 s) and per training step
// after a warm-up step (the median of 3 steps where steps are short), and the time extended linearly, t(L) = t2 +
// (L − 2)·(t3 − t2), to the full depth; the rows say so and give t2 and t3 beside the tokens/s. The 135M shape is
// measured at its full 30 layers and extended the same way, as a check of the method. Decoding and quantising in
// JavaScript on SwiftShader are slow (about 40 minutes for the whole run on this 2-core host), so the run is
// opt-in:
//   ALLOY_BENCH_QUANT=1 npx vitest run --config vitest.bench.config.ts bench/quant.bench.ts
// ALLOY_BENCH_QUANT_TYPES=q4_0 (a comma list of bf16, q8_0, q4_0, q4_k_m) and ALLOY_BENCH_QUANT_SIZES=360M (a comma
// list of 135M, 360M, 1.7B) time those only, to check the code path: the run prints the rows and leaves the results
// file and README as they are (a partial run is no table).
import { it } from 'vitest';
import { loadavg } from 'node:os';
import { acquireNodeDevice } from '../src/engine/gpu/node-gpu.ts';
import { BufferPool } from '../src/engine/gpu/buffer-pool.ts';
import { KernelRegistry } from '../src/engine/gpu/kernels.ts';
import { generate, loadModel } from '../src/engine/model/index.ts';
import { planInferenceMemory } from '../src/engine/model/memory.ts';
import { memoryModelFiles } from '../src/io/model-files.ts';
import { openCheckpoint } from '../src/io/safetensors/checkpoint.ts';
import { writeSafetensors } from '../src/io/safetensors/writer.ts';
import { quantizePlan, quantizeModel, presetName, type QuantizePreset } from '../src/io/quantize-model.ts';
import type { ByteSink } from '../src/io/bytes.ts';
import type { GpuContext } from '../src/engine/gpu/device.ts';
import type { ModelConfig } from '../src/io/config.ts';
import type { Checkpoint } from '../src/io/safetensors/checkpoint.ts';
import { smolConfig, SMOLLM2, syntheticCheckpoint } from './synthetic.ts';
import { alloySteps } from './train-steps.ts';
import { writeSuite, type BenchRow } from './report.ts';

const PRESETS: readonly QuantizePreset[] = ['q8_0', 'q4_0', 'q4_k_m'];
const SIZES = Object.keys(SMOLLM2);
/**
 * Decode steps timed, from the first generated token to the last (the prompt's prefill is not counted): at least
 * `tokens`, and for a fast model as many as fill about `seconds` at the warm-up's pace (at most `max`), since the
 * extension multiplies the error of t3 − t2 by L − 2.
 */
const DECODE = { tokens: 8, seconds: 10, max: 64 };
/**
 * The training step: B rows of T tokens, LoRA rank and alpha, one warm-up step, then one timed step at full depth;
 * the extended rows take the median of `extSteps` timed steps at each depth where a step is short (135M, 360M).
 */
const STEP = { B: 1, T: 64, r: 8, alpha: 16, warmup: 1, steps: 1 };
const extSteps = (size: string) => (size === '1.7B' ? 1 : 3);
const stepStat = (steps: number) => (steps === 1 ? `1 step` : `median of ${steps} steps`);
/** the depths timed for the extension to full depth */
const DEPTHS = [2, 3] as const;
/** the types timed at every size; Q4_0 runs about as fast as Q4_K_M here, so to keep the whole run under 45 minutes
 * it is timed on the 135M shape at full depth only (unless ALLOY_BENCH_QUANT_TYPES names it) */
const TIMED_EVERYWHERE: readonly (QuantizePreset | null)[] = [null, 'q8_0', 'q4_k_m'];
const run = process.env.ALLOY_BENCH_QUANT === '1';
const mb = (b: number) => `${(b / 1e6).toFixed(0)} MB`;
const typeName = (p: QuantizePreset | null) => (p ? presetName(p) : 'BF16');

/** A comma list from the environment, each name checked against `all` (case-insensitive); all of them when unset. */
function pick<T>(envName: string, all: readonly T[], nameOf: (t: T) => string): { picked: T[]; partial: boolean } {
  const raw = process.env[envName]?.trim();
  if (!raw) return { picked: [...all], partial: false };
  const names = raw.split(',').map((s) => s.trim().toLowerCase());
  for (const n of names) {
    if (!all.some((t) => nameOf(t).toLowerCase() === n)) throw new Error(`${envName}: "${n}" is not one of ${all.map(nameOf).join(', ')}`);
  }
  const picked = all.filter((t) => names.includes(nameOf(t).toLowerCase()));
  return { picked, partial: picked.length < all.length };
}

/** Bytes written to a sink, kept in memory. */
function memorySink(done: (bytes: Uint8Array) => void): ByteSink {
  const parts: Uint8Array[] = [];
  return {
    async write(chunk) {
      parts.push(chunk.slice());
    },
    async close() {
      const out = new Uint8Array(parts.reduce((n, p) => n + p.byteLength, 0));
      let at = 0;
      for (const p of parts) (out.set(p, at), (at += p.byteLength));
      done(out);
    },
  };
}

/** The SmolLM2 shape at `layers` as model files (config.json and one safetensors of random BF16 weights), in memory. */
async function sourceFiles(size: string, layers: number) {
  const ck = syntheticCheckpoint(smolConfig(size, layers));
  let st: Uint8Array | null = null;
  await writeSafetensors(memorySink((b) => (st = b)), ck.names().map((name) => ({ name, dtype: ck.info(name).dtype, shape: ck.info(name).shape, data: () => ck.readRaw(name) })));
  const configJson = new TextEncoder().encode(JSON.stringify({ architectures: ['LlamaForCausalLM'], model_type: 'llama', ...SMOLLM2[size], num_hidden_layers: layers, max_position_embeddings: 8192, rms_norm_eps: 1e-5, rope_theta: 100000, tie_word_embeddings: true, torch_dtype: 'bfloat16' }));
  return memoryModelFiles({ 'config.json': configJson, 'model.safetensors': st! }, `SmolLM2-${size} at ${layers} layers (random BF16)`);
}

/** Seconds per decoded token: greedy, after a warm-up generation, from the first generated token to the last. */
async function decodeSec(ctx: GpuContext, kernels: KernelRegistry, ck: Checkpoint, config: ModelConfig): Promise<{ sec: number; tokens: number; weightBytes: number }> {
  const pool = new BufferPool(ctx.device);
  const model = await loadModel(ctx, kernels, pool, ck, config);
  try {
    const prompt = [1, 400, 5000, 77, 901, 12, 3456, 42];
    const at: number[] = [];
    const onToken = () => void at.push(performance.now());
    await generate(model, prompt, { temperature: 0, maxTokens: 2, eosTokenIds: [], onToken });
    const pace = (at[1]! - at[0]!) / 1000;
    const tokens = Math.min(DECODE.max, Math.max(DECODE.tokens, Math.ceil(DECODE.seconds / pace)));
    at.length = 0;
    await generate(model, prompt, { temperature: 0, maxTokens: tokens + 1, eosTokenIds: [], onToken });
    return { sec: (at[at.length - 1]! - at[0]!) / 1000 / tokens, tokens, weightBytes: model.weightBytes };
  } finally {
    model.dispose();
    pool.destroyAll();
  }
}

/** Seconds per training step: a fresh load of the checkpoint under the Trainer (forward, backward through the frozen
 * weights in their type, clipping, AdamW on the adapter), its own pool. */
async function stepSec(ctx: GpuContext, kernels: KernelRegistry, ck: Checkpoint, config: ModelConfig, label: string, warmup = STEP.warmup, steps = STEP.steps): Promise<number> {
  const t0 = performance.now();
  const m = await alloySteps(ctx, kernels, config, ck, STEP.B, STEP.T, { steps, warmup, r: STEP.r, alpha: STEP.alpha });
  console.log(`${label}: LoRA step ${m.stepSec.toFixed(2)} s (${m.tokPerSec.toFixed(2)} tok/s; loss ${m.loss0.toFixed(3)} → ${m.lossN.toFixed(3)}; pool peak ${mb(m.peak)}; ${((performance.now() - t0) / 1000).toFixed(0)} s with load and warm-up)`);
  return m.stepSec;
}

/** t(L) = t2 + (L − 2)·(t3 − t2): the time of a full-depth model from the depths timed. */
const extend = ([t2, t3]: readonly number[], L: number) => t2! + ((L - DEPTHS[0]) * (t3! - t2!)) / (DEPTHS[1] - DEPTHS[0]);

/** An extended row's cell: tokens/s at full depth, then the seconds timed at each depth. */
function extendedCell(tokens: number, secs: readonly number[], L: number, digits: number): string {
  const t = extend(secs, L);
  const rate = t > 0 ? (tokens / t).toFixed(2) : 'n/a';
  return `${rate} (${secs.map((s) => s.toFixed(digits)).join(' / ')} s)`;
}

it.skipIf(!run)(
  'quant: bytes, decode and QLoRA step tok/s at BF16, Q8_0, Q4_0, Q4_K_M',
  async () => {
    const started = performance.now();
    const load0 = loadavg()[0]!;
    const { picked: types, partial: someTypes } = pick<QuantizePreset | null>('ALLOY_BENCH_QUANT_TYPES', [null, ...PRESETS], typeName);
    const { picked: sizes, partial: someSizes } = pick('ALLOY_BENCH_QUANT_SIZES', SIZES, (s) => s);
    const rows: BenchRow[] = [];
    // ---- bytes, every size (exact plans: what loadModel uploads)
    for (const size of SIZES) {
      const cfg = smolConfig(size);
      const bytesOf = (matrixTypes: Record<string, string>) => planInferenceMemory(cfg, { dtype: 'bf16', batch: 1, seqLen: 1, kvCapacity: 0, matrixTypes }).weights;
      const row: BenchRow = { model: `SmolLM2-${size} shapes: weight bytes`, BF16: mb(bytesOf({})) };
      for (const p of PRESETS) {
        const plan = quantizePlan(cfg, p, () => 'BF16');
        const types = Object.fromEntries(plan.filter((t) => /^Q/.test(t.storage)).map((t) => [t.name, t.storage]));
        row[presetName(p)] = mb(bytesOf(types));
      }
      rows.push(row);
    }
    // ---- decode and a training step: measured at full depth (135M) and extended from depths 2 and 3 (every size)
    const ctx = await acquireNodeDevice();
    const kernels = new KernelRegistry(ctx.device);
    const stepWhat = `${STEP.B} × ${STEP.T} tokens, r ${STEP.r} on all seven projections`;
    for (const size of sizes) {
      const L = smolConfig(size).numLayers;
      // 135M is measured at full depth too; its checkpoint then serves the depth-2 and -3 models as well
      const measured = size === '135M';
      const source = await sourceFiles(size, measured ? L : DEPTHS[1]);
      const ext = `extended from depths ${DEPTHS.join(' and ')} to ${L} layers`;
      const decodeFull: BenchRow = { model: `SmolLM2-${size} shapes: greedy decode, measured at ${L} layers (tok/s, ≥ ${DECODE.tokens} tokens after a warm-up)` };
      const trainFull: BenchRow = { model: `SmolLM2-${size} shapes: LoRA training step on the base in that type, measured at ${L} layers (tok/s, ${stepWhat}, ${stepStat(STEP.steps)} after ${STEP.warmup} warm-up step)` };
      const decodeExt: BenchRow = { model: `SmolLM2-${size} shapes: greedy decode, ${ext} (tok/s; s per token at depths ${DEPTHS.join(' / ')})` };
      const trainExt: BenchRow = {
        model: `SmolLM2-${size} shapes: LoRA training step, ${ext} (tok/s; s per step at depths ${DEPTHS.join(' / ')}, ${stepStat(extSteps(size))} each)`,
      };
      for (const p of types) {
        const name = typeName(p);
        const extended = someTypes || TIMED_EVERYWHERE.includes(p);
        if (!measured && !extended) {
          decodeExt[name] = trainExt[name] = 'not timed';
          continue;
        }
        let files = source;
        if (p) {
          const out: Record<string, Uint8Array> = {};
          const t0 = performance.now();
          await quantizeModel(source, async (f) => memorySink((b) => (out[f] = b)), { preset: p });
          console.log(`${size} ${name}: quantised in ${((performance.now() - t0) / 1000).toFixed(0)} s`);
          files = memoryModelFiles(out, `SmolLM2-${size} ${name}`);
        }
        const ck = await openCheckpoint(files);
        if (measured) {
          const cfg = smolConfig(size);
          const d = await decodeSec(ctx, kernels, ck, cfg);
          decodeFull[name] = (1 / d.sec).toFixed(2);
          console.log(`${size} ${name} at ${L} layers: ${(1 / d.sec).toFixed(2)} tok/s (${d.sec.toFixed(3)} s/token over ${d.tokens}), GPU weights ${mb(d.weightBytes)}`);
          trainFull[name] = (STEP.B * STEP.T / (await stepSec(ctx, kernels, ck, cfg, `${size} ${name} at ${L} layers`))).toFixed(2);
        }
        if (!extended) {
          decodeExt[name] = trainExt[name] = 'not timed';
          continue;
        }
        const dSecs: number[] = [];
        const sSecs: number[] = [];
        for (const depth of DEPTHS) {
          // the checkpoint holds more layers than this depth: loadModel reads only the tensors its config names
          const cfg = smolConfig(size, depth);
          const d = await decodeSec(ctx, kernels, ck, cfg);
          console.log(`${size} ${name} at depth ${depth}: ${d.sec.toFixed(3)} s/token over ${d.tokens}`);
          dSecs.push(d.sec);
          sSecs.push(await stepSec(ctx, kernels, ck, cfg, `${size} ${name} at depth ${depth}`, STEP.warmup, extSteps(size)));
        }
        decodeExt[name] = extendedCell(1, dSecs, L, 3);
        trainExt[name] = extendedCell(STEP.B * STEP.T, sSecs, L, 1);
        console.log(`${size} ${name} ${ext}: decode ${decodeExt[name]}, training step ${trainExt[name]} (${((performance.now() - started) / 60000).toFixed(1)} min into the run)`);
      }
      if (measured) rows.push(decodeFull, decodeExt, trainFull, trainExt);
      else rows.push(decodeExt, trainExt);
    }
    const minutes = (performance.now() - started) / 60000;
    const load1 = loadavg()[0]!;
    if (someTypes || someSizes) {
      console.log(`partial run (ALLOY_BENCH_QUANT_TYPES / _SIZES), ${minutes.toFixed(1)} min, load ${load0.toFixed(1)} → ${load1.toFixed(1)}: results file and README left as they are\n${JSON.stringify(rows, null, 2)}`);
      return;
    }
    writeSuite({
      suite: 'quant',
      adapter: ctx.adapterInfo.description,
      note:
        `Weight bytes on the GPU (from the plans of what loadModel keeps packed, within 1% of a loaded model: Q8_0/Q4_0/Q5_0/Q4_K/Q5_K/Q6_K projections and tables), ` +
        `greedy decode (random weights, 8-token prompt, tokens timed from the first generated one after a warm-up, so the prefill is not counted: ${DECODE.tokens}, or as many as fill ${DECODE.seconds} s up to ${DECODE.max}) on ${ctx.kernelFamily} kernels, ` +
        `and a LoRA training step (QLoRA where the base is quantised: CPT on ${STEP.B} × ${STEP.T} tokens, r ${STEP.r}, the Trainer's whole step; every token of the batch counted). ` +
        `Rows "extended from depths 2 and 3" time the shape at 2 and 3 layers (same widths, heads and vocabulary) and extend linearly, t(L) = t2 + (L − 2)·(t3 − t2); ` +
        `the bracketed seconds are t2 / t3. The extension multiplies the noise of t3 − t2 by L − 2 on a shared host; the 135M rows measured at full depth beside its extended ones show how far it holds. ` +
        `Q4_0 is timed on the 135M shape at full depth only, to keep the run under 45 minutes. ` +
        `Q4_K_M of SmolLM2-135M and 360M keeps their 576- and 960-wide rows out of Q4_K (not whole 256-blocks): they fall back to Q5_0, packed like the rest. ` +
        `Shared 2-core host, 1-min load average ${load0.toFixed(1)} at the start and ${load1.toFixed(1)} at the end; the run took ${minutes.toFixed(0)} minutes.`,
      rows,
    });
  },
  60 * 60_000,
);
