// `alloy train --method dpo --label-smoothing ε` on tiny-llama (SwiftShader):
//   - step 1 is ln 2 whatever ε (the adapter starts with B = 0, so policy = reference and every margin is 0);
//   - step 2's loss is cDPO's −(1−ε)·log σ(βΔ) − ε·log σ(−βΔ) averaged over the pairs, with Δ measured on the
//     adapter after step 1 (the same run with --steps 1 writes it; a constant schedule gives both the same step 1),
//     and it is not the ε = 0 value of the same margins;
//   - the checkpoint records ε in the Trainer's config, and --resume with another ε is refused, naming both;
//   - --label-smoothing is refused for other methods and outside [0, 0.5).
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { main } from '../../src/cli/main.ts';
import { capture } from './capture.ts';
import { ensureFixtures, OWNER, REVISION } from '../../scripts/fixtures/index.ts';
import { readPeftAdapter } from '../../src/io/peft.ts';
import { dirModelFiles } from '../../src/io/node/dir-model-files.ts';
import { openSafetensors } from '../../src/io/safetensors/reader.ts';
import { fileSource } from '../../src/io/node/fs.ts';
import { loraFromTensors } from '../../src/engine/lora/adapter.ts';
import { lossOnly } from '../../src/engine/train/grad.ts';
import { logSigmoid } from '../../src/engine/train/objectives.ts';
import type { Sequence } from '../../src/common/training-data.ts';
import { gpuShared, loadFixture } from '../engine/model/model-fixtures.ts';

const MODEL = join('public/hub', OWNER, 'tiny-llama', 'resolve', REVISION);
const EPS = 0.1;
const BETA = 1;
const PAIRS = [
  { prompt_ids: [1, 40, 7], chosen_ids: [300, 5, 17, 2], rejected_ids: [81, 82, 2] },
  { prompt_ids: [1, 12, 13], chosen_ids: [50, 60, 70, 2], rejected_ids: [19, 18, 17, 16, 2] },
];
let tmp: string;
let data: string;

const losses = (stdout: string) => [...stdout.matchAll(/^step (\d+) loss (\S+)/gm)].map((m) => Number(m[2]));

beforeAll(async () => {
  await ensureFixtures('public/hub');
  tmp = mkdtempSync(join(tmpdir(), 'alloy-train-dpo-'));
  data = join(tmp, 'pref.jsonl');
  writeFileSync(data, PAIRS.map((r) => JSON.stringify(r)).join('\n') + '\n');
});
afterAll(() => rmSync(tmp, { recursive: true, force: true }));

const args = (out: string, steps: number, extra: string[] = []) => [
  'train', '--model', MODEL, '--data', data, '--method', 'dpo', '--out', out, '--rank', '4', '--alpha', '8', '--targets', 'q_proj,v_proj,down_proj',
  '--seed', '1', '--beta', String(BETA), '--lr', '0.05', '--schedule', 'constant', '--warmup-steps', '0', '--micro-batch', '2', '--steps', String(steps), ...extra,
];

