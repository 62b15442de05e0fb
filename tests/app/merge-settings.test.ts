// The Merge panel's settings ↔ mergekit config: the YAML the panel shows parses back (parseMergeYaml) to the same
// config and the same settings, for every method it offers; the t-curve the editor draws is, layer by layer, the t
// the engine's planner gives each tensor; anchors add/remove without losing the curve's ends.
import { describe, expect, it } from 'vitest';
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { OWNER, REVISION } from '../../scripts/fixtures/index.ts';
import { memoryModelFiles, type ModelFiles } from '../../src/io/model-files.ts';
import { openCheckpoint, writeCheckpoint } from '../../src/io/safetensors/checkpoint.ts';
import type { ByteSink } from '../../src/io/bytes.ts';
import { parseMergeYaml } from '../../src/engine/merge/config.ts';
import { planMerge } from '../../src/engine/merge/plan.ts';
import { openParents } from '../../src/engine/merge/run.ts';
import {
  PANEL_METHODS,
  defaultSettings,
  fromMergeConfig,
  parseTList,
  resampleAnchors,
  settingsToYaml,
  toMergeConfig,
  tPerLayer,
  type MergeSettings,
} from '../../src/app/lib/merge-settings.ts';

const A = 'alloy-fixtures/tiny-llama';
const B = 'alloy-fixtures/tiny-llama-bf16';

function slerpSettings(): MergeSettings {
  const s = defaultSettings('slerp', A, B);
  s.t.curves.self_attn.anchors = [0, 0.25, 0.9];
  s.t.curves.mlp.anchors = [1, 0.2, 0.6, 0.1];
  s.t.fallback = 0.35;
  s.dtype = 'bfloat16';
  return s;
}

describe('merge settings ↔ mergekit YAML', () => {
  it('SLERP with two curves and a fallback: YAML → parseMergeYaml gives the same config and the same settings', () => {
    const s = slerpSettings();
    const yaml = settingsToYaml(s);
    expect(yaml).toContain('merge_method: slerp');
    expect(yaml).toContain('filter: self_attn');
    const { config, warnings } = parseMergeYaml(yaml);
    expect(warnings).toEqual([]);
    expect(config).toEqual(toMergeConfig(s));
    expect(fromMergeConfig(config)).toEqual(s);
  });

  it('every offered method round-trips with its parameters', () => {
    for (const method of PANEL_METHODS) {
      const s = defaultSettings(method, A, B);
      if (method !== 'slerp') {
        s.modelParams[B]!.weight = 0.7;
        if ('density' in s.modelParams[B]!) s.modelParams[B]!.density = 0.4;
        if ('lambda' in s.params) s.params.lambda = 0.8;
      }
      const { config } = parseMergeYaml(settingsToYaml(s));
      expect(config).toEqual(toMergeConfig(s));
      expect(fromMergeConfig(config), method).toEqual(s);
    }
  });

  it('a scalar t (no curves) is written as a scalar', () => {
    const s = slerpSettings();
    s.t.curves.self_attn.enabled = false;
    s.t.curves.mlp.enabled = false;
    expect(settingsToYaml(s)).toMatch(/parameters:\n {2}t: 0.35\n/);
    const back = fromMergeConfig(parseMergeYaml(settingsToYaml(s)).config)!;
    expect(back.t.fallback).toBe(0.35);
    expect(back.t.curves.self_attn.enabled).toBe(false);
  });

  it('configs the panel cannot show come back as null (merged as pasted YAML)', () => {
    const slices = `slices:\n  - sources:\n      - model: a\n        layer_range: [0, 2]\n      - model: b\n        layer_range: [0, 2]\nmerge_method: slerp\nbase_model: a\nparameters:\n  t: 0.5\n`;
    expect(fromMergeConfig(parseMergeYaml(slices).config)).toBeNull();
    const listT = `models:\n  - model: a\n  - model: b\nmerge_method: slerp\nbase_model: a\nparameters:\n  t: [0, 1]\n`;
    expect(fromMergeConfig(parseMergeYaml(listT).config)).toBeNull();
    const otherFilter = `models:\n  - model: a\n  - model: b\nmerge_method: slerp\nbase_model: a\nparameters:\n  t:\n    - filter: q_proj\n      value: 0.2\n    - value: 0.5\n`;
    expect(fromMergeConfig(parseMergeYaml(otherFilter).config)).toBeNull();
  });

  it('resampling keeps the ends and the shape of a straight curve', () => {
    expect(resampleAnchors([0, 1], 5)).toEqual([0, 0.25, 0.5, 0.75, 1]);
    expect(resampleAnchors([0, 0.25, 0.5, 0.75, 1], 2)).toEqual([0, 1]);
    expect(parseTList('0, 0.5 1')).toEqual([0, 0.5, 1]);
    expect(parseTList('0, 2')).toBeNull();
  });
});

