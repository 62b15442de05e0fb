// "Load as 4-bit" (io/quantize-model.ts): llama-quantize's per-tensor plan for q4_0 / q4_k_m / q8_0 (which tensors
// stay at higher precision and why, and the bytes), and a quantised model written tensor by tensor whose blocks are
// the project's ggml-faithful quantiser's output for the source's f32 rows (quants.test.ts checks those against
// ggml) and equal, row for row, to the tensors of a GGUF export at the same preset.
import { afterAll, describe, expect, it } from 'vitest';
import { join } from 'node:path';
import { readFileSync } from 'node:fs';
import type { ByteSink } from '../../src/io/bytes.ts';
import { parseModelConfig } from '../../src/io/config.ts';
import { memoryModelFiles } from '../../src/io/model-files.ts';
import { dirModelFiles } from '../../src/io/node/dir-model-files.ts';
import { exportGgufFile } from '../../src/io/node/gguf.ts';
import { fileSource } from '../../src/io/node/fs.ts';
import { readGguf } from '../../src/io/gguf/reader.ts';
import { hfToGgufName, permuteRows, rotaryHeads } from '../../src/io/gguf/names.ts';
import { ggmlTypeByName } from '../../src/io/gguf/format.ts';
import { f32ToGgml } from '../../src/io/gguf/quant.ts';
import { ggmlTypesOf, openCheckpoint } from '../../src/io/safetensors/checkpoint.ts';
import { quantizeModel, quantizePlan, type QuantizePreset } from '../../src/io/quantize-model.ts';
import { CancelledError } from '../../src/common/errors.ts';
import { removeTemps, tempDir, wideFolder } from './gguf/helpers.ts';

afterAll(removeTemps);

const llama = (over: Record<string, unknown>) =>
  parseModelConfig({
    architectures: ['LlamaForCausalLM'],
    model_type: 'llama',
    hidden_size: 256,
    intermediate_size: 512,
    num_attention_heads: 4,
    num_key_value_heads: 2,
    num_hidden_layers: 2,
    vocab_size: 384,
    max_position_embeddings: 128,
    rms_norm_eps: 1e-5,
    tie_word_embeddings: false,
    ...over,
  });

function storageOf(preset: QuantizePreset, over: Record<string, unknown>, dtype: 'F32' | 'BF16' = 'F32'): Record<string, string> {
  return Object.fromEntries(quantizePlan(llama(over), preset, () => dtype).map((t) => [t.name, t.storage]));
}

