// `alloy recipe --export DIR --model ID` (no GPU): the demo's folder equals the golden export, run.sh is executable,
// the folder reads back through --recipe DIR into the same export, a TRL stage config reads through --recipe with its
// warnings on stderr, and the refusals name what is missing.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, relative, resolve } from 'node:path';
import { main } from '../../src/cli/main.ts';
import { capture } from './capture.ts';

const GOLDEN = resolve('tests/engine/recipe/golden/cluster-demo');
const MODEL = 'HuggingFaceTB/SmolLM2-135M-Instruct';
let tmp: string;

function tree(dir: string): Map<string, string> {
  const out = new Map<string, string>();
  const walk = (d: string) => {
    for (const n of readdirSync(d)) {
      const p = join(d, n);
      if (statSync(p).isDirectory()) walk(p);
      else out.set(relative(dir, p).split('\\').join('/'), readFileSync(p, 'utf8'));
    }
  };
  walk(dir);
  return out;
}

beforeAll(() => {
  tmp = mkdtempSync(join(tmpdir(), 'alloy-recipe-export-'));
});
afterAll(() => rmSync(tmp, { recursive: true, force: true }));

describe('alloy recipe --export', () => {
  it('writes the golden demo folder and reads it back into the same export', async () => {
    const out = join(tmp, 'demo');
    const io = capture();
    expect(await main(['recipe', '--demo', '--export', out, '--model', MODEL], io)).toBe(0);
    expect(io.stdout).toMatch(/wrote 20 files to .*demo: on the cluster/);
    expect(tree(out)).toEqual(tree(GOLDEN));
    expect(statSync(join(out, 'run.sh')).mode & 0o111).toBe(0o111);

    const again = join(tmp, 'again');
    const io2 = capture();
    expect(await main(['recipe', '--recipe', out, '--export', again, '--model', MODEL], io2)).toBe(0);
    expect(io2.stderr).toBe('');
    expect(tree(again)).toEqual(tree(out));
  });

  it('reads a TRL stage config through --recipe, warnings on stderr', async () => {
    const dir = join(tmp, 'recipes', 'mine', 'sft');
    const cfg = join(dir, 'config.yaml');
    const { mkdirSync } = await import('node:fs');
    mkdirSync(dir, { recursive: true });
    writeFileSync(cfg, `model_name_or_path: some/model\nuse_peft: true\nlora_dropout: 0.0\ndataset_name: ${resolve('public/demo/data/sft.jsonl')}\nmax_steps: 3\nmax_seq_length: 32\nlogging_steps: 5\n`);
    const io = capture();
    const out = join(tmp, 'from-trl');
    expect(await main(['recipe', '--recipe', cfg, '--export', out, '--model', 'some/model'], io)).toBe(0);
    expect(io.stderr).toMatch(/config\.yaml: max_seq_length is SFTConfig's name for max_length before TRL 0\.20; read as max_length/);
    const stage = readFileSync(join(out, 'recipes/config/SFT/config_lora.yaml'), 'utf8');
    expect(stage).toMatch(/max_length: 32\n/);
    expect(stage).toMatch(/max_steps: 3\n/);
    expect(stage).toMatch(/learning_rate: 0\.00002\n/);
  });

  it('refuses without --model, into a non-empty folder, and with --out', async () => {
    const io = capture();
    expect(await main(['recipe', '--demo', '--export', join(tmp, 'x')], io)).toBe(1);
    expect(io.stderr).toMatch(/--export needs --model/);
    const io2 = capture();
    expect(await main(['recipe', '--demo', '--export', join(tmp, 'demo'), '--model', MODEL], io2)).toBe(1);
    expect(io2.stderr).toMatch(/exists and is not empty/);
    const io3 = capture();
    expect(await main(['recipe', '--demo', '--export', join(tmp, 'y'), '--model', MODEL, '--out', join(tmp, 'z')], io3)).toBe(1);
    expect(io3.stderr).toMatch(/leave out --out/);
  });
});
