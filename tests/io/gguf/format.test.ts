// GGUF container: every metadata value type through writer and reader, the alignment key honoured, byte layout of
// a small file checked by hand, names and row permutations inverse to each other, BF16 tensors imported as BF16.
import { join } from 'node:path';
import { writeFileSync } from 'node:fs';
import { afterAll, describe, expect, it } from 'vitest';
import { BlobSink, blobSource, bytesSource } from '../../../src/io/bytes.ts';
import { ggmlTypeByName, ValueType, type GgufValue } from '../../../src/io/gguf/format.ts';
import { ggufToHfName, hfToGgufName, permuteRows } from '../../../src/io/gguf/names.ts';
import { readGguf } from '../../../src/io/gguf/reader.ts';
import { gv, writeGguf, type GgufTensorToWrite } from '../../../src/io/gguf/writer.ts';
import { fileSource } from '../../../src/io/node/fs.ts';
import { exportGgufFile, importGgufFile } from '../../../src/io/node/gguf.ts';
import { encodeFromF32 } from '../../../src/io/safetensors/dtypes.ts';
import { checkpointOf, removeTemps, storiesFolder, tempDir } from './helpers.ts';

afterAll(removeTemps);

async function bytesOf(meta: Map<string, GgufValue>, tensors: GgufTensorToWrite[]): Promise<Uint8Array<ArrayBuffer>> {
  const sink = new BlobSink();
  await writeGguf(sink, meta, tensors);
  return new Uint8Array(await sink.blob().arrayBuffer());
}

