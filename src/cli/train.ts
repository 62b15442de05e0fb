/**
 * `alloy train --model DIR --data FILE.jsonl --method cpt|sft|dpo|ipo|orpo --out ADAPTER_DIR [options]`
 * `alloy train --mode full …  --out MODEL_DIR`: every parameter trained (f32 masters of 16-bit weights, DPO/IPO's
 * reference precomputed), the result written as a Hugging Face folder in the base's dtypes (train/full-model.ts).
 * LoRA training on the GPU through the engine's Trainer (engine/train/trainer.ts): PEFT init from the seed, a seeded
 * shuffle per epoch, HF warm-up + cosine/linear/constant schedule, gradient accumulation, clipping by the global
 * norm, AdamW, validation and checkpoints. Prints the memory plan, then one line per optimizer step
 * (loss, lr, grad norm, tokens/s, ETA, and val loss/perplexity when evaluated); writes a PEFT adapter
 * (adapter_config.json + adapter_model.safetensors). On a non-finite loss it stops, says at which step, and
 * writes the adapter of the last good checkpoint (if there is one); exit status 1.
 *
 * Options: the fields of engine/train/settings.ts (types, defaults from defaults.ts, ranges, help; `alloy --help`
 * prints them); an objective's hyperparameter (--beta, --label-smoothing, --assistant-only-loss) is refused for a
 * method whose objective does not read it.
 */
import { activationsOption } from './storage-options.ts';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { AlloyError } from '../common/errors.ts';
import { hasFile, readJson } from '../io/model-files.ts';
import { parseModelConfig } from '../io/config.ts';
import { ggmlTypesOf, openCheckpoint } from '../io/safetensors/checkpoint.ts';
import { loadTokenizer } from '../io/tokenizer.ts';
import { dirModelFiles } from '../io/node/dir-model-files.ts';
import { fileSink } from '../io/node/fs.ts';
import { dirCheckpointStore } from '../io/node/checkpoint-dir.ts';
import { formatBytes } from '../io/progress.ts';
import { writeSafetensors, type TensorToWrite } from '../io/safetensors/writer.ts';
import { parseJsonl, rowsToSequences, type JsonlRow } from '../io/datasets/rows.ts';
import { acquireNodeDevice } from '../engine/gpu/node-gpu.ts';
import { BufferPool } from '../engine/gpu/buffer-pool.ts';
import { KernelRegistry } from '../engine/gpu/kernels.ts';
import { loadModel } from '../engine/model/index.ts';
import { mulberry32 } from '../common/random.ts';
import { createLora, peftConfigJson, readLoraTensors } from '../engine/lora/adapter.ts';
import { parseTargets } from '../engine/lora/targets.ts';
import { checkpointAdapterTensors } from '../engine/train/checkpoint.ts';
import { TRAIN_DEFAULTS } from '../engine/train/defaults.ts';
import { TRAIN_FIELDS, field, fieldOfFlag, methodsTaking, notForMethod, parseFlagNumber } from '../engine/train/settings.ts';
import { planTrainingMemory, type TrainMode } from '../engine/train/memory.ts';
import { parseScheduleKind, warmupStepsFromRatio } from '../engine/train/schedule.ts';
import { TrainControl, Trainer, trainConfig, type StepEvent, type TrainConfig } from '../engine/train/trainer.ts';
import { createFullParams } from '../engine/train/full-params.ts';
import { writeFullModel } from '../engine/train/full-model.ts';
import type { Model } from '../engine/model/weights.ts';
import type { ModelFiles } from '../io/model-files.ts';
import { isMethod, isPaired, METHODS, scoredTokenCount, takesParam, truncateSequence, type Sequence } from '../engine/train/objectives.ts';

/** The flags as parseArgs gives them: strings, and true for switches (engine/train/settings.ts lists them). */
export type TrainArgs = Partial<Record<string, string | boolean>>;

const str = (v: TrainArgs, flag: string): string | undefined => {
  const x = v[flag];
  return typeof x === 'string' ? x : undefined;
};

function need(v: TrainArgs, flag: string): string {
  const x = str(v, flag);
  if (!x) throw new AlloyError(`--${flag} is required`);
  return x;
}

