// mergekit's parameter resolution (REFERENCE-SEMANTICS §1.2): the 30-layer worked table, steps, filters, scopes.
import { describe, expect, it } from 'vitest';
import { evaluateSetting, interpolate, layerFraction, resolveParameter, type ParameterSetting } from '../../../src/engine/merge/params.ts';

const CANONICAL: ParameterSetting = [
  { filter: 'self_attn', value: [0, 0.5, 0.3, 0.7, 1] },
  { filter: 'mlp', value: [1, 0.5, 0.7, 0.3, 0] },
  { value: 0.5 },
];

// §1.2, exactly as mergekit computes it for SmolLM2-135M (30 layers, one slice).
const TABLE = `
 0: 0.000/1.000   1: .0690/.9310   2: .1379/.8621   3: .2069/.7931   4: .2759/.7241
 5: .3448/.6552   6: .4138/.5862   7: .4828/.5172   8: .4793/.5207   9: .4517/.5483
10: .4241/.5759  11: .3966/.6034  12: .3690/.6310  13: .3414/.6586  14: .3138/.6862
15: .3276/.6724  16: .3828/.6172  17: .4379/.5621  18: .4931/.5069  19: .5483/.4517
20: .6034/.3966  21: .6586/.3414  22: .7103/.2897  23: .7517/.2483  24: .7931/.2069
25: .8345/.1655  26: .8759/.1241  27: .9172/.0828  28: .9586/.0414  29: 1.000/0.000`;

describe('evaluateSetting', () => {
  it('reproduces the 30-layer worked table to 4 decimals', () => {
    const rows = [...TABLE.matchAll(/(\d+): ([\d.]+)\/([\d.]+)/g)].map((m) => [Number(m[1]), Number(m[2]), Number(m[3])] as const);
    expect(rows).toHaveLength(30);
    for (const [layer, attn, mlp] of rows) {
      const p = layerFraction(layer, 30);
      const a = evaluateSetting(`model.layers.${layer}.self_attn.q_proj.weight`, CANONICAL, p) as number;
      const m = evaluateSetting(`model.layers.${layer}.mlp.down_proj.weight`, CANONICAL, p) as number;
      expect(a.toFixed(4)).toBe(attn.toFixed(4));
      expect(m.toFixed(4)).toBe(mlp.toFixed(4));
      // layernorms match neither filter and take the fallback
      expect(evaluateSetting(`model.layers.${layer}.input_layernorm.weight`, CANONICAL, p)).toBe(0.5);
    }
  });

  it('interpolates anchors piecewise-linearly and steps through non-numeric lists', () => {
    expect(interpolate([0, 1], 0.25)).toBe(0.25);
    expect(interpolate([2], 0.7)).toBe(2);
    expect(interpolate([0, 10, 20], 1)).toBe(20);
    expect(evaluateSetting('x', ['a', 'b', 'c'], 0.74)).toBe('b'); // a[⌊0.74·2⌋]
    expect(evaluateSetting('x', ['a', 'b', 'c'], 1)).toBe('c');
    expect(evaluateSetting('x', [true, false], 0.5)).toBe(0.5); // Python bools are ints: interpolated, as mergekit does
    expect(evaluateSetting('x', 0.3, 0.9)).toBe(0.3);
  });

  it('takes the first matching filter ("*" and a missing filter match everything) or nothing', () => {
    const s: ParameterSetting = [{ filter: 'q_proj', value: 1 }, { filter: 'self_attn', value: 2 }, { filter: '*', value: 3 }, { value: 4 }];
    expect(evaluateSetting('model.layers.0.self_attn.q_proj.weight', s, 0)).toBe(1);
    expect(evaluateSetting('model.layers.0.self_attn.k_proj.weight', s, 0)).toBe(2);
    expect(evaluateSetting('model.norm.weight', s, 0)).toBe(3);
    expect(evaluateSetting('model.norm.weight', [{ filter: 'mlp', value: 1 }], 0)).toBeUndefined();
    expect(evaluateSetting('model.layers.3.mlp.up_proj.weight', { filter: 'mlp', value: [0, 1] }, 0.5)).toBe(0.5);
  });

  it('restarts the layer fraction per slice; a one-layer slice sits at 1', () => {
    expect([0, 1, 2].map((i) => layerFraction(i, 3))).toEqual([0, 0.5, 1]);
    expect(layerFraction(0, 1)).toBe(1);
  });
});

describe('resolveParameter scopes', () => {
  const scopes = {
    source: { weight: 0.9 },
    slice: { weight: [{ filter: 'mlp', value: 0.7 }], t: 0.2 },
    top: { weight: 0.1, t: [0, 1], density: 0.5 },
  };
  it('source > slice > top for per-model parameters; a non-matching filter falls through', () => {
    expect(resolveParameter('weight', 'model.layers.0.mlp.up_proj.weight', 0, scopes, true)).toBe(0.9);
    expect(resolveParameter('weight', 'model.layers.0.mlp.up_proj.weight', 0, { ...scopes, source: {} }, true)).toBe(0.7);
    expect(resolveParameter('weight', 'model.norm.weight', 0, { ...scopes, source: {} }, true)).toBe(0.1);
    expect(resolveParameter('density', 'x', 0, scopes, true)).toBe(0.5);
    expect(resolveParameter('gamma', 'x', 0, scopes, true)).toBeUndefined();
  });
  it('global parameters never read source scopes', () => {
    expect(resolveParameter('weight', 'model.norm.weight', 0, scopes, false)).toBe(0.1);
    expect(resolveParameter('t', 'x', 0.5, scopes, false)).toBe(0.2);
    expect(resolveParameter('t', 'x', 0.5, { top: scopes.top }, false)).toBe(0.5);
  });
});
