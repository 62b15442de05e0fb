// GGUF export at q4_0 / q8_0 / q4_k_m / q6_k: each tensor's type as llama-quantize chooses it (presets.ts), the
// blocks in the file exactly the quantiser's bytes, import exactly the de-quantisation of those blocks, a second
// export of the imported model writing the same blocks again for Q4_0/Q5_0/Q8_0 (and within the first
// generation's error for the K-quants, whose scale search can move), and the error per type within measured bounds.
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { exportGgufFile, importGgufFile } from '../../../src/io/node/gguf.ts';
import { fileSource } from '../../../src/io/node/fs.ts';
import { readGguf, type GgufFile } from '../../../src/io/gguf/reader.ts';
import { ggufToHfName, permuteRows, rotaryHeads } from '../../../src/io/gguf/names.ts';
import { f32ToGgml, ggmlToF32 } from '../../../src/io/gguf/quant.ts';
import { tensorTypeFor, useMoreBits, type GgufOutType } from '../../../src/io/gguf/presets.ts';
import { parseModelConfig } from '../../../src/io/config.ts';
import { readJson } from '../../../src/io/model-files.ts';
import { dirModelFiles } from '../../../src/io/node/dir-model-files.ts';
import { checkpointOf, removeTemps, storiesFolder, tempDir, wideFolder } from './helpers.ts';

afterAll(removeTemps);

function typesOf(file: GgufFile): Record<string, string> {
  return Object.fromEntries(file.tensors.map((t) => [t.name, t.type.name]));
}

// The JS K-quantisers run at ~1–2 M values/s: exporting the 256-wide model twice takes a few seconds.
describe('llama-quantize\'s per-tensor choices', { timeout: 60_000 }, () => {
  it('use_more_bits picks the first and last eighth and every third layer between', () => {
    const pick = (n: number) => Array.from({ length: n }, (_, i) => i).filter((i) => useMoreBits(i, n));
    expect(pick(5)).toEqual([2, 4]);
    expect(pick(2)).toEqual([1]);
    expect(pick(24)).toEqual([0, 1, 2, 5, 8, 11, 14, 17, 20, 21, 22, 23]); // e.g. a 24-layer model (Llama-3.2-1B has 16)
    expect(pick(32)).toEqual([0, 1, 2, 3, 6, 9, 12, 15, 18, 21, 24, 27, 28, 29, 30, 31]);
  });

  it('fallbacks: rows that are not whole blocks, and norms', () => {
    expect(tensorTypeFor('q4_k_m', 'blk.0.attn_q.weight', [64, 64], 5, true)).toBe('Q5_0'); // Q4_K → Q5_0
    expect(tensorTypeFor('q4_k_m', 'blk.2.attn_v.weight', [32, 64], 5, true)).toBe('Q8_0'); // Q6_K → Q8_0
    expect(tensorTypeFor('q4_k_m', 'blk.2.ffn_down.weight', [64, 172], 5, true)).toBe('F16'); // … → F16
    expect(tensorTypeFor('q4_k_m', 'token_embd.weight', [512, 64], 5, true)).toBe('Q8_0'); // tied output, 64 % 256
    expect(tensorTypeFor('q4_k_m', 'token_embd.weight', [512, 256], 5, false)).toBe('Q4_K'); // untied: ordinary
    expect(tensorTypeFor('q4_0', 'output.weight', [512, 256], 5, false)).toBe('Q6_K');
    expect(tensorTypeFor('q4_0', 'output.weight', [512, 64], 5, false)).toBe('Q8_0'); // Q6_K → Q8_0
    expect(tensorTypeFor('q8_0', 'blk.0.ffn_down.weight', [64, 172], 5, true)).toBe('F16');
    expect(tensorTypeFor('q5_k_m', 'blk.0.attn_q.weight', [64, 64], 5, true)).toBe('Q5_1'); // Q5_K → Q5_1
    expect(tensorTypeFor('q4_k_m', 'blk.0.attn_norm.weight', [256], 5, true)).toBe('F32');
    expect(tensorTypeFor('q4_k_m', 'blk.0.attn_q.bias', [256], 5, true)).toBe('F32');
  });

  it('stories260K (rows of 64 and 172) at q4_k_m: Q5_0, Q8_0 and F16 where Q4_K/Q6_K do not fit, as llama.cpp', async () => {
    const dir = await tempDir();
    await exportGgufFile(await storiesFolder(), join(dir, 's.gguf'), { type: 'q4_k_m' });
    const t = typesOf(await readGguf(fileSource(join(dir, 's.gguf'))));
    expect(t['token_embd.weight']).toBe('Q8_0');
    expect(t['output.weight']).toBeUndefined(); // tied
    for (let i = 0; i < 5; i++) {
      expect(t[`blk.${i}.attn_norm.weight`]).toBe('F32');
      expect(t[`blk.${i}.ffn_norm.weight`]).toBe('F32');
      for (const m of ['attn_q', 'attn_k', 'attn_output', 'ffn_gate', 'ffn_up']) expect(t[`blk.${i}.${m}.weight`]).toBe('Q5_0');
      expect(t[`blk.${i}.attn_v.weight`]).toBe(i === 2 || i === 4 ? 'Q8_0' : 'Q5_0');
      expect(t[`blk.${i}.ffn_down.weight`]).toBe('F16');
    }
    expect(t['output_norm.weight']).toBe('F32');
  });

  it('the 256-wide model at each preset', async () => {
    const src = await wideFolder();
    const dir = await tempDir();
    const want: Record<GgufOutType, (n: string) => string> = {
      q4_k_m: (n) => (n === 'token_embd.weight' || n === 'blk.1.attn_v.weight' || n === 'blk.1.ffn_down.weight' ? 'Q6_K' : 'Q4_K'),
      q5_k_m: (n) => (n === 'token_embd.weight' || n === 'blk.1.attn_v.weight' || n === 'blk.1.ffn_down.weight' ? 'Q6_K' : 'Q5_K'),
      q6_k: () => 'Q6_K',
      q4_0: (n) => (n === 'token_embd.weight' ? 'Q6_K' : 'Q4_0'),
      q8_0: () => 'Q8_0',
      f16: () => 'F16',
      bf16: () => 'BF16',
      f32: () => 'F32',
    };
    for (const preset of ['q4_k_m', 'q5_k_m', 'q6_k', 'q4_0', 'q8_0'] as const) {
      await exportGgufFile(src, join(dir, `${preset}.gguf`), { type: preset });
      const file = await readGguf(fileSource(join(dir, `${preset}.gguf`)));
      for (const t of file.tensors) expect(t.type.name, `${preset} ${t.name}`).toBe(t.shape.length === 1 ? 'F32' : want[preset](t.name));
      expect(Number(file.metadata.get('general.file_type')!.value)).toBe({ q4_k_m: 15, q5_k_m: 17, q6_k: 18, q4_0: 2, q8_0: 7 }[preset]);
    }
  });
});

