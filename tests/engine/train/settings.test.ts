// The training settings schema (engine/train/settings.ts): its fields are consistent with the objective registry
// and the defaults, and the CLI's flags, usage and refusals, the recipe's stage keys and their checks come from it.
import { describe, expect, it } from 'vitest';
import { TRAIN_DEFAULTS } from '../../../src/engine/train/defaults.ts';
import { METHODS, objectiveOf } from '../../../src/engine/train/objectives.ts';
import { GRAD_FLAGS, STAGE_SETTING_KEYS, TRAIN_FIELDS, TRAIN_FLAGS, field, inRange, methodsTaking, numberProblem, parseFlagNumber, pickShape, trainUsage } from '../../../src/engine/train/settings.ts';
import type { TrainConfig } from '../../../src/engine/train/trainer.ts';
import type { TrainSettings } from '../../../src/worker/train-api.ts';
import { configOf } from '../../../src/worker/train-data.ts';
import { defaultSettings } from '../../../src/app/lib/train-settings.ts';
import { parseRecipeYaml } from '../../../src/engine/recipe/spec.ts';
import { RECIPE_DEFAULTS } from '../../../src/engine/recipe/presets.ts';
import { main } from '../../../src/cli/main.ts';
import { objectiveMismatch } from '../../../src/engine/train/checkpoint.ts';

describe('the schema', () => {
  it('names each field once per front end, and every default lies in its range', () => {
    const unique = (xs: (string | undefined)[]) => expect(new Set(xs.filter(Boolean)).size).toBe(xs.filter(Boolean).length);
    unique(TRAIN_FIELDS.map((f) => f.key));
    unique(TRAIN_FIELDS.map((f) => f.cli));
    unique(TRAIN_FIELDS.map((f) => f.recipe));
    for (const f of TRAIN_FIELDS) if (typeof f.default === 'number') expect(inRange(f.default, f.range), f.key).toBe(true);
    expect(field('labelSmoothing').default).toBe(TRAIN_DEFAULTS.labelSmoothing);
    expect(field('lr').default).toBe(TRAIN_DEFAULTS.lr);
  });

  it("every objective's hyperparameters are fields, taken by exactly the objectives that list them", () => {
    for (const m of METHODS) for (const p of objectiveOf(m).params) expect(TRAIN_FIELDS.some((f) => f.objective === p.key), `${m}.${p.key}`).toBe(true);
    expect(methodsTaking(field('beta'))).toEqual(['dpo', 'ipo', 'orpo']);
    expect(methodsTaking(field('labelSmoothing'))).toEqual(['dpo']);
    expect(methodsTaking(field('assistantOnlyLoss'))).toEqual(['sft']);
  });

  it('checks numbers in the words each front end used', () => {
    expect(() => parseFlagNumber(field('labelSmoothing'), '0.5')).toThrow('--label-smoothing must be in [0, 0.5), got "0.5"');
    expect(() => parseFlagNumber(field('labelSmoothing'), 'x')).toThrow('--label-smoothing must be a number, got "x"');
    expect(() => parseFlagNumber(field('steps'), '0')).toThrow('--steps must be a positive integer, got "0"');
    expect(() => parseFlagNumber(field('warmupSteps'), '-1')).toThrow('--warmup-steps must be a non-negative integer, got "-1"');
    expect(() => parseFlagNumber(field('valSplit'), '1')).toThrow('--val-split must be in (0, 1), got "1"');
    expect(() => parseFlagNumber(field('lr'), '0')).toThrow('--lr must be a number > 0, got "0"');
    expect(parseFlagNumber(field('lr'), '3e-4')).toBe(3e-4);
    expect(numberProblem(field('rank'), 0)).toBe('must be a whole number ≥ 1');
    expect(numberProblem(field('dropout'), 1)).toBe('must be in [0, 1)');
  });
});

// Type-level: the field sets of TrainSettings and TrainConfig are the schema's (tsc checks these lines).
type Equal<A, B> = (<T>() => T extends A ? 1 : 2) extends <T>() => T extends B ? 1 : 2 ? true : false;
const settingsKeys: Equal<
  keyof TrainSettings,
  | 'method' | 'rank' | 'alpha' | 'targets' | 'dropout' | 'lr' | 'steps' | 'schedule' | 'warmupSteps' | 'maxGradNorm' | 'weightDecay' | 'beta'
  | 'labelSmoothing' | 'assistantOnlyLoss' | 'microBatch' | 'accum' | 'seqLen' | 'seed' | 'recompute' | 'valSplit' | 'evalEvery'
  | 'checkpointEvery' | 'keepCheckpoints'
> = true;
const configKeys: Equal<
  keyof TrainConfig,
  | 'method' | 'steps' | 'lr' | 'schedule' | 'warmupSteps' | 'maxGradNorm' | 'weightDecay' | 'microBatch' | 'accum' | 'seed' | 'recompute'
  | 'evalEvery' | 'checkpointEvery' | 'keepCheckpoints' | 'beta1' | 'beta2' | 'eps' | 'objective'
> = true;
const targetsType: Equal<TrainSettings['targets'], ('q_proj' | 'k_proj' | 'v_proj' | 'o_proj' | 'gate_proj' | 'up_proj' | 'down_proj')[]> = true;
const recomputeOptional: Equal<TrainConfig['recompute'], boolean | undefined> = true;

