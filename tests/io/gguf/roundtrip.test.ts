// Hugging Face folder → GGUF → Hugging Face folder on real and fixture models: tensors, config and tokenizer files
// come back (f32 exactly, f16 as the f16 rounding of the original), and the GGUF says what llama.cpp expects.
import { copyFileSync, mkdirSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { ensureFixtures, OWNER, REVISION } from '../../../scripts/fixtures/index.ts';
import { parseModelConfig } from '../../../src/io/config.ts';
import { fileSource } from '../../../src/io/node/fs.ts';
import { exportGgufFile, importGgufFile } from '../../../src/io/node/gguf.ts';
import { GgufMeta, readGguf } from '../../../src/io/gguf/reader.ts';
import { permuteRows } from '../../../src/io/gguf/names.ts';
import { decodeToF32, encodeFromF32 } from '../../../src/io/safetensors/dtypes.ts';
import { loadTokenizer } from '../../../src/io/tokenizer.ts';
import { dirModelFiles } from '../../../src/io/node/dir-model-files.ts';
import { llama2cLayout, readLlama2cHeader } from '../../../src/io/llama2c.ts';
import { checkpointOf, entries, removeTemps, STORIES_BIN, storiesFolder, tempDir } from './helpers.ts';

afterAll(removeTemps);

const json = (dir: string, name: string) => JSON.parse(readFileSync(join(dir, name), 'utf8')) as Record<string, unknown>;

describe('GGUF export + import: stories260K (SentencePiece "llama" vocabulary)', () => {
  it('f32: every tensor, the config and the tokenizer files come back exactly', async () => {
    const src = await storiesFolder();
    const dir = await tempDir();
    const gguf = join(dir, 'stories.gguf');
    const exp = await exportGgufFile(src, gguf, { type: 'f32' });
    expect(exp.tokenizer).toBe('llama');
    expect(exp.tensors.map((t) => t.name)).not.toContain('output.weight'); // tied
    expect(exp.tensors.every((t) => t.type === 'F32')).toBe(true);

    const file = await readGguf(fileSource(gguf));
    expect(file.version).toBe(3);
    const meta = new GgufMeta(file);
    expect(meta.string('general.architecture')).toBe('llama');
    expect(meta.int('llama.block_count')).toBe(5);
    expect(meta.int('llama.embedding_length')).toBe(64);
    expect(meta.int('llama.feed_forward_length')).toBe(172);
    expect(meta.int('llama.attention.head_count')).toBe(8);
    expect(meta.int('llama.attention.head_count_kv')).toBe(4);
    expect(meta.int('llama.rope.dimension_count')).toBe(8);
    expect(meta.int('llama.vocab_size')).toBe(512);
    expect(meta.int('general.file_type')).toBe(0);
    expect(meta.string('tokenizer.ggml.model')).toBe('llama');
    expect(meta.array('tokenizer.ggml.tokens', 'string')!.slice(0, 4)).toEqual(['<unk>', '<s>', '</s>', '<0x00>']);
    expect(meta.int('tokenizer.ggml.bos_token_id')).toBe(1);
    expect(meta.int('tokenizer.ggml.eos_token_id')).toBe(2);
    expect(meta.int('tokenizer.ggml.unknown_token_id')).toBe(0);
    // GGML dims are the numpy shape reversed; q/k rows are in llama.cpp's interleaved order, which is Meta's and
    // llama2.c's: the GGUF's attn_q/attn_k bytes are exactly stories260K.bin's wq/wk.
    const q = file.tensors.find((t) => t.name === 'blk.0.attn_q.weight')!;
    expect(q.dims).toEqual([64, 64]);
    const before = await checkpointOf(src);
    const hfQ = await before.readRaw('model.layers.0.self_attn.q_proj.weight');
    expect(Buffer.from(await file.readRaw(q)).equals(Buffer.from(permuteRows(hfQ, 64 * 4, 8, 'to-gguf')))).toBe(true);
    const bin = fileSource(STORIES_BIN);
    const { segments } = llama2cLayout(await readLlama2cHeader(bin));
    for (const [hf, gg] of [['self_attn.q_proj', 'attn_q'], ['self_attn.k_proj', 'attn_k']]) {
      for (let l = 0; l < 5; l++) {
        const seg = segments.find((s) => s.name === `model.layers.${l}.${hf}.weight`)!;
        const t = file.tensors.find((x) => x.name === `blk.${l}.${gg}.weight`)!;
        const raw = await bin.read(seg.offset, t.byteSize);
        expect(Buffer.from(await file.readRaw(t)).equals(Buffer.from(raw)), t.name).toBe(true);
      }
    }

    const back = join(dir, 'back');
    const imp = await importGgufFile(gguf, back);
    expect(imp.tokenizer).toBe('llama');
    expect(await entries(dir)).toEqual(['back', 'stories.gguf']);
    const after = await checkpointOf(back);
    expect(after.names().sort()).toEqual(before.names().sort());
    for (const name of before.names()) {
      expect(after.info(name).dtype, name).toBe('F32');
      expect(Buffer.from(await after.readRaw(name)).equals(Buffer.from(await before.readRaw(name))), name).toBe(true);
    }
    const c0 = parseModelConfig(json(src, 'config.json'));
    const c1 = parseModelConfig(json(back, 'config.json'));
    expect({ ...c1, torchDtype: null }).toEqual({ ...c0, torchDtype: null, rmsNormEps: c1.rmsNormEps });
    expect(c1.rmsNormEps).toBeCloseTo(c0.rmsNormEps, 12); // stored as f32 in GGUF
    expect(json(back, 'tokenizer.json')).toEqual(json(src, 'tokenizer.json'));
    expect(json(back, 'tokenizer_config.json')).toEqual(json(src, 'tokenizer_config.json'));

    const tok = await loadTokenizer(dirModelFiles(back));
    const tok0 = await loadTokenizer(dirModelFiles(src));
    const text = 'Once upon a time, there was a little girl named Lily.';
    expect(tok.encode(text)).toEqual(tok0.encode(text));
  });

  it('f16: matrices are the f16 rounding of the original, norms stay f32', async () => {
    const src = await storiesFolder();
    const dir = await tempDir();
    const gguf = join(dir, 'stories-f16.gguf');
    const exp = await exportGgufFile(src, gguf, { type: 'f16' });
    for (const t of exp.tensors) expect(t.type, t.name).toBe(t.shape.length === 1 ? 'F32' : 'F16');
    expect(new GgufMeta(await readGguf(fileSource(gguf))).int('general.file_type')).toBe(1);
    const back = join(dir, 'back');
    await importGgufFile(gguf, back);
    const before = await checkpointOf(src);
    const after = await checkpointOf(back);
    expect(json(back, 'config.json').torch_dtype).toBe('float16');
    for (const name of before.names()) {
      const matrix = before.info(name).shape.length === 2;
      expect(after.info(name).dtype, name).toBe(matrix ? 'F16' : 'F32');
      const want = matrix ? decodeToF32('F16', encodeFromF32('F16', await before.readF32(name))) : await before.readF32(name);
      expect(Array.from(await after.readF32(name)), name).toEqual(Array.from(want));
    }
  });
});

describe('GGUF export + import: tiny-llama-untied fixture (byte-level "gpt2" vocabulary, untied head, explicit head_dim)', () => {
  it('round-trips tensors, lm_head and the tokenizer (same ids for the same text)', async () => {
    await ensureFixtures('public/hub');
    const src = join('public/hub', OWNER, 'tiny-llama-untied', 'resolve', REVISION);
    const dir = await tempDir();
    const gguf = join(dir, 'untied.gguf');
    const exp = await exportGgufFile(src, gguf, { type: 'f32' });
    expect(exp.tokenizer).toBe('gpt2');
    expect(exp.tensors.map((t) => t.name)).toContain('output.weight');
    const meta = new GgufMeta(await readGguf(fileSource(gguf)));
    expect(meta.string('tokenizer.ggml.pre')).toBe('gpt-2');
    expect(meta.array('tokenizer.ggml.merges', 'string')!.length).toBeGreaterThan(0);

    const back = join(dir, 'back');
    const imp = await importGgufFile(gguf, back);
    expect(imp.tokenizer).toBe('gpt2');
    const before = await checkpointOf(src);
    const after = await checkpointOf(back);
    expect(after.names().sort()).toEqual(before.names().sort());
    for (const name of before.names()) {
      expect(Buffer.from(await after.readRaw(name)).equals(Buffer.from(await before.readRaw(name))), name).toBe(true);
    }
    const c0 = parseModelConfig(json(src, 'config.json'));
    const c1 = parseModelConfig(json(back, 'config.json'));
    expect(c1.tieWordEmbeddings).toBe(false);
    expect(c1.headDim).toBe(c0.headDim);
    const tok0 = await loadTokenizer(dirModelFiles(src));
    const tok1 = await loadTokenizer(dirModelFiles(back));
    for (const text of ['Silk is spun by moths.', '<|im_start|>user\nhello 123<|im_end|>']) {
      expect(tok1.encode(text, { addSpecialTokens: false })).toEqual(tok0.encode(text, { addSpecialTokens: false }));
      expect(tok1.decode(tok1.encode(text, { addSpecialTokens: false }))).toBe(text);
    }
  });
});

describe('GGUF export + import: Llama 3.1-style RoPE scaling (rope_freqs.weight)', () => {
  it("Meta's values (factor 32, low 1, high 4, context 8192) come back exactly; others as an equivalent setting", async () => {
    const cases = [
      { factor: 32, low_freq_factor: 1, high_freq_factor: 4, original_max_position_embeddings: 8192 },
      // two frequencies of stories260K's head_dim 8 fall in the blend here, so the fit is solved, not assumed
      { factor: 8, low_freq_factor: 1, high_freq_factor: 32, original_max_position_embeddings: 1024 },
    ];
    for (const [i, scaling] of cases.entries()) {
      const src = await storiesFolder();
      const cfg = json(src, 'config.json');
      writeFileSync(join(src, 'config.json'), JSON.stringify({ ...cfg, rope_scaling: { rope_type: 'llama3', ...scaling } }));
      const dir = await tempDir();
      const exp = await exportGgufFile(src, join(dir, 'm.gguf'), { type: 'f32' });
      expect(exp.tensors[0]).toEqual({ name: 'rope_freqs.weight', type: 'F32', shape: [4] });
      const file = await readGguf(fileSource(join(dir, 'm.gguf')));
      const factors = Array.from(new Float32Array((await file.readRaw(file.tensors[0]!)).slice().buffer));
      await importGgufFile(join(dir, 'm.gguf'), join(dir, 'hf'));
      const got = json(join(dir, 'hf'), 'config.json').rope_scaling as Record<string, number>;
      if (i === 0) expect(got).toEqual({ rope_type: 'llama3', ...scaling });
      // exported again, the factors are the same to float32 rounding
      await exportGgufFile(join(dir, 'hf'), join(dir, 'again.gguf'), { type: 'f32' });
      const again = await readGguf(fileSource(join(dir, 'again.gguf')));
      const factors2 = Array.from(new Float32Array((await again.readRaw(again.tensors[0]!)).slice().buffer));
      factors2.forEach((f, j) => expect(f).toBeCloseTo(factors[j]!, 5));
      expect(new Set(factors).size).toBe(i === 0 ? 2 : 4);
    }
  });
});

describe('GGUF export + import: linear RoPE scaling (rope.scaling.type / rope.scaling.factor)', () => {
  it('writes llama.cpp\'s keys, no rope_freqs tensor, and the config comes back with the same scaling', async () => {
    const src = await storiesFolder();
    const cfg = json(src, 'config.json');
    writeFileSync(join(src, 'config.json'), JSON.stringify({ ...cfg, rope_scaling: { rope_type: 'linear', factor: 2.5 } }));
    const dir = await tempDir();
    const exp = await exportGgufFile(src, join(dir, 'm.gguf'), { type: 'f32' });
    expect(exp.tensors.map((t) => t.name)).not.toContain('rope_freqs.weight');
    const meta = new GgufMeta(await readGguf(fileSource(join(dir, 'm.gguf'))));
    expect(meta.string('llama.rope.scaling.type')).toBe('linear');
    expect(meta.float('llama.rope.scaling.factor')).toBe(2.5);
    await importGgufFile(join(dir, 'm.gguf'), join(dir, 'hf'));
    const back = json(join(dir, 'hf'), 'config.json');
    expect(parseModelConfig(back).ropeScaling).toEqual({ type: 'linear', factor: 2.5 });
    // and again: the second export carries the same keys
    await exportGgufFile(join(dir, 'hf'), join(dir, 'again.gguf'), { type: 'f32' });
    const again = new GgufMeta(await readGguf(fileSource(join(dir, 'again.gguf'))));
    expect([again.string('llama.rope.scaling.type'), again.float('llama.rope.scaling.factor')]).toEqual(['linear', 2.5]);
  });
});

describe('GGUF export + import: tiny-qwen2 fixture (architecture "qwen2": q/k/v biases, no row permutation)', () => {
  it('round-trips every tensor (biases included), the config and the tokenizer', async () => {
    await ensureFixtures('public/hub');
    const src = join('public/hub', OWNER, 'tiny-qwen2', 'resolve', REVISION);
    const dir = await tempDir();
    const gguf = join(dir, 'qwen2.gguf');
    const exp = await exportGgufFile(src, gguf, { type: 'f32' });
    expect(exp.architecture).toBe('qwen2');
    expect(exp.tensors.map((t) => t.name)).toContain('blk.0.attn_q.bias');
    const file = await readGguf(fileSource(gguf));
    const meta = new GgufMeta(file);
    expect(meta.string('general.architecture')).toBe('qwen2');
    expect(meta.int('qwen2.block_count')).toBeGreaterThan(0);
    // Qwen2 rows stay in Hugging Face's order
    const before = await checkpointOf(src);
    const q = file.tensors.find((t) => t.name === 'blk.0.attn_q.weight')!;
    expect(Buffer.from(await file.readRaw(q)).equals(Buffer.from(await before.readRaw('model.layers.0.self_attn.q_proj.weight')))).toBe(true);

    await expectImportedBack(src, gguf, join(dir, 'back'), before, 'Qwen2ForCausalLM');
  });
});

describe('GGUF export + import: tiny-qwen3 fixture (architecture "qwen3": attn_q_norm / attn_k_norm, head_dim ≠ hidden / heads)', () => {
  it('writes llama.cpp\'s qwen3 names and keys, and round-trips every tensor, the config and the tokenizer', async () => {
    await ensureFixtures('public/hub');
    const src = join('public/hub', OWNER, 'tiny-qwen3', 'resolve', REVISION);
    const dir = await tempDir();
    const gguf = join(dir, 'qwen3.gguf');
    const exp = await exportGgufFile(src, gguf, { type: 'f32' });
    expect(exp.architecture).toBe('qwen3');
    const names = exp.tensors.map((t) => t.name);
    expect(names).toContain('blk.1.attn_q_norm.weight');
    expect(names).toContain('blk.1.attn_k_norm.weight');
    expect(names.some((n) => n.endsWith('.bias'))).toBe(false);
    expect(exp.tensors.find((t) => t.name === 'blk.0.attn_q_norm.weight')).toMatchObject({ type: 'F32', shape: [32] });
    const file = await readGguf(fileSource(gguf));
    const meta = new GgufMeta(file);
    expect(meta.string('general.architecture')).toBe('qwen3');
    expect(meta.int('qwen3.attention.key_length')).toBe(32);
    expect(meta.int('qwen3.attention.value_length')).toBe(32);
    expect(meta.int('qwen3.embedding_length')).toBe(96);
    // Qwen3 rows stay in Hugging Face's order (NEOX RoPE in llama.cpp), as Qwen2's
    const before = await checkpointOf(src);
    const k = file.tensors.find((t) => t.name === 'blk.0.attn_k.weight')!;
    expect(Buffer.from(await file.readRaw(k)).equals(Buffer.from(await before.readRaw('model.layers.0.self_attn.k_proj.weight')))).toBe(true);

    await expectImportedBack(src, gguf, join(dir, 'back'), before, 'Qwen3ForCausalLM');
  });
});

describe('GGUF "gpt2" vocabularies: the pre-tokenizer travels as tokenizer.ggml.pre', () => {
  const LLAMA3 = "(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\\r\\n\\p{L}\\p{N}]?\\p{L}+|\\p{N}{1,3}| ?[^\\s\\p{L}\\p{N}]+[\\r\\n]*|\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+";
  const QWEN2 = "(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\\r\\n\\p{L}\\p{N}]?\\p{L}+|\\p{N}| ?[^\\s\\p{L}\\p{N}]+[\\r\\n]*|\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+";
  const byteLevel = (r: boolean) => ({ type: 'ByteLevel', add_prefix_space: false, trim_offsets: true, use_regex: r });
  const split = (re: string) => ({ type: 'Split', pattern: { Regex: re }, behavior: 'Isolated', invert: false });
  const cases: [string, unknown][] = [
    ['llama-bpe', { type: 'Sequence', pretokenizers: [split(LLAMA3), byteLevel(false)] }],
    ['qwen2', { type: 'Sequence', pretokenizers: [split(QWEN2), byteLevel(false)] }],
    ['smollm', { type: 'Sequence', pretokenizers: [{ type: 'Digits', individual_digits: true }, byteLevel(true)] }],
  ];
  for (const [pre, preTokenizer] of cases) {
    it(`${pre}: recognised on export, rebuilt on import, same ids`, async () => {
      await ensureFixtures('public/hub');
      const fixture = join('public/hub', OWNER, 'tiny-llama', 'resolve', REVISION);
      const src = join(await tempDir(), 'model');
      mkdirSync(src);
      for (const f of readdirSync(fixture)) copyFileSync(join(fixture, f), join(src, f));
      writeFileSync(join(src, 'tokenizer.json'), JSON.stringify({ ...json(fixture, 'tokenizer.json'), pre_tokenizer: preTokenizer }));
      const dir = await tempDir();
      await exportGgufFile(src, join(dir, 'm.gguf'), { type: 'f32' });
      expect(new GgufMeta(await readGguf(fileSource(join(dir, 'm.gguf')))).string('tokenizer.ggml.pre')).toBe(pre);
      await importGgufFile(join(dir, 'm.gguf'), join(dir, 'hf'));
      expect(json(join(dir, 'hf'), 'tokenizer.json').pre_tokenizer).toEqual(preTokenizer);
      const tok0 = await loadTokenizer(dirModelFiles(src));
      const tok1 = await loadTokenizer(dirModelFiles(join(dir, 'hf')));
      const text = "Silk's 12345 threads\n\n  are   spun, aren't they?";
      expect(tok1.encode(text, { addSpecialTokens: false })).toEqual(tok0.encode(text, { addSpecialTokens: false }));
    });
  }
});

/**
 * Imports `gguf` into `back` and checks it against the source folder: every tensor byte for byte (the export kept
 * Hugging Face's row order), the config (but dtype, eps and model type, which GGUF does not keep) with `architecture`,
 * and the tokenizer's ids on a sample.
 */
async function expectImportedBack(src: string, gguf: string, back: string, before: Awaited<ReturnType<typeof checkpointOf>>, architecture: string): Promise<void> {
  await importGgufFile(gguf, back);
  const after = await checkpointOf(back);
  expect(after.names().sort()).toEqual(before.names().sort());
  for (const name of before.names()) {
    expect(Buffer.from(await after.readRaw(name)).equals(Buffer.from(await before.readRaw(name))), name).toBe(true);
  }
  const c0 = parseModelConfig(json(src, 'config.json'));
  const c1 = parseModelConfig(json(back, 'config.json'));
  expect(c1.architecture).toBe(architecture);
  expect({ ...c1, torchDtype: null, rmsNormEps: 0, modelType: '' }).toEqual({ ...c0, torchDtype: null, rmsNormEps: 0, modelType: '' });
  const tok0 = await loadTokenizer(dirModelFiles(src));
  const tok1 = await loadTokenizer(dirModelFiles(back));
  const text = 'Silk is spun by moths, 123 times.';
  expect(tok1.encode(text, { addSpecialTokens: false })).toEqual(tok0.encode(text, { addSpecialTokens: false }));
}