/** Per type: the largest per-tensor rms(x − x̂)/rms(x). */
type ErrByType = Record<string, number>;

async function roundTrip(src: string, preset: GgufOutType): Promise<{ errors: ErrByType; changed: ErrByType }> {
  const dir = await tempDir();
  const first = join(dir, 'a.gguf');
  await exportGgufFile(src, first, { type: preset, name: 'm' });
  const back = join(dir, 'back');
  const imp = await importGgufFile(first, back);
  const file = await readGguf(fileSource(first));
  const cfg = parseModelConfig(await readJson(dirModelFiles(src), 'config.json'));
  const before = await checkpointOf(src);
  const after = await checkpointOf(back);
  const errors: ErrByType = {};
  const changed: ErrByType = {};
  const got = new Map<string, Float32Array>(); // GGUF name → imported values, Hugging Face order
  for (const t of file.tensors) {
    const hf = ggufToHfName(t.name)!;
    const raw = await file.readRaw(t);
    const cols = t.shape[t.shape.length - 1]!;
    const rows = t.shape.length > 1 ? t.shape[0]! : 1;
    const heads = rotaryHeads(hf, cfg);
    // the blocks in the file are what the quantiser makes of the (RoPE-permuted) source values
    const x = await before.readF32(hf);
    const xg = heads === null ? x : new Float32Array(permuteRows(new Uint8Array(x.buffer), cols * 4, heads, 'to-gguf').buffer);
    expect(Buffer.from(f32ToGgml(t.type, xg)).equals(Buffer.from(raw)), `${preset} ${t.name}: file bytes = quantiser bytes`).toBe(true);
    // import is the de-quantisation of those blocks, bit for bit (rows moved back to Hugging Face order)
    const hfRaw = heads === null ? raw : permuteRows(raw, raw.byteLength / rows, heads, 'to-hf');
    const want = ggmlToF32(t.type, hfRaw);
    const got1 = await after.readF32(hf);
    got.set(t.name, got1);
    expect(Buffer.from(got1.buffer, got1.byteOffset, got1.byteLength).equals(Buffer.from(want.buffer)), `${preset} ${t.name}: import = de-quantised blocks`).toBe(true);
    let e = 0, s = 0;
    for (let i = 0; i < x.length; i++) {
      e += (x[i]! - got1[i]!) ** 2;
      s += x[i]! ** 2;
    }
    errors[t.type.name] = Math.max(errors[t.type.name] ?? 0, Math.sqrt(e / s));
  }
  if (Object.keys(imp.dequantized).length > 0) expect(imp.dequantized).toEqual(Object.fromEntries(Object.keys(imp.dequantized).map((k) => [k, file.tensors.filter((t) => t.type.name === k).length])));

  // export the imported model again. ggml's Q4_0/Q5_0/Q8_0 quantisers map their own de-quantised values back to
  // the same blocks (the scale comes from the absmax element, which sits exactly on a level); the K-quants search
  // for a best scale, and de-quantised input can move that optimum: Q4_K almost never, Q5_K in a few % of blocks, Q6_K (whose
  // make_qx_quants search starts from the absmax again) in about half the blocks — bounded by its own step.
  const second = join(dir, 'b.gguf');
  await exportGgufFile(back, second, { type: preset, name: 'm' });
  const file2 = await readGguf(fileSource(second));
  for (const [i, t] of file.tensors.entries()) {
    const t2 = file2.tensors[i]!;
    expect(t2.name).toBe(t.name);
    expect(t2.type.name).toBe(t.type.name);
    const a = await file.readRaw(t), b = await file2.readRaw(t2);
    let blocks = 0;
    const size = t.type.typeSize;
    for (let o = 0; o < a.length; o += size) if (!Buffer.from(a.subarray(o, o + size)).equals(Buffer.from(b.subarray(o, o + size)))) blocks++;
    const share = blocks / (a.length / size);
    changed[t.type.name] = Math.max(changed[t.type.name] ?? 0, share);
    if (t.type.name === 'Q6_K' || t.type.name === 'Q4_K' || t.type.name === 'Q5_K') {
      // the second generation stays within the first one's error of it
      const y1 = ggmlToF32(t.type, a), y2 = ggmlToF32(t.type, b);
      const xg = await before.readF32(ggufToHfName(t.name)!);
      let d21 = 0, d10 = 0;
      for (let k = 0; k < y1.length; k++) {
        d21 += (y2[k]! - y1[k]!) ** 2;
        d10 += (xg[k]! - (got.get(t.name) ?? y1)[k]!) ** 2;
      }
      expect(Math.sqrt(d21), `${preset} ${t.name}`).toBeLessThanOrEqual(Math.sqrt(d10));
    } else {
      expect(blocks, `${preset} ${t.name} (${t.type.name}): re-export writes the same blocks`).toBe(0);
    }
  }
  return { errors, changed };
}

