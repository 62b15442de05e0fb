// The Train panel's settings: defaults read from engine/train/defaults.ts, checks that name the setting at fault,
// and the study's stages.
import { describe, expect, it } from 'vitest';
import { TRAIN_DEFAULTS } from '../../src/engine/train/defaults.ts';
import { BUILTIN_DATASETS, checkSettings, defaultDataset, defaultSettings, nextStage } from '../../src/app/lib/train-settings.ts';

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

  it('the recipe runs CPT → SFT → ORPO; each method starts on a built-in file it can train', () => {
    expect([nextStage('cpt'), nextStage('sft'), nextStage('orpo'), nextStage('dpo')]).toEqual(['sft', 'orpo', null, null]);
    for (const m of ['cpt', 'sft', 'dpo', 'orpo'] as const) expect(BUILTIN_DATASETS.find((d) => d.file === defaultDataset(m))!.methods).toContain(m);
  });
});