describe('per-tensor plan (llama-quantize rules)', () => {
  it('q4_k_m: Q4_K, Q6_K lm_head and more-bits attn_v/ffn_down, norms kept', () => {
    const s = storageOf('q4_k_m', {});
    expect(s['model.embed_tokens.weight']).toBe('Q4_K');
    expect(s['lm_head.weight']).toBe('Q6_K');
    // use_more_bits(i, 2): layer 1 only (i ≥ 7·2/8)
    expect([s['model.layers.0.self_attn.v_proj.weight'], s['model.layers.0.mlp.down_proj.weight']]).toEqual(['Q4_K', 'Q4_K']);
    expect([s['model.layers.1.self_attn.v_proj.weight'], s['model.layers.1.mlp.down_proj.weight']]).toEqual(['Q6_K', 'Q6_K']);
    expect(s['model.layers.1.self_attn.q_proj.weight']).toBe('Q4_K');
    expect([s['model.norm.weight'], s['model.layers.0.input_layernorm.weight']]).toEqual(['F32', 'F32']);
    const plan = quantizePlan(llama({}), 'q4_k_m', () => 'F32');
    const reasons = Object.fromEntries(plan.filter((t) => t.reason).map((t) => [t.name, t.reason]));
    expect(reasons['lm_head.weight']).toBe('output (lm_head or tied embedding)');
    expect(reasons['model.layers.1.mlp.down_proj.weight']).toBe('more bits (attn_v / ffn_down layer)');
    expect(reasons['model.norm.weight']).toBe('norm or bias (never quantised)');
    expect(reasons['model.embed_tokens.weight']).toBeUndefined();
    // bytes: Q4_K 144 per 256, Q6_K 210 per 256
    const byName = new Map(plan.map((t) => [t.name, t]));
    expect(byName.get('model.layers.0.self_attn.q_proj.weight')!.bytes).toBe((256 * 256 * 144) / 256);
    expect(byName.get('lm_head.weight')!.bytes).toBe((384 * 256 * 210) / 256);
    expect(byName.get('model.norm.weight')!.bytes).toBe(256 * 4);
  });

  it('q4_0 and q8_0: the main type everywhere but lm_head (Q6_K under q4_0), norms kept in their dtype', () => {
    const a = storageOf('q4_0', {}, 'BF16');
    expect(a['model.embed_tokens.weight']).toBe('Q4_0');
    expect(a['lm_head.weight']).toBe('Q6_K');
    expect(a['model.layers.1.mlp.down_proj.weight']).toBe('Q4_0');
    expect(a['model.norm.weight']).toBe('BF16');
    const b = storageOf('q8_0', {});
    expect(new Set(Object.entries(b).filter(([n]) => !n.endsWith('norm.weight')).map(([, t]) => t))).toEqual(new Set(['Q8_0']));
    const plan = quantizePlan(llama({}), 'q8_0', () => 'F32');
    expect(plan.find((t) => t.name === 'lm_head.weight')!.bytes).toBe((384 * 256 * 34) / 32);
  });

  it('tied embedding takes the output rule; rows that are not whole blocks fall back', () => {
    // tiny-llama's shapes: hidden 64 (not whole 256-blocks), MLP 96 (not whole 64… 32-blocks: 96 = 3 × 32 is)
    const s = storageOf('q4_k_m', { hidden_size: 64, intermediate_size: 96, tie_word_embeddings: true });
    expect(s['model.embed_tokens.weight']).toBe('Q8_0'); // output rule: rows not whole Q4_K blocks → Q8_0
    expect(s['lm_head.weight']).toBeUndefined();
    expect(s['model.layers.0.self_attn.q_proj.weight']).toBe('Q5_0'); // Q4_K → Q5_0 fallback
    expect(s['model.layers.1.mlp.down_proj.weight']).toBe('Q8_0'); // Q6_K (more bits) → Q8_0 fallback
    const t = storageOf('q8_0', { hidden_size: 64, intermediate_size: 172, tie_word_embeddings: true });
    expect(t['model.layers.0.mlp.down_proj.weight']).toBe('F16'); // 172 not whole 32-blocks: F16, from F32
    expect(storageOf('q8_0', { hidden_size: 64, intermediate_size: 172 }, 'BF16')['model.layers.0.mlp.down_proj.weight']).toBe('BF16');
  });

  it('every fixture family: vectors (norms, q/k norms, biases) kept, every matrix quantised or a named fallback', () => {
    for (const repo of ['tiny-llama', 'tiny-llama-untied', 'tiny-qwen2', 'tiny-qwen3', 'tiny-smollm3', 'tiny-gemma3']) {
      const cfg = parseModelConfig(JSON.parse(readFileSync(`public/hub/alloy-fixtures/${repo}/resolve/main/config.json`, 'utf8')));
      for (const preset of ['q4_k_m', 'q4_0', 'q8_0'] as const) {
        for (const t of quantizePlan(cfg, preset, () => 'F32')) {
          if (t.shape.length === 1) expect([repo, t.name, t.storage, t.reason]).toEqual([repo, t.name, 'F32', 'norm or bias (never quantised)']);
          else expect([repo, t.name, /^Q\d_(0|K)$|^F16$/.test(t.storage)]).toEqual([repo, t.name, true]);
        }
      }
    }
  });
});