describe('quantize → export → import → export, byte for byte', { timeout: 60_000 }, () => {
  it.each(['q4_k_m', 'q5_k_m', 'q6_k', 'q4_0', 'q8_0'] as const)('%s on the 256-wide model', async (preset) => {
    const { errors, changed } = await roundTrip(await wideFolder(), preset);
    const fmt = (e: ErrByType) => JSON.stringify(Object.fromEntries(Object.entries(e).map(([k, v]) => [k, Number(v.toPrecision(3))])));
    console.log(`${preset}: worst per-tensor rms error / rms by type ${fmt(errors)}; share of blocks a re-export changes ${fmt(changed)}`);
    if (changed.Q4_K !== undefined) expect(changed.Q4_K).toBeLessThan(0.01); // measured 1 block in 512
    if (changed.Q5_K !== undefined) expect(changed.Q5_K).toBeLessThan(0.05); // measured 3.7%
    // uniform weights; bounds ~10% above what was measured (Q4_K 0.0547, Q5_K 0.0277, Q4_0 0.0652, Q6_K 0.0134, Q8_0 0.00378)
    const bound: Record<string, number> = { Q4_K: 0.06, Q5_K: 0.031, Q4_0: 0.072, Q6_K: 0.015, Q8_0: 0.0042, F32: 0 };
    for (const [type, e] of Object.entries(errors)) expect(e, type).toBeLessThanOrEqual(bound[type]!);
  });

  it('q4_k_m on stories260K (the Q5_0 / Q8_0 / F16 fallbacks)', async () => {
    const { errors } = await roundTrip(await storiesFolder(), 'q4_k_m');
    console.log(`stories260K q4_k_m: worst per-tensor rms error / rms by type ${JSON.stringify(errors)}`);
    expect(Object.keys(errors).sort()).toEqual(['F16', 'F32', 'Q5_0', 'Q8_0']);
    // measured: Q5_0 0.0498, Q8_0 0.00562, F16 2.05e-4
    const bound: Record<string, number> = { Q5_0: 0.055, Q8_0: 0.0062, F16: 2.3e-4, F32: 0 };
    for (const [type, e] of Object.entries(errors)) expect(e, type).toBeLessThanOrEqual(bound[type]!);
  });
});
