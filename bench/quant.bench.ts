// Issue 17's benchmark: weight bytes of SmolLM2-135M/360M/1.7B at BF16, Q8_0, Q4_0 and Q4_K_M (exact, from the
// memory plans of what loadModel keeps packed), and for the 135M shape at each (random BF16 weights quantised by
// the studio's "load as 4-bit" path, io/quantize-model.ts) greedy decode tokens/s and a QLoRA training step's
// tokens/s: LoRA r 8 on all seven projections over the base in its type (train-steps.ts's Trainer run, CPT on one
// 64-token row: small, ≈ 45 s a step here under a load average of 5, about 2.5 minutes a type with its load and
// warm-up; bench/train-smol.bench.ts times the 4 × 512 step on the 16-bit base, ≈ 11 minutes per 135M step). Decoding a model this size on SwiftShader is slow and
// quantising it in JavaScript takes minutes, so the run is opt-in:
//   ALLOY_BENCH_QUANT=1 npx vitest run --config vitest.bench.config.ts bench/quant.bench.ts
// ALLOY_BENCH_QUANT_TYPES=q4_0 (a comma list of bf16, q8_0, q4_0, q4_k_m) times those types only, to check the
// code path: it prints the rows and leaves the results file and README as they are (a partial run is no table).
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
import { smolConfig, SMOLLM2, syntheticCheckpoint } from './synthetic.ts';
import { alloySteps } from './train-steps.ts';
import { writeSuite, type BenchRow } from './report.ts';

const PRESETS: readonly QuantizePreset[] = ['q8_0', 'q4_0', 'q4_k_m'];
const DECODE_TOKENS = 16;
/** the training step: B rows of T tokens, LoRA rank and alpha, untimed and timed optimizer steps */
const STEP = { B: 1, T: 64, r: 8, alpha: 16, warmup: 1, steps: 2 };
/** what alloySteps reports: the median step rate, i.e. the faster of two steps (≈ 45 s each here under load) */
const STEP_STAT = STEP.steps === 2 ? 'the faster of 2 steps' : `median of ${STEP.steps} steps`;
const run = process.env.ALLOY_BENCH_QUANT === '1';
const mb = (b: number) => `${(b / 1e6).toFixed(0)} MB`;

