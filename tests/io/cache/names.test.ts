// Cached models' names (src/io/cache/names.ts): short labels numbered when repeated, and YAML refs that never read
// as mergekit's model+lora, YAML syntax or a URL, and come back unchanged from toMergeYaml → parseMergeYaml.
import { describe, expect, it } from 'vitest';
import { distinctLabel, lineageParts, modelRefs, shortName, slugName } from '../../../src/io/cache/names.ts';
import { parseMergeYaml, parseModelRef, toMergeYaml } from '../../../src/engine/merge/config.ts';
import { foldName } from '../../../src/worker/train.ts';

const hub = (id: string, repo: string, createdAt: number, revision = 'main') => ({
  id,
  repo,
  revision,
  createdAt,
  source: 'hub',
  label: `${repo}@${revision} (http://127.0.0.1:5173/hub)`,
});
const made = (id: string, label: string, createdAt: number) => ({ id, label, repo: 'train', revision: 'merge', source: 'merge', createdAt });

describe('cached model names', () => {
  it('shortens a download to its repo name and keeps a model made here as labelled', () => {
    expect(shortName(hub('h', 'alloy-demo/stories260K', 1))).toBe('stories260K');
    expect(shortName(made('m', 'stories260K-sft-step30', 2))).toBe('stories260K-sft-step30');
  });

  it('numbers a repeated label', () => {
    expect(distinctLabel('a', ['b'])).toBe('a');
    expect(distinctLabel('a', ['a'])).toBe('a-2');
    expect(distinctLabel('a', ['a', 'a-2', 'a-3'])).toBe('a-4');
  });

  it('gives every model a YAML-safe ref that survives the mergekit YAML round trip', () => {
    const models = [
      hub('h1', 'alloy-demo/stories260K', 1),
      // the labels of issue 19: " + ", parentheses, a URL
      made('f1', 'alloy-demo/stories260K@main (http://127.0.0.1:5173/hub) + SFT LoRA (step 30)', 2),
      made('f2', 'alloy-demo/stories260K@main (http://127.0.0.1:5173/hub) + SFT LoRA (step 30)', 3),
      made('f3', 'stories260K-sft-step30', 4),
      made('f4', 'slerp(stories260K, stories260K-sft-step30)', 5),
      hub('h2', 'alloy-demo/stories260K', 6, 'v2'),
      made('f5', 'adapters/x', 7),
    ];
    const refs = modelRefs(models);
    expect(Object.fromEntries(refs)).toEqual({
      h1: 'alloy-demo/stories260K@main',
      f1: 'alloy-demo-stories260K-main-http-127.0.0.1-5173-hub-SFT-LoRA-step-30',
      f2: 'alloy-demo-stories260K-main-http-127.0.0.1-5173-hub-SFT-LoRA-step-30-2',
      f3: 'stories260K-sft-step30',
      f4: 'slerp-stories260K-stories260K-sft-step30',
      h2: 'alloy-demo/stories260K@v2',
      f5: 'adapters-x',
    });
    expect(new Set(refs.values()).size).toBe(models.length);
    for (const ref of refs.values()) {
      expect(ref).toMatch(/^[A-Za-z0-9][A-Za-z0-9._/@-]*$/);
      expect(parseModelRef(ref)).toEqual({ model: ref });
      const yaml = toMergeYaml({ mergeMethod: 'slerp', baseModel: ref, models: [{ model: ref }, { model: `${ref}+adapters/a-step30` }], parameters: { t: 0.5 } });
      const back = parseMergeYaml(yaml).config;
      expect(back.baseModel).toBe(ref);
      expect(back.models!.map((m) => m.model)).toEqual([ref, `${ref}+adapters/a-step30`]);
      expect(yaml).not.toMatch(/['"]/); // plain scalars: what mergekit's own dumps look like
    }
    // a lone download keeps its repo (what mergekit fetches); the slug keeps "/" only for repos
    expect(modelRefs([hub('h1', 'alloy-demo/stories260K', 1)]).get('h1')).toBe('alloy-demo/stories260K');
    expect(slugName('a / b + c', true)).toBe('a/b-c');
  });

  it('names a fold short, with base, stage and step as lineage', () => {
    const base = { ...hub('h1', 'alloy-demo/stories260K', 1), files: [], totalBytes: 0, source: 'hub' as const };
    const trained = { label: 'stories260K · SFT · sft.jsonl', settings: { method: 'sft' } } as Parameters<typeof foldName>[1];
    expect(foldName(base, trained, 30, null)).toEqual({ label: 'stories260K-sft-step30', lineage: { base: base.label, stage: 'SFT LoRA', step: 30 } });
    expect(foldName(base, trained, 30, '  mine ').label).toBe('mine');
    const imported = { label: 'my lora', settings: { method: 'sft' }, imported: {} } as Parameters<typeof foldName>[1];
    expect(foldName(base, imported, 0, null)).toEqual({ label: 'stories260K-my-lora', lineage: { base: base.label, stage: 'LoRA my lora' } });
    expect(lineageParts({ base: 'stories260K', stage: 'SFT LoRA', step: 30 })).toEqual(['SFT LoRA', 'from stories260K', 'step 30']);
    expect(lineageParts({ stage: 'slerp', base: 'a', other: 'b', t: '0.5' })).toEqual(['slerp', 'base a', 'with b', 't 0.5']);
  });
});
