// Issue 17's benchmark: weight bytes of SmolLM2-135M/360M/1.7B at BF16, Q8_0, Q4_0 and Q4_K_M (exact, from the
// memory plans of what loadModel keeps packed), and for each shape greedy decode tokens/s and a QLoRA training
// step's tokens/s at each type (random BF16 weights quantised by the studio's "load as 4-bit" path,
// io/quantize-model.ts; the step is the Trainer's: LoRA r 8 on all seven projections over the base in its type, CPT
// on one 64-token row; bench/train-smol.bench.ts times the issue's 4 × 512 step on the 16-bit base). A full-depth
// 360M or 1.7B model would take hours here, so those two are timed by depth extension, as
// bench/train-full.bench.ts does for memory: the model at depths 2 and 3 (the same widths, heads and vocabulary,
// smolConfig(size, depth); the depth-2 model loads the first layers of the depth-3 checkpoint, so each type is
// quantised once), and the time extended linearly, t(L) = t2 + (L − 2)·(t3 − t2), to the full depth; the rows say so
// and give t2 and t3 beside the tokens/s. The 135M shape is measured at its full 30 layers and extended the same
// way, as a check of the method.
//
// The extension multiplies the error of t3 − t2 by L − 2 (28 for 135M, 30 for 360M, 22 for 1.7B), and one layer is
// only about a tenth of a depth-2 sample, while the host is shared: a sample slowed by other work, or one that pays
// a first use (a pipeline compiled, a KV cache of a new capacity and its bind groups made, a V8 garbage collection
// of the last type's buffers), moves t3 − t2 by more than a layer's time. So the two depths are loaded
// side by side, each warmed up with exactly the work it is then timed on (the same token count at both depths, so
// the same KV lengths), and then timed alternately, d2, d3, d2, d3, … for ROUNDS rounds, with a forced garbage
// collection before each sample; each depth keeps its MINIMUM sample: load only ever adds time, so the least
// disturbed sample is the closest to the kernels' own time, and alternating puts a slow stretch of the host on both
// depths rather than on one. Every sample is printed beside the chosen minimum.
//
// Decoding and quantising in JavaScript on SwiftShader are slow (ESTIMATE_MIN: about 43 minutes for the whole run
// on a quiet 2-core host), so the run is opt-in:
//   ALLOY_BENCH_QUANT=1 npx vitest run --config vitest.bench.config.ts bench/quant.bench.ts
// ALLOY_BENCH_QUANT_TYPES=q4_0 (a comma list of bf16, q8_0, q4_0, q4_k_m), ALLOY_BENCH_QUANT_SIZES=360M (a comma
// list of 135M, 360M, 1.7B) and ALLOY_BENCH_QUANT_ROUNDS=1 (rounds at every size) time those only, to check the code
// path: the run prints the rows and leaves the results file and README as they are (a partial run is no table).
import { it } from 'vitest';
import { availableParallelism, loadavg } from 'node:os';
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import { acquireNodeDevice } from '../src/engine/gpu/node-gpu.ts';
import { KernelRegistry } from '../src/engine/gpu/kernels.ts';
import { planInferenceMemory } from '../src/engine/model/memory.ts';
import { memoryModelFiles } from '../src/io/model-files.ts';
import { openCheckpoint } from '../src/io/safetensors/checkpoint.ts';
import { writeSafetensors } from '../src/io/safetensors/writer.ts';
import { quantizePlan, quantizeModel, presetName, type QuantizePreset } from '../src/io/quantize-model.ts';
import type { ByteSink } from '../src/io/bytes.ts';
import { smolConfig, SMOLLM2, syntheticCheckpoint } from './synthetic.ts';
import { openSteps } from './train-steps.ts';
import { openDecoder, type Decoder } from './decoder.ts';
import { writeSuite, type BenchRow } from './report.ts';

const PRESETS: readonly QuantizePreset[] = ['q8_0', 'q4_0', 'q4_k_m'];
const SIZES = Object.keys(SMOLLM2);
/**
 * Decode steps timed per sample, from the first generated token to the last (the prompt's prefill is not counted):
 * at least `tokens`, and for a fast model as many as fill about `seconds` at the slower depth's pace (at most `max`);
 * both depths then decode the same count.
 */
const DECODE = { tokens: 4, seconds: 5, max: 48 };
/** The training step: B rows of T tokens, LoRA rank and alpha; one untimed warm-up step before the timed ones. */
const STEP = { B: 1, T: 64, r: 8, alpha: 16 };
/** the depths timed for the extension to full depth */
const DEPTHS = [2, 3] as const;
/**
 * Alternating rounds per size (d2, d3 per round, after a warm-up of each), decode and training step; the full-depth
 * 135M measurement takes one sample after its warm-up. 1.7B's samples (seconds per token, tens of seconds per step)
 * get two rounds to keep the run under 45 minutes.
 */
