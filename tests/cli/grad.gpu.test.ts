// `alloy grad` end to end through main(): a PEFT adapter on disk (random A and B, r = 2 on q, v, down), a JSONL
// dataset per method (text rows and pre-tokenised rows; IPO's reference log-probs are per-token averages, as TRL's),
// and the outputs held to the float64 CPU reference (referenceForward on the folded weights + objectives.ts): loss ≤ 1e-4 relative; gradients against central
// finite differences (h = 1e-3) on 8 random entries of every tensor, ≤ 1e-4 of the tensor's max |grad|.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { main } from '../../src/cli/main.ts';
import { capture } from './capture.ts';
import { ensureFixtures, OWNER, REVISION } from '../../scripts/fixtures/index.ts';
import { dirModelFiles } from '../../src/io/node/dir-model-files.ts';
import { fileSink } from '../../src/io/node/fs.ts';
import { readJson } from '../../src/io/model-files.ts';
import { parseModelConfig, type ModelConfig } from '../../src/io/config.ts';
import { openCheckpoint } from '../../src/io/safetensors/checkpoint.ts';
import { openSafetensors } from '../../src/io/safetensors/reader.ts';
import { writeSafetensors } from '../../src/io/safetensors/writer.ts';
import { loadTokenizer } from '../../src/io/tokenizer.ts';
import { parseJsonl, rowsToSequences } from '../../src/io/datasets/rows.ts';
import { referenceForward } from '../../src/engine/reference/forward.ts';
import { computeObjective, gatherLogp, needsReference, objectiveTargets, referenceLogps, type Method, type Sequence } from '../../src/engine/train/objectives.ts';
import { createRng } from '../../src/engine/model/sampling.ts';
import { randomAdapter, type TestAdapter } from '../engine/lora/lora-helpers.ts';

const MODEL = join('public/hub', OWNER, 'tiny-llama', 'resolve', REVISION);
const R = 2;
const ALPHA = 4;
let tmp: string;
let config: ModelConfig;
let weights: Map<string, Float32Array>;
let adapter: TestAdapter;
let adapterDir: string;

beforeAll(async () => {
  await ensureFixtures('public/hub');
  tmp = mkdtempSync(join(tmpdir(), 'alloy-grad-'));
  const files = dirModelFiles(MODEL);
  config = parseModelConfig(await readJson(files, 'config.json'));
  const ckpt = await openCheckpoint(files);
  weights = new Map();
  for (const n of ckpt.names()) weights.set(n, await ckpt.readF32(n));
  adapter = randomAdapter(config, ['q_proj', 'v_proj', 'down_proj'], R, ALPHA, 900);
  adapterDir = join(tmp, 'adapter');
  const tensors = [];
  for (const [path, { a, b }] of adapter.tensors) {
    tensors.push({ name: `base_model.model.${path}.lora_A.weight`, dtype: 'F32' as const, shape: [R, a.length / R], data: new Uint8Array(a.buffer) });
    tensors.push({ name: `base_model.model.${path}.lora_B.weight`, dtype: 'F32' as const, shape: [b.length / R, R], data: new Uint8Array(b.buffer) });
  }
  await writeSafetensors(await fileSink(join(adapterDir, 'adapter_model.safetensors')), tensors, { format: 'pt' });
  writeFileSync(join(adapterDir, 'adapter_config.json'), JSON.stringify({ peft_type: 'LORA', r: R, lora_alpha: ALPHA, target_modules: ['q_proj', 'v_proj', 'down_proj'] }));
});

afterAll(() => rmSync(tmp, { recursive: true, force: true }));

