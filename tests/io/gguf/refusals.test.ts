// Files the GGUF importer refuses, each with a message naming the file and what is wrong, and with nothing left
// behind (no output folder, no hidden staging folder next to it).
import { copyFileSync, truncateSync, writeFileSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { BlobSink } from '../../../src/io/bytes.ts';
import { fileSource } from '../../../src/io/node/fs.ts';
import { exportGgufFile, importGgufFile } from '../../../src/io/node/gguf.ts';
import { readGguf } from '../../../src/io/gguf/reader.ts';
import { ggmlTypeByName, ValueType, type GgufValue } from '../../../src/io/gguf/format.ts';
import { gv, writeGguf, type GgufTensorToWrite } from '../../../src/io/gguf/writer.ts';
import { entries, removeTemps, storiesFolder, tempDir, wideFolder } from './helpers.ts';

afterAll(removeTemps);

let dir: string;
let good: string;
beforeAll(async () => {
  const src = await storiesFolder();
  dir = await tempDir();
  good = join(dir, 'stories.gguf');
  await exportGgufFile(src, good, { type: 'f32' });
});

/** A copy of the good file with metadata and tensors edited. */
async function rewrite(
  name: string,
  edit: (meta: Map<string, GgufValue>, tensors: GgufTensorToWrite[]) => void,
): Promise<string> {
  const f = await readGguf(fileSource(good));
  const meta = new Map(f.metadata);
  const tensors: GgufTensorToWrite[] = [];
  for (const t of f.tensors) tensors.push({ name: t.name, shape: t.shape, type: t.type, data: await f.readRaw(t) });
  edit(meta, tensors);
  const sink = new BlobSink();
  await writeGguf(sink, meta, tensors);
  const path = join(dir, name);
  writeFileSync(path, new Uint8Array(await sink.blob().arrayBuffer()));
  return path;
}

/** A copy of a GGUF file's bytes with one tensor's info edited: `edit` gets a view and the offset of its ne[0]. */
function patchTensorInfo(bytes: Buffer, name: string, edit: (v: DataView, dims: number) => void): Buffer {
  const out = Buffer.from(bytes);
  const key = Buffer.concat([Buffer.alloc(8), Buffer.from(name)]);
  key.writeBigUInt64LE(BigInt(name.length));
  const at = out.indexOf(key);
  if (at < 0) throw new Error(`no tensor info for ${name}`);
  edit(new DataView(out.buffer, out.byteOffset, out.byteLength), at + key.length + 4);
  return out;
}

async function expectRefused(path: string, message: string | RegExp): Promise<void> {
  const out = join(dir, `out-${Math.random().toString(36).slice(2)}`);
  const before = await entries(dir);
  await expect(importGgufFile(path, out)).rejects.toThrow(message);
  expect(await entries(dir)).toEqual(before); // no output, no staging folder
}

describe('GGUF import refusals', () => {
  it('a valid file imports (the baseline the refusals edit)', async () => {
    const out = join(dir, 'ok');
    await importGgufFile(good, out);
    expect(await entries(out)).toEqual(['config.json', 'model.safetensors', 'special_tokens_map.json', 'tokenizer.json', 'tokenizer_config.json']);
  });

  it('another architecture, named', async () => {
    const path = await rewrite('gemma.gguf', (meta) => meta.set('general.architecture', gv.str('gemma')));
    await expectRefused(path, 'gemma.gguf: GGUF architecture "gemma" is not supported; Alloy imports "llama" (Llama, SmolLM, Mistral), "qwen2", "qwen3", "smollm3" and "gemma3" models');
  });

  it('an unsupported tensor type (IQ4_XS written by hand), naming the type and the tensor', async () => {
    const path = await rewrite('iq4.gguf', (_, tensors) => {
      const i = tensors.findIndex((t) => t.name === 'blk.0.ffn_gate.weight');
      const iq4 = ggmlTypeByName('IQ4_XS');
      // one 256-element IQ4_XS block per row: ne = [256, 172]
      tensors[i] = { name: 'blk.0.ffn_gate.weight', shape: [172, 256], type: iq4, data: new Uint8Array(172 * iq4.typeSize) };
    });
    await expectRefused(path, 'iq4.gguf: tensor "blk.0.ffn_gate.weight" is IQ4_XS, which Alloy cannot read (it reads F32, F16, BF16, Q4_0, Q4_1, Q5_0, Q5_1, Q8_0, Q2_K, Q3_K, Q4_K, Q5_K, Q6_K)');
  });

  it('a quantised norm weight (the engine needs norms unquantised)', async () => {
    const path = await rewrite('qnorm.gguf', (_, tensors) => {
      const i = tensors.findIndex((t) => t.name === 'blk.1.attn_norm.weight');
      tensors[i] = { name: 'blk.1.attn_norm.weight', shape: [64], type: ggmlTypeByName('Q8_0'), data: new Uint8Array(2 * 34) };
    });
    await expectRefused(path, 'qnorm.gguf: tensor "blk.1.attn_norm.weight" (shape [64]) is Q8_0, but norm weights and biases must be F32, F16 or BF16');
  });

  it('a row that is not whole blocks, and a shape that needs more blocks than the data holds', async () => {
    // Header edits in place: the type id of blk.0.attn_q.weight (rows of 64) → Q4_K (256 per block)
    const rows = join(dir, 'rows.gguf');
    writeFileSync(rows, patchTensorInfo(readFileSync(good), 'blk.0.attn_q.weight', (v, dims) => v.setUint32(dims + 16, 12, true)));
    await expectRefused(rows, 'rows.gguf: tensor "blk.0.attn_q.weight" (Q4_K, ne [64,64]): a row of 64 elements is not a whole number of Q4_K blocks (256)');
    // a Q8_0 file whose token_embd claims 513 rows: one more row of blocks than lies before the next tensor
    const q8 = join(dir, 'q8.gguf');
    await exportGgufFile(await storiesFolder(), q8, { type: 'q8_0' });
    const more = join(dir, 'more.gguf');
    writeFileSync(more, patchTensorInfo(readFileSync(q8), 'token_embd.weight', (v, dims) => v.setBigUint64(dims + 8, 513n, true)));
    await expectRefused(
      more,
      'more.gguf: corrupt GGUF: tensor "token_embd.weight" (Q8_0, ne [64,513]: 1026 blocks of 34 bytes = 34884 bytes) runs into tensor "blk.0.attn_norm.weight", which starts 34816 bytes after it: the data holds fewer blocks than the shape needs',
    );
  });

  it('a quantised tensor cut short names its type, blocks and bytes', { timeout: 60_000 }, async () => {
    const q = join(dir, 'wide-q4km.gguf');
    await exportGgufFile(await wideFolder(), q, { type: 'q4_k_m' });
    const down = (await readGguf(fileSource(q))).tensors.find((t) => t.name === 'blk.1.ffn_down.weight')!;
    const cut = join(dir, 'cut-q6k.gguf');
    copyFileSync(q, cut);
    truncateSync(cut, down.offset + 1000);
    await expectRefused(cut, `cut-q6k.gguf: truncated: tensor "blk.1.ffn_down.weight" (Q6_K, ne [512,256]: 512 blocks of 210 bytes = 107520 bytes at ${down.offset}) runs past the end of the file (${down.offset + 1000} bytes)`);
  });

  it('a truncated file: cut in the tensor data, and cut in the header', async () => {
    const size = fileSource(good).size;
    const data = join(dir, 'cut-data.gguf');
    copyFileSync(good, data);
    truncateSync(data, size - 100);
    await expectRefused(data, /cut-data\.gguf: truncated: tensor "output_norm\.weight" \(F32, ne \[64\], 256 bytes at \d+\) runs past the end of the file/);
    const header = join(dir, 'cut-header.gguf');
    copyFileSync(good, header);
    truncateSync(header, 2000);
    await expectRefused(header, /cut-header\.gguf: truncated GGUF header: metadata "tokenizer\.ggml\.tokens" needs \d+ bytes at offset \d+, but the file ends at 2000/);
  });

  it('bad magic', async () => {
    const path = join(dir, 'notgguf.gguf');
    const bytes = readFileSync(good);
    bytes.write('GGML', 0, 'latin1');
    writeFileSync(path, bytes);
    await expectRefused(path, 'notgguf.gguf: not a GGUF file (magic bytes 47 47 4d 4c, expected 47 47 55 46 "GGUF")');
  });

  it('metadata that contradicts the tensors (a wrong head count) is refused before anything is written', async () => {
    const path = await rewrite('heads.gguf', (meta) => meta.set('llama.embedding_length', { type: ValueType.UINT32, value: 128 }));
    await expectRefused(path, /heads\.gguf: tensor "token_embd\.weight" has shape \[512,64\], the configuration implies \[512,128\]/);
  });
});

describe('Qwen3 and GGUF', () => {
  it('exporting a Qwen3 with attention_bias is refused (llama.cpp\'s "qwen3" has no attention biases), before anything is written', async () => {
    const { ensureFixtures, OWNER, REVISION } = await import('../../../scripts/fixtures/index.ts');
    await ensureFixtures('public/hub');
    const { mkdirSync, readdirSync } = await import('node:fs');
    const src = join('public/hub', OWNER, 'tiny-qwen3', 'resolve', REVISION);
    const biased = join(dir, 'qwen3-bias');
    mkdirSync(biased, { recursive: true });
    for (const f of readdirSync(src)) copyFileSync(join(src, f), join(biased, f));
    const cfg = JSON.parse(readFileSync(join(src, 'config.json'), 'utf8')) as Record<string, unknown>;
    writeFileSync(join(biased, 'config.json'), JSON.stringify({ ...cfg, attention_bias: true }));
    const out = join(dir, 'qwen3-bias.gguf');
    await expect(exportGgufFile(biased, out, { type: 'f32' })).rejects.toThrow(/Qwen3 with attention_bias cannot be exported to GGUF/);
    expect(await entries(dir)).not.toContain('qwen3-bias.gguf');
  });

  it('a "gemma3" file with a Llama\'s tensors (no sandwich norms) is refused, naming the tensor', async () => {
    const path = await rewrite('gemma3-meta.gguf', (meta) => {
      for (const [key, value] of [...meta]) if (key.startsWith('llama.')) meta.set(`gemma3.${key.slice(6)}`, value);
      meta.set('general.architecture', gv.str('gemma3'));
    });
    // llama's ffn_norm reads as Gemma's pre_feedforward_layernorm; the q/k norms and sandwich norms are missing
    await expectRefused(path, /^gemma3-meta\.gguf: missing tensors for a 5-layer Gemma3ForCausalLM: model\.layers\.0\.self_attn\.q_norm\.weight, /);
  });
});

describe('SmolLM3 and Gemma 3 and GGUF', () => {
  it('exporting a SmolLM3 whose NoPE layers are not every 4th is refused, naming no_rope_layers, before anything is written', async () => {
    const { ensureFixtures, OWNER, REVISION } = await import('../../../scripts/fixtures/index.ts');
    await ensureFixtures('public/hub');
    const src = join('public/hub', OWNER, 'tiny-smollm3', 'resolve', REVISION);
    const out = join(dir, 'smollm3.gguf');
    await expect(exportGgufFile(src, out, { type: 'f32' })).rejects.toThrow(
      'SmolLM3ForCausalLM cannot be exported to GGUF "smollm3" as configured: no_rope_layers: [1, 0], but llama.cpp\'s smollm3 skips RoPE on every 4th layer [1, 1]',
    );
    expect(await entries(dir)).not.toContain('smollm3.gguf');
  });

  it('exporting a Gemma 3 whose layer pattern and query scale llama.cpp cannot express is refused, naming both, before anything is written', async () => {
    const { ensureFixtures, OWNER, REVISION } = await import('../../../scripts/fixtures/index.ts');
    await ensureFixtures('public/hub');
    const src = join('public/hub', OWNER, 'tiny-gemma3', 'resolve', REVISION);
    const out = join(dir, 'gemma3.gguf');
    await expect(exportGgufFile(src, out, { type: 'f32' })).rejects.toThrow(
      'Gemma3ForCausalLM cannot be exported to GGUF "gemma3" as configured: layer_types: sliding layers [1, 0], but llama.cpp\'s gemma3 slides every layer except each 6th [1, 1]; query_pre_attn_scalar: 24, but llama.cpp\'s gemma3 scales queries by 1/√32 for this shape',
    );
    expect(await entries(dir)).not.toContain('gemma3.gguf');
  });
});
