/**
 * The `alloy` command: the studio's engine and I/O headless in Node, on Dawn's WebGPU. USAGE below is the one
 * description of its commands; COMMAND_OPTIONS says which options each command takes (any other is refused by
 * name). Errors are one line on stderr and a non-zero exit.
 */
import { parseArgs } from 'node:util';
import { existsSync, readdirSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { open } from 'node:fs/promises';
import { basename, dirname, isAbsolute, join, resolve } from 'node:path';
import { AlloyError, isCancelled } from '../common/errors.ts';
import { fileSink } from '../io/node/fs.ts';
import { parseMergeYaml } from '../engine/merge/config.ts';
import { runMerge, type SlerpAccelerator } from '../engine/merge/run.ts';
import { gpuSlerpAccelerator, isSoftwareAdapter } from '../engine/merge/gpu-slerp.ts';
import { readJson, type ModelFiles } from '../io/model-files.ts';
import { parseModelConfig, parameterCount, type ModelConfig } from '../io/config.ts';
import { ggmlTypesOf, openCheckpoint, type Checkpoint } from '../io/safetensors/checkpoint.ts';
import { readPeftAdapter } from '../io/peft.ts';
import { loadTokenizer } from '../io/tokenizer.ts';
import { dirModelFiles } from '../io/node/dir-model-files.ts';
import { formatBytes } from '../io/progress.ts';
import { withAdapter } from '../engine/lora/fold.ts';
import { acquireNodeDevice } from '../engine/gpu/node-gpu.ts';
import { BufferPool } from '../engine/gpu/buffer-pool.ts';
import { KernelRegistry } from '../engine/gpu/kernels.ts';
import { gradCmd } from './grad.ts';
import { trainCmd } from './train.ts';
import { evalCmd } from './eval.ts';
import { importCmd } from './import.ts';
import { exportGgufCmd } from './export-gguf.ts';
import { recipeCmd } from './recipe.ts';
import { benchKernelsCmd } from './bench-kernels.ts';
import { METHODS } from '../engine/train/objectives.ts';
import { GRAD_FLAGS, TRAIN_FIELDS, TRAIN_FLAGS, flagText, trainUsage } from '../engine/train/settings.ts';
import { forward, generate, loadModel, planInferenceMemory, warmKernels } from '../engine/model/index.ts';
import { storageOptions } from './storage-options.ts';

const USAGE = `usage:
  alloy info     --model DIR
  alloy logits   --model DIR --ids 1,2,3 [--adapter DIR] --out FILE.json
  alloy generate --model DIR --prompt TEXT [--max-tokens N] [--temperature T] [--top-k K] [--top-p P] [--seed S] [--chat] [--adapter DIR]
                 [--kv-cache f32|f16]   (also eval) f16: half the KV cache's bytes, keys and values rounded to f16
                 [--activations f32|f16] (also logits, eval, train) f16: the activations between kernels stored as f16,
                 half their bytes (the hardware kernel family's prefill and scoring; arithmetic stays f32)
  ${trainUsage('                 ')}
  alloy grad     --model DIR [--adapter DIR | --mode full] --data FILE.jsonl ${flagText('method')} [${flagText('beta')}] [${flagText('label-smoothing')}]
                 [${flagText('micro-batch')} [${flagText('accum')}]] --out DIR
                 one optimizer step's loss and gradient over the rows of FILE (in order, M rows or pairs per
                 micro-batch, the first M·K of them; default: all in one batch), reduced as the trainer does:
                 of the adapter's tensors (--mode lora, the default), or of every parameter of the model (--mode full)
  alloy eval     --model DIR --bench FILE.jsonl|FILE.csv|FILE.txt|MMLU_DIR [--json] [--limit N] [--shots K] [--adapter DIR] [--chat] [--max-tokens N]
                 multiple choice (acc, acc_norm, 95% Wilson CI, per subject), MMLU CSV or directory (test split, shots
                 from dev), perplexity of text, open questions by greedy generation
  alloy merge    CONFIG.yaml --out DIR [--allow-crimes] [--device auto|cpu|gpu] [--seed S] [--shard-size BYTES] [--post-weights v0.0.x|head]
                 --device auto: SLERP of big tensors on the GPU, but on the CPU when the only adapter is a software
                 one (SwiftShader), where the CPU path is faster
  alloy import   FILE.bin|FILE.gguf [--tokenizer tok.bin|tok.model] [--dequantize f16|bf16|f32] --out DIR
                 a llama2.c checkpoint (+ its tok*.bin or SentencePiece .model) or a GGUF file (llama, qwen2, qwen3, smollm3,
                 gemma3) as a Hugging Face folder (GGUF Q4_0/Q4_1/Q5_0/Q5_1/Q8_0/Q2_K…Q6_K tensors keep their blocks:
                 Q8_0/Q4_0/Q5_0/Q4_K/Q5_K/Q6_K projections stay packed on the GPU; --dequantize unpacks them)
  alloy export-gguf --model DIR --out FILE.gguf [--dtype f16|bf16|f32|q8_0|q6_k|q5_k_m|q4_k_m|q4_0]
                 a Hugging Face Llama/Mistral/Qwen2/Qwen3/SmolLM3/Gemma 3 folder as GGUF v3 for llama.cpp (default f16; norms always f32;
                 quantised presets pick each tensor's type as llama-quantize does)
  alloy bench kernels [--json] [--out FILE.json] [--models 135M,360M,1.7B] [--families software,hardware] [--rows N] [--only ID,…] [--tune]
                 the GPU check: every SmolLM2 projection at M = N (default 2048) and 1, LoRA's skinny products,
                 attention, decode attention, norms and dispatch cost, per kernel family, each checked against a CPU
                 reference before it is timed; GFLOP/s, GB/s and step estimates (exit 1 if a check fails);
                 --tune: the hardware family's tiles timed here, and the tuning-table entry to add
  alloy recipe   --model DIR (--recipe RECIPE.yaml|TRL_STAGE.yaml|EXPORT_DIR|--demo|--preset demo|study) --out DIR [--steps-scale X] [--limit N] [--json]
                 the study's pipeline: train + fold each stage (${METHODS.join('/')}), SLERP with the original (and a
                 t-sweep), benchmark and perplexity of every variant, synergy; writes every variant, the adapters and
                 results.json under --out (--json: print results.json's object instead of the table). --recipe also
                 reads a TRL / alignment-handbook stage config or a folder --export wrote, naming what does not carry over
  alloy recipe   --export DIR --model HUB_ID (--recipe …|--demo|--preset demo|study) [--limit N]
                 the recipe as a folder for a GPU cluster: TRL stage configs and data, accelerate DeepSpeed ZeRO-3,
                 mergekit YAML, lm-eval task, run.sh, README.md (--model: the base model the cluster loads)
environment:
  ALLOY_KERNELS=software|hardware  force a kernel family on any adapter (default: software on a CPU adapter such as
                 SwiftShader, hardware on a GPU)
  ALLOY_SUBGROUPS=on|off  the hardware family's row reductions with subgroup operations (default: when the device
                 has the subgroups feature; on requires it)`;

/** `alloy train`'s options come from the settings schema (engine/train/settings.ts); the rest are declared here. */
const TRAIN_OPTIONS = Object.fromEntries(
  TRAIN_FIELDS.map((f) => [f.cli, { type: f.kind === 'boolean' ? ('boolean' as const) : ('string' as const) }]),
) as Record<string, { type: 'string' } | { type: 'boolean' }>;

const OPTIONS = {
  ...TRAIN_OPTIONS,
  model: { type: 'string' },
  adapter: { type: 'string' },
  ids: { type: 'string' },
  out: { type: 'string' },
  prompt: { type: 'string' },
  'max-tokens': { type: 'string' },
  temperature: { type: 'string' },
  'top-k': { type: 'string' },
  'top-p': { type: 'string' },
  seed: { type: 'string' },
  chat: { type: 'boolean' },
  'allow-crimes': { type: 'boolean' },
  device: { type: 'string' },
  'shard-size': { type: 'string' },
  'post-weights': { type: 'string' },
  data: { type: 'string' },
  method: { type: 'string' },
  beta: { type: 'string' },
  'label-smoothing': { type: 'string' },
  accum: { type: 'string' },
  'micro-batch': { type: 'string' },
  dtype: { type: 'string' },
  tokenizer: { type: 'string' },
  dequantize: { type: 'string' },
  bench: { type: 'string' },
  json: { type: 'boolean' },
  limit: { type: 'string' },
  shots: { type: 'string' },
  recipe: { type: 'string' },
  demo: { type: 'boolean' },
  preset: { type: 'string' },
  export: { type: 'string' },
  'steps-scale': { type: 'string' },
  models: { type: 'string' },
  families: { type: 'string' },
  rows: { type: 'string' },
  only: { type: 'string' },
  tune: { type: 'boolean' },
  'kv-cache': { type: 'string' },
  activations: { type: 'string' },
  help: { type: 'boolean', short: 'h' },
} as const;

/** The options each command takes; parseArgs knows them all, so a misplaced one is caught here, by name. */
const COMMAND_OPTIONS = {
  info: ['model'],
  logits: ['model', 'ids', 'adapter', 'out', 'activations'],
  generate: ['model', 'prompt', 'max-tokens', 'temperature', 'top-k', 'top-p', 'seed', 'chat', 'adapter', 'kv-cache', 'activations'],
  train: [...TRAIN_FLAGS, 'activations'],
  // its own options around the settings it shares with train (the schema's `grad` fields): the same flags and checks
  grad: ['model', 'adapter', 'data', ...GRAD_FLAGS, 'out'],
  eval: ['model', 'bench', 'json', 'limit', 'shots', 'adapter', 'chat', 'max-tokens', 'kv-cache', 'activations'],
  merge: ['out', 'allow-crimes', 'device', 'seed', 'shard-size', 'post-weights'],
  import: ['tokenizer', 'dequantize', 'out'],
  'export-gguf': ['model', 'out', 'dtype'],
  recipe: ['model', 'recipe', 'demo', 'preset', 'out', 'steps-scale', 'limit', 'export', 'json'],
  bench: ['json', 'out', 'models', 'families', 'rows', 'only', 'tune'],
} as const satisfies Record<string, readonly string[]>;

/** Refuses every option `command` does not use, naming them and the ones it takes. */
function checkOptions(command: keyof typeof COMMAND_OPTIONS, values: Record<string, unknown>): void {
  const allowed: readonly string[] = COMMAND_OPTIONS[command];
  const extra = Object.keys(values).filter((k) => k !== 'help' && !allowed.includes(k));
  if (extra.length === 0) return;
  const list = (ks: readonly string[]) => ks.map((k) => `--${k}`).join(', ');
  throw new AlloyError(`alloy ${command} does not take ${list(extra)} (its options: ${list(allowed)})`);
}

export interface Io {
  out: (s: string) => void;
  err: (s: string) => void;
}

const stdio: Io = { out: (s) => process.stdout.write(s), err: (s) => process.stderr.write(s) };

/** `signal` lets an embedding caller (tests, scripts) cancel a long command, as Ctrl-C does for `merge`. */
export async function main(argv: string[], io: Io = stdio, signal?: AbortSignal): Promise<number> {
  try {
    const { positionals, values } = parseArgs({ args: argv, options: OPTIONS, allowPositionals: true, strict: true });
    const command = positionals[0];
    if (values.help || !command) {
      io.out(USAGE + '\n');
      return values.help ? 0 : 2;
    }
    if (!Object.hasOwn(COMMAND_OPTIONS, command)) throw new AlloyError(`unknown command "${command}"\n${USAGE}`);
    checkOptions(command as keyof typeof COMMAND_OPTIONS, values);
    switch (command) {
      case 'info':
        return await info(values, io);
      case 'logits':
        return await logits(values, io);
      case 'generate':
        return await generateCmd(values, io);
      case 'train':
        return await trainCmd(values, io, signal);
      case 'grad':
        return await gradCmd(values, io);
      case 'eval':
        return await evalCmd(values, io);
      case 'merge':
        return await mergeCmd(positionals.slice(1), values, io, signal);
      case 'export-gguf':
        return await exportGgufCmd(values, io);
      case 'import':
        return await importCmd(positionals.slice(1), values, io);
      case 'recipe':
        return await recipeCmd(values, io, signal);
      case 'bench':
        if (positionals[1] !== 'kernels') throw new AlloyError(`alloy bench: the one suite is "kernels" (alloy bench kernels), got ${positionals[1] ? `"${positionals[1]}"` : 'none'}`);
        return await benchKernelsCmd(values, io, signal);
      default:
        throw new AlloyError(`unknown command "${command}"\n${USAGE}`);
    }
  } catch (e) {
    io.err(`alloy: ${e instanceof Error ? e.message : String(e)}\n`);
    return 1;
  }
}

type Values = { [K in keyof typeof OPTIONS]?: (typeof OPTIONS)[K]['type'] extends 'boolean' ? boolean : string };

function required(v: Values, name: keyof Values): string {
  const x = v[name];
  if (typeof x !== 'string' || x === '') throw new AlloyError(`--${name} is required`);
  return x;
}

function number(v: Values, name: keyof Values, fallback: number): number {
  const x = v[name];
  if (x === undefined) return fallback;
  const n = Number(x);
  if (typeof x !== 'string' || !Number.isFinite(n)) throw new AlloyError(`--${name} must be a number, got "${String(x)}"`);
  return n;
}

interface Opened {
  files: ModelFiles;
  config: ModelConfig;
  checkpoint: Checkpoint;
}

async function openModel(v: Values): Promise<Opened> {
  const files = dirModelFiles(required(v, 'model'));
  const config = parseModelConfig(await readJson(files, 'config.json'));
  let checkpoint = await openCheckpoint(files);
  if (v.adapter) checkpoint = withAdapter(checkpoint, await readPeftAdapter(dirModelFiles(v.adapter)));
  return { files, config, checkpoint };
}

async function onGpu<T>(m: Opened, io: Io, run: (model: Awaited<ReturnType<typeof loadModel>>) => Promise<T>, v: Values = {}): Promise<T> {
  const ctx = await acquireNodeDevice();
  const pool = new BufferPool(ctx.device);
  const model = await loadModel(ctx, new KernelRegistry(ctx.device), pool, m.checkpoint, m.config, storageOptions(v));
  try {
    return await run(model);
  } finally {
    const { peakBytes } = pool.stats();
    io.err(`GPU memory: ${formatBytes(model.weightBytes)} of weights, peak ${formatBytes(peakBytes)} (${ctx.adapterInfo.description}, ${ctx.kernelFamily} kernels${ctx.kernelFamilyForced ? ' forced by ALLOY_KERNELS' : ''}${ctx.kernelFamily === 'hardware' && ctx.subgroups ? ', subgroups' : ''}${model.kvDtype === 'f16' ? ', f16 KV cache' : ''}${activationsNote(model.activations, ctx.kernelFamily)})\n`);
    model.dispose();
    pool.destroyAll();
  }
}

/** The GPU memory line's word on --activations: f16 runs on the hardware family only (model/layer.ts layerActsF16). */
function activationsNote(acts: 'f32' | 'f16', family: string): string {
  if (acts === 'f32') return '';
  return family === 'hardware' ? ', f16 activations' : ', f16 activations asked for: the software family runs them in f32';
}

async function info(v: Values, io: Io): Promise<number> {
  const { config, checkpoint } = await openModel(v);
  // each storage type (a dtype, or the ggml block type of a tensor kept as blocks) with its count and bytes
  const types = new Map<string, { n: number; bytes: number }>();
  const matrixTypes = ggmlTypesOf(checkpoint);
  let stored = 0;
  for (const name of checkpoint.names()) {
    const t = checkpoint.info(name);
    const type = t.ggmlType ?? t.dtype;
    const e = types.get(type) ?? { n: 0, bytes: 0 };
    types.set(type, { n: e.n + 1, bytes: e.bytes + t.end - t.begin });
    stored += t.end - t.begin;
  }
  const params = parameterCount(config);
  const sixteen = [...types.keys()].find((d) => d === 'BF16' || d === 'F16');
  const seq = Math.min(PLAN_SEQ, config.maxPositionEmbeddings);
  const quantised = Object.keys(matrixTypes).length > 0;
  const plan = planInferenceMemory(config, { dtype: sixteen === 'BF16' ? 'bf16' : sixteen === 'F16' ? 'f16' : 'f32', matrixTypes, batch: 1, seqLen: seq });
  const lines = [
    `architecture   ${config.architecture} (${config.family})`,
    `parameters     ${params.toLocaleString('en-US')}`,
    `layers         ${config.numLayers}, hidden ${config.hiddenSize}, MLP ${config.intermediateSize}`,
    `heads          ${config.numHeads} query / ${config.numKvHeads} key-value, head_dim ${config.headDim}`,
    `vocabulary     ${config.vocabSize}${config.tieWordEmbeddings ? ' (tied lm_head)' : ''}`,
    `dtype          ${[...types].map(([d, e]) => `${d} × ${e.n} (${formatBytes(e.bytes)})`).join(', ')}`,
    // Frozen 16-bit weights stay 16-bit on the GPU, so the stored size is what inference needs for weights; ggml
    // blocks stay packed (Q8_0/Q4_0/Q5_0/Q4_K/Q5_K/Q6_K projections) or are de-quantised at load (tables, other types).
    `memory         ${formatBytes(quantised ? plan.weights : stored)} of weights on the GPU (${formatBytes(params * 4)} if all f32)` +
      (quantised ? `; ${formatBytes(stored)} stored` : ''),
    `               ${formatBytes(plan.total)} for a ${seq}-token context (KV cache ${formatBytes(plan.kvCache)}, ${formatBytes(plan.kvCache / 2)} with --kv-cache f16; activations ${formatBytes(plan.activations)}, logits ${formatBytes(plan.logits)})`,
  ];
  io.out(lines.join('\n') + '\n');
  return 0;
}

/** The context length `info` plans memory for: a typical chat turn, not the model's maximum. */
const PLAN_SEQ = 2048;

function parseIds(text: string, vocab: number): number[] {
  const ids = text.split(',').map((s) => s.trim());
  return ids.map((s, i) => {
    const n = Number(s);
    if (s === '' || !Number.isInteger(n) || n < 0 || n >= vocab) {
      throw new AlloyError(`--ids: entry ${i + 1} ("${s}") is not a token id in [0, ${vocab})`, { field: 'ids' });
    }
    return n;
  });
}

async function logits(v: Values, io: Io): Promise<number> {
  const m = await openModel(v);
  const ids = parseIds(required(v, 'ids'), m.config.vocabSize);
  const out = required(v, 'out');
  const rows = await onGpu(m, io, async (model) => (await forward(model, [ids]))[0]!, v);
  const V = m.config.vocabSize;
  const table: number[][] = [];
  for (let t = 0; t < ids.length; t++) table.push(Array.from(rows.subarray(t * V, (t + 1) * V)));
  writeFileSync(out, JSON.stringify({ logits: table }));
  io.err(`wrote ${ids.length}×${V} logits to ${out}\n`);
  return 0;
}

async function generateCmd(v: Values, io: Io): Promise<number> {
  const m = await openModel(v);
  const tokenizer = await loadTokenizer(m.files);
  const prompt = required(v, 'prompt');
  const text = v.chat ? tokenizer.applyChatTemplate([{ role: 'user', content: prompt }], { addGenerationPrompt: true }) : prompt;
  // A chat template writes its own special tokens; plain prompts get the tokenizer's (e.g. BOS).
  const ids = tokenizer.encode(text, { addSpecialTokens: !v.chat });
  let t0 = 0;
  let printed = '';
  const sofar: number[] = [];
  const result = await onGpu(m, io, async (model) => {
    // kernels compiled first, so tokens/s measures generation
    await warmKernels(model);
    t0 = performance.now();
    return generate(model, ids, {
      maxTokens: number(v, 'max-tokens', 64),
      temperature: number(v, 'temperature', 0),
      topK: number(v, 'top-k', 0),
      topP: number(v, 'top-p', 1),
      seed: number(v, 'seed', 0),
      eosTokenIds: tokenizer.eosTokenIds,
      onToken: (token) => {
        sofar.push(token);
        // Decode the whole continuation each time so multi-byte characters split across tokens print whole.
        const text = tokenizer.decode(sofar, { skipSpecialTokens: true });
        if (text.startsWith(printed)) io.out(text.slice(printed.length));
        printed = text;
      },
    });
  }, v);
  const secs = (performance.now() - t0) / 1000;
  io.out('\n');
  io.err(`${result.tokens.length} tokens in ${secs.toFixed(2)} s (${(result.tokens.length / secs).toFixed(1)} tokens/s), stopped: ${result.finishReason}\n`);
  return 0;
}

/**
 * Buffers for the merge's tensor reads, handed back by runMerge (releaseInput) when a tensor is merged and
 * reused for the next ones. A fresh buffer per tensor read costs a page fault per 4 KiB on first touch, which
 * on a VM can cost more than the merge arithmetic itself (measured here: ~12 µs a page, 175 ms per 56 MB
 * embedding). Only buffers this pool made are taken back; a few are kept, the largest.
 */
class ReadBuffers {
  private free: ArrayBuffer[] = [];
  private mine = new WeakSet<ArrayBuffer>();
  /** reads below this get a plain fresh array: headers and JSON are read once and kept by their callers */
  static readonly MIN = 1 << 16;
  static readonly KEEP = 6;

  take(length: number): Uint8Array<ArrayBuffer> {
    if (length < ReadBuffers.MIN) return new Uint8Array(length);
    let best = -1;
    for (let i = 0; i < this.free.length; i++) {
      const b = this.free[i]!;
      if (b.byteLength >= length && (best < 0 || b.byteLength < this.free[best]!.byteLength)) best = i;
    }
    const buf = best >= 0 ? this.free.splice(best, 1)[0]! : new ArrayBuffer(length);
    this.mine.add(buf);
    return new Uint8Array(buf, 0, length);
  }

  release(bytes: Uint8Array): void {
    const buf = bytes.buffer;
    if (!(buf instanceof ArrayBuffer) || !this.mine.has(buf) || this.free.includes(buf)) return;
    this.free.push(buf);
    if (this.free.length > ReadBuffers.KEEP) {
      this.free.sort((a, b) => b.byteLength - a.byteLength);
      this.free.length = ReadBuffers.KEEP;
    }
  }
}

/** A model directory whose reads go into `pool`'s buffers (otherwise as dirModelFiles). */
function recyclingReads(dir: string, label: string, pool: ReadBuffers): ModelFiles {
  const m = dirModelFiles(dir, label);
  return {
    label: m.label,
    files: m.files,
    async open(path) {
      const src = await m.open(path); // checks the file exists and is listed
      const file = join(dir, ...path.split('/'));
      return {
        name: src.name,
        size: src.size,
        async read(offset, length) {
          if (offset < 0 || length < 0 || offset + length > src.size) return src.read(offset, length); // its error
          const buf = pool.take(length);
          const fh = await open(file, 'r');
          try {
            let got = 0;
            while (got < length) {
              const { bytesRead } = await fh.read(buf, got, length - got, offset + got);
              if (bytesRead === 0) throw new RangeError(`${src.name}: file ended at ${offset + got}`);
              got += bytesRead;
            }
          } catch (e) {
            pool.release(buf);
            throw e;
          } finally {
            await fh.close();
          }
          return buf;
        },
      };
    },
  };
}

/**
 * mergekit-yaml on Alloy's engine. Model references in the YAML are HF model folders, relative to the YAML's
 * folder or absolute, optionally `path+lora_path`. The output is built in a hidden sibling directory and renamed
 * to --out only when complete, so a failed or interrupted merge leaves nothing behind; inputs are only read.
 */
async function mergeCmd(args: string[], v: Values, io: Io, signal?: AbortSignal): Promise<number> {
  if (args.length !== 1) throw new AlloyError('merge takes one CONFIG.yaml');
  const file = args[0]!;
  const out = resolve(required(v, 'out'));
  if (existsSync(out) && readdirSync(out).length > 0) {
    throw new AlloyError(`--out ${out} exists and is not empty; choose a new directory (a merge never overwrites)`);
  }
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch {
    throw new AlloyError(`cannot read merge config ${file}`, { file });
  }
  const { config, warnings } = parseMergeYaml(text, basename(file));
  for (const w of warnings) io.err(`warning: ${w}\n`);
  const device = v.device ?? 'auto';
  if (!['auto', 'cpu', 'gpu'].includes(device)) throw new AlloyError(`--device must be auto, cpu or gpu, got "${device}"`);
  const post = v['post-weights'] ?? 'v0.0.x';
  if (post !== 'v0.0.x' && post !== 'head') throw new AlloyError(`--post-weights must be v0.0.x or head, got "${post}"`);
  const root = dirname(resolve(file));

  // The GPU is acquired only when a tensor is big enough to use it (never, for tiny models under --device auto).
  // Under auto a software adapter (SwiftShader, a CPU Vulkan driver) is not used: it runs the kernels on the same
  // cores, slower than the CPU path, which merges straight from the stored bytes (measured in bench/merge.bench.ts).
  let accel: Promise<(SlerpAccelerator & { pool: BufferPool }) | undefined> | undefined;
  const getAccel = () =>
    (accel ??= acquireNodeDevice().then(
      (ctx) => {
        if (device === 'auto' && isSoftwareAdapter(ctx)) {
          io.err(`note: the WebGPU adapter is ${ctx.adapterInfo.description}, a CPU driver; merging on the CPU (faster there; --device gpu forces it)\n`);
          ctx.device.destroy();
          return undefined;
        }
        return gpuSlerpAccelerator(ctx, device === 'gpu' ? 1 : undefined);
      },
      (e: unknown) => {
        if (device === 'gpu') throw e;
        io.err(`warning: no GPU (${(e as Error).message.split('.')[0]}); merging on the CPU\n`);
        return undefined;
      },
    ));
  const minAuto = 1 << 18;
  const accelerator: SlerpAccelerator | undefined =
    device === 'cpu'
      ? undefined
      : {
          accepts: async (n) => (device === 'gpu' || n >= minAuto) && ((await getAccel())?.accepts(n) ?? false),
          slerp: async (t, a, b) => (await getAccel())!.slerp(t, a, b),
        };

  const reads = new ReadBuffers();
  const tmp = join(dirname(out), `.${basename(out)}.alloy-partial-${process.pid}-${Date.now()}`);
  const abort = new AbortController();
  const onSignal = () => abort.abort();
  process.once('SIGINT', onSignal);
  signal?.addEventListener('abort', onSignal, { once: true });
  if (signal?.aborted) abort.abort();
  const t0 = performance.now();
  let lastPct = -1;
  try {
    const result = await runMerge({
      config,
      configYaml: text,
      resolveModel: async (ref) => recyclingReads(isAbsolute(ref) ? ref : resolve(root, ref), ref, reads),
      releaseInput: (bytes) => reads.release(bytes),
      openSink: (name) => fileSink(join(tmp, name)),
      allowCrimes: v['allow-crimes'] === true,
      postWeights: post,
      seed: number(v, 'seed', 0),
      ...(v['shard-size'] !== undefined ? { maxShardBytes: number(v, 'shard-size', 5e9) } : {}),
      ...(accelerator ? { accelerator } : {}),
      signal: abort.signal,
      onProgress: (p) => {
        const pct = Math.floor((100 * p.tensorsDone) / p.tensorsTotal / 10) * 10;
        if (pct !== lastPct) io.err(`merged ${p.tensorsDone}/${p.tensorsTotal} tensors (${formatBytes(p.bytesRead)} read, ${formatBytes(p.bytesWritten)} written)\n`);
        lastPct = pct;
      },
    });
    for (const w of result.plan.warnings) io.err(`warning: ${w}\n`);
    if (existsSync(out)) rmSync(out, { recursive: true }); // empty (checked above)
    renameSync(tmp, out);
    const secs = (performance.now() - t0) / 1000;
    io.out(`merged ${result.plan.tensors.length} tensors (${config.mergeMethod}, ${result.plan.numLayers} layers) into ${out} in ${secs.toFixed(2)} s\n`);
    return 0;
  } catch (e) {
    rmSync(tmp, { recursive: true, force: true });
    if (isCancelled(e)) throw new AlloyError('merge cancelled; no output written');
    throw e;
  } finally {
    process.off('SIGINT', onSignal);
    signal?.removeEventListener('abort', onSignal);
    const gpu = await accel?.catch(() => undefined);
    gpu?.pool.destroyAll();
  }
}