const ROUNDS: Record<string, { decode: number; train: number }> = { '135M': { decode: 3, train: 3 }, '360M': { decode: 3, train: 3 }, '1.7B': { decode: 2, train: 2 } };
/**
 * Estimated minutes per (size, type) on a quiet 2-core host (load under 1) at the ROUNDS and DECODE above:
 * quantising, loading, every warm-up and sample (and for 135M the full-depth measurement); 43 in all. From the
 * 2026-12-07 full run (36 minutes under load 5.5 for 10 of these cells with one sample per depth; its per-depth
 * seconds in bench/results/quant.json, taken as about 0.6× on a quiet host), the K-quants' 1–2 M weights/s of
 * quantising (1.7B Q4_K_M: about 300 M weights at depth 3), and a partial run of 360M Q4_0 (3.7 minutes under
 * load 3.5–6.5 at 8-token samples). Each cell's actual minutes are printed beside its estimate, so a full run can
 * refresh the table.
 */
const ESTIMATE_MIN: Record<string, Record<string, number>> = {
  '135M': { BF16: 2, Q8_0: 2.5, Q4_0: 2.5, Q4_K_M: 4 },
  '360M': { BF16: 1.5, Q8_0: 2, Q4_0: 2, Q4_K_M: 3 },
  '1.7B': { BF16: 4.5, Q8_0: 6, Q4_0: 5, Q4_K_M: 8 },
};
const run = process.env.ALLOY_BENCH_QUANT === '1';
const mb = (b: number) => `${(b / 1e6).toFixed(0)} MB`;
const typeName = (p: QuantizePreset | null) => (p ? presetName(p) : 'BF16');
const secs = (xs: readonly number[], digits: number) => xs.map((x) => x.toFixed(digits)).join(', ');

// V8's collector, exposed at run time (vm.runInNewContext sees the flag), so that a collection of the last type's
// buffers runs before a sample rather than inside it; without it (another runtime) samples simply go uncollected.
setFlagsFromString('--expose-gc');
const collect = runInNewContext('gc') as (() => void) | undefined;

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

