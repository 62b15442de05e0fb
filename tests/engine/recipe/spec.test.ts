// Recipe parsing and the presets: YAML in the documented keys, defaults from the one defaults table, refusals that
// name the line and key, steps from epochs, the study's values, and YAML out → in giving the same recipe.
import { describe, expect, it } from 'vitest';
import { parseRecipeYaml, readRecipe, recipeToYaml, stageSteps, stageWarmup } from '../../../src/engine/recipe/spec.ts';
import { BIO_DATA, DEMO_DATA, demoRecipe, RECIPE_DEFAULTS, STUDY_SLERP_T, studyRecipe } from '../../../src/engine/recipe/presets.ts';
import { recipeVariants } from '../../../src/engine/recipe/runner.ts';
import { slerpConfig, tParameter } from '../../../src/engine/recipe/merge-step.ts';
import { toMergeYaml } from '../../../src/engine/merge/config.ts';
import { TRAIN_DEFAULTS } from '../../../src/engine/train/defaults.ts';
import { stageTrainConfig } from '../../../src/engine/recipe/train-stage.ts';

const YAML = `name: mine
seed: 7
seq_len: 32
lora:
  rank: 4
  targets: [q_proj, v_proj]
stages:
  - method: cpt
    data: corpus.txt
    steps: 5
    lr: 1e-3
  - method: orpo
    data: pref.jsonl
    epochs: 2
    micro_batch: 3
    warmup_steps: 1
    beta: 0.2
merge:
  t: {self_attn: [0, 1], mlp: 0.25, default: 0.5}
  sweep: [0.25, 0.75]
benchmark:
  file: bench.jsonl
  limit: 10
perplexity:
  file: stories.jsonl
  limit: 3
`;

