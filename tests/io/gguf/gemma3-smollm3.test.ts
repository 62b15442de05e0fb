// Gemma 3 and SmolLM3 → GGUF (llama.cpp's "gemma3" and "smollm3") → Hugging Face folder. The tiny fixtures' layer
// patterns are not llama.cpp's (it fixes Gemma 3's to every 6th layer global and SmolLM3's NoPE layers to every
// 4th; refusals.test.ts checks they are refused), so these tests use fixture-style variants whose patterns are:
// 6 Gemma 3 layers (5 sliding, 1 global) with query_pre_attn_scalar = head_dim, and 4 SmolLM3 layers (layer 3 NoPE).
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { parseModelConfig } from '../../../src/io/config.ts';
import { dirModelFiles } from '../../../src/io/node/dir-model-files.ts';
import { fileSource } from '../../../src/io/node/fs.ts';
import { exportGgufFile, importGgufFile } from '../../../src/io/node/gguf.ts';
import { GgufMeta, readGguf } from '../../../src/io/gguf/reader.ts';
import { permuteRows } from '../../../src/io/gguf/names.ts';
import { loadTokenizer } from '../../../src/io/tokenizer.ts';
import { ggufPySkip, runPy } from './gguf-py.ts';
import { checkpointOf, gemma3LlamaCppFolder, removeTemps, smollm3LlamaCppFolder, storiesFolder, tempDir } from './helpers.ts';

afterAll(removeTemps);

const json = (dir: string, name: string) => JSON.parse(readFileSync(join(dir, name), 'utf8')) as Record<string, unknown>;

const f32 = (b: Uint8Array) => new Float32Array(b.slice().buffer);

/**
 * The config and tokenizer come back; everything but dtype, eps, model type, pad id (GGUF keeps the pad in the
 * tokenizer) and the eos ids after the first (GGUF has one tokenizer.ggml.eos_token_id: Gemma's <end_of_turn>, the
 * second in its config, is not carried).
 */
async function expectSameConfigAndTokenizer(src: string, back: string, architecture: string): Promise<void> {
  const c0 = parseModelConfig(json(src, 'config.json'));
  const c1 = parseModelConfig(json(back, 'config.json'));
  expect(c1.architecture).toBe(architecture);
  const strip = { torchDtype: null, rmsNormEps: 0, modelType: '', padTokenId: null };
  expect({ ...c1, ...strip, eosTokenIds: c1.eosTokenIds.slice(0, 1) }).toEqual({ ...c0, ...strip, eosTokenIds: c0.eosTokenIds.slice(0, 1) });
  expect(Math.fround(c1.rmsNormEps)).toBe(Math.fround(c0.rmsNormEps));
  const tok0 = await loadTokenizer(dirModelFiles(src));
  const tok1 = await loadTokenizer(dirModelFiles(back));
  const text = 'Silk is spun by moths, 123 times.';
  expect(tok1.encode(text, { addSpecialTokens: false })).toEqual(tok0.encode(text, { addSpecialTokens: false }));
  // the family's BOS handling (Gemma adds <bos> to plain text, SmolLM3 does not) and its chat template travel too
  expect(tok1.encode(text)).toEqual(tok0.encode(text));
  const chat = [{ role: 'user', content: 'Hi' }];
  expect(tok1.applyChatTemplate(chat, { addGenerationPrompt: true })).toBe(tok0.applyChatTemplate(chat, { addGenerationPrompt: true }));
}