describe('alloy train --method dpo --label-smoothing', () => {
  it("trains with cDPO's loss, records ε in the checkpoint and refuses a resume with another ε", async () => {
    const ck = join(tmp, 'ck');
    const run = capture();
    expect(await main(args(join(tmp, 'out-2'), 2, ['--label-smoothing', String(EPS), '--checkpoint-dir', ck, '--checkpoint-every', '1']), run)).toBe(0);
    expect(run.stdout).toMatch(/^training dpo: 2 pairs; .*label smoothing 0\.1; /m);
    const [l1, l2] = losses(run.stdout) as [number, number];
    expect(l1).toBeCloseTo(Math.LN2, 6);

    // the adapter after step 1, and the margins Δ = (π_c − ref_c) − (π_r − ref_r) it gives each pair
    const one = join(tmp, 'out-1');
    expect(await main(args(one, 1, ['--label-smoothing', String(EPS)]), capture())).toBe(0);
    const f = await loadFixture('tiny-llama');
    const peft = await readPeftAdapter(dirModelFiles(one));
    const tensors = new Map<string, { a: Float32Array; b: Float32Array }>();
    for (const p of peft.pairs) tensors.set(p.target.replace(/\.weight$/, ''), { a: await peft.file.readF32(p.a), b: await peft.file.readF32(p.b) });
    const lora = loraFromTensors(f.model, peft.config, tensors);
    const z: number[] = [];
    for (const r of PAIRS) {
      const seq = (answer: number[]): Sequence => ({ ids: [...r.prompt_ids, ...answer], promptLen: r.prompt_ids.length });
      // one pair alone: its rewards/margins metric is β·Δ of that pair
      const res = await lossOnly(f.model, lora, 'dpo', [seq(r.chosen_ids), seq(r.rejected_ids)], { beta: BETA });
      z.push(res.metrics['rewards/margins']!);
    }
    lora.dispose();
    f.model.dispose();
    (await gpuShared()).pool.destroyAll();
    const cdpo = (eps: number) => z.reduce((s, x) => s - (1 - eps) * logSigmoid(x) - eps * logSigmoid(-x), 0) / z.length;
    console.log(`dpo step 2: loss ${l2}; cDPO(ε ${EPS}) ${cdpo(EPS)}; ε 0 would give ${cdpo(0)} (βΔ ${z.map((x) => x.toFixed(4)).join(', ')})`);
    expect(Math.abs(l2 - cdpo(EPS))).toBeLessThanOrEqual(1e-4);
    // the margins are large enough that ε shows: the ε = 0 loss is far outside the tolerance above
    expect(Math.abs(cdpo(0) - cdpo(EPS))).toBeGreaterThan(1e-2);

    // the checkpoint records ε with the Trainer's config
    const file = await openSafetensors(fileSource(join(ck, 'checkpoint-2.safetensors')));
    const meta = JSON.parse(file.metadata['alloy.trainer']!) as { config: { method: string; objective: { beta: number; labelSmoothing?: number } } };
    expect(meta.config).toMatchObject({ method: 'dpo', objective: { beta: BETA, labelSmoothing: EPS } });

    // a resume under another ε (or none: 0) is refused, naming both values, and writes nothing
    for (const extra of [['--label-smoothing', '0.2'], []]) {
      const io = capture();
      const out = join(tmp, 'never');
      expect(await main(args(out, 3, [...extra, '--checkpoint-dir', ck, '--resume']), io)).toBe(1);
      expect(io.stderr).toMatch(new RegExp(`checkpoint-2\\.safetensors: the checkpoint was trained with another objective: label_smoothing 0\\.1 \\(this run: ${extra[1]?.replace('.', '\\.') ?? '0'}\\)`));
      expect(existsSync(out)).toBe(false);
    }
    const same = capture();
    expect(await main(args(join(tmp, 'out-3'), 3, ['--label-smoothing', String(EPS), '--checkpoint-dir', ck, '--resume']), same)).toBe(0);
    expect(same.stdout).toContain(`resumed from checkpoint step 2 in ${ck}`);
    expect(readFileSync(join(tmp, 'out-3', 'adapter_config.json'), 'utf8')).toContain('"r": 4');
  }, 600_000);

  it('is refused for other methods and outside [0, 0.5), before loading anything', async () => {
    const cases: Array<[string[], RegExp]> = [
      [['--method', 'orpo', '--label-smoothing', '0.1'], /--label-smoothing is DPO's label smoothing \(cDPO\); method orpo has no use for it/],
      [['--method', 'sft', '--label-smoothing', '0'], /method sft has no use for it/],
      [['--label-smoothing', '0.5'], /--label-smoothing must be in \[0, 0\.5\), got "0\.5"/],
      [['--label-smoothing=-0.1'], /--label-smoothing must be in \[0, 0\.5\), got "-0\.1"/],
      [['--label-smoothing', 'x'], /--label-smoothing must be a number, got "x"/],
    ];
    for (const [extra, want] of cases) {
      const io = capture();
      // later flags win in node:util parseArgs, so --method here replaces the dpo of args()
      expect(await main([...args(join(tmp, 'never'), 1), ...extra], io)).toBe(1);
      expect(io.stderr).toMatch(want);
    }
    expect(existsSync(join(tmp, 'never'))).toBe(false);
  });
});