describe('parseRecipeYaml', () => {
  it('reads every documented key and fills the rest from RECIPE_DEFAULTS', () => {
    const r = parseRecipeYaml(YAML, RECIPE_DEFAULTS);
    expect(r.name).toBe('mine');
    expect(r.seed).toBe(7);
    expect(r.seqLen).toBe(32);
    // alpha = 2·rank when only the rank is given (PEFT's rule of thumb, as `alloy train`)
    expect(r.lora).toEqual({ rank: 4, alpha: 8, targets: ['q_proj', 'v_proj'] });
    expect(r.stages[0]).toMatchObject({ name: 'CPT', method: 'cpt', data: 'corpus.txt', steps: 5, epochs: null, lr: 1e-3, schedule: TRAIN_DEFAULTS.schedule, microBatch: TRAIN_DEFAULTS.microBatch });
    expect(r.stages[1]).toMatchObject({ name: 'ORPO', steps: null, epochs: 2, microBatch: 3, warmupSteps: 1, beta: 0.2, lr: TRAIN_DEFAULTS.lr });
    expect(r.merge).toEqual({ method: 'slerp', t: { selfAttn: [0, 1], mlp: 0.25, default: 0.5 }, sweep: [0.25, 0.75] });
    expect(r.benchmark).toEqual({ file: 'bench.jsonl', limit: 10 });
    expect(r.perplexity).toEqual({ file: 'stories.jsonl', limit: 3 });
  });

  it('a stage without steps or epochs runs the default number of steps', () => {
    const r = parseRecipeYaml('stages:\n  - {method: sft, data: a.jsonl}\n', RECIPE_DEFAULTS);
    expect(r.stages[0]!.steps).toBe(RECIPE_DEFAULTS.stage.steps);
    expect(r.merge).toBeNull();
    expect(r.benchmark).toBeNull();
    expect(r.perplexity).toBeNull();
    expect(parseRecipeYaml('stages:\n  - {method: sft, data: a.jsonl}\nmerge: {t: 0.5}\n', RECIPE_DEFAULTS).merge).toEqual({ method: 'slerp', t: 0.5, sweep: [] });
  });

  it('names the line and key of what is wrong', () => {
    const bad = (text: string) => {
      try {
        parseRecipeYaml(text, RECIPE_DEFAULTS, 'r.yaml');
      } catch (e) {
        return (e as Error).message;
      }
      return 'no error';
    };
    expect(bad('stages:\n  - method: cpt\n    data: a.txt\n    lr: -1\n')).toBe('r.yaml:4: stages[0].lr must be a number > 0, got -1');
    expect(bad('stages:\n  - method: kto\n    data: a.txt\n')).toMatch(/^r\.yaml:2: stages\[0\]\.method must be one of cpt, sft, dpo, ipo, orpo/);
    expect(bad('stages:\n  - method: cpt\n    data: a.txt\n    learning_rate: 1\n')).toMatch(/^r\.yaml:4: stages\[0\]\.learning_rate is not a recipe key/);
    expect(bad('stages:\n  - {method: cpt, data: a.txt, steps: 2, epochs: 1}\n')).toMatch(/epochs and steps are both given/);
    expect(bad('stages: []\n')).toMatch(/^r\.yaml:1: stages must list at least one training stage/);
    expect(bad('stages:\n  - {method: cpt, data: a.txt}\n  - {method: cpt, data: b.txt}\n')).toMatch(/"CPT" is used by an earlier stage/);
    expect(bad('stages:\n  - {method: cpt, data: a.txt}\nmerge:\n  method: ties\n  t: 0.5\n')).toMatch(/^r\.yaml:4: merge\.method must be slerp/);
    expect(bad('stages:\n  - {method: cpt, data: a.txt}\nmerge:\n  t: [0, 1.5]\n')).toMatch(/merge\.t\[1\] must be a number in \[0, 1\], got 1\.5/);
    expect(bad('stages:\n  - {method: cpt, data: a.txt}\nlora: {targets: [qkv]}\n')).toMatch(/lora\.targets\[0\] "qkv" is not one of q_proj/);
    expect(bad('stages: [\n')).toMatch(/^r\.yaml:\d+: not valid YAML/);
    expect(bad('stages:\n  - {method: cpt, data: a.txt}\nmerge:\n  t: 0.5\n  sweep: [0.5, 2]\n')).toBe('r.yaml:5: merge.sweep[1] must be a number in [0, 1], got 2');
    expect(bad('stages:\n  - {method: cpt, data: a.txt}\nmerge:\n  t: 0.5\n  sweep: [0.5, 0.25, 0.5]\n')).toBe('r.yaml:5: merge.sweep[2] repeats t = 0.5 (each sweep point is one merge and one folder)');
    expect(bad('stages:\n  - {method: cpt, data: a.txt}\nmerge:\n  t: 0.5\n  sweep: 0.5\n')).toMatch(/^r\.yaml:5: merge\.sweep must be a list of t values in \[0, 1\], got 0\.5/);
    expect(bad('stages:\n  - {method: cpt, data: a.txt}\nperplexity:\n  text: a.txt\n')).toMatch(/^r\.yaml:4: perplexity\.text is not a recipe key \(expected one of file, limit\)/);
  });

  it("label_smoothing: a DPO stage's cDPO ε (default TRL's 0) reaches its Trainer config; other methods and ε ≥ 0.5 are refused", () => {
    const r = parseRecipeYaml('stages:\n  - method: dpo\n    data: p.jsonl\n    label_smoothing: 0.1\n  - {name: DPO2, method: dpo, data: p.jsonl}\n', RECIPE_DEFAULTS);
    expect(r.stages.map((s) => s.labelSmoothing)).toEqual([0.1, TRAIN_DEFAULTS.labelSmoothing]);
    expect(RECIPE_DEFAULTS.stage.labelSmoothing).toBe(0);
    expect(stageTrainConfig(r.stages[0]!, r, 4).objective).toEqual({ beta: TRAIN_DEFAULTS.beta, labelSmoothing: 0.1 });
    expect(parseRecipeYaml(recipeToYaml(r), RECIPE_DEFAULTS)).toEqual(r);
    const bad = (text: string) => () => parseRecipeYaml(text, RECIPE_DEFAULTS, 'r.yaml');
    expect(bad('stages:\n  - method: orpo\n    data: p.jsonl\n    label_smoothing: 0.1\n')).toThrow(
      "r.yaml:4: stages[0].label_smoothing is DPO's label smoothing (cDPO); this stage's method, orpo, has no use for it",
    );
    expect(bad('stages:\n  - method: dpo\n    data: p.jsonl\n    label_smoothing: 0.5\n')).toThrow('r.yaml:4: stages[0].label_smoothing must be in [0, 0.5), got 0.5');
    expect(bad('stages:\n  - method: dpo\n    data: p.jsonl\n    label_smoothing: -0.1\n')).toThrow(/stages\[0\]\.label_smoothing must be a number ≥ 0, got -0\.1/);
    // recipes that predate the key write no label_smoothing for non-DPO stages, so they read back unchanged
    expect(recipeToYaml(demoRecipe())).not.toContain('label_smoothing');
  });

  it('recipeToYaml → parseRecipeYaml gives the same recipe (demo, study, and one with everything)', () => {
    for (const r of [demoRecipe(), studyRecipe(), parseRecipeYaml(YAML, RECIPE_DEFAULTS)]) {
      expect(parseRecipeYaml(recipeToYaml(r), RECIPE_DEFAULTS)).toEqual(r);
    }
  });
});

describe('steps and warm-up', () => {
  const stage = (o: object) => readRecipe({ stages: [{ method: 'cpt', data: 'a', ...o }] }, RECIPE_DEFAULTS).stages[0]!;
  it('epochs → ceil(epochs · units / (micro_batch · accum)), scaled, at least one step', () => {
    expect(stageSteps(stage({ epochs: 5, micro_batch: 6, accum: 2 }), 24)).toBe(10);
    expect(stageSteps(stage({ epochs: 1, micro_batch: 6, accum: 2 }), 41)).toBe(4);
    // fewer units than a micro-batch: each step sees them all once
    expect(stageSteps(stage({ epochs: 2, micro_batch: 8 }), 3)).toBe(2);
    expect(stageSteps(stage({ steps: 6 }), 100, 0.5)).toBe(3);
    expect(stageSteps(stage({ steps: 6 }), 100, 0.01)).toBe(1);
  });
  it('warm-up: ceil(ratio · steps) as HF, or the steps given (capped at the stage)', () => {
    expect(stageWarmup(stage({ warmup_ratio: 0.1 }), 25)).toBe(3);
    expect(stageWarmup(stage({ warmup_steps: 100 }), 25)).toBe(25);
  });
});

