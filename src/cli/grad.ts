/**
 * `alloy grad --model DIR [--adapter DIR | --mode full] --data FILE.jsonl --method cpt|sft|dpo|ipo|orpo [--beta B]
 *            [--label-smoothing E] [--micro-batch M [--accum K]] --out DIR`
 * The loss of one optimizer step over the rows of FILE (in file order, no dropout) and its gradient:
 *   --mode lora (default): under a PEFT adapter, with respect to the adapter: DIR/grads.safetensors holds F32
 *     tensors under PEFT key names, the adapter's shapes (lora_A [r, in], lora_B [out, r]);
 *   --mode full (no adapter): with respect to every parameter of the model: F32 tensors under their Hugging Face
 *     names and shapes (tied embeddings: one tensor, model.embed_tokens.weight, the sum of the gather's and the
 *     lm_head's gradients). DPO/IPO's reference is the model itself at these weights (the start of a fine-tune).
 * Both write DIR/loss.json {"loss": …, "tokens": …, metrics}. The step runs through the
 * trainer's accumulation (engine/train/accumulate.ts): M units (rows, or pairs) per micro-batch, K micro-batches
 * (default: as many as the rows fill, the last one possibly short), so the accumulated gradient can be held to a
 * float64 reference of the whole batch. What a researcher runs to check an objective.
 */
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { AlloyError } from '../common/errors.ts';
import { readJson, hasFile } from '../io/model-files.ts';
import { parseModelConfig } from '../io/config.ts';
import { openCheckpoint } from '../io/safetensors/checkpoint.ts';
import { readPeftAdapter } from '../io/peft.ts';
import { loadTokenizer } from '../io/tokenizer.ts';
import { dirModelFiles } from '../io/node/dir-model-files.ts';
import { fileSink } from '../io/node/fs.ts';
import { writeSafetensors, type TensorToWrite } from '../io/safetensors/writer.ts';
import { parseJsonl, rowsToSequences } from '../io/datasets/rows.ts';
import { acquireNodeDevice } from '../engine/gpu/node-gpu.ts';
import { BufferPool } from '../engine/gpu/buffer-pool.ts';
import { KernelRegistry } from '../engine/gpu/kernels.ts';
import { loadModel } from '../engine/model/index.ts';
import { clearLoraGrads, loraFromTensors, readLoraTensors } from '../engine/lora/adapter.ts';
import { accumulateStep, type StepResult } from '../engine/train/accumulate.ts';
import { createFullParams, readFullGrads } from '../engine/train/full-params.ts';
import { isMethod, isPaired, METHODS, type Method, type ObjectiveOptions, type Sequence } from '../engine/train/objectives.ts';
import { TRAIN_FIELDS, fieldOfFlag, parseFlagNumber, type GradFlag } from '../engine/train/settings.ts';

/** Its own options, and the training settings it shares with `alloy train` (settings.ts: the fields marked `grad`). */
export type GradArgs = { model?: string; adapter?: string; data?: string; out?: string } & { [K in GradFlag]?: string };

function need(v: GradArgs, k: keyof GradArgs): string {
  const x = v[k];
  if (!x) throw new AlloyError(`--${k} is required`);
  return x;
}

/** A number flag checked against its training setting's type and range (engine/train/settings.ts). */
function flagNumber(v: GradArgs, k: Exclude<GradFlag, 'method' | 'mode'>): number | undefined {
  const x = v[k];
  if (x === undefined) return undefined;
  try {
    return parseFlagNumber(fieldOfFlag(k)!, x);
  } catch (e) {
    throw new AlloyError((e as Error).message);
  }
}

/** The step's micro-batches in lossAndGrads' layout: units (a row, or a pair) in file order, M per micro-batch. */
function microBatches(method: Method, seqs: readonly Sequence[], v: GradArgs): Sequence[][] {
  const paired = isPaired(method);
  const n = paired ? seqs.length / 2 : seqs.length;
  const unit = (i: number) => (paired ? [seqs[i]!, seqs[n + i]!] : [seqs[i]!]);
  const m = flagNumber(v, 'micro-batch');
  const k = flagNumber(v, 'accum');
  if (k !== undefined && m === undefined) throw new AlloyError('--accum needs --micro-batch');
  const M = m ?? n;
  const used = k === undefined ? n : M * k;
  if (used > n) throw new AlloyError(`--micro-batch ${M} × --accum ${k} = ${used} ${paired ? 'pairs' : 'rows'}, but the data has ${n}`);
  const out: Sequence[][] = [];
  for (let i = 0; i < used; i += M) {
    const units = Array.from({ length: Math.min(M, used - i) }, (_, j) => unit(i + j));
    out.push(paired ? [...units.map((u) => u[0]!), ...units.map((u) => u[1]!)] : units.map((u) => u[0]!));
  }
  return out;
}

