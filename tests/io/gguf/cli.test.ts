// `alloy export-gguf` and `alloy import FILE.gguf` through main(): stories260K out and back in; bad --dtype, a
// folder without tokenizer.json and a non-GGUF file each fail in one line with exit 1 and write nothing.
import { existsSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { main } from '../../../src/cli/main.ts';
import { capture } from '../../cli/capture.ts';
import { checkpointOf, removeTemps, storiesFolder, tempDir } from './helpers.ts';

afterAll(removeTemps);

describe('alloy export-gguf / alloy import FILE.gguf', () => {
  it('exports stories260K as f16 GGUF and imports it back', async () => {
    const src = await storiesFolder();
    const dir = await tempDir();
    const gguf = join(dir, 'stories.gguf');
    let io = capture();
    expect(await main(['export-gguf', '--model', src, '--out', gguf], io), io.stderr).toBe(0);
    expect(io.stdout).toMatch(/^wrote .*stories\.gguf \(.+, GGUF v3 llama, 47 tensors: F16 × 36, F32 × 11; "llama" vocabulary\) in [\d.]+ s\n$/);
    const out = join(dir, 'back');
    io = capture();
    expect(await main(['import', gguf, '--out', out], io), io.stderr).toBe(0);
    expect(io.stdout).toContain('(GGUF llama: hidden 64, 5 layers, 8/4 heads, vocab 512, F16 × 36, F32 × 11)');
    expect(io.stderr).toBe('');
    expect(readdirSync(out).sort()).toEqual(['config.json', 'model.safetensors', 'special_tokens_map.json', 'tokenizer.json', 'tokenizer_config.json']);
    expect((await checkpointOf(out)).info('model.embed_tokens.weight').dtype).toBe('F16');
  });

  it('--dtype bf16 keeps matrices BF16 (norms F32) through export and import', async () => {
    const src = await storiesFolder();
    const dir = await tempDir();
    const gguf = join(dir, 'bf16.gguf');
    const io = capture();
    expect(await main(['export-gguf', '--model', src, '--out', gguf, '--dtype', 'bf16'], io), io.stderr).toBe(0);
    expect(io.stdout).toContain('47 tensors: BF16 × 36, F32 × 11');
    expect(await main(['import', gguf, '--out', join(dir, 'back')], capture())).toBe(0);
    const ck = await checkpointOf(join(dir, 'back'));
    expect(ck.info('model.layers.0.mlp.down_proj.weight').dtype).toBe('BF16');
    expect(ck.info('model.norm.weight').dtype).toBe('F32');
  });

  it('--dtype q4_k_m: llama-quantize\'s types; import keeps them, --dequantize unpacks them and says so', async () => {
    const src = await storiesFolder();
    const dir = await tempDir();
    const gguf = join(dir, 'q4km.gguf');
    let io = capture();
    expect(await main(['export-gguf', '--model', src, '--out', gguf, '--dtype', 'q4_k_m'], io), io.stderr).toBe(0);
    // stories260K's rows (64, 172) are not whole Q4_K super-blocks: Q5_0, Q8_0 (tied output, attn_v of layers 2
    // and 4) and F16 (ffn_down), as llama-quantize falls back
    expect(io.stdout).toContain('47 tensors: Q8_0 × 3, F32 × 11, Q5_0 × 28, F16 × 5');
    io = capture();
    expect(await main(['import', gguf, '--out', join(dir, 'kept')], io), io.stderr).toBe(0);
    expect(io.stdout).toContain('vocab 512, Q8_0 × 3, F32 × 11, Q5_0 × 28, F16 × 5)');
    expect(io.stdout).not.toContain('de-quantised');
    const kept = await checkpointOf(join(dir, 'kept'));
    // stored as the GGUF blocks; read as their de-quantised F32 values
    expect(kept.info('model.layers.0.self_attn.q_proj.weight')).toMatchObject({ dtype: 'F32', shape: [64, 64], ggmlType: 'Q5_0' });
    io = capture();
    expect(await main(['info', '--model', join(dir, 'kept')], io), io.stderr).toBe(0);
    // each storage type with its count and stored bytes; GPU bytes as loadModel keeps them (Q8_0 packed, Q5_0
    // and the tied Q8_0 embedding de-quantised to f32 at load)
    expect(io.stdout).toMatch(/dtype\s+F32 × 11 \([\d.]+ KB\), F16 × 5 \([\d.]+ KB\), Q8_0 × 3 \([\d.]+ KB\), Q5_0 × 28 \([\d.]+ KB\)/);
    expect(io.stdout).toMatch(/memory\s+[\d.]+ KB of weights on the GPU \([\d.]+ MB if all f32\); [\d.]+ KB stored/);
    io = capture();
    expect(await main(['import', gguf, '--dequantize', 'f32', '--out', join(dir, 'back')], io), io.stderr).toBe(0);
    expect(io.stdout).toContain('de-quantised on import (3 Q8_0, 28 Q5_0 tensors), as asked');
    const back = await checkpointOf(join(dir, 'back'));
    expect(back.info('model.layers.0.self_attn.q_proj.weight').dtype).toBe('F32');
    expect(back.info('model.layers.0.self_attn.q_proj.weight').ggmlType).toBeUndefined();
    // the same values either way
    const a = await kept.readF32('model.layers.0.self_attn.q_proj.weight');
    expect(Buffer.from(a.buffer).equals(Buffer.from((await back.readF32('model.layers.0.self_attn.q_proj.weight')).buffer))).toBe(true);
    expect(await main(['import', gguf, '--dequantize', 'q8', '--out', join(dir, 'x')], (io = capture()))).toBe(1);
    expect(io.stderr).toBe('alloy: --dequantize q8: unpack to f16, bf16 or f32\n');
  });

  it('refusals are one line, exit 1, and leave no file', async () => {
    const src = await storiesFolder();
    const dir = await tempDir();
    let io = capture();
    expect(await main(['export-gguf', '--model', src, '--out', join(dir, 'x.gguf'), '--dtype', 'q4_k_s'], io)).toBe(1);
    expect(io.stderr).toBe('alloy: --dtype must be one of f16, bf16, f32, q8_0, q6_k, q5_k_m, q4_k_m, q4_0, got "q4_k_s"\n');

    rmSync(join(src, 'tokenizer.json'));
    io = capture();
    expect(await main(['export-gguf', '--model', src, '--out', join(dir, 'y.gguf')], io)).toBe(1);
    expect(io.stderr).toMatch(/^alloy: .* has no tokenizer\.json; a GGUF file must embed its vocabulary for llama\.cpp to load it\n$/);

    const fake = join(dir, 'fake.gguf');
    writeFileSync(fake, 'not a gguf file at all');
    io = capture();
    expect(await main(['import', fake, '--out', join(dir, 'z')], io)).toBe(1);
    expect(io.stderr).toBe('alloy: fake.gguf: not a GGUF file (magic bytes 6e 6f 74 20, expected 47 47 55 46 "GGUF")\n');
    expect(readdirSync(dir).sort()).toEqual(['fake.gguf']);
    expect(existsSync(join(dir, 'z'))).toBe(false);
  });
});