describe('GGUF export + import: Gemma 3 (architecture "gemma3")', () => {
  it('writes llama.cpp\'s gemma3 names, keys and (1 + w) norms, and imports back to the same model', async () => {
    const src = await gemma3LlamaCppFolder();
    const dir = await tempDir();
    const gguf = join(dir, 'gemma3.gguf');
    const exp = await exportGgufFile(src, gguf, { type: 'f32' });
    expect(exp.architecture).toBe('gemma3');
    const names = exp.tensors.map((t) => t.name);
    expect(names.slice(0, 14)).toEqual([
      'token_embd.weight',
      'blk.0.attn_norm.weight',
      'blk.0.attn_q.weight',
      'blk.0.attn_k.weight',
      'blk.0.attn_v.weight',
      'blk.0.attn_output.weight',
      'blk.0.attn_q_norm.weight',
      'blk.0.attn_k_norm.weight',
      'blk.0.post_attention_norm.weight',
      'blk.0.ffn_norm.weight',
      'blk.0.ffn_gate.weight',
      'blk.0.ffn_up.weight',
      'blk.0.ffn_down.weight',
      'blk.0.post_ffw_norm.weight',
    ]);
    expect(names).not.toContain('output.weight'); // tied: llama.cpp reuses token_embd
    expect(names.at(-1)).toBe('output_norm.weight');

    const file = await readGguf(fileSource(gguf));
    const meta = new GgufMeta(file);
    expect(meta.string('general.architecture')).toBe('gemma3');
    expect(exp.metadataKeys.filter((k) => k.startsWith('gemma3.'))).toEqual([
      'gemma3.context_length',
      'gemma3.embedding_length',
      'gemma3.block_count',
      'gemma3.feed_forward_length',
      'gemma3.attention.head_count',
      'gemma3.attention.layer_norm_rms_epsilon',
      'gemma3.attention.key_length',
      'gemma3.attention.value_length',
      'gemma3.rope.freq_base',
      'gemma3.attention.sliding_window',
      'gemma3.attention.head_count_kv',
    ]);
    expect(meta.int('gemma3.block_count')).toBe(6);
    expect(meta.int('gemma3.embedding_length')).toBe(80);
    expect(meta.int('gemma3.attention.key_length')).toBe(32);
    expect(meta.int('gemma3.attention.sliding_window')).toBe(4);
    expect(meta.float('gemma3.rope.freq_base')).toBe(1e6);

    // Gemma3Model's tensors: norms (every one) as 1 + w in f32, everything else as is, in Hugging Face's row order
    const before = await checkpointOf(src);
    let normsShifted = 0;
    for (const t of file.tensors) {
      const hf = t.name
        .replace(/^token_embd/, 'model.embed_tokens')
        .replace(/^output_norm/, 'model.norm')
        .replace(/^blk\.(\d+)\./, 'model.layers.$1.')
        .replace('attn_norm', 'input_layernorm')
        .replace('post_attention_norm', 'post_attention_layernorm')
        .replace('ffn_norm', 'pre_feedforward_layernorm')
        .replace('post_ffw_norm', 'post_feedforward_layernorm')
        .replace('attn_q_norm', 'self_attn.q_norm')
        .replace('attn_k_norm', 'self_attn.k_norm')
        .replace(/attn_([qkv])\./, 'self_attn.$1_proj.')
        .replace('attn_output', 'self_attn.o_proj')
        .replace(/ffn_(gate|up|down)/, 'mlp.$1_proj');
      const orig = await before.readRaw(hf);
      const raw = await file.readRaw(t);
      if (hf.endsWith('norm.weight')) {
        expect([...f32(raw)], t.name).toEqual([...f32(orig).map((w) => w + 1)]);
        normsShifted++;
      } else expect(Buffer.from(raw).equals(Buffer.from(orig)), t.name).toBe(true);
    }
    expect(normsShifted).toBe(6 * 6 + 1);

    const back = join(dir, 'back');
    await importGgufFile(gguf, back);
    const after = await checkpointOf(back);
    expect(after.names().sort()).toEqual(before.names().sort());
    let inexact = 0;
    for (const name of before.names()) {
      const a = await after.readRaw(name);
      const b = await before.readRaw(name);
      if (name.endsWith('norm.weight')) {
        // (w + 1) − 1 in f32: w itself wherever w + 1 was exact, else off by at most half an ulp of w + 1 (2⁻²³ near 2)
        const want = f32(b).map((w) => Math.fround(Math.fround(w + 1) - 1));
        expect([...f32(a)], name).toEqual([...want]);
        f32(a).forEach((x, i) => {
          expect(Math.abs(x - f32(b)[i]!)).toBeLessThanOrEqual(2 ** -23);
          if (x !== f32(b)[i]) inexact++;
        });
      } else expect(Buffer.from(a).equals(Buffer.from(b)), name).toBe(true);
    }
    console.log(`gemma3 GGUF round trip: every matrix byte-equal; ${inexact} norm weights moved by the f32 (w + 1) − 1 (≤ 2⁻²³ each)`);
    await expectSameConfigAndTokenizer(src, back, 'Gemma3ForCausalLM');
    const cfg = json(back, 'config.json');
    expect(cfg.layer_types).toEqual([...new Array(5).fill('sliding_attention'), 'full_attention']);
    expect([cfg.sliding_window, cfg.rope_local_base_freq, cfg.query_pre_attn_scalar]).toEqual([4, 10000, 32]);
  });

  it('final_logit_softcapping travels as gemma3.final_logit_softcapping', async () => {
    const src = await gemma3LlamaCppFolder();
    writeFileSync(join(src, 'config.json'), JSON.stringify({ ...json(src, 'config.json'), final_logit_softcapping: 30 }));
    const dir = await tempDir();
    await exportGgufFile(src, join(dir, 'm.gguf'), { type: 'f32' });
    expect(new GgufMeta(await readGguf(fileSource(join(dir, 'm.gguf')))).float('gemma3.final_logit_softcapping')).toBe(30);
    await importGgufFile(join(dir, 'm.gguf'), join(dir, 'hf'));
    expect(parseModelConfig(json(join(dir, 'hf'), 'config.json')).finalLogitSoftcapping).toBe(30);
  });
});