export async function gradCmd(v: GradArgs, io: { out: (s: string) => void; err: (s: string) => void }): Promise<number> {
  const method = need(v, 'method');
  if (!isMethod(method)) throw new AlloyError(`--method must be one of ${METHODS.join(', ')}, got "${method}"`);
  const outDir = need(v, 'out');
  const dataPath = need(v, 'data');
  const mode = v.mode ?? 'lora';
  if (mode !== 'lora' && mode !== 'full') throw new AlloyError(`--mode must be lora or full, got "${mode}"`);
  if (mode === 'full' && v.adapter) throw new AlloyError('--mode full takes no --adapter: it differentiates the model itself (leave --adapter out, or use --mode lora)');
  const files = dirModelFiles(need(v, 'model'));
  const config = parseModelConfig(await readJson(files, 'config.json'));
  const adapter = mode === 'lora' ? await readPeftAdapter(dirModelFiles(need(v, 'adapter'))) : null;
  const tokenizer = hasFile(files, 'tokenizer.json') ? await loadTokenizer(files) : null;
  let text: string;
  try {
    text = readFileSync(dataPath, 'utf8');
  } catch {
    throw new AlloyError(`--data: cannot read ${dataPath}`);
  }
  const seqs = rowsToSequences(method, parseJsonl(text, dataPath), tokenizer, config.vocabSize, dataPath);
  const micro = microBatches(method, seqs, v);
  // the objective's hyperparameters among grad's flags (beta, label smoothing), each at its schema default when absent
  const objective: ObjectiveOptions = {};
  for (const f of TRAIN_FIELDS) {
    if (f.grad && f.objective && f.kind === 'number') objective[f.objective as 'beta' | 'labelSmoothing'] = flagNumber(v, f.cli as Exclude<GradFlag, 'method' | 'mode'>) ?? (f.default as number);
  }

  const tensors = new Map<string, { a: Float32Array; b: Float32Array }>();
  for (const p of adapter?.pairs ?? []) {
    tensors.set(p.target.replace(/\.weight$/, ''), { a: await adapter!.file.readF32(p.a), b: await adapter!.file.readF32(p.b) });
  }
  const ctx = await acquireNodeDevice();
  const pool = new BufferPool(ctx.device);
  const model = await loadModel(ctx, new KernelRegistry(ctx.device), pool, await openCheckpoint(files), config);
  try {
    let grads: TensorToWrite[];
    let res: StepResult;
    if (adapter) {
      const lora = loraFromTensors(model, adapter.config, tensors);
      if (lora.modules.length !== tensors.size) throw new AlloyError('the adapter targets modules this model does not have');
      clearLoraGrads(model, lora);
      res = await accumulateStep(model, lora, method, micro, objective);
      grads = await readLoraTensors(model, lora, 'grads');
      lora.dispose();
    } else {
      const full = createFullParams(model);
      try {
        res = await accumulateStep(model, null, method, micro, objective, () => ({ full }));
        grads = await readFullGrads(model, full);
      } finally {
        full.dispose();
      }
    }
    mkdirSync(outDir, { recursive: true });
    writeFileSync(join(outDir, 'loss.json'), JSON.stringify({ loss: res.loss, tokens: res.scored, method, mode, microBatches: micro.length, ...res.metrics }) + '\n');
    await writeSafetensors(await fileSink(join(outDir, 'grads.safetensors')), grads, { format: 'pt' });
    const sequences = micro.reduce((n, m) => n + m.length, 0);
    io.out(`loss ${res.loss} over ${sequences} sequences in ${micro.length} micro-batch(es) (${res.scored} scored tokens); gradients of ${grads.length} tensors in ${outDir}\n`);
    return 0;
  } finally {
    model.dispose();
    pool.destroyAll();
  }
}
