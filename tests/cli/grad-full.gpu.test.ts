// `alloy grad --mode full` end to end through main(): grads.safetensors holds a gradient for every parameter under
// its Hugging Face name and shape, in checkpoint order (tiny-llama, tied: model.embed_tokens.weight only, the sum of
// both uses; tiny-llama-untied: lm_head.weight too), accumulated over micro-batches as the trainer does; loss.json
// and a few entries (an embedding row the data uses, a member of the fused q|k|v, the final norm, the lm_head) held
// to the float64 reference: loss ≤ 5e-7 relative, each entry against a central finite difference (h = 1e-4) within
// 3e-5 of the tensor's max |gradient| (tests/engine/train/full-grad.gpu.test.ts's bounds; measured values printed).
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { main } from '../../src/cli/main.ts';
import { capture } from './capture.ts';
import { ensureFixtures, OWNER, REVISION } from '../../scripts/fixtures/index.ts';
import { dirModelFiles } from '../../src/io/node/dir-model-files.ts';
import { readJson } from '../../src/io/model-files.ts';
import { expectedTensorShapes, parseModelConfig } from '../../src/io/config.ts';
import { openCheckpoint } from '../../src/io/safetensors/checkpoint.ts';
import { openSafetensors } from '../../src/io/safetensors/reader.ts';
import { loadTokenizer } from '../../src/io/tokenizer.ts';
import { parseJsonl, rowsToSequences } from '../../src/io/datasets/rows.ts';
import { referenceForward } from '../../src/engine/reference/forward.ts';
import { computeObjective, gatherLogp, objectiveTargets, type Method } from '../../src/engine/train/objectives.ts';

const dir = (name: string) => join('public/hub', OWNER, name, 'resolve', REVISION);
let tmp: string;

beforeAll(async () => {
  await ensureFixtures('public/hub');
  tmp = mkdtempSync(join(tmpdir(), 'alloy-grad-full-'));
});
afterAll(() => rmSync(tmp, { recursive: true, force: true }));

const DATA: Partial<Record<Method, unknown[]>> = {
  cpt: [{ text: 'Silk is strong' }, { text: 'spider silk' }],
  sft: [{ prompt_ids: [1, 40, 7], completion_ids: [300, 5, 2] }, { prompt_ids: [1, 99], completion_ids: [17, 18, 19, 2] }],
};

describe('alloy grad --mode full', () => {
  for (const [model, method, flags] of [
    ['tiny-llama', 'cpt', ['--micro-batch', '1']],
    ['tiny-llama-untied', 'sft', []],
  ] as const) {
    it(`${model} · ${method}${flags.length ? ' · 2 micro-batches' : ''}: every parameter under its HF name, values = float64 FD`, async () => {
      const MODEL = dir(model);
      const data = join(tmp, `${model}-${method}.jsonl`);
      writeFileSync(data, DATA[method]!.map((r) => JSON.stringify(r)).join('\n') + '\n');
      const out = join(tmp, `out-${model}`);
      const io = capture();
      const code = await main(['grad', '--model', MODEL, '--mode', 'full', '--data', data, '--method', method, ...flags, '--out', out], io);
      expect(io.stderr).toBe('');
      expect(code).toBe(0);
      const files = dirModelFiles(MODEL);
      const config = parseModelConfig(await readJson(files, 'config.json'));
      const shapes = expectedTensorShapes(config);
      expect(io.stdout).toMatch(new RegExp(`gradients of ${shapes.size} tensors`));
      const got = JSON.parse(readFileSync(join(out, 'loss.json'), 'utf8')) as { loss: number; mode: string; microBatches: number };
      expect(got.mode).toBe('full');
      expect(got.microBatches).toBe(flags.length ? 2 : 1);
      const grads = await openSafetensors(await dirModelFiles(out).open('grads.safetensors'));
      expect([...grads.tensors.keys()].sort()).toEqual([...shapes.keys()].sort());
      expect(grads.tensors.has('lm_head.weight')).toBe(!config.tieWordEmbeddings);
      for (const [name, shape] of shapes) {
        expect(grads.tensors.get(name)!.shape).toEqual(shape);
        expect(grads.tensors.get(name)!.dtype).toBe('F32');
      }

      // the float64 reference of the whole batch
      const ckpt = await openCheckpoint(files);
      const w64 = new Map<string, Float64Array>();
      for (const n of ckpt.names()) w64.set(n, Float64Array.from(await ckpt.readF32(n)));
      const tok = await loadTokenizer(files);
      const seqs = rowsToSequences(method, parseJsonl(readFileSync(data, 'utf8')), tok, config.vocabSize);
      const targets = objectiveTargets(method, seqs);
      const loss = () => computeObjective(method, seqs, seqs.map((s, i) => gatherLogp(referenceForward(config, (n) => w64.get(n)!, s.ids), config.vocabSize, targets[i]!))).loss;
      const want = loss();
      const lossErr = Math.abs(got.loss - want) / Math.abs(want);
      expect(lossErr).toBeLessThanOrEqual(5e-7);

      const C = config.hiddenSize;
      const id = seqs[0]!.ids[1]!;
      const entries: Array<[string, number]> = [
        ['model.embed_tokens.weight', id * C + 5],
        ['model.layers.1.self_attn.k_proj.weight', 3 * C + 7],
        ['model.norm.weight', 11],
        ...(config.tieWordEmbeddings ? [] : ([['lm_head.weight', 300 * C + 2]] as Array<[string, number]>)),
      ];
      const lines: string[] = [];
      for (const [name, i] of entries) {
        const g = await grads.readF32(name);
        const scale = g.reduce((m, x) => Math.max(m, Math.abs(x)), 0);
        const w = w64.get(name)!;
        const keep = w[i]!;
        w[i] = keep + 1e-4;
        const up = loss();
        w[i] = keep - 1e-4;
        const down = loss();
        w[i] = keep;
        const fd = (up - down) / 2e-4;
        lines.push(`${name}[${i}]: ${g[i]} vs FD ${fd.toPrecision(8)} (|Δ|/max ${(Math.abs(g[i]! - fd) / scale).toExponential(2)})`);
        expect(Math.abs(g[i]! - fd)).toBeLessThanOrEqual(3e-5 * scale);
      }
      console.log(`alloy grad --mode full ${model} ${method}: loss ${got.loss} (rel err ${lossErr.toExponential(2)})\n  ${lines.join('\n  ')}`);
    });
  }

  it('refuses --adapter with --mode full, and a mode that is not lora or full', async () => {
    const data = join(tmp, 'one.jsonl');
    writeFileSync(data, '{"text": "Silk"}\n');
    const io = capture();
    expect(await main(['grad', '--model', dir('tiny-llama'), '--mode', 'full', '--adapter', tmp, '--data', data, '--method', 'cpt', '--out', join(tmp, 'a')], io)).toBe(1);
    expect(io.stderr).toMatch(/--mode full takes no --adapter/);
    const io2 = capture();
    expect(await main(['grad', '--model', dir('tiny-llama'), '--mode', 'everything', '--data', data, '--method', 'cpt', '--out', join(tmp, 'b')], io2)).toBe(1);
    expect(io2.stderr).toMatch(/--mode must be lora or full, got "everything"/);
    const io3 = capture();
    expect(await main(['grad', '--model', dir('tiny-llama'), '--data', data, '--method', 'cpt', '--out', join(tmp, 'c')], io3)).toBe(1);
    expect(io3.stderr).toMatch(/--adapter is required/);
  });
});
