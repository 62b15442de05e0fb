// The Train panel's settings: defaults read from engine/train/defaults.ts, checks that name the setting at fault,
// and the study's stages.
import { describe, expect, it } from 'vitest';
import { TRAIN_DEFAULTS } from '../../src/engine/train/defaults.ts';
import { BUILTIN_DATASETS, checkSettings, defaultDataset, defaultSettings, formFields, nextStage } from '../../src/app/lib/train-settings.ts';
import { METHODS } from '../../src/engine/train/objectives.ts';
import { configOf } from '../../src/worker/train-data.ts';
import type { TrainSettings } from '../../src/worker/train-api.ts';

describe('train settings', () => {
  it('defaults come from TRAIN_DEFAULTS; warm-up is HF ceil(ratio · steps); seqLen never past the context', () => {
    const s = defaultSettings('sft', 128, 50);
    expect(s).toMatchObject({
      rank: TRAIN_DEFAULTS.rank,
      alpha: TRAIN_DEFAULTS.alpha,
      targets: TRAIN_DEFAULTS.targets,
      lr: TRAIN_DEFAULTS.lr,
      schedule: TRAIN_DEFAULTS.schedule,
      microBatch: TRAIN_DEFAULTS.microBatch,
      accum: TRAIN_DEFAULTS.accum,
      maxGradNorm: TRAIN_DEFAULTS.maxGradNorm,
      weightDecay: TRAIN_DEFAULTS.weightDecay,
      seed: TRAIN_DEFAULTS.seed,
      beta: TRAIN_DEFAULTS.beta,
      keepCheckpoints: TRAIN_DEFAULTS.keepCheckpoints,
      warmupSteps: Math.ceil(50 * TRAIN_DEFAULTS.warmupRatio),
      seqLen: 128,
      evalEvery: 5,
      checkpointEvery: 5,
    });
    expect(defaultSettings('cpt', 8192).seqLen).toBe(256);
    // TRL's default: {messages} rows train on every token unless assistant-only loss is ticked
    expect(TRAIN_DEFAULTS.assistantOnlyLoss).toBe(false);
    expect(s.assistantOnlyLoss).toBe(TRAIN_DEFAULTS.assistantOnlyLoss);
    expect(checkSettings(s, 128, false)).toEqual({});
  });

  it('names each bad setting', () => {
    const s = { ...defaultSettings('dpo', 128, 10), rank: 0, lr: 0, warmupSteps: 11, seqLen: 200, targets: [], beta: 0, valSplit: 1, checkpointEvery: 0 };
    const e = checkSettings(s, 128, false);
    expect(Object.keys(e).sort()).toEqual(['beta', 'checkpointEvery', 'lr', 'rank', 'seqLen', 'targets', 'valSplit', 'warmupSteps']);
    expect(e.seqLen).toMatch(/longer than the model's context \(128\)/);
    expect(e.warmupSteps).toMatch(/longer than the run \(10 steps\)/);
    expect(checkSettings({ ...s, method: 'sft', beta: 0, valSplit: 1 }, 128, true).beta).toBeUndefined();
  });

  it("DPO label smoothing: TRL's default 0, checked to [0, 0.5) for DPO only, and carried into the Trainer's objective", () => {
    expect(TRAIN_DEFAULTS.labelSmoothing).toBe(0);
    const dpo = defaultSettings('dpo', 128, 10);
    expect(dpo.labelSmoothing).toBe(TRAIN_DEFAULTS.labelSmoothing);
    expect(checkSettings({ ...dpo, labelSmoothing: 0.49 }, 128, false)).toEqual({});
    for (const bad of [0.5, -0.1, Number.NaN]) {
      expect(checkSettings({ ...dpo, labelSmoothing: bad }, 128, false).labelSmoothing).toBe('Label smoothing must be in [0, 0.5)');
    }
    // ORPO has no smoothing term: the field is not shown, so a stale value is neither checked nor passed on
    expect(checkSettings({ ...dpo, method: 'orpo', labelSmoothing: 0.7 }, 128, false)).toEqual({});
    expect(configOf({ ...dpo, labelSmoothing: 0.1 }, false).objective).toEqual({ beta: TRAIN_DEFAULTS.beta, labelSmoothing: 0.1 });
    expect(configOf({ ...dpo, method: 'orpo', labelSmoothing: 0.1 }, false).objective).toEqual({ beta: TRAIN_DEFAULTS.beta });
    // a run record stored before the setting existed resumes with the default (what it trained with)
    const { labelSmoothing: _, ...old } = dpo;
    expect(configOf(old as TrainSettings, false).objective.labelSmoothing).toBe(0);
  });

  it('the recipe runs CPT → SFT → ORPO; each method starts on a built-in file it can train', () => {
    expect([nextStage('cpt'), nextStage('sft'), nextStage('orpo'), nextStage('dpo')]).toEqual(['sft', 'orpo', null, null]);
    for (const m of ['cpt', 'sft', 'dpo', 'orpo'] as const) expect(BUILTIN_DATASETS.find((d) => d.file === defaultDataset(m))!.methods).toContain(m);
  });

  it("the form's fields (settings schema) are numbers of the panel's settings, an objective's only where it is read", () => {
    for (const m of METHODS) {
      const s = defaultSettings(m, 128);
      for (const f of formFields(m)) expect(typeof s[f.key], `${m}.${f.key}`).toBe('number');
      expect(checkSettings(s, 128, false)).toEqual({});
    }
    expect(formFields('ipo').map((f) => f.key)).toContain('beta');
    expect(formFields('ipo').map((f) => f.key)).not.toContain('labelSmoothing');
    expect(formFields('sft').map((f) => f.key)).not.toContain('beta');
  });
});