async function quantizeToMemory(dir: string, preset: QuantizePreset, signal?: AbortSignal) {
  const out: Record<string, Uint8Array> = {};
  const sinkFor = async (name: string): Promise<ByteSink> => {
    const parts: Uint8Array[] = [];
    return {
      async write(b) {
        parts.push(b.slice());
      },
      async close() {
        const n = parts.reduce((a, p) => a + p.byteLength, 0);
        const all = new Uint8Array(n);
        let at = 0;
        for (const p of parts) {
          all.set(p, at);
          at += p.byteLength;
        }
        out[name] = all;
      },
    };
  };
  const summary = await quantizeModel(dirModelFiles(dir, 'wide'), sinkFor, { preset, ...(signal ? { signal } : {}) });
  return { out, summary };
}

describe('quantizeModel', { timeout: 60_000 }, () => {
  for (const preset of ['q4_k_m', 'q4_0', 'q8_0'] as const) {
    it(`${preset}: blocks = the quantiser on the source rows = the GGUF export's tensors; summary bytes`, async () => {
      const dir = await wideFolder();
      const { out, summary } = await quantizeToMemory(dir, preset);
      const src = await openCheckpoint(dirModelFiles(dir));
      const q = await openCheckpoint(memoryModelFiles(out, 'quantised'));
      const cfg = parseModelConfig(JSON.parse(new TextDecoder().decode(out['config.json'])));
      const plan = quantizePlan(cfg, preset, () => 'F32');
      const types = ggmlTypesOf(q);
      expect(types).toEqual(Object.fromEntries(plan.filter((t) => !t.storage.startsWith('F')).map((t) => [t.name, t.storage])));
      // tokenizer and config copied as they were
      expect(Object.keys(out).sort()).toEqual(dirModelFiles(dir).files.map((f) => f.path).sort());

      const gguf = join(await tempDir(), 'm.gguf');
      await exportGgufFile(dir, gguf, { type: preset });
      const file = await readGguf(fileSource(gguf));
      for (const t of plan) {
        const stored = types[t.name];
        if (stored === undefined) {
          expect(await q.readRaw(t.name)).toEqual(await src.readRaw(t.name));
          continue;
        }
        const blocks = await q.readBlocks!(t.name);
        expect(blocks).toEqual(f32ToGgml(ggmlTypeByName(stored), await src.readF32(t.name)));
        const g = file.tensors.find((x) => x.name === hfToGgufName(t.name))!;
        expect(g.type.name).toBe(stored);
        const heads = rotaryHeads(t.name, cfg);
        const rowBytes = blocks.byteLength / t.shape[0]!;
        const want = heads === null ? blocks : permuteRows(blocks, rowBytes, heads, 'to-gguf');
        expect(await file.readRaw(g)).toEqual(want);
      }
      const written = out['model.safetensors']!.byteLength;
      expect(summary.weightBytes).toBe(written);
      const tensorBytes = Object.values(summary.types).reduce((a, e) => a + e.bytes, 0);
      expect(written - tensorBytes).toBeLessThan(8192); // header only
      const ratio = written / summary.sourceWeightBytes;
      console.log(`${preset}: ${written} B vs ${summary.sourceWeightBytes} B f32 (${(ratio * 100).toFixed(1)}%); ${JSON.stringify(summary.types)}; ${summary.notes.join('; ')}`);
      expect(ratio).toBeLessThan(preset === 'q8_0' ? 0.28 : 0.17);
    });
  }

  it('refuses a model that is already quantised, and stops when cancelled', async () => {
    const dir = await wideFolder();
    const { out } = await quantizeToMemory(dir, 'q8_0');
    const sink = async (): Promise<ByteSink> => ({ write: async () => {}, close: async () => {} });
    await expect(quantizeModel(memoryModelFiles(out, 'wide-q8'), sink, { preset: 'q4_0' })).rejects.toThrow(/"model\.embed_tokens\.weight" is already Q8_0 blocks/);
    const ac = new AbortController();
    ac.abort();
    await expect(quantizeToMemory(dir, 'q4_0', ac.signal)).rejects.toBeInstanceOf(CancelledError);
  });
});
