// The Chat panel's adapter picker: every checkpoint of the loaded model's runs (newest first, the latest marked),
// imported adapters once, other models' runs and runs without a checkpoint left out.
import { describe, expect, it } from 'vitest';
import { adapterOptionKey, adapterOptions } from '../../src/app/lib/adapter-choices.ts';

const imported = { files: [], baseModelName: null, useRslora: false, modules: 2, dtypes: ['F32'] };

describe('adapter options for the Chat panel', () => {
  it('lists the loaded model\'s checkpoints, newest first, and imported adapters', () => {
    const runs = [
      { id: 'r1', label: 'SFT · tiny · qa.jsonl', modelId: 'tiny', checkpoints: [10, 20, 30] },
      { id: 'r2', label: 'story-lora', modelId: 'tiny', checkpoints: [0], imported },
      { id: 'r3', label: 'CPT · other', modelId: 'other', checkpoints: [5] },
      { id: 'r4', label: 'just started', modelId: 'tiny', checkpoints: [] },
    ];
    expect(adapterOptions(runs, 'tiny').map((o) => [o.key, o.text])).toEqual([
      ['r1@30', 'SFT · tiny · qa.jsonl · step 30 (latest)'],
      ['r1@20', 'SFT · tiny · qa.jsonl · step 20'],
      ['r1@10', 'SFT · tiny · qa.jsonl · step 10'],
      ['r2@0', 'story-lora · imported'],
    ]);
    expect(adapterOptions(runs, 'nothing')).toEqual([]);
    expect(adapterOptionKey({ runId: 'r1', step: 20 })).toBe('r1@20');
  });
});
