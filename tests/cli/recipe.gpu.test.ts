// `alloy recipe --demo` through main() on the tiny-llama fixture, scaled down to one step a stage and four benchmark
// items (SwiftShader): exit 0, a progress line per step and stage, the table (variant, accuracy, acc_norm, CI, n,
// perplexity) and the synergy lines on stdout, every variant (the t-sweep's merges too) as a loadable Hugging Face
// folder, the adapters, recipe.yaml and a results.json whose numbers agree with its own per-item results; `--json`
// prints that object. Refusals are one line and exit 1.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { main } from '../../src/cli/main.ts';
import { capture } from './capture.ts';
import { ensureFixtures, OWNER, REVISION } from '../../scripts/fixtures/index.ts';
import { dirModelFiles } from '../../src/io/node/dir-model-files.ts';
import { openCheckpoint } from '../../src/io/safetensors/checkpoint.ts';
import { readPeftAdapter } from '../../src/io/peft.ts';
import { parseRecipeYaml } from '../../src/engine/recipe/spec.ts';
import { demoRecipe, RECIPE_DEFAULTS } from '../../src/engine/recipe/presets.ts';

const MODEL = join('public/hub', OWNER, 'tiny-llama', 'resolve', REVISION);
let tmp: string;

beforeAll(async () => {
  await ensureFixtures();
  tmp = mkdtempSync(join(tmpdir(), 'alloy-recipe-'));
});
afterAll(() => rmSync(tmp, { recursive: true, force: true }));