/** A number flag, checked against its field's type and range (settings.ts); `fallback` when absent. */
function num(v: TrainArgs, flag: string, fallback: number): number {
  const x = str(v, flag);
  if (x === undefined) return fallback;
  const f = fieldOfFlag(flag);
  if (!f) throw new AlloyError(`--${flag} is not a training setting`);
  try {
    return parseFlagNumber(f, x);
  } catch (e) {
    throw new AlloyError((e as Error).message);
  }
}

function readRows(path: string, flag: string): JsonlRow[] {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch {
    throw new AlloyError(`${flag}: cannot read ${path}`, { file: path });
  }
  return parseJsonl(text, path);
}

/** Micro-batch and accumulation from --micro-batch / --accum / --batch (effective = micro·accum). */
function batching(v: TrainArgs): { micro: number; accum: number } {
  const b = v.batch !== undefined ? num(v, 'batch', 0) : undefined;
  const m = v['micro-batch'] !== undefined ? num(v, 'micro-batch', 0) : undefined;
  const k = v.accum !== undefined ? num(v, 'accum', 0) : undefined;
  if (b === undefined) return { micro: m ?? TRAIN_DEFAULTS.microBatch, accum: k ?? TRAIN_DEFAULTS.accum };
  if (m === undefined) {
    if (k === undefined) return { micro: b, accum: 1 };
    if (b % k) throw new AlloyError(`--batch ${b} is not a multiple of --accum ${k}`);
    return { micro: b / k, accum: k };
  }
  if (b % m) throw new AlloyError(`--batch ${b} is not a multiple of --micro-batch ${m}`);
  if (k !== undefined && k * m !== b) throw new AlloyError(`--batch ${b} ≠ --micro-batch ${m} × --accum ${k}`);
  return { micro: m, accum: b / m };
}

const fmt = (x: number) => (Math.abs(x) >= 1e-3 && Math.abs(x) < 1e4 ? x.toFixed(4) : x.toExponential(3));

function stepLine(e: StepEvent, steps: number): string {
  let s = `step ${e.step} loss ${e.loss} lr ${e.lr.toExponential(3)} grad_norm ${fmt(e.gradNorm)} tok/s ${e.tokensPerSec.toFixed(1)} eta ${e.etaSec.toFixed(1)}s (${e.step}/${steps}, epoch ${e.epoch})`;
  if (e.valLoss !== undefined) s += ` val_loss ${e.valLoss}${e.valPpl !== undefined ? ` val_ppl ${fmt(e.valPpl)}` : ''}`;
  return s + '\n';
}

async function writeAdapter(outDir: string, tensors: TensorToWrite[], config: Record<string, unknown>): Promise<void> {
  mkdirSync(outDir, { recursive: true });
  await writeSafetensors(await fileSink(join(outDir, 'adapter_model.safetensors')), tensors, { format: 'pt' });
  writeFileSync(join(outDir, 'adapter_config.json'), JSON.stringify(config, null, 2) + '\n');
}