function readDir(dir: string): Record<string, Uint8Array> {
  return Object.fromEntries(readdirSync(dir).filter((f) => !f.startsWith('.')).map((f) => [f, new Uint8Array(readFileSync(join(dir, f)))]));
}

/** tiny-llama grown to `layers` decoder layers (layer i copies layer i mod 2): only shapes matter for planning. */
async function deepModel(layers: number): Promise<ModelFiles> {
  const rec = readDir(join('public/hub', OWNER, 'tiny-llama', 'resolve', REVISION));
  const ck = await openCheckpoint(memoryModelFiles(rec, 'tiny'));
  const tensors = [];
  for (const name of ck.names()) {
    const m = /^model\.layers\.(\d+)\.(.+)$/.exec(name);
    const targets = m ? Array.from({ length: layers }, (_, i) => i).filter((i) => i % 2 === Number(m[1])).map((i) => `model.layers.${i}.${m[2]}`) : [name];
    for (const t of targets) tensors.push({ name: t, dtype: ck.info(name).dtype as 'F32', shape: ck.info(name).shape, data: await ck.readRaw(name) });
  }
  const parts: Uint8Array[] = [];
  const sink: ByteSink = { write: async (c) => void parts.push(c.slice()), close: async () => {} };
  await writeCheckpoint(tensors, { openSink: async () => sink });
  const total = parts.reduce((n, p) => n + p.byteLength, 0);
  const bytes = new Uint8Array(total);
  let o = 0;
  for (const p of parts) (bytes.set(p, o), (o += p.byteLength));
  const cfg = JSON.parse(new TextDecoder().decode(rec['config.json'])) as Record<string, unknown>;
  return memoryModelFiles({ ...rec, 'config.json': new TextEncoder().encode(JSON.stringify({ ...cfg, num_hidden_layers: layers })), 'model.safetensors': bytes }, 'deep');
}

describe('the t-curve shown is the t the merge uses', () => {
  it('per layer and per kind, equal to planMerge on a 7-layer model', async () => {
    const model = await deepModel(7);
    const s = slerpSettings();
    const config = toMergeConfig(s);
    const parents = await openParents(config, async () => model);
    const plan = planMerge(config, parents);
    const shown = { self_attn: tPerLayer(s, 'self_attn', 7), mlp: tPerLayer(s, 'mlp', 7), other: tPerLayer(s, 'other', 7) };
    let checked = 0;
    for (const t of plan.tensors) {
      const m = /^model\.layers\.(\d+)\./.exec(t.name);
      if (!m) {
        expect(t.params.t, t.name).toBe(s.t.fallback); // embeddings, final norm
        continue;
      }
      const kind = t.name.includes('self_attn') ? 'self_attn' : t.name.includes('mlp') ? 'mlp' : 'other';
      expect(t.params.t, t.name).toBe(shown[kind][Number(m[1])]);
      checked++;
    }
    expect(checked).toBeGreaterThan(7 * 5);
    // the ends are the first and last anchors; in between it interpolates
    expect(shown.self_attn[0]).toBe(0);
    expect(shown.self_attn[6]).toBeCloseTo(0.9, 12);
    expect(shown.mlp[3]).toBeCloseTo(0.2 + 0.5 * (0.6 - 0.2), 12);
  });
});
