// Q8_0: a GGUF written by our writer (stories260K exported with --dtype q8_0) imports within the quantisation error.
// Per element |x − x̂| ≤ d/2 + 127·|d − f16(d)|, d = absmax(block)/127: rounding to the nearest step of d, plus the
// scale being stored as f16 (relative error ≤ 2⁻¹¹, so the bound is at most (1/2 + 127·2⁻¹¹)·d ≈ 0.562·d).
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { exportGgufFile, importGgufFile } from '../../../src/io/node/gguf.ts';
import { fileSource } from '../../../src/io/node/fs.ts';
import { readGguf } from '../../../src/io/gguf/reader.ts';
import { dequantizeQ8_0, quantizeQ8_0, QK8_0 } from '../../../src/io/gguf/quant.ts';
import { f16BitsToF32, f32ToF16Bits } from '../../../src/io/safetensors/dtypes.ts';
import { checkpointOf, removeTemps, storiesFolder, tempDir } from './helpers.ts';

afterAll(removeTemps);

/** max over elements of |x − x̂| / bound and of |x − x̂| / (absmax/127/2), block by block. */
function q8Errors(x: Float32Array, y: Float32Array): { worstVsBound: number; worstVsHalfStep: number; maxAbs: number } {
  let worstVsBound = 0;
  let worstVsHalfStep = 0;
  let maxAbs = 0;
  for (let b = 0; b < x.length; b += QK8_0) {
    let amax = 0;
    for (let j = 0; j < QK8_0; j++) amax = Math.max(amax, Math.abs(x[b + j]!));
    const d = Math.fround(amax / 127);
    const d16 = f16BitsToF32(f32ToF16Bits(d));
    const bound = d / 2 + 127 * Math.abs(d - d16) + 1e-12;
    for (let j = 0; j < QK8_0; j++) {
      const e = Math.abs(x[b + j]! - y[b + j]!);
      maxAbs = Math.max(maxAbs, e);
      worstVsBound = Math.max(worstVsBound, e / bound);
      if (d > 0) worstVsHalfStep = Math.max(worstVsHalfStep, e / (d / 2));
    }
  }
  return { worstVsBound, worstVsHalfStep, maxAbs };
}

describe('Q8_0', () => {
  it('quantize/dequantize: zeros, ±absmax exact, round half away from zero, error within the bound', () => {
    const x = new Float32Array(64);
    for (let i = 0; i < 32; i++) x[32 + i] = (i - 15.5) * 0.37;
    const q = quantizeQ8_0(x);
    expect(q.byteLength).toBe(68);
    const y = dequantizeQ8_0(q);
    expect(Array.from(y.subarray(0, 32))).toEqual(new Array(32).fill(0));
    expect(new Int8Array(q.buffer, 34 + 2, 32)[0]).toBe(-127); // the absmax element maps to ∓127
    expect(q8Errors(x, y).worstVsBound).toBeLessThanOrEqual(1);
  });

  it('stories260K exported as Q8_0 imports within d/2 + 127·|d − f16(d)| per element', async () => {
    const src = await storiesFolder();
    const dir = await tempDir();
    const gguf = join(dir, 'stories-q8_0.gguf');
    const exp = await exportGgufFile(src, gguf, { type: 'q8_0' });
    const types = Object.fromEntries(exp.tensors.map((t) => [t.name, t.type]));
    expect(types['token_embd.weight']).toBe('Q8_0');
    expect(types['blk.0.attn_q.weight']).toBe('Q8_0');
    expect(types['blk.0.ffn_norm.weight']).toBe('F32');
    // down_proj rows are 172 long, not whole 32-element blocks: F16, as llama.cpp's converter falls back.
    expect(types['blk.0.ffn_down.weight']).toBe('F16');
    const file = await readGguf(fileSource(gguf));
    const q8 = file.tensors.filter((t) => t.type.name === 'Q8_0').length;
    expect(q8).toBe(1 + 5 * 6);

    const back = join(dir, 'back');
    await importGgufFile(gguf, back);
    const before = await checkpointOf(src);
    const after = await checkpointOf(back);
    let worstVsBound = 0;
    let worstVsHalfStep = 0;
    let maxAbs = 0;
    for (const name of before.names()) {
      const x = await before.readF32(name);
      const y = await after.readF32(name);
      const info = before.info(name);
      if (info.shape.length === 1) {
        expect(Array.from(y), name).toEqual(Array.from(x));
        continue;
      }
      if (info.shape[1]! % QK8_0 !== 0) continue; // the F16 fallback, covered by the f16 round trip
      expect(after.info(name).dtype).toBe('F32');
      const e = q8Errors(x, y);
      worstVsBound = Math.max(worstVsBound, e.worstVsBound);
      worstVsHalfStep = Math.max(worstVsHalfStep, e.worstVsHalfStep);
      maxAbs = Math.max(maxAbs, e.maxAbs);
    }
    console.log(`Q8_0 stories260K: max |x − x̂| ${maxAbs.toExponential(3)}; max error / (absmax/127/2) ${worstVsHalfStep.toFixed(4)}; max error / bound ${worstVsBound.toFixed(4)}`);
    expect(worstVsBound).toBeLessThanOrEqual(1);
    expect(worstVsHalfStep).toBeLessThanOrEqual(1 + 254 * 2 ** -11);
  });
});
