// `alloy train --mode full` end to end through main() on tiny-llama:
//   - SFT on every parameter: the plan line names full fine-tuning beside LoRA's figure, the loss halves, and the
//     folder written is a Hugging Face model (config and weights under the base checkpoint's names) whose logits
//     differ from the base's;
//   - LoRA-only flags are refused by name with --mode full, before anything is written;
//   - kill and resume (6 steps straight vs 3, cancelled, then --resume): the same loss lines for steps 4–6.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { existsSync, mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { main } from '../../src/cli/main.ts';
import { capture } from './capture.ts';
import { ensureFixtures, OWNER, REVISION } from '../../scripts/fixtures/index.ts';
import { dirModelFiles } from '../../src/io/node/dir-model-files.ts';
import { openCheckpoint } from '../../src/io/safetensors/checkpoint.ts';
import { forward, loadModel } from '../../src/engine/model/index.ts';
import { testGpu } from '../helpers/gpu.ts';
import { gpuShared, loadFixture } from '../engine/model/model-fixtures.ts';

const MODEL = join('public/hub', OWNER, 'tiny-llama', 'resolve', REVISION);
let tmp: string;
let data: string;

const losses = (stdout: string) => [...stdout.matchAll(/^step (\d+) loss (\S+)/gm)].map((m) => ({ step: Number(m[1]), loss: m[2]! }));

beforeAll(async () => {
  await ensureFixtures('public/hub');
  tmp = mkdtempSync(join(tmpdir(), 'alloy-train-full-'));
  data = join(tmp, 'sft.jsonl');
  const rows = [
    { prompt_ids: [1, 40, 7], completion_ids: [300, 5, 17, 2] },
    { prompt_ids: [1, 99], completion_ids: [17, 18, 19, 2] },
    { prompt_ids: [1, 12, 13, 14], completion_ids: [50, 60, 70, 80, 2] },
    { prompt_ids: [1, 21], completion_ids: [81, 82, 83, 84, 85, 2] },
  ];
  writeFileSync(data, rows.map((r) => JSON.stringify(r)).join('\n') + '\n');
});
afterAll(async () => {
  (await gpuShared()).pool.destroyAll();
  rmSync(tmp, { recursive: true, force: true });
});

const base = () => ['--model', MODEL, '--data', data, '--method', 'sft', '--mode', 'full', '--seed', '1', '--lr', '3e-3'];

describe('alloy train --mode full', () => {
  it('trains every parameter and writes a Hugging Face model with the trained weights', async () => {
    const out = join(tmp, 'model');
    const io = capture();
    expect(await main(['train', ...base(), '--steps', '20', '--out', out], io)).toBe(0);
    expect(io.stdout).toMatch(/memory plan \(full fine-tuning\): .*grads\+AdamW\+f32 masters .*; LoRA r 8 /);
    expect(io.stdout).toMatch(/every parameter \(f32\)/);
    const l = losses(io.stdout).map((x) => Number(x.loss));
    console.log(`alloy train --mode full, 20 SFT steps: loss ${l[0]} → ${l.at(-1)}`);
    expect(l.at(-1)!).toBeLessThan(0.5 * l[0]!);
    expect(readdirSync(out).sort()).toEqual(expect.arrayContaining(['config.json', 'model.safetensors']));
    const names = (await openCheckpoint(dirModelFiles(out))).names().sort();
    expect(names).toEqual((await openCheckpoint(dirModelFiles(MODEL))).names().sort());
    const f = await loadFixture('tiny-llama');
    const { pool, kernels } = await gpuShared();
    const trained = await loadModel(await testGpu(), kernels, pool, await openCheckpoint(dirModelFiles(out)), f.config);
    const ids = [1, 40, 7, 300, 5, 17];
    const [a] = await forward(trained, [ids]);
    const [b] = await forward(f.model, [ids]);
    expect([...a!]).not.toEqual([...b!]);
    trained.dispose();
    f.model.dispose();
  });

  it('refuses LoRA-only flags by name', async () => {
    const io = capture();
    expect(await main(['train', ...base(), '--rank', '4', '--steps', '1', '--out', join(tmp, 'x')], io)).not.toBe(0);
    expect(io.stderr).toMatch(/--rank sets the LoRA adapter; --mode full trains every parameter and has no adapter: leave it out/);
    expect(existsSync(join(tmp, 'x'))).toBe(false);
  });

  it('kill and resume: the same loss lines as a straight run', async () => {
    const straight = capture();
    expect(await main(['train', ...base(), '--steps', '6', '--out', join(tmp, 's')], straight)).toBe(0);
    const dir = join(tmp, 'ck');
    const ac = new AbortController();
    const first = capture((s) => s.startsWith('checkpoint step 3') && ac.abort());
    await main(['train', ...base(), '--steps', '6', '--checkpoint-dir', dir, '--checkpoint-every', '1', '--out', join(tmp, 'k')], first, ac.signal);
    const resumed = capture();
    expect(await main(['train', ...base(), '--steps', '6', '--checkpoint-dir', dir, '--checkpoint-every', '1', '--resume', '--out', join(tmp, 'r')], resumed)).toBe(0);
    expect(resumed.stdout).toMatch(/resumed from checkpoint step 3/);
    expect(losses(resumed.stdout)).toEqual(losses(straight.stdout).slice(3));
  });
});
