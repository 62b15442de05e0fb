// mergekit YAML in and out: the canonical SLERP config, the models form, round trips, and errors with lines.
import { describe, expect, it } from 'vitest';
import { parseMergeYaml, parseModelRef, toMergeYaml } from '../../../src/engine/merge/config.ts';

const GRADIENT_SLERP = `slices:
  - sources:
      - model: psmathur/orca_mini_v3_13b
        layer_range: [0, 40]
      - model: garage-bAInd/Platypus2-13B
        layer_range: [0, 40]
merge_method: slerp
base_model: psmathur/orca_mini_v3_13b
parameters:
  t:
    - filter: self_attn
      value: [0, 0.5, 0.3, 0.7, 1]
    - filter: mlp
      value: [1, 0.5, 0.7, 0.3, 0]
    - value: 0.5 # fallback for rest of tensors
dtype: float16
`;

const TIES = `models:
  - model: base
  - model: a+adapters/a
    parameters:
      density: [1, 0.7, 0.1]
      weight: 1.0
  - model: b
    parameters:
      density: 0.5
      weight: [0, 0.3, 0.7, 1]
merge_method: ties
base_model: base
parameters:
  normalize: true
  int8_mask: true
dtype: bfloat16
out_dtype: float16
tokenizer_source: base
chat_template: auto
`;

describe('parseMergeYaml', () => {
  it('reads the gradient SLERP example', () => {
    const { config, warnings } = parseMergeYaml(GRADIENT_SLERP);
    expect(warnings).toEqual([]);
    expect(config).toEqual({
      mergeMethod: 'slerp',
      slices: [
        {
          sources: [
            { model: 'psmathur/orca_mini_v3_13b', layerRange: [0, 40] },
            { model: 'garage-bAInd/Platypus2-13B', layerRange: [0, 40] },
          ],
        },
      ],
      baseModel: 'psmathur/orca_mini_v3_13b',
      parameters: {
        t: [
          { filter: 'self_attn', value: [0, 0.5, 0.3, 0.7, 1] },
          { filter: 'mlp', value: [1, 0.5, 0.7, 0.3, 0] },
          { value: 0.5 },
        ],
      },
      dtype: 'float16',
    });
  });

  it('round-trips import → export → import for both forms', () => {
    for (const text of [GRADIENT_SLERP, TIES]) {
      const first = parseMergeYaml(text).config;
      const yaml = toMergeYaml(first);
      expect(parseMergeYaml(yaml).config).toEqual(first);
      expect(toMergeYaml(parseMergeYaml(yaml).config)).toBe(yaml); // export is stable
    }
  });

  it('exports in mergekit\'s shape: anchor lists in flow style, snake_case keys', () => {
    const yaml = toMergeYaml(parseMergeYaml(GRADIENT_SLERP).config);
    expect(yaml).toContain('layer_range: [ 0, 40 ]');
    expect(yaml).toContain('value: [ 0, 0.5, 0.3, 0.7, 1 ]');
    expect(yaml).toMatch(/^slices:\n {2}- sources:\n {6}- model: psmathur\/orca_mini_v3_13b/);
    const ties = toMergeYaml(parseMergeYaml(TIES).config);
    expect(ties).toContain('out_dtype: float16');
    expect(ties).toContain('tokenizer_source: base');
  });

  it('warns about keys mergekit would ignore', () => {
    const { warnings } = parseMergeYaml(GRADIENT_SLERP + 'output_dir: x\n');
    expect(warnings).toEqual([expect.stringMatching(/unknown key "output_dir" ignored/)]);
  });

  it('refuses invalid configs naming the field and the line', () => {
    const cases: Array<[string, RegExp]> = [
      [GRADIENT_SLERP.replace('merge_method: slerp\n', ''), /^config\.yml:1: merge_method is missing/],
      [GRADIENT_SLERP.replace('layer_range: [0, 40]\n      - model: garage', 'layer_range: [5, 2]\n      - model: garage'), /^config\.yml:4: slices\[0\]\.sources\[0\]\.layer_range \[5, 2\] is empty/],
      [GRADIENT_SLERP.replace('[0, 40]\nmerge_method', '[0, 30]\nmerge_method'), /^config\.yml:3: slices\[0\]\.sources must all have the same number of layers, got 40, 30/],
      [GRADIENT_SLERP.replace('dtype: float16', 'dtype: float8'), /^config\.yml:16: dtype "float8" is not one of float32, float16, bfloat16/],
      [GRADIENT_SLERP.replace('    - value: 0.5', '    - value: {a: 1}'), /^config\.yml:15: parameters\.t\[2\]\.value must be a number, boolean or string/],
      [GRADIENT_SLERP + 'models:\n  - model: x\n', /exactly one of 'models' or 'slices'/],
      ['models: [{model: a}]\nmerge_method: slerp\ntokenizer_source: base\ntokenizer: {source: union}\n', /^config\.yml:4: tokenizer and tokenizer_source cannot both be given/],
      ['merge_method: [', /^config\.yml:1: not valid YAML/],
      ['modules: {}\nmerge_method: linear\n', /modules is not supported/],
    ];
    for (const [text, re] of cases) expect(() => parseMergeYaml(text)).toThrow(re);
  });
});

describe('parseModelRef', () => {
  it('splits path+lora_path', () => {
    expect(parseModelRef('models/a')).toEqual({ model: 'models/a' });
    expect(parseModelRef('models/a+adapters/x')).toEqual({ model: 'models/a', lora: 'adapters/x' });
    expect(() => parseModelRef('a+b+c')).toThrow(/not "path" or "path\+lora_path"/);
  });
});