export async function trainCmd(v: TrainArgs, io: { out: (s: string) => void; err: (s: string) => void }, signal?: AbortSignal): Promise<number> {
  const method = need(v, 'method');
  if (!isMethod(method)) throw new AlloyError(`--method must be one of ${METHODS.join(', ')}, got "${method}"`);
  const mode = str(v, 'mode') ?? 'lora';
  if (mode !== 'lora' && mode !== 'full') throw new AlloyError(`--mode must be lora or full, got "${mode}"`);
  const full = mode === 'full';
  const trainMode: TrainMode = full ? 'full' : 'lora';
  // the adapter's settings mean nothing to a full fine-tune: refused by name rather than ignored
  for (const flag of ['rank', 'alpha', 'targets', 'lora-dropout']) {
    if (full && v[flag] !== undefined) throw new AlloyError(`--${flag} sets the LoRA adapter; --mode full trains every parameter and has no adapter: leave it out`);
  }
  const outDir = need(v, 'out');
  const dataPath = need(v, 'data');
  const modelDir = need(v, 'model');
  if (v['val-data'] && v['val-split']) throw new AlloyError('give --val-data or --val-split, not both');
  if (v['warmup-steps'] && v['warmup-ratio']) throw new AlloyError('give --warmup-steps or --warmup-ratio, not both');
  if (v.resume && !v['checkpoint-dir']) throw new AlloyError('--resume needs --checkpoint-dir');
  // an objective's hyperparameter given to an objective without it would be silently ignored: refuse it by name
  for (const f of TRAIN_FIELDS) {
    const why = v[f.cli] !== undefined && v[f.cli] !== false ? notForMethod(f, method) : null;
    if (why) throw new AlloyError(`--${f.cli} ${why}; method ${method} has no use for it: leave it out, or train with --method ${methodsTaking(f).join('|')}`);
  }
  const labelSmoothing = num(v, 'label-smoothing', TRAIN_DEFAULTS.labelSmoothing);
  const assistantOnlyLoss = v['assistant-only-loss'] === true || TRAIN_DEFAULTS.assistantOnlyLoss;
  const files = dirModelFiles(modelDir);
  const config = parseModelConfig(await readJson(files, 'config.json'));
  const tokenizer = hasFile(files, 'tokenizer.json') ? await loadTokenizer(files) : null;
  const seed = num(v, 'seed', TRAIN_DEFAULTS.seed);

  let rows = readRows(dataPath, '--data');
  const valData = str(v, 'val-data');
  let valRows: JsonlRow[] = valData ? readRows(valData, '--val-data') : [];
  if (v['val-split']) {
    const frac = num(v, 'val-split', 0);
    // A seeded permutation of the rows: the first ceil(frac·n) are held out (a preference row stays one pair).
    const rand = mulberry32(seed);
    const idx = rows.map((_, i) => i);
    for (let i = idx.length - 1; i > 0; i--) {
      const j = Math.floor(rand() * (i + 1));
      [idx[i], idx[j]] = [idx[j]!, idx[i]!];
    }
    const k = Math.ceil(frac * rows.length);
    if (k >= rows.length) throw new AlloyError(`--val-split ${frac} leaves no training rows out of ${rows.length}`);
    const held = new Set(idx.slice(0, k));
    valRows = rows.filter((_, i) => held.has(i));
    rows = rows.filter((_, i) => !held.has(i));
  }
  const seqLen = num(v, 'seq-len', config.maxPositionEmbeddings);
  // TRL's collators truncate keep_start: the prompt stays, the end of the answer goes.
  const toSeqs = (r: JsonlRow[], file: string): Sequence[] =>
    rowsToSequences(method, r, tokenizer, config.vocabSize, file, { assistantOnlyLoss }).map((s) => {
      const t = truncateSequence(s, seqLen);
      if (t.promptLen >= t.ids.length) throw new AlloyError(`--seq-len ${seqLen} leaves a row of ${file} with no completion token`, { file });
      if (t.lossMask && scoredTokenCount(t) === 0) throw new AlloyError(`--seq-len ${seqLen} leaves a row of ${file} with no assistant token to train on`, { file });
      return t;
    });
  const train = toSeqs(rows, dataPath);
  const val = valRows.length ? toSeqs(valRows, valData ?? dataPath) : undefined;

  const steps = num(v, 'steps', field('steps').default as number);
  const { micro, accum } = batching(v);
  const warmupSteps = v['warmup-steps'] !== undefined ? num(v, 'warmup-steps', 0) : warmupStepsFromRatio(num(v, 'warmup-ratio', TRAIN_DEFAULTS.warmupRatio), steps);
  const r = num(v, 'rank', TRAIN_DEFAULTS.rank);
  const alpha = num(v, 'alpha', 2 * r);
  const targets = parseTargets((str(v, 'targets') ?? TRAIN_DEFAULTS.targets.join(',')).split(',').map((s) => s.trim()));
  const loraDropout = num(v, 'lora-dropout', TRAIN_DEFAULTS.loraDropout);
  const checkpointDir = str(v, 'checkpoint-dir');
  const cfg = trainConfig({
    method,
    steps,
    lr: num(v, 'lr', TRAIN_DEFAULTS.lr),
    schedule: parseScheduleKind(str(v, 'schedule') ?? TRAIN_DEFAULTS.schedule),
    warmupSteps,
    weightDecay: num(v, 'weight-decay', TRAIN_DEFAULTS.weightDecay),
    maxGradNorm: num(v, 'clip', TRAIN_DEFAULTS.maxGradNorm),
    microBatch: micro,
    accum,
    seed,
    evalEvery: num(v, 'eval-every', val ? Math.max(1, Math.floor(steps / 10)) : 0),
    checkpointEvery: checkpointDir ? num(v, 'checkpoint-every', Math.max(1, Math.floor(steps / 10))) : 0,
    keepCheckpoints: num(v, 'keep-checkpoints', TRAIN_DEFAULTS.keepCheckpoints),
    objective: { beta: num(v, 'beta', TRAIN_DEFAULTS.beta), ...(takesParam(method, 'labelSmoothing') ? { labelSmoothing } : {}) },
    recompute: v.recompute === true,
  });

  const ctx = await acquireNodeDevice();
  const pool = new BufferPool(ctx.device);
  const kernels = new KernelRegistry(ctx.device);
  const checkpoint = await openCheckpoint(files);
  const activations = activationsOption(v);
  const model = await loadModel(ctx, kernels, pool, checkpoint, config, { activations });
  const pairs = isPaired(method);
  const units = pairs ? train.length / 2 : train.length;
  const longest = Math.max(...train.map((s) => s.ids.length), ...(val ?? []).map((s) => s.ids.length));
  const recompute = v.recompute === true;
  // the storage of the tensors not kept as ggml blocks (a quantised embedding says nothing about them)
  const plainDtype: 'bf16' | 'f16' | 'f32' = model.embed.dtype === 'bf16' ? 'bf16' : model.embed.dtype === 'f16' ? 'f16' : 'f32';
  const planOpts = { dtype: plainDtype, matrixTypes: ggmlTypesOf(checkpoint), rows: Math.min(micro, units) * (pairs ? 2 : 1), seqLen: longest, r, targets, dropout: loraDropout > 0, method, maxBindingBytes: model.maxBindingBytes, mode: trainMode, activations, kernels: kernels.family };
  const plan = planTrainingMemory(config, { ...planOpts, recompute });
  const other = planTrainingMemory(config, { ...planOpts, recompute: !recompute });
  const otherMode = planTrainingMemory(config, { ...planOpts, recompute, mode: full ? 'lora' : 'full' });
  io.out(
    `memory plan${full ? ' (full fine-tuning)' : ''}${recompute ? ' (per-layer recomputation)' : ''}: ${formatBytes(plan.total)} (weights ${formatBytes(plan.weights)}, ` +
      `${full ? 'grads+AdamW+f32 masters' : 'adapter+grads+AdamW'} ${formatBytes(plan.adapter)}, ` +
      `kept activations ${formatBytes(plan.kept)}, backward ${formatBytes(plan.backward)}, logits ${formatBytes(plan.logits)}, other ${formatBytes(plan.head)}); ` +
      `${recompute ? 'without recomputation' : 'with --recompute'} ${formatBytes(other.total)}; ${full ? `LoRA r ${r}` : 'full fine-tuning'} ${formatBytes(otherMode.total)}\n`,
  );
  io.out(
    `training ${method}: ${units} ${pairs ? 'pairs' : 'rows'}${val ? `, ${pairs ? val.length / 2 : val.length} held out` : ''}; ${steps} steps of ${micro}×${accum} ` +
      `(micro-batch × accumulation); ${labelSmoothing ? `label smoothing ${labelSmoothing}; ` : ''}${assistantOnlyLoss ? 'loss on assistant turns only; ' : ''}lr ${cfg.lr} ${cfg.schedule}, warm-up ${warmupSteps}; weight decay ${cfg.weightDecay}; clip ${cfg.maxGradNorm || 'off'}; ` +
      (full ? `every parameter (${plainDtype === 'f32' ? 'f32' : `${plainDtype} weights, f32 master copies, rounded to nearest even after each update`})\n` : `LoRA r ${r} alpha ${alpha}${loraDropout ? ` dropout ${loraDropout}` : ''} on ${targets.join(',')}\n`),
  );
  if (full) return trainFull(v, io, signal, { model, pool, files, modelDir, outDir, cfg, train, val, checkpointDir, steps });

  const lora = createLora(model, { r, alpha, targets, seed, dropout: loraDropout });
  const store = checkpointDir ? dirCheckpointStore(checkpointDir) : undefined;
  const trainer = new Trainer(model, lora, cfg, { train, ...(val ? { val } : {}) }, {
    ...(store ? { store } : {}),
    onEvent: (e) => {
      if (e.type === 'step') io.out(stepLine(e, steps));
      else if (e.type === 'checkpoint') io.out(`checkpoint step ${e.step} → ${e.where}\n`);
    },
  });
  const control = new TrainControl();
  const onSignal = () => control.cancel();
  process.once('SIGINT', onSignal);
  signal?.addEventListener('abort', onSignal, { once: true });
  const peftConfig = peftConfigJson(lora, resolve(modelDir));
  try {
    if (v.resume) {
      const from = await trainer.restore();
      io.out(from === null ? `no checkpoint in ${checkpointDir}; starting from step 0\n` : `resumed from checkpoint step ${from} in ${checkpointDir}\n`);
    }
    const res = await trainer.run(control);
    if (res.status === 'nan') {
      io.err(`alloy: ${res.message}\n`);
      if (store && res.lastGoodStep != null) {
        const { tensors } = await checkpointAdapterTensors(await store.open(res.lastGoodStep));
        await writeAdapter(outDir, tensors, peftConfig);
        io.err(`wrote the adapter of checkpoint step ${res.lastGoodStep} to ${outDir}\n`);
      } else io.err('no adapter written\n');
      return 1;
    }
    await writeAdapter(outDir, await readLoraTensors(model, lora, 'params'), peftConfig);
    io.out(`${res.status === 'cancelled' ? 'cancelled; ' : ''}wrote the adapter after step ${res.step} to ${outDir}\n`);
    return res.status === 'cancelled' ? 130 : 0;
  } finally {
    process.off('SIGINT', onSignal);
    signal?.removeEventListener('abort', onSignal);
    trainer.dispose();
    lora.dispose();
    model.dispose();
    pool.destroyAll();
  }
}

