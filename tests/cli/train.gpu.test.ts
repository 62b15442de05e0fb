// `alloy train` end to end through main(): a few SFT steps of LoRA on tiny-llama drive the training loss down,
// and the PEFT adapter it writes loads back (alloy grad) with a loss on the same data below the untrained one
// (the first step's loss, where B = 0 makes the adapter a no-op).
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { main, type Io } from '../../src/cli/main.ts';
import { ensureFixtures, OWNER, REVISION } from '../../scripts/fixtures/index.ts';

const MODEL = join('public/hub', OWNER, 'tiny-llama', 'resolve', REVISION);
let tmp: string;

function capture(): Io & { stdout: string; stderr: string } {
  const io = { stdout: '', stderr: '', out: (s: string) => void (io.stdout += s), err: (s: string) => void (io.stderr += s) };
  return io;
}

beforeAll(async () => {
  await ensureFixtures('public/hub');
  tmp = mkdtempSync(join(tmpdir(), 'alloy-train-'));
});
afterAll(() => rmSync(tmp, { recursive: true, force: true }));

describe('alloy train', () => {
  it('SFT: loss goes down, and the exported PEFT adapter reproduces the lower loss', async () => {
    const data = join(tmp, 'sft.jsonl');
    const rows = [
      { prompt_ids: [1, 40, 7], completion_ids: [300, 5, 17, 2] },
      { prompt_ids: [1, 99], completion_ids: [17, 18, 19, 2] },
    ];
    writeFileSync(data, rows.map((r) => JSON.stringify(r)).join('\n') + '\n');
    const out = join(tmp, 'adapter');
    const io = capture();
    const argv = ['train', '--model', MODEL, '--data', data, '--method', 'sft', '--out', out, '--rank', '4', '--alpha', '8', '--targets', 'q_proj,v_proj,down_proj', '--lr', '0.02', '--steps', '8', '--batch', '2', '--seed', '1'];
    expect(await main(argv, io)).toBe(0);
    const losses = [...io.stdout.matchAll(/step \d+ loss ([\d.eE+-]+)/g)].map((m) => Number(m[1]));
    console.log(`alloy train sft losses: ${losses.map((x) => x.toFixed(4)).join(' → ')}`);
    expect(losses).toHaveLength(8);
    expect(losses[7]!).toBeLessThan(losses[0]! * 0.9);
    const cfg = JSON.parse(readFileSync(join(out, 'adapter_config.json'), 'utf8')) as Record<string, unknown>;
    expect(cfg).toMatchObject({ peft_type: 'LORA', r: 4, lora_alpha: 8, target_modules: ['q_proj', 'v_proj', 'down_proj'], task_type: 'CAUSAL_LM' });
    const g = join(tmp, 'grad');
    expect(await main(['grad', '--model', MODEL, '--adapter', out, '--data', data, '--method', 'sft', '--out', g], capture())).toBe(0);
    const after = (JSON.parse(readFileSync(join(g, 'loss.json'), 'utf8')) as { loss: number }).loss;
    console.log(`reloaded adapter: loss ${after.toFixed(4)} (untrained ${losses[0]!.toFixed(4)})`);
    expect(after).toBeLessThan(losses[7]!);
  });
});
