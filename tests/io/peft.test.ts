import { describe, expect, it } from 'vitest';
import { loraScale, parseLoraConfig, readPeftAdapter } from '../../src/io/peft.ts';
import { memoryModelFiles } from '../../src/io/model-files.ts';
import { BlobSink } from '../../src/io/bytes.ts';
import { writeSafetensors } from '../../src/io/safetensors/writer.ts';

describe('PEFT adapter_config.json', () => {
  it('reads r, alpha, rsLoRA and targets, with PEFT defaults, ignoring unknown keys', () => {
    const c = parseLoraConfig({ peft_type: 'LORA', r: 16, lora_alpha: 32, target_modules: ['q_proj', 'v_proj'], peft_version: '0.17', lora_bias: false });
    expect(c).toEqual({ r: 16, loraAlpha: 32, useRslora: false, targetModules: ['q_proj', 'v_proj'], loraDropout: 0 });
    expect(parseLoraConfig({ lora_dropout: 0.05 }).loraDropout).toBe(0.05);
    expect(loraScale(c)).toBe(2);
    expect(loraScale({ ...c, useRslora: true })).toBeCloseTo(32 / 4, 12);
    expect(parseLoraConfig({})).toMatchObject({ r: 8, loraAlpha: 8, targetModules: null });
  });

  it('refuses what it cannot apply, naming the field', () => {
    expect(() => parseLoraConfig({ peft_type: 'IA3' })).toThrow(/peft_type "IA3" is not supported/);
    expect(() => parseLoraConfig({ use_dora: true })).toThrow(/DoRA/);
    expect(() => parseLoraConfig({ fan_in_fan_out: true })).toThrow(/fan_in_fan_out/);
    expect(() => parseLoraConfig({ r: 0 })).toThrow(/"r" must be a positive integer/);
    expect(() => parseLoraConfig({ rank_pattern: { q_proj: 4 } })).toThrow(/"rank_pattern" \(per-module ranks or alphas\) is not supported/);
    expect(() => parseLoraConfig({ alpha_pattern: { 'model.layers.0.self_attn.q_proj': 32 } })).toThrow(/"alpha_pattern"/);
    expect(parseLoraConfig({ rank_pattern: {}, alpha_pattern: {} }).r).toBe(8); // what PEFT writes when unused
  });
});

describe('adapter_model.safetensors', () => {
  async function adapterFiles(tensors: Array<{ name: string; shape: number[] }>, extra: Record<string, Uint8Array> = {}) {
    const sink = new BlobSink();
    await writeSafetensors(
      sink,
      tensors.map((t) => ({ ...t, dtype: 'F32' as const, data: new Uint8Array(4 * t.shape.reduce((a, b) => a * b, 1)) })),
    );
    return memoryModelFiles(
      {
        'adapter_config.json': new TextEncoder().encode('{"peft_type":"LORA","r":2,"lora_alpha":4}'),
        'adapter_model.safetensors': new Uint8Array(await sink.blob().arrayBuffer()),
        ...extra,
      },
      'adapter',
    );
  }

  it('pairs lora_A/lora_B by module and names the base weight they adapt', async () => {
    const m = await adapterFiles([
      { name: 'base_model.model.model.layers.0.self_attn.q_proj.lora_A.weight', shape: [2, 8] },
      { name: 'base_model.model.model.layers.0.self_attn.q_proj.lora_B.weight', shape: [8, 2] },
    ]);
    const a = await readPeftAdapter(m);
    expect(a.pairs).toEqual([
      {
        target: 'model.layers.0.self_attn.q_proj.weight',
        a: 'base_model.model.model.layers.0.self_attn.q_proj.lora_A.weight',
        b: 'base_model.model.model.layers.0.self_attn.q_proj.lora_B.weight',
      },
    ]);
  });

  it('refuses a half pair and mismatched ranks, naming the tensor', async () => {
    const half = await adapterFiles([{ name: 'base_model.model.model.layers.0.mlp.up_proj.lora_A.weight', shape: [2, 8] }]);
    await expect(readPeftAdapter(half)).rejects.toThrow(/mlp\.up_proj has lora_A but no lora_B/);
    const bad = await adapterFiles([
      { name: 'base_model.model.x.lora_A.weight', shape: [2, 8] },
      { name: 'base_model.model.x.lora_B.weight', shape: [8, 3] },
    ]);
    await expect(readPeftAdapter(bad)).rejects.toThrow(/expected \[r, in\] and \[out, r\]/);
  });

  it('explains a pickle-only adapter', async () => {
    const m = memoryModelFiles({ 'adapter_config.json': new TextEncoder().encode('{}'), 'adapter_model.bin': new Uint8Array(4) }, 'adapter');
    await expect(readPeftAdapter(m)).rejects.toThrow(/adapter_model\.bin is a pickle file/);
  });
});