describe('alloy recipe', () => {
  it('--demo --steps-scale 0.01 --limit 4 runs the study pipeline and writes every variant and results.json', async () => {
    const out = join(tmp, 'demo');
    const io = capture();
    const code = await main(['recipe', '--model', MODEL, '--demo', '--steps-scale', '0.01', '--limit', '4', '--out', out], io);
    console.log(io.stdout);
    expect(code, io.stderr).toBe(0);
    expect(io.stderr).toMatch(/^recipe "demo: Instruct-CPT-SFT-ORPO-SLERP on Sunny Hill": CPT \(cpt, 1 steps/m);
    expect(io.stderr).toMatch(/; 8 variants; benchmark 4 items; perplexity 8 documents$/m);
    for (const s of ['CPT', 'SFT', 'ORPO']) expect(io.stderr).toMatch(new RegExp(`^  ${s} step 1 loss \\d`, 'm'));
    expect(io.stderr).toMatch(/^merge done: \d+ tensors/m);
    const table = io.stdout.split('\n');
    expect(table[0]).toMatch(/^variant\s+accuracy\s+acc_norm\s+95% CI \(acc, Wilson\)\s+n\s+ppl\/token\s+ppl\/word$/);
    expect(table.slice(1, 9).map((l) => l.split(/\s+/)[0])).toEqual([
      'tiny-llama',
      'tiny-llama-CPT',
      'tiny-llama-CPT-SFT',
      'tiny-llama-CPT-SFT-ORPO',
      'tiny-llama-CPT-SFT-ORPO-SLERP',
      'tiny-llama-CPT-SFT-ORPO-SLERP-t0.25',
      'tiny-llama-CPT-SFT-ORPO-SLERP-t0.5',
      'tiny-llama-CPT-SFT-ORPO-SLERP-t0.75',
    ]);
    for (const l of table.slice(1, 9)) expect(l).toMatch(/ \d+\.\d{3}\s+\d+\.\d{3}$/);
    expect(io.stdout).toMatch(/^synergy \(acc\): tiny-llama-CPT-SFT-ORPO-SLERP \d+\.\d% vs tiny-llama \d+\.\d% /m);
    expect(io.stdout).toMatch(/^synergy \(acc_norm\): /m);

    for (const d of ['CPT', 'CPT-SFT', 'CPT-SFT-ORPO', 'CPT-SFT-ORPO-SLERP', 'CPT-SFT-ORPO-SLERP-t0.5']) {
      const ck = await openCheckpoint(dirModelFiles(join(out, d)));
      expect(ck.names().length).toBeGreaterThan(0);
      expect(existsSync(join(out, d, 'tokenizer.json'))).toBe(true);
    }
    // every merge's YAML names the original and the last stage's folder (so `alloy merge` reruns it), sweep or not
    for (const d of ['CPT-SFT-ORPO-SLERP', 'CPT-SFT-ORPO-SLERP-t0.25']) expect(readFileSync(join(out, d, 'mergekit_config.yml'), 'utf8')).toContain(join(out, 'CPT-SFT-ORPO'));
    expect(readFileSync(join(out, 'CPT-SFT-ORPO-SLERP', 'mergekit_config.yml'), 'utf8')).not.toContain('SLERP-t');
    for (const d of ['CPT', 'CPT-SFT', 'CPT-SFT-ORPO']) expect((await readPeftAdapter(dirModelFiles(join(out, 'adapters', d)))).pairs.length).toBeGreaterThan(0);

    // recipe.yaml is the demo recipe as run (re-readable)
    expect(parseRecipeYaml(readFileSync(join(out, 'recipe.yaml'), 'utf8'), RECIPE_DEFAULTS)).toEqual({ ...demoRecipe(), benchmark: { ...demoRecipe().benchmark!, limit: 4 } });

    const res = JSON.parse(readFileSync(join(out, 'results.json'), 'utf8')) as {
      stages: { name: string; steps: number; loss: number[] }[];
      variants: {
        id: string;
        parents: string[];
        t?: number;
        accuracy: number;
        acc_norm: number;
        n: number;
        perplexity: { docs: number; token_perplexity: number; word_perplexity: number; bits_per_byte: number };
        items: { correct: boolean; correct_norm?: boolean; correctNorm: boolean }[];
      }[];
      synergy: { acc: { merged: number; parents: { id: string; score: number }[]; over_parents: number[]; parents_mean: number; relative_to_baseline: Record<string, number | null> } };
    };
    expect(res.stages.map((s) => [s.name, s.steps, s.loss.length])).toEqual([
      ['CPT', 1, 1],
      ['SFT', 1, 1],
      ['ORPO', 1, 1],
    ]);
    for (const s of res.stages) expect(Number.isFinite(s.loss[0])).toBe(true);
    expect(res.variants.map((v) => [v.id, v.parents, v.t])).toEqual([
      ['base', [], undefined],
      ['CPT', ['tiny-llama'], undefined],
      ['SFT', ['tiny-llama-CPT'], undefined],
      ['ORPO', ['tiny-llama-CPT-SFT'], undefined],
      ['SLERP', ['tiny-llama', 'tiny-llama-CPT-SFT-ORPO'], undefined],
      ['SLERP-t0.25', ['tiny-llama', 'tiny-llama-CPT-SFT-ORPO'], 0.25],
      ['SLERP-t0.5', ['tiny-llama', 'tiny-llama-CPT-SFT-ORPO'], 0.5],
      ['SLERP-t0.75', ['tiny-llama', 'tiny-llama-CPT-SFT-ORPO'], 0.75],
    ]);
    for (const v of res.variants) {
      expect(v.n).toBe(4);
      expect(v.perplexity.docs).toBe(8);
      expect(v.perplexity.token_perplexity).toBeGreaterThan(1);
      expect(v.perplexity.bits_per_byte).toBeGreaterThan(0);
      expect(v.accuracy).toBe(v.items.filter((i) => i.correct).length / 4);
      expect(v.acc_norm).toBe(v.items.filter((i) => i.correctNorm).length / 4);
    }
    const acc = (id: string) => res.variants.find((v) => v.id === id)!.accuracy;
    expect(res.synergy.acc.merged).toBe(acc('SLERP'));
    expect(res.synergy.acc.parents.map((p) => p.id)).toEqual(['base', 'ORPO']);
    expect(res.synergy.acc.over_parents).toEqual([acc('SLERP') - acc('base'), acc('SLERP') - acc('ORPO')]);
  }, 900_000);

  it('--json prints results.json\'s object and nothing else on stdout', async () => {
    const dir = join(tmp, 'mini');
    mkdirSync(dir);
    // one stage of one step on two rows, two benchmark items, one perplexity document: cheap on SwiftShader
    writeFileSync(
      join(dir, 'mini.yaml'),
      'stages:\n  - {method: cpt, data: demo/village/corpus.txt, steps: 1, rows: 2, micro_batch: 2}\nbenchmark: {file: demo/village/benchmark.jsonl, limit: 2}\nperplexity: {file: demo/village/general.jsonl, limit: 1}\n',
    );
    const out = join(tmp, 'mini-out');
    const io = capture();
    const code = await main(['recipe', '--model', MODEL, '--recipe', join(dir, 'mini.yaml'), '--json', '--out', out], io);
    expect(code, io.stderr).toBe(0);
    const printed = JSON.parse(io.stdout) as { variants: { id: string; parents: string[]; n: number; accuracy: number; perplexity: { docs: number } }[]; synergy: unknown };
    expect(io.stdout).toBe(readFileSync(join(out, 'results.json'), 'utf8'));
    expect(printed.variants.map((v) => [v.id, v.parents, v.n, v.perplexity.docs])).toEqual([
      ['base', [], 2, 1],
      ['CPT', ['tiny-llama'], 2, 1],
    ]);
    expect(printed.synergy).toBeNull();
  }, 600_000);

  it('refuses what it cannot run, in one line, before touching the GPU', async () => {
    const run = async (args: string[]) => {
      const io = capture();
      const code = await main(['recipe', ...args], io);
      return { code, err: io.stderr };
    };
    expect(await run(['--demo', '--out', join(tmp, 'x')])).toEqual({ code: 1, err: 'alloy: --model is required\n' });
    expect((await run(['--model', MODEL, '--out', join(tmp, 'x')])).err).toMatch(/give one of --recipe RECIPE\.yaml, --demo or --preset/);
    expect((await run(['--model', MODEL, '--demo', '--preset', 'study', '--out', join(tmp, 'x')])).err).toMatch(/give one of/);
    expect((await run(['--model', MODEL, '--preset', 'nope', '--out', join(tmp, 'x')])).err).toMatch(/--preset must be one of demo, study/);
    expect((await run(['--model', MODEL, '--demo', '--steps-scale', '0', '--out', join(tmp, 'x')])).err).toMatch(/--steps-scale must be a number > 0/);
    const full = join(tmp, 'full');
    mkdirSync(full);
    writeFileSync(join(full, 'f'), 'x');
    expect((await run(['--model', MODEL, '--demo', '--out', full])).err).toMatch(/exists and is not empty/);
    const bad = join(tmp, 'bad.yaml');
    writeFileSync(bad, 'stages:\n  - method: cpt\n    data: corpus.txt\n    lr: 0\n');
    expect(await run(['--model', MODEL, '--recipe', bad, '--out', join(tmp, 'y')])).toEqual({ code: 1, err: 'alloy: bad.yaml:4: stages[0].lr must be a number > 0, got 0\n' });
  });
});