describe('GGUF SentencePiece vocabularies without a dummy prefix (Gemma\'s tokenizer)', () => {
  it('write tokenizer.ggml.add_space_prefix false, and import back to a tokenizer that prepends no "▁"', async () => {
    // stories260K's SentencePiece tokenizer made Gemma-style: spaces → "▁" (Replace) but no Prepend, decoding strips none
    const src = await storiesFolder();
    const tj = json(src, 'tokenizer.json') as { normalizer: unknown; decoder: { decoders: { type: string }[] } };
    tj.normalizer = { type: 'Replace', pattern: { String: ' ' }, content: '\u2581' };
    tj.decoder.decoders = tj.decoder.decoders.filter((d) => d.type !== 'Strip');
    writeFileSync(join(src, 'tokenizer.json'), JSON.stringify(tj));
    const dir = await tempDir();
    const exp = await exportGgufFile(src, join(dir, 'sp.gguf'), { type: 'f32' });
    expect(exp.tokenizer).toBe('llama');
    expect(new GgufMeta(await readGguf(fileSource(join(dir, 'sp.gguf')))).bool('tokenizer.ggml.add_space_prefix', null)).toBe(false);
    await importGgufFile(join(dir, 'sp.gguf'), join(dir, 'hf'));
    const tok0 = await loadTokenizer(dirModelFiles(src));
    const tok1 = await loadTokenizer(dirModelFiles(join(dir, 'hf')));
    const text = 'Once upon a time, a cat';
    const ids = tok1.encode(text, { addSpecialTokens: false });
    expect(ids).toEqual(tok0.encode(text, { addSpecialTokens: false }));
    // without the prefix "Once" is not "▁Once"
    const withPrefix = await loadTokenizer(dirModelFiles(await storiesFolder()));
    expect(ids).not.toEqual(withPrefix.encode(text, { addSpecialTokens: false }));
    expect(tok1.decode(ids)).toBe(text);
    // a dummy-prefix vocabulary (stories260K as llama2.c made it) writes no flag: llama.cpp's default is to prepend
    await exportGgufFile(await storiesFolder(), join(dir, 'plain.gguf'), { type: 'f32' });
    expect(new GgufMeta(await readGguf(fileSource(join(dir, 'plain.gguf')))).bool('tokenizer.ggml.add_space_prefix', null)).toBeNull();
  });
});