const DATA: Record<Method, unknown[]> = {
  cpt: [{ text: 'Silk is strong' }, { text: 'spider' }],
  sft: [{ prompt_ids: [1, 40, 7], completion_ids: [300, 5, 2] }, { prompt_ids: [1, 99], completion_ids: [17, 18, 19, 2] }],
  dpo: [{ prompt_ids: [1, 50, 60], chosen_ids: [70, 80, 2], rejected_ids: [33, 2] }],
  // answers of 3 and 2 tokens, then 2 and 5: IPO's length-averaged log-probs differ from DPO's sums
  ipo: [
    { prompt_ids: [1, 50, 60], chosen_ids: [70, 80, 2], rejected_ids: [33, 2] },
    { prompt: 'Silk', chosen: ' is', rejected: ' was spun by a spider' },
  ],
  orpo: [{ prompt: 'Silk', chosen: ' is', rejected: ' was' }, { prompt_ids: [1, 90], chosen_ids: [91, 2], rejected_ids: [7, 8, 2] }],
};

/**
 * The float64 reference of `method` on `seqs` as one batch: the adapter folded into the weights (a64/b64 can be
 * perturbed and re-folded for finite differences), referenceForward, the objective.
 */
function reference(method: Method, seqs: Sequence[], beta: number) {
  const targets = objectiveTargets(method, seqs);
  const a64 = new Map([...adapter.tensors].map(([p, t]) => [p, Float64Array.from(t.a)]));
  const b64 = new Map([...adapter.tensors].map(([p, t]) => [p, Float64Array.from(t.b)]));
  const w = new Map<string, ArrayLike<number>>(weights);
  const fold = (path: string) => {
    const base = weights.get(`${path}.weight`)!;
    const a = a64.get(path)!;
    const b = b64.get(path)!;
    const inn = a.length / R;
    const m = new Float64Array(base.length);
    for (let o = 0; o < b.length / R; o++)
      for (let i = 0; i < inn; i++) {
        let acc = 0;
        for (let k = 0; k < R; k++) acc += b[o * R + k]! * a[k * inn + i]!;
        m[o * inn + i] = base[o * inn + i]! + adapter.scale * acc;
      }
    w.set(`${path}.weight`, m);
  };
  for (const p of adapter.tensors.keys()) fold(p);
  const logps = (get: (n: string) => ArrayLike<number>) => seqs.map((s, i) => gatherLogp(referenceForward(config, get, s.ids), config.vocabSize, targets[i]!));
  const refLogps = needsReference(method) ? referenceLogps(method, seqs, logps((n) => weights.get(n)!)) : undefined;
  const loss = () => computeObjective(method, seqs, logps((n) => w.get(n)!), { beta, refLogps }).loss;
  return { a64, b64, fold, loss };
}

