/**
 * `alloy train --model DIR --data FILE.jsonl --method cpt|sft|dpo|orpo --out ADAPTER_DIR [--rank R --alpha A
 *  --targets q_proj,v_proj --lr LR --steps N --batch B --seq-len T --beta B --seed S]`
 * LoRA training on the GPU: PEFT init from the seed, each step a batch of B rows taken in order (cycling; a
 * preference row is a chosen/rejected pair), the loss and LoRA gradients (engine/train/grad.ts), one AdamW step
 * per tensor (constant lr; no warm-up, schedule, clipping or accumulation yet). Writes a PEFT adapter
 * (adapter_config.json + adapter_model.safetensors) and prints each step's loss.
 */
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { AlloyError } from '../io/errors.ts';
import { hasFile, readJson } from '../io/model-files.ts';
import { parseModelConfig } from '../io/config.ts';
import { openCheckpoint } from '../io/safetensors/checkpoint.ts';
import { loadTokenizer } from '../io/tokenizer.ts';
import { dirModelFiles } from '../io/node/dir-model-files.ts';
import { fileSink } from '../io/node/fs.ts';
import { writeSafetensors } from '../io/safetensors/writer.ts';
import { parseJsonl, rowsToSequences } from '../io/datasets/rows.ts';
import { acquireNodeDevice } from '../engine/gpu/node-gpu.ts';
import { BufferPool } from '../engine/gpu/buffer-pool.ts';
import { KernelRegistry } from '../engine/gpu/kernels.ts';
import { loadModel } from '../engine/model/index.ts';
import { clearLoraGrads, createLora, parseTargets, peftConfigJson, readLoraTensors } from '../engine/lora/adapter.ts';
import { lossAndGrads } from '../engine/train/grad.ts';
import { encodeAdamW } from '../engine/train/adamw.ts';
import type { Method, Sequence } from '../engine/train/objectives.ts';

export type TrainArgs = Partial<Record<'model' | 'data' | 'method' | 'out' | 'rank' | 'alpha' | 'targets' | 'lr' | 'steps' | 'batch' | 'seq-len' | 'beta' | 'seed', string>>;

const METHODS: readonly Method[] = ['cpt', 'sft', 'dpo', 'orpo'];

function need(v: TrainArgs, k: keyof TrainArgs): string {
  const x = v[k];
  if (!x) throw new AlloyError(`--${k} is required`);
  return x;
}

function num(v: TrainArgs, k: keyof TrainArgs, fallback: number, integer = false): number {
  const x = v[k];
  if (x === undefined) return fallback;
  const n = Number(x);
  if (!Number.isFinite(n) || (integer && (!Number.isInteger(n) || n <= 0))) throw new AlloyError(`--${k} must be a ${integer ? 'positive integer' : 'number'}, got "${x}"`);
  return n;
}

export async function trainCmd(v: TrainArgs, io: { out: (s: string) => void; err: (s: string) => void }): Promise<number> {
  const method = need(v, 'method') as Method;
  if (!METHODS.includes(method)) throw new AlloyError(`--method must be one of ${METHODS.join(', ')}, got "${method}"`);
  const outDir = need(v, 'out');
  const dataPath = need(v, 'data');
  const modelDir = need(v, 'model');
  const files = dirModelFiles(modelDir);
  const config = parseModelConfig(await readJson(files, 'config.json'));
  const tokenizer = hasFile(files, 'tokenizer.json') ? await loadTokenizer(files) : null;
  let text: string;
  try {
    text = readFileSync(dataPath, 'utf8');
  } catch {
    throw new AlloyError(`--data: cannot read ${dataPath}`);
  }
  const rows = parseJsonl(text, dataPath);
  const seqLen = num(v, 'seq-len', config.maxPositionEmbeddings, true);
  // TRL's collators truncate keep_start: the prompt stays, the end of the answer goes.
  const all = rowsToSequences(method, rows, tokenizer, config.vocabSize, dataPath).map((s) => ({ ids: s.ids.slice(0, seqLen), promptLen: s.promptLen }));
  const pairs = method === 'dpo' || method === 'orpo';
  const units = pairs ? all.length / 2 : all.length;
  const batchRows = Math.min(num(v, 'batch', 4, true), units);
  const steps = num(v, 'steps', 10, true);
  const lr = num(v, 'lr', 1e-3);
  const r = num(v, 'rank', 8, true);
  const alpha = num(v, 'alpha', 2 * r);
  const targets = parseTargets((v.targets ?? 'q_proj,v_proj').split(',').map((s) => s.trim()));

  const ctx = await acquireNodeDevice();
  const pool = new BufferPool(ctx.device);
  const kernels = new KernelRegistry(ctx.device);
  const model = await loadModel(ctx, kernels, pool, await openCheckpoint(files), config);
  const lora = createLora(model, { r, alpha, targets, seed: num(v, 'seed', 0) });
  const moments = lora.modules.flatMap((m) =>
    [
      [m.a, m.dA, r * m.inF],
      [m.b, m.dB, m.outF * r],
    ].map(([param, grad, n]) => ({ param: param as GPUBuffer, grad: grad as GPUBuffer, n: n as number, m: pool.upload(new Float32Array(n as number)), v: pool.upload(new Float32Array(n as number)) })),
  );
  try {
    for (let step = 1; step <= steps; step++) {
      const pick = Array.from({ length: batchRows }, (_, i) => ((step - 1) * batchRows + i) % units);
      const batch: Sequence[] = pairs ? [...pick.map((i) => all[i]!), ...pick.map((i) => all[units + i]!)] : pick.map((i) => all[i]!);
      for (const s of batch) if (s.promptLen >= s.ids.length) throw new AlloyError(`--seq-len ${seqLen} leaves a row with no completion token`);
      clearLoraGrads(model, lora);
      const res = await lossAndGrads(model, lora, method, batch, { beta: num(v, 'beta', 0.1) });
      if (!Number.isFinite(res.loss)) throw new AlloyError(`step ${step}: the loss is ${res.loss}; stopping (lower --lr?)`);
      const enc = ctx.device.createCommandEncoder({ label: 'adamw' });
      for (const t of moments) await encodeAdamW(kernels, enc, t, { n: t.n, step, lr });
      ctx.device.queue.submit([enc.finish()]);
      io.out(`step ${step} loss ${res.loss}\n`);
    }
    mkdirSync(outDir, { recursive: true });
    await writeSafetensors(await fileSink(join(outDir, 'adapter_model.safetensors')), await readLoraTensors(model, lora, 'params'), { format: 'pt' });
    writeFileSync(join(outDir, 'adapter_config.json'), JSON.stringify(peftConfigJson(lora, resolve(modelDir)), null, 2) + '\n');
    return 0;
  } finally {
    for (const t of moments) {
      pool.release(t.m);
      pool.release(t.v);
    }
    lora.dispose();
    model.dispose();
    pool.destroyAll();
  }
}