describe('presets', () => {
  it('the demo: CPT → SFT → ORPO on Sunny Hill, the study gradient and a t-sweep, the village benchmark and general-story perplexity', () => {
    const r = demoRecipe();
    expect(r.stages.map((s) => [s.method, s.data])).toEqual([
      ['cpt', DEMO_DATA.corpus],
      ['sft', DEMO_DATA.sft],
      ['orpo', DEMO_DATA.preference],
    ]);
    // sized for a software GPU: about 2 minutes of training on SwiftShader (README's demo numbers)
    expect(r.stages.reduce((n, s) => n + s.steps!, 0)).toBeLessThanOrEqual(130);
    expect(r.seqLen).toBeLessThanOrEqual(64);
    expect(r.merge!.t).toEqual({ selfAttn: STUDY_SLERP_T.self_attn, mlp: STUDY_SLERP_T.mlp, default: STUDY_SLERP_T.default });
    expect(r.merge!.sweep).toEqual([0.25, 0.5, 0.75]);
    expect(r.benchmark).toEqual({ file: DEMO_DATA.benchmark, limit: null });
    expect(r.perplexity).toEqual({ file: DEMO_DATA.general, limit: null });
  });

  it('the study preset keeps the biological-materials data, the example for real models', () => {
    const r = studyRecipe();
    expect(r.stages.map((s) => s.data)).toEqual([BIO_DATA.corpus, BIO_DATA.sft, BIO_DATA.preference]);
    expect(r.benchmark!.file).toBe(BIO_DATA.benchmark);
    expect(r.perplexity!.file).toBe(BIO_DATA.general);
  });

  it("the study preset carries §5.3's Llama-3.1-8B-Instruct values", () => {
    const [cpt, sft, orpo] = studyRecipe().stages;
    expect(cpt).toMatchObject({ method: 'cpt', lr: 2e-5, epochs: 5, schedule: 'cosine', warmupRatio: 0.1, microBatch: 6, accum: 2, seqLen: 3072 });
    expect(sft).toMatchObject({ method: 'sft', lr: 2e-5, epochs: 1, warmupRatio: 0.1, microBatch: 6, accum: 2 });
    expect(orpo).toMatchObject({ method: 'orpo', lr: 3e-6, epochs: 1, beta: 0.1, microBatch: 3, accum: 1, warmupSteps: 100 });
    expect(studyRecipe().seed).toBe(42);
  });

  it('variants: the original, one per stage named by its lineage, then the merge and the t-sweep, each with its parents', () => {
    expect(recipeVariants(demoRecipe(), 'stories260K').map((v) => [v.id, v.label, v.name, v.parents, v.t])).toEqual([
      ['base', 'stories260K', '', [], undefined],
      ['CPT', 'stories260K-CPT', 'CPT', ['base'], undefined],
      ['SFT', 'stories260K-CPT-SFT', 'CPT-SFT', ['CPT'], undefined],
      ['ORPO', 'stories260K-CPT-SFT-ORPO', 'CPT-SFT-ORPO', ['SFT'], undefined],
      ['SLERP', 'stories260K-CPT-SFT-ORPO-SLERP', 'CPT-SFT-ORPO-SLERP', ['base', 'ORPO'], undefined],
      ['SLERP-t0.25', 'stories260K-CPT-SFT-ORPO-SLERP-t0.25', 'CPT-SFT-ORPO-SLERP-t0.25', ['base', 'ORPO'], 0.25],
      ['SLERP-t0.5', 'stories260K-CPT-SFT-ORPO-SLERP-t0.5', 'CPT-SFT-ORPO-SLERP-t0.5', ['base', 'ORPO'], 0.5],
      ['SLERP-t0.75', 'stories260K-CPT-SFT-ORPO-SLERP-t0.75', 'CPT-SFT-ORPO-SLERP-t0.75', ['base', 'ORPO'], 0.75],
    ]);
  });

  it("the merge is the study's mergekit YAML: one slice, the original as base_model (t = 0), filtered t", () => {
    expect(tParameter(0.3)).toBe(0.3);
    const yaml = toMergeYaml(slerpConfig(demoRecipe().merge!.t, 5));
    expect(yaml).toContain('merge_method: slerp');
    expect(yaml).toContain('base_model: original');
    expect(yaml).toMatch(/layer_range: \[ ?0, 5 ?\]/);
    expect(yaml).toContain('filter: self_attn');
    expect(yaml).toMatch(/value: \[ ?0, 0\.5, 0\.3, 0\.7, 1 ?\]/);
    expect(yaml).toMatch(/value: \[ ?1, 0\.5, 0\.7, 0\.3, 0 ?\]/);
  });
});