describe('GGUF export + import: SmolLM3 (architecture "smollm3")', () => {
  it('writes llama.cpp\'s smollm3 file (llama\'s names and q/k permutation) and round-trips every tensor byte for byte', async () => {
    const src = await smollm3LlamaCppFolder();
    const dir = await tempDir();
    const gguf = join(dir, 'smollm3.gguf');
    const exp = await exportGgufFile(src, gguf, { type: 'f32' });
    expect(exp.architecture).toBe('smollm3');
    const file = await readGguf(fileSource(gguf));
    const meta = new GgufMeta(file);
    expect(meta.string('general.architecture')).toBe('smollm3');
    expect(meta.int('smollm3.block_count')).toBe(4);
    expect(meta.int('smollm3.rope.dimension_count')).toBe(16);
    expect(meta.float('smollm3.rope.freq_base')).toBe(5e6);
    const before = await checkpointOf(src);
    // SmolLM3Model is a LlamaModel: q/k rows in llama.cpp's interleaved order, NoPE layers included
    const q = file.tensors.find((t) => t.name === 'blk.3.attn_q.weight')!;
    const hfQ = await before.readRaw('model.layers.3.self_attn.q_proj.weight');
    expect(Buffer.from(await file.readRaw(q)).equals(Buffer.from(permuteRows(hfQ, 64 * 4, 4, 'to-gguf')))).toBe(true);

    const back = join(dir, 'back');
    await importGgufFile(gguf, back);
    const after = await checkpointOf(back);
    expect(after.names().sort()).toEqual(before.names().sort());
    for (const name of before.names()) {
      expect(Buffer.from(await after.readRaw(name)).equals(Buffer.from(await before.readRaw(name))), name).toBe(true);
    }
    await expectSameConfigAndTokenizer(src, back, 'SmolLM3ForCausalLM');
    expect(json(back, 'config.json').no_rope_layers).toEqual([1, 1, 1, 0]);
  });
});

describe.skipIf(ggufPySkip !== null)('gguf-py reads the gemma3 and smollm3 files', () => {
  it('with its own architecture names, every tensor one of that architecture\'s, and the keys as written', async () => {
    const dir = await tempDir();
    await exportGgufFile(await gemma3LlamaCppFolder(), join(dir, 'gemma3.gguf'), { type: 'f32' });
    await exportGgufFile(await smollm3LlamaCppFolder(), join(dir, 'smollm3.gguf'), { type: 'f32' });
    const out = runPy(
      `import sys, json
from gguf import GGUFReader, MODEL_ARCH_NAMES, MODEL_TENSORS, TENSOR_NAMES, Keys
d = sys.argv[1]
res = {}
for name in ["gemma3", "smollm3"]:
    r = GGUFReader(f"{d}/{name}.gguf")
    f = r.fields["general.architecture"]
    arch_name = bytes(f.parts[f.data[0]]).decode()
    arch = next(a for a, n in MODEL_ARCH_NAMES.items() if n == arch_name)
    n = int(r.fields[f"{arch_name}.block_count"].parts[-1][0])
    allowed = {TENSOR_NAMES[t].format(bid=b) + ".weight" for t in MODEL_TENSORS[arch] for b in range(n)}
    def scalar(key):
        fld = r.fields.get(key.format(arch=arch_name))
        return None if fld is None else float(fld.parts[-1][0])
    res[name] = {
        "arch": arch_name,
        "unknown": [t.name for t in r.tensors if t.name not in allowed],
        "count": len(r.tensors),
        "sliding_window": scalar(Keys.Attention.SLIDING_WINDOW),
        "key_length": scalar(Keys.Attention.KEY_LENGTH),
        "freq_base": scalar(Keys.Rope.FREQ_BASE),
        "norm0": [float(x) for x in next(t for t in r.tensors if t.name == "blk.0.attn_norm.weight").data[:2]],
    }
print(json.dumps(res))
`,
      dir,
    );
    const res = JSON.parse(out) as Record<string, { arch: string; unknown: string[]; count: number; sliding_window: number | null; key_length: number | null; freq_base: number; norm0: number[] }>;
    expect(res.gemma3).toMatchObject({ arch: 'gemma3', unknown: [], count: 1 + 6 * 13 + 1, sliding_window: 4, key_length: 32, freq_base: 1e6 });
    expect(res.smollm3).toMatchObject({ arch: 'smollm3', unknown: [], count: 1 + 4 * 9 + 1, sliding_window: null, freq_base: 5e6 });
    // the (1 + w) shift is visible to llama.cpp's reader: norms around 2, not 1
    for (const x of res.gemma3!.norm0) expect(x).toBeGreaterThan(1.5);
  });
});