describe('alloy grad', () => {
  for (const method of ['cpt', 'sft', 'dpo', 'ipo', 'orpo'] as Method[]) {
    it(`${method}: loss and gradients equal the CPU reference`, async () => {
      const data = join(tmp, `${method}.jsonl`);
      writeFileSync(data, DATA[method].map((r) => JSON.stringify(r)).join('\n') + '\n');
      const out = join(tmp, `out-${method}`);
      const io = capture();
      const beta = 0.4;
      const code = await main(['grad', '--model', MODEL, '--adapter', adapterDir, '--data', data, '--method', method, '--beta', String(beta), '--out', out], io);
      expect(io.stderr).toBe('');
      expect(code).toBe(0);
      const got = JSON.parse(readFileSync(join(out, 'loss.json'), 'utf8')) as { loss: number };
      const gradsFile = await openSafetensors((await dirModelFiles(out).open('grads.safetensors')));

      // the reference: same rows → sequences, float64 forward on folded weights, the objective
      const tok = await loadTokenizer(dirModelFiles(MODEL));
      const seqs = rowsToSequences(method, parseJsonl(readFileSync(data, 'utf8')), tok, config.vocabSize);
      const { a64, b64, fold, loss } = reference(method, seqs, beta);
      const want = loss();
      const lossErr = Math.abs(got.loss - want) / Math.abs(want);
      expect(lossErr).toBeLessThanOrEqual(2e-6);

      const rand = createRng(3);
      let worst = 0;
      for (const [path] of adapter.tensors) {
        for (const half of ['A', 'B'] as const) {
          const key = `base_model.model.${path}.lora_${half}.weight`;
          const arr = (half === 'A' ? a64 : b64).get(path)!;
          const info = gradsFile.tensors.get(key)!;
          expect(info.shape).toEqual(half === 'A' ? [R, arr.length / R] : [arr.length / R, R]);
          const g = await gradsFile.readF32(key);
          const scale = Math.max(...g.map(Math.abs));
          for (let n = 0; n < 8; n++) {
            const i = Math.floor(rand() * arr.length);
            const keep = arr[i]!;
            arr[i] = keep + 1e-3;
            fold(path);
            const up = loss();
            arr[i] = keep - 1e-3;
            fold(path);
            const down = loss();
            arr[i] = keep;
            fold(path);
            worst = Math.max(worst, Math.abs((up - down) / 2e-3 - g[i]!) / scale);
          }
        }
      }
      console.log(`alloy grad ${method}: loss ${got.loss.toFixed(6)} vs reference ${want.toFixed(6)} (rel ${lossErr.toExponential(2)}), grads vs FD max rel ${worst.toExponential(2)}`);
      expect(worst).toBeLessThanOrEqual(4e-5);
    });
  }

  // Completions of 2, 7 and 11 tokens: the step's loss is Σ NLL / 20 however the rows are split into micro-batches
  // (TRL's num_items_in_batch), and so is its gradient.
  it('--micro-batch 1 = --micro-batch 3 = one batch = the float64 token mean of all rows (completions of 2, 7, 11 tokens)', async () => {
    const rows = [
      { prompt_ids: [1, 40, 7], completion_ids: [300, 2] },
      { prompt_ids: [1, 99], completion_ids: [17, 18, 19, 20, 21, 22, 2] },
      { prompt_ids: [1, 12, 13, 14], completion_ids: [50, 60, 70, 80, 90, 100, 110, 120, 130, 140, 2] },
    ];
    const data = join(tmp, 'ragged.jsonl');
    writeFileSync(data, rows.map((r) => JSON.stringify(r)).join('\n') + '\n');
    const run = async (flags: string[]) => {
      const out = join(tmp, `ragged-${flags.join('') || 'whole'}`);
      const io = capture();
      const code = await main(['grad', '--model', MODEL, '--adapter', adapterDir, '--data', data, '--method', 'sft', ...flags, '--out', out], io);
      expect(io.stderr).toBe('');
      expect(code).toBe(0);
      const res = JSON.parse(readFileSync(join(out, 'loss.json'), 'utf8')) as { loss: number; tokens: number; microBatches: number };
      const file = await openSafetensors(await dirModelFiles(out).open('grads.safetensors'));
      const grads = new Map<string, Float32Array>();
      for (const k of file.tensors.keys()) grads.set(k, await file.readF32(k));
      return { ...res, grads };
    };
    const whole = await run([]);
    const one = await run(['--micro-batch', '1']);
    const three = await run(['--micro-batch', '3', '--accum', '1']);
    expect([whole.microBatches, one.microBatches, three.microBatches]).toEqual([1, 3, 1]);
    expect(one.tokens).toBe(20);
    const seqs = rowsToSequences('sft', parseJsonl(readFileSync(data, 'utf8')), null, config.vocabSize);
    const want = reference('sft', seqs, 0.1).loss();
    let worst = 0;
    for (const [k, g] of whole.grads) {
      const scale = Math.max(...g.map(Math.abs));
      for (const other of [one, three]) {
        const h = other.grads.get(k)!;
        for (let i = 0; i < g.length; i++) worst = Math.max(worst, Math.abs(h[i]! - g[i]!) / scale);
      }
    }
    const lossErr = Math.max(...[whole, one, three].map((r) => Math.abs(r.loss - want) / want));
    console.log(`alloy grad sft ragged: loss whole ${whole.loss}, micro 1 ${one.loss}, micro 3 ${three.loss}, float64 ${want} (max rel ${lossErr.toExponential(2)}); grads max rel ${worst.toExponential(2)}`);
    expect(lossErr).toBeLessThanOrEqual(1e-6);
    expect(worst).toBeLessThanOrEqual(1e-5);
    // FD of the reference on one entry of the micro-batch-1 gradient ties it to the token mean (not a mean of means)
    const ref = reference('sft', seqs, 0.1);
    const [path] = [...adapter.tensors.keys()];
    const g = one.grads.get(`base_model.model.${path}.lora_B.weight`)!;
    const i = g.reduce((best, x, j) => (Math.abs(x) > Math.abs(g[best]!) ? j : best), 0);
    const arr = ref.b64.get(path!)!;
    const keep = arr[i]!;
    arr[i] = keep + 1e-3;
    ref.fold(path!);
    const up = ref.loss();
    arr[i] = keep - 1e-3;
    ref.fold(path!);
    const down = ref.loss();
    const fd = (up - down) / 2e-3;
    console.log(`  d loss / d B[${i}]: micro-batch 1 ${g[i]} vs float64 FD ${fd}`);
    expect(Math.abs(g[i]! - fd) / Math.abs(fd)).toBeLessThanOrEqual(1e-5);
  });

  it('refuses options a command does not take, and --accum without --micro-batch or beyond the data', async () => {
    const io = capture();
    expect(await main(['grad', '--model', MODEL, '--adapter', adapterDir, '--data', 'x.jsonl', '--method', 'sft', '--steps', '3', '--out', 'o'], io)).toBe(1);
    expect(io.stderr).toMatch(/^alloy: alloy grad does not take --steps \(its options: --model, .*--micro-batch, --accum, --out\)/);
    const io2 = capture();
    expect(await main(['info', '--model', MODEL, '--lr', '1', '--chat'], io2)).toBe(1);
    expect(io2.stderr).toMatch(/alloy info does not take --lr, --chat/);
    const data = join(tmp, 'two.jsonl');
    writeFileSync(data, '{"text": "Silk is strong"}\n{"text": "spider"}\n');
    const io3 = capture();
    expect(await main(['grad', '--model', MODEL, '--adapter', adapterDir, '--data', data, '--method', 'cpt', '--accum', '2', '--out', join(tmp, 'z')], io3)).toBe(1);
    expect(io3.stderr).toMatch(/--accum needs --micro-batch/);
    const io4 = capture();
    expect(await main(['grad', '--model', MODEL, '--adapter', adapterDir, '--data', data, '--method', 'cpt', '--micro-batch', '2', '--accum', '2', '--out', join(tmp, 'z')], io4)).toBe(1);
    expect(io4.stderr).toMatch(/--micro-batch 2 × --accum 2 = 4 rows, but the data has 2/);
  });

  it('a malformed line or a row of the wrong shape fails with the line number', async () => {
    const bad = join(tmp, 'bad.jsonl');
    writeFileSync(bad, '{"text": "ok"}\n{"text": \n');
    const io = capture();
    expect(await main(['grad', '--model', MODEL, '--adapter', adapterDir, '--data', bad, '--method', 'cpt', '--out', join(tmp, 'x')], io)).toBe(1);
    expect(io.stderr).toMatch(/^alloy: .*bad\.jsonl line 2: not valid JSON/);
    const wrong = join(tmp, 'wrong.jsonl');
    writeFileSync(wrong, '{"text": "ok"}\n');
    const io2 = capture();
    expect(await main(['grad', '--model', MODEL, '--adapter', adapterDir, '--data', wrong, '--method', 'dpo', '--out', join(tmp, 'y')], io2)).toBe(1);
    expect(io2.stderr).toMatch(/wrong\.jsonl line 1: method dpo expects \{prompt, chosen, rejected\}/);
  });
});