/** The types timed (null: the 16-bit source), all of them unless ALLOY_BENCH_QUANT_TYPES names some. */
function timedTypes(): { types: (QuantizePreset | null)[]; partial: boolean } {
  const all: (QuantizePreset | null)[] = [null, ...PRESETS];
  const raw = process.env.ALLOY_BENCH_QUANT_TYPES?.trim();
  if (!raw) return { types: all, partial: false };
  const names = raw.split(',').map((s) => s.trim().toLowerCase());
  for (const n of names) {
    if (n !== 'bf16' && !PRESETS.includes(n as QuantizePreset)) throw new Error(`ALLOY_BENCH_QUANT_TYPES: "${n}" is not one of bf16, ${PRESETS.join(', ')}`);
  }
  const types = all.filter((p) => names.includes(p ?? 'bf16'));
  return { types, partial: types.length < all.length };
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

it.skipIf(!run)('quant: bytes, decode and QLoRA step tok/s at BF16, Q8_0, Q4_0, Q4_K_M', async () => {
  const load0 = loadavg()[0]!;
  const { types, partial } = timedTypes();
  const rows: BenchRow[] = [];
  // ---- bytes, every size (exact plans: what loadModel uploads)
  for (const size of Object.keys(SMOLLM2)) {
    const cfg = smolConfig(size);
    const bytesOf = (matrixTypes: Record<string, string>) => planInferenceMemory(cfg, { dtype: 'bf16', batch: 1, seqLen: 1, kvCapacity: 0, matrixTypes }).weights;
    const row: BenchRow = { model: `SmolLM2-${size} shapes`, BF16: mb(bytesOf({})) };
    for (const p of PRESETS) {
      const plan = quantizePlan(cfg, p, () => 'BF16');
      const types = Object.fromEntries(plan.filter((t) => /^Q/.test(t.storage)).map((t) => [t.name, t.storage]));
      row[presetName(p)] = mb(bytesOf(types));
    }
    rows.push(row);
  }
  // ---- decode, 135M
  const ctx = await acquireNodeDevice();
  const kernels = new KernelRegistry(ctx.device);
  const cfg = smolConfig('135M');
  const ck = syntheticCheckpoint(cfg);
  let st: Uint8Array | null = null;
  await writeSafetensors(memorySink((b) => (st = b)), ck.names().map((name) => ({ name, dtype: ck.info(name).dtype, shape: ck.info(name).shape, data: () => ck.readRaw(name) })));
  const configJson = new TextEncoder().encode(JSON.stringify({ architectures: ['LlamaForCausalLM'], model_type: 'llama', ...SMOLLM2['135M'], max_position_embeddings: 8192, rms_norm_eps: 1e-5, rope_theta: 100000, tie_word_embeddings: true, torch_dtype: 'bfloat16', vocab_size: 49152 }));
  const source = memoryModelFiles({ 'config.json': configJson, 'model.safetensors': st! }, 'SmolLM2-135M (random BF16)');
  const decode: BenchRow = { model: `SmolLM2-135M shapes: greedy decode (tok/s, ${DECODE_TOKENS} tokens after a warm-up)` };
  const train: BenchRow = {
    model: `SmolLM2-135M shapes: LoRA training step on the base in that type (tok/s, ${STEP.B} × ${STEP.T} tokens, r ${STEP.r} on all seven projections, ${STEP_STAT} after ${STEP.warmup})`,
  };
  for (const p of types) {
    let files = source;
    if (p) {
      const out: Record<string, Uint8Array> = {};
      const t0 = performance.now();
      await quantizeModel(source, async (name) => memorySink((b) => (out[name] = b)), { preset: p });
      console.log(`${presetName(p)}: quantised in ${((performance.now() - t0) / 1000).toFixed(0)} s`);
      files = memoryModelFiles(out, `SmolLM2-135M ${presetName(p)}`);
    }
    const ck = await openCheckpoint(files);
    const pool = new BufferPool(ctx.device);
    const model = await loadModel(ctx, kernels, pool, ck, cfg);
    try {
      const prompt = [1, 400, 5000, 77, 901, 12, 3456, 42];
      await generate(model, prompt, { temperature: 0, maxTokens: 4, eosTokenIds: [] });
      const t0 = performance.now();
      await generate(model, prompt, { temperature: 0, maxTokens: DECODE_TOKENS, eosTokenIds: [] });
      const tokPerSec = DECODE_TOKENS / ((performance.now() - t0) / 1000);
      decode[p ? presetName(p) : 'BF16'] = tokPerSec.toFixed(2);
      console.log(`${p ? presetName(p) : 'BF16'}: ${tokPerSec.toFixed(2)} tok/s, GPU weights ${mb(model.weightBytes)}`);
    } finally {
      model.dispose();
      pool.destroyAll();
    }
    // QLoRA: a fresh load of the same checkpoint under the Trainer (forward, backward through the frozen packed
    // weights, clipping, AdamW), its own pool
    const t0 = performance.now();
    const m = await alloySteps(ctx, kernels, cfg, ck, STEP.B, STEP.T, { steps: STEP.steps, warmup: STEP.warmup, r: STEP.r, alpha: STEP.alpha });
    train[p ? presetName(p) : 'BF16'] = m.tokPerSec.toFixed(2);
    console.log(`${p ? presetName(p) : 'BF16'}: LoRA step ${m.tokPerSec.toFixed(2)} tok/s (${m.stepSec.toFixed(1)} s/step; loss ${m.loss0.toFixed(3)} → ${m.lossN.toFixed(3)}; pool peak ${mb(m.peak)}; ${((performance.now() - t0) / 1000).toFixed(0)} s with load and warm-up)`);
  }
  rows.push(decode, train);
  if (partial) {
    console.log(`partial run (ALLOY_BENCH_QUANT_TYPES): results file and README left as they are\n${JSON.stringify(rows, null, 2)}`);
    return;
  }
  writeSuite({
    suite: 'quant',
    adapter: ctx.adapterInfo.description,
    note:
      `Weight bytes on the GPU (from the plans of what loadModel keeps packed, within 1% of a loaded model: Q8_0/Q4_0/Q5_0/Q4_K/Q5_K/Q6_K projections and tables) ` +
      `and greedy decode of the 135M shape (random weights, 8-token prompt, ${DECODE_TOKENS} tokens after a warm-up) on ${ctx.kernelFamily} kernels; ` +
      `its LoRA training step (QLoRA where the base is quantised: CPT on ${STEP.B} × ${STEP.T} tokens, r ${STEP.r}, the Trainer's whole step) counts every token of the batch. ` +
      `Q4_K_M of SmolLM2-135M and 360M keeps their 576- and 960-wide rows out of Q4_K (not whole 256-blocks): they fall back to Q5_0, packed like the rest. ` +
      `Shared 2-core host, 1-min load average ${load0.toFixed(1)} at the start.`,
    rows,
  });
});