/** --mode full: the Trainer on every parameter; the result (or, after a non-finite loss, the last good checkpoint's) as a model folder. */
async function trainFull(
  v: TrainArgs,
  io: { out: (s: string) => void; err: (s: string) => void },
  signal: AbortSignal | undefined,
  o: { model: Model; pool: BufferPool; files: ModelFiles; modelDir: string; outDir: string; cfg: TrainConfig; train: Sequence[]; val: Sequence[] | undefined; checkpointDir: string | undefined; steps: number },
): Promise<number> {
  const { model, pool } = o;
  const params = createFullParams(model);
  const store = o.checkpointDir ? dirCheckpointStore(o.checkpointDir) : undefined;
  const trainer = new Trainer(model, params, o.cfg, { train: o.train, ...(o.val ? { val: o.val } : {}) }, {
    ...(store ? { store } : {}),
    onEvent: (e) => {
      if (e.type === 'step') io.out(stepLine(e, o.steps));
      else if (e.type === 'checkpoint') io.out(`checkpoint step ${e.step} → ${e.where}\n`);
    },
  });
  const control = new TrainControl();
  const onSignal = () => control.cancel();
  process.once('SIGINT', onSignal);
  signal?.addEventListener('abort', onSignal, { once: true });
  const writeModel = async () => {
    mkdirSync(o.outDir, { recursive: true });
    await writeFullModel(o.files, model, params, (name) => fileSink(join(o.outDir, name)), signal);
  };
  try {
    if (v.resume) {
      const from = await trainer.restore();
      io.out(from === null ? `no checkpoint in ${o.checkpointDir}; starting from step 0\n` : `resumed from checkpoint step ${from} in ${o.checkpointDir}\n`);
    }
    const res = await trainer.run(control);
    if (res.status === 'nan') {
      io.err(`alloy: ${res.message}\n`);
      // the store now ends at the last good checkpoint: its weights back on the GPU, then written
      if (store && res.lastGoodStep != null && (await trainer.restore()) === res.lastGoodStep) {
        await writeModel();
        io.err(`wrote the model of checkpoint step ${res.lastGoodStep} to ${o.outDir}\n`);
      } else io.err('no model written\n');
      return 1;
    }
    await writeModel();
    io.out(`${res.status === 'cancelled' ? 'cancelled; ' : ''}wrote the fine-tuned model after step ${res.step} to ${o.outDir}\n`);
    return res.status === 'cancelled' ? 130 : 0;
  } finally {
    process.off('SIGINT', onSignal);
    signal?.removeEventListener('abort', onSignal);
    trainer.dispose();
    params.dispose();
    model.dispose();
    pool.destroyAll();
  }
}