/** ALLOY_BENCH_QUANT_ROUNDS: rounds for every size and both timings (a partial run), or null when unset. */
function roundsOverride(): number | null {
  const raw = process.env.ALLOY_BENCH_QUANT_ROUNDS?.trim();
  if (!raw) return null;
  const n = Number(raw);
  if (!Number.isInteger(n) || n < 1) throw new Error(`ALLOY_BENCH_QUANT_ROUNDS: "${raw}" is not a whole number ≥ 1`);
  return n;
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

/** The decode token count for a pace (seconds per token): at least DECODE.tokens, about DECODE.seconds, at most DECODE.max. */
const tokensFor = (pace: number) => Math.min(DECODE.max, Math.max(DECODE.tokens, Math.ceil(DECODE.seconds / pace)));

/**
 * Each of `runs` once untimed (its warm-up: the very work it is then timed on, so no compile or first use lands in a
 * sample), then `rounds` rounds of all of them in turn, a garbage collection before each; every sample, per run.
 */
async function alternate(runs: ReadonlyArray<() => Promise<number>>, rounds: number): Promise<number[][]> {
  for (const r of runs) (collect?.(), await r());
  const samples = runs.map((): number[] => []);
  for (let i = 0; i < rounds; i++) {
    for (const [j, r] of runs.entries()) {
      collect?.();
      samples[j]!.push(await r());
    }
  }
  return samples;
}

/** t(L) = t2 + (L − 2)·(t3 − t2): the time of a full-depth model from the depths timed. */
const extend = ([t2, t3]: readonly number[], L: number) => t2! + ((L - DEPTHS[0]) * (t3! - t2!)) / (DEPTHS[1] - DEPTHS[0]);

/** An extended row's cell: tokens/s at full depth from each depth's least sample, then those seconds. */
function extendedCell(tokens: number, samples: readonly (readonly number[])[], L: number, digits: number): string {
  const mins = samples.map((xs) => Math.min(...xs));
  const t = extend(mins, L);
  const rate = t > 0 ? (tokens / t).toFixed(2) : 'n/a';
  return `${rate} (${mins.map((s) => s.toFixed(digits)).join(' / ')} s)`;
}

it.skipIf(!run)(
  'quant: bytes, decode and QLoRA step tok/s at BF16, Q8_0, Q4_0, Q4_K_M',
  async () => {
    const started = performance.now();
    const load0 = loadavg()[0]!;
    const { picked: types, partial: someTypes } = pick<QuantizePreset | null>('ALLOY_BENCH_QUANT_TYPES', [null, ...PRESETS], typeName);
    const { picked: sizes, partial: someSizes } = pick('ALLOY_BENCH_QUANT_SIZES', SIZES, (s) => s);
    const forcedRounds = roundsOverride();
    const roundsOf = (size: string) => (forcedRounds ? { decode: forcedRounds, train: forcedRounds } : ROUNDS[size]!);
    const estimate = sizes.reduce((n, size) => n + types.reduce((m, p) => m + ESTIMATE_MIN[size]![typeName(p)]!, 0), 0);
    console.log(`quant bench: ${sizes.join(', ')} × ${types.map(typeName).join(', ')}, estimated ${estimate.toFixed(0)} min on a quiet host${forcedRounds ? ` (at ${JSON.stringify(ROUNDS)} rounds; this run takes ${forcedRounds})` : ''}; 1-min load ${load0.toFixed(1)}`);
    // one layer is about a tenth of a depth-2 sample (135M Q4_K_M: 0.487 / 0.527 s per token, 8.1 / 9.1 s per step),
    // while other work on two cores swings a sample by up to 3×: the minima only hold if some samples ran undisturbed
    if (load0 > 1.5) console.warn(`quant bench: 1-min load ${load0.toFixed(1)} on ${availableParallelism()} cores: samples will be slowed by other work, and the extended rows may be noise`);
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
      const rounds = roundsOf(size);
      // 135M is measured at full depth too; its checkpoint then serves the depth-2 and -3 models as well
      const measured = size === '135M';
      const source = await sourceFiles(size, measured ? L : DEPTHS[1]);
      const ext = `extended from depths ${DEPTHS.join(' and ')} to ${L} layers`;
      const least = (n: number, what: string) => `the least of ${n} ${what} each, the depths alternating after a warm-up of each`;
      const decodeFull: BenchRow = { model: `SmolLM2-${size} shapes: greedy decode, measured at ${L} layers (tok/s, ≥ ${DECODE.tokens} tokens after a warm-up)` };
      const trainFull: BenchRow = { model: `SmolLM2-${size} shapes: LoRA training step on the base in that type, measured at ${L} layers (tok/s, ${stepWhat}, 1 step after 1 warm-up step)` };
      const decodeExt: BenchRow = { model: `SmolLM2-${size} shapes: greedy decode, ${ext} (tok/s; s per token at depths ${DEPTHS.join(' / ')}, ${least(rounds.decode, 'samples')})` };
      const trainExt: BenchRow = { model: `SmolLM2-${size} shapes: LoRA training step, ${ext} (tok/s; s per step at depths ${DEPTHS.join(' / ')}, ${least(rounds.train, 'steps')})` };
      for (const p of types) {
        const name = typeName(p);
        const cellStart = performance.now();
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
          const dec = await openDecoder(ctx, kernels, ck, cfg);
          try {
            const tokens = tokensFor(dec.pace);
            const [[sec]] = (await alternate([() => dec.secPerToken(tokens)], 1)) as [[number]];
            decodeFull[name] = (1 / sec).toFixed(2);
            console.log(`${size} ${name} at ${L} layers: ${(1 / sec).toFixed(2)} tok/s (${sec.toFixed(3)} s/token over ${tokens}), GPU weights ${mb(dec.weightBytes)}`);
          } finally {
            dec.dispose();
          }
          const tr = await openSteps(ctx, kernels, cfg, ck, STEP.B, STEP.T, { steps: 2, r: STEP.r, alpha: STEP.alpha });
          try {
            const [[sec]] = (await alternate([() => tr.step()], 1)) as [[number]];
            trainFull[name] = ((STEP.B * STEP.T) / sec).toFixed(2);
            console.log(`${size} ${name} at ${L} layers: LoRA step ${sec.toFixed(2)} s (${trainFull[name]} tok/s; loss ${tr.losses[0]!.toFixed(3)} → ${tr.losses.at(-1)!.toFixed(3)}; pool peak ${mb(tr.peak())})`);
          } finally {
            tr.dispose();
          }
        }
        // the checkpoint holds more layers than these depths: loadModel reads only the tensors its config names
        const cfgs = DEPTHS.map((depth) => smolConfig(size, depth));
        const decoders = [];
        try {
          for (const cfg of cfgs) decoders.push(await openDecoder(ctx, kernels, ck, cfg));
          const tokens = tokensFor(Math.max(...decoders.map((d) => d.pace)));
          const dSamples = await alternate(decoders.map((d) => () => d.secPerToken(tokens)), rounds.decode);
          decodeExt[name] = extendedCell(1, dSamples, L, 3);
          for (const [i, depth] of DEPTHS.entries()) console.log(`${size} ${name} at depth ${depth}: s/token over ${tokens}: ${secs(dSamples[i]!, 3)} → least ${Math.min(...dSamples[i]!).toFixed(3)}`);
        } finally {
          for (const d of decoders) d.dispose();
        }
        const trainers = [];
        try {
          for (const cfg of cfgs) trainers.push(await openSteps(ctx, kernels, cfg, ck, STEP.B, STEP.T, { steps: 1 + rounds.train, r: STEP.r, alpha: STEP.alpha }));
          const sSamples = await alternate(trainers.map((t) => () => t.step()), rounds.train);
          trainExt[name] = extendedCell(STEP.B * STEP.T, sSamples, L, 2);
          for (const [i, depth] of DEPTHS.entries()) {
            const t = trainers[i]!;
            console.log(`${size} ${name} at depth ${depth}: s/step: ${secs(sSamples[i]!, 2)} → least ${Math.min(...sSamples[i]!).toFixed(2)} (loss ${t.losses[0]!.toFixed(3)} → ${t.losses.at(-1)!.toFixed(3)}; pool peak ${mb(t.peak())})`);
          }
        } finally {
          for (const t of trainers) t.dispose();
        }
        const cellMin = (performance.now() - cellStart) / 60000;
        console.log(`${size} ${name} ${ext}: decode ${decodeExt[name]}, training step ${trainExt[name]}; ${cellMin.toFixed(1)} min (estimated ${ESTIMATE_MIN[size]![name]} at ${JSON.stringify(ROUNDS[size])} rounds), ${((performance.now() - started) / 60000).toFixed(1)} min into the run, load ${loadavg()[0]!.toFixed(1)}`);
      }
      if (measured) rows.push(decodeFull, decodeExt, trainFull, trainExt);
      else rows.push(decodeExt, trainExt);
    }
    const minutes = (performance.now() - started) / 60000;
    const load1 = loadavg()[0]!;
    console.log(`quant bench: ${minutes.toFixed(1)} min (estimated ${estimate.toFixed(0)}), load ${load0.toFixed(1)} → ${load1.toFixed(1)}`);
    if (someTypes || someSizes || forcedRounds) {
      console.log(`partial run (ALLOY_BENCH_QUANT_TYPES / _SIZES / _ROUNDS): results file and README left as they are\n${JSON.stringify(rows, null, 2)}`);
      return;
    }
    writeSuite({
      suite: 'quant',
      adapter: ctx.adapterInfo.description,
      note:
        `Weight bytes on the GPU (from the plans of what loadModel keeps packed, within 1% of a loaded model: Q8_0/Q4_0/Q5_0/Q4_K/Q5_K/Q6_K projections and tables), ` +
        `greedy decode (random weights, 8-token prompt, tokens timed from the first generated one, so the prefill is not counted: ${DECODE.tokens}, or as many as fill ${DECODE.seconds} s up to ${DECODE.max}) on ${ctx.kernelFamily} kernels, ` +
        `and a LoRA training step (QLoRA where the base is quantised: CPT on ${STEP.B} × ${STEP.T} tokens, r ${STEP.r}, the Trainer's whole step; every token of the batch counted). ` +
        `Rows "extended from depths 2 and 3" time the shape at 2 and 3 layers (same widths, heads and vocabulary) and extend linearly, t(L) = t2 + (L − 2)·(t3 − t2); ` +
        `the two depths are loaded side by side, each warmed up with the very work it is timed on (the same token count at both), then timed alternately (d2, d3, d2, d3, …) with a garbage collection before each sample, ` +
        `and each depth keeps its least sample (load only adds time; alternating spreads a slow stretch over both depths); the bracketed seconds are those minima, t2 / t3. ` +
        `The extension multiplies the noise of t3 − t2 by L − 2; the 135M rows measured at full depth beside its extended ones show how far it holds. ` +
        `Q4_K_M of SmolLM2-135M and 360M keeps their 576- and 960-wide rows out of Q4_K (not whole 256-blocks): they fall back to Q5_0, packed like the rest. ` +
        `Shared 2-core host, 1-min load average ${load0.toFixed(1)} at the start and ${load1.toFixed(1)} at the end; the run took ${minutes.toFixed(0)} minutes (estimated ${estimate.toFixed(0)}).`,
      rows,
    });
  },
  60 * 60_000,
);