describe('derived records', () => {
  it("TrainSettings and TrainConfig hold the schema's fields; configOf copies the shared ones by key", () => {
    expect([settingsKeys, configKeys, targetsType, recomputeOptional]).toEqual([true, true, true, true]);
    const s: TrainSettings = { ...defaultSettings('dpo', 128), method: 'dpo', steps: 7, lr: 3e-4, accum: 2, seed: 5, recompute: true, evalEvery: 3 };
    expect(Object.keys(pickShape('config', s)).sort()).toEqual(
      ['method', 'steps', 'lr', 'schedule', 'warmupSteps', 'maxGradNorm', 'weightDecay', 'microBatch', 'accum', 'seed', 'recompute', 'evalEvery', 'checkpointEvery', 'keepCheckpoints'].sort(),
    );
    const c = configOf(s, false);
    for (const k of ['method', 'steps', 'lr', 'accum', 'seed', 'recompute', 'keepCheckpoints'] as const) expect(c[k], k).toBe(s[k]);
    expect(c.evalEvery).toBe(0); // no validation rows
    expect(configOf(s, true).evalEvery).toBe(3);
  });
});

describe('derived front ends', () => {
  it("alloy grad takes its own options and the schema's grad fields, refusing the rest by name", async () => {
    expect(GRAD_FLAGS).toEqual(['method', 'mode', 'beta', 'label-smoothing', 'micro-batch', 'accum']);
    const io = { stdout: '', stderr: '', out: (s: string) => void (io.stdout += s), err: (s: string) => void (io.stderr += s) };
    expect(await main(['grad', '--model', 'm', '--adapter', 'a', '--data', 'd', '--method', 'sft', '--out', 'o', '--rank', '4'], io)).toBe(1);
    expect(io.stderr).toBe(
      'alloy: alloy grad does not take --rank (its options: --model, --adapter, --data, --method, --mode, --beta, --label-smoothing, --micro-batch, --accum, --out)\n',
    );
    io.stdout = '';
    await main(['--help'], io);
    expect(io.stdout).toContain(`alloy grad     --model DIR [--adapter DIR | --mode full] --data FILE.jsonl --method ${METHODS.join('|')} [--beta B] [--label-smoothing E]\n                 [--micro-batch M [--accum K]] --out DIR`);
  });

  it('alloy train takes exactly the schema flags and lists each in its usage', async () => {
    const usage = trainUsage('  ');
    for (const flag of TRAIN_FLAGS) expect(usage).toContain(`--${flag}`);
    expect(usage).toContain('--label-smoothing E (dpo)');
    const io = { stdout: '', stderr: '', out: (s: string) => void (io.stdout += s), err: (s: string) => void (io.stderr += s) };
    expect(await main(['train', '--model', 'm', '--data', 'd', '--method', 'sft', '--out', 'o', '--adapter', 'a'], io)).toBe(1);
    expect(io.stderr).toMatch(/^alloy: alloy train does not take --adapter \(its options: --model, --data, --method, --out, --mode, --rank/);
    io.stderr = '';
    expect(await main(['train', '--model', 'm', '--data', 'd', '--method', 'cpt', '--out', 'o', '--beta', '0.2'], io)).toBe(1);
    expect(io.stderr).toMatch(/--beta is the preference objectives' beta; method cpt has no use for it: leave it out, or train with --method dpo\|ipo\|orpo/);
    io.stderr = '';
    expect(await main(['train', '--model', 'm', '--data', 'd', '--method', 'ipo', '--out', 'o', '--label-smoothing', '0.1'], io)).toBe(1);
    expect(io.stderr).toMatch(/--label-smoothing is DPO's label smoothing \(cDPO\); method ipo has no use for it/);
  });

  it("the recipe's stage keys are the schema's, checked by its ranges", () => {
    for (const k of ['lr', 'warmup_steps', 'micro_batch', 'beta', 'label_smoothing', 'seq_len', 'method']) expect(STAGE_SETTING_KEYS).toContain(k);
    const bad = (yaml: string) => {
      try {
        parseRecipeYaml(yaml, RECIPE_DEFAULTS, 'r.yaml');
        return null;
      } catch (e) {
        return (e as Error).message;
      }
    };
    expect(bad('stages:\n  - {method: ipo, data: p.jsonl, beta: 0.2}\n')).toBeNull();
    expect(bad('stages:\n  - method: sft\n    data: a.txt\n    seq_len: 1\n')).toBe('r.yaml:4: stages[0].seq_len must be a whole number ≥ 2, got 1');
    expect(bad('stages:\n  - method: ipo\n    data: p.jsonl\n    label_smoothing: 0.1\n')).toMatch(/label_smoothing is DPO's label smoothing \(cDPO\); this stage's method, ipo, has no use for it/);
  });

  it("checkpoints compare each objective field of the schema where the objective reads it, under TRL's names", () => {
    expect(objectiveMismatch({ method: 'ipo', objective: { beta: 0.1 } }, { method: 'ipo', objective: { beta: 0.2 } })).toBe('beta 0.1 (this run: 0.2)');
    expect(objectiveMismatch({ method: 'ipo', objective: { beta: 0.1 } }, { method: 'dpo', objective: { beta: 0.1, labelSmoothing: 0.2 } })).toBe(
      'method ipo (this run: dpo), label_smoothing 0 (this run: 0.2)',
    );
    expect(objectiveMismatch({ method: 'sft', objective: { beta: 0.1 } }, { method: 'sft', objective: { beta: 0.5 } })).toBeNull();
  });
});