describe('GGUF reader/writer', () => {
  it('every value type round-trips; arrays keep their item type', async () => {
    const meta = new Map<string, GgufValue>([
      ['u8', { type: ValueType.UINT8, value: 255 }],
      ['i8', { type: ValueType.INT8, value: -128 }],
      ['u16', { type: ValueType.UINT16, value: 65535 }],
      ['i16', { type: ValueType.INT16, value: -32768 }],
      ['u32', gv.u32(4294967295)],
      ['i32', gv.i32(-2147483648)],
      ['f32', gv.f32(1.5)],
      ['bool', gv.bool(true)],
      ['str', gv.str('héllo ▁ 🦙')],
      ['u64', { type: ValueType.UINT64, value: 2n ** 63n }],
      ['i64', { type: ValueType.INT64, value: -(2n ** 62n) }],
      ['f64', { type: ValueType.FLOAT64, value: Math.PI }],
      ['strs', gv.strs(['a', '', 'ü'])],
      ['i32s', gv.i32s([1, -2, 3])],
    ]);
    const bytes = await bytesOf(meta, []);
    const f = await readGguf(bytesSource(bytes, 'kv.gguf'));
    expect([...f.metadata]).toEqual([...meta]);
    expect(f.tensors).toEqual([]);
    // the browser's input: a File/Blob, read by slices
    const fromBlob = await readGguf(blobSource(new Blob([bytes]), 'kv.gguf'));
    expect([...fromBlob.metadata]).toEqual([...meta]);
  });

  it('lays out header, padding and tensors as the spec says (alignment 32 by default, general.alignment honoured)', async () => {
    const f32 = ggmlTypeByName('F32');
    const a = new Uint8Array(new Float32Array([1, 2, 3]).buffer);
    const b = new Uint8Array(new Float32Array([4, 5]).buffer);
    const tensors = [
      { name: 'a', shape: [3], type: f32, data: a },
      { name: 'b', shape: [1, 2], type: f32, data: b },
    ];
    const plain = await bytesOf(new Map(), tensors);
    const v = new DataView(plain.buffer);
    expect(v.getUint32(0, true)).toBe(0x46554747);
    expect(v.getUint32(4, true)).toBe(3);
    expect(v.getBigUint64(8, true)).toBe(2n);
    expect(v.getBigUint64(16, true)).toBe(0n);
    // tensor "a": name (8 + 1), n_dims, ne[0], type, offset
    expect(v.getBigUint64(24, true)).toBe(1n);
    expect(String.fromCharCode(plain[32]!)).toBe('a');
    expect(v.getUint32(33, true)).toBe(1);
    expect(v.getBigUint64(37, true)).toBe(3n);
    expect(v.getUint32(45, true)).toBe(0);
    expect(v.getBigUint64(49, true)).toBe(0n);
    const f = await readGguf(bytesSource(plain, 'p.gguf'));
    expect(f.dataStart % 32).toBe(0);
    expect(f.tensors.map((t) => [t.name, t.dims, t.shape, t.offset - f.dataStart])).toEqual([
      ['a', [3], [3], 0],
      ['b', [2, 1], [1, 2], 32],
    ]);
    expect(Array.from(new Float32Array((await f.readRaw(f.tensors[1]!)).slice().buffer))).toEqual([4, 5]);

    const aligned = await bytesOf(new Map([['general.alignment', gv.u32(64)]]), tensors);
    const g = await readGguf(bytesSource(aligned, 'q.gguf'));
    expect(g.alignment).toBe(64);
    expect(g.dataStart % 64).toBe(0);
    expect(g.tensors[1]!.offset - g.dataStart).toBe(64);
    expect(aligned.byteLength).toBe(g.dataStart + 64 + 64);
  });

  it('llama.cpp ↔ Hugging Face names, and the q/k row permutations are inverse', () => {
    const pairs = [
      ['token_embd.weight', 'model.embed_tokens.weight'],
      ['blk.3.attn_q.weight', 'model.layers.3.self_attn.q_proj.weight'],
      ['blk.3.attn_output.weight', 'model.layers.3.self_attn.o_proj.weight'],
      ['blk.12.ffn_down.weight', 'model.layers.12.mlp.down_proj.weight'],
      ['blk.0.ffn_norm.weight', 'model.layers.0.post_attention_layernorm.weight'],
      ['output_norm.weight', 'model.norm.weight'],
      ['output.weight', 'lm_head.weight'],
    ];
    for (const [g, h] of pairs) {
      expect(ggufToHfName(g!)).toBe(h);
      expect(hfToGgufName(h!)).toBe(g);
    }
    expect(ggufToHfName('rope_freqs.weight')).toBeNull();
    expect(ggufToHfName('blk.0.attn_qkv.weight')).toBeNull();
    const rows = new Uint8Array(2 * 8 * 3).map((_, i) => i); // 2 heads × head_dim 8, 3-byte rows
    const there = permuteRows(rows, 3, 2, 'to-gguf');
    // head 0: HF rows (0..3 | 4..7) interleave as 0,4,1,5,2,6,3,7
    expect(Array.from(there.subarray(0, 24)).filter((_, i) => i % 3 === 0).map((x) => x / 3)).toEqual([0, 4, 1, 5, 2, 6, 3, 7]);
    expect(Array.from(permuteRows(there, 3, 2, 'to-hf'))).toEqual(Array.from(rows));
  });

  it('BF16 tensors in a GGUF are imported as BF16, bit for bit', async () => {
    const src = await storiesFolder();
    const dir = await tempDir();
    const gguf = join(dir, 'f32.gguf');
    await exportGgufFile(src, gguf, { type: 'f32' });
    const f = await readGguf(fileSource(gguf));
    const bf16 = ggmlTypeByName('BF16');
    const tensors: GgufTensorToWrite[] = [];
    for (const t of f.tensors) {
      const raw = await f.readRaw(t);
      const matrix = t.shape.length === 2;
      tensors.push({
        name: t.name,
        shape: t.shape,
        type: matrix ? bf16 : t.type,
        data: matrix ? encodeFromF32('BF16', new Float32Array(raw.slice().buffer)) : raw,
      });
    }
    const path = join(dir, 'bf16.gguf');
    writeFileSync(path, await bytesOf(new Map(f.metadata), tensors));
    const out = join(dir, 'hf');
    await importGgufFile(path, out);
    const a = await checkpointOf(src);
    const b = await checkpointOf(out);
    for (const name of a.names()) {
      const matrix = a.info(name).shape.length === 2;
      expect(b.info(name).dtype, name).toBe(matrix ? 'BF16' : 'F32');
      if (matrix) expect(Buffer.from(await b.readRaw(name)).equals(Buffer.from(encodeFromF32('BF16', await a.readF32(name)))), name).toBe(true);
    }
  });
});
