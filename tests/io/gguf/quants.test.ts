// ggml block types: de-quantisation of hand-built blocks of every readable type against values worked from the
// layouts (each element located by its own index arithmetic, independent of dequant.ts's walk), against llama.cpp's
// gguf-py (its numpy de-quantisers and quantisers, and a GGUF file its GGUFWriter wrote), and the quantisers' own
// guarantees: each stored level is the best one for the stored scales, and the errors stay within measured bounds.
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { fileSource } from '../../../src/io/node/fs.ts';
import { readGguf } from '../../../src/io/gguf/reader.ts';
import { BLOCK_DECODERS, dequantize, QK_K, scaleMinK4, scaleQ3K } from '../../../src/io/gguf/dequant.ts';
import { nearestInt, quantizeQ3_K, quantizeQ4_0, quantizeQ4_1, quantizeQ4_K, quantizeQ5_0, quantizeQ5_1, quantizeQ5_K, quantizeQ6_K, quantizeQ8_0 } from '../../../src/io/gguf/quantize.ts';
import { ggmlToF32 } from '../../../src/io/gguf/quant.ts';
import { f16BitsToF32, f32ToF16Bits } from '../../../src/io/safetensors/dtypes.ts';
import { mulberry32 } from '../../../src/common/random.ts';
import { ggufPySkip, runPy } from './gguf-py.ts';

const tmp = mkdtempSync(join(tmpdir(), 'alloy-quants-'));
afterAll(() => rmSync(tmp, { recursive: true, force: true }));

const h16 = (x: number) => f32ToF16Bits(Math.fround(x));
const v16 = (bits: number) => f16BitsToF32(bits);

/** Gaussian-ish values (sum of 4 uniforms), deterministic. */
function gaussian(n: number, seed: number, scale = 1): Float32Array {
  const r = mulberry32(seed);
  const out = new Float32Array(n);
  for (let i = 0; i < n; i++) out[i] = (r() + r() + r() + r() - 2) * scale * Math.sqrt(3);
  return out;
}

function bits(a: Float32Array): Uint32Array {
  return new Uint32Array(a.buffer, a.byteOffset, a.length);
}

/** First index where two float32 arrays differ in bits (−1: identical). */
function firstBitDiff(a: Float32Array, b: Float32Array): number {
  expect(a.length).toBe(b.length);
  const x = bits(a), y = bits(b);
  for (let i = 0; i < x.length; i++) if (x[i] !== y[i]) return i;
  return -1;
}

/** Packs 8 six-bit scales and 8 six-bit mins as Q4_K/Q5_K's 12 bytes (ggml-common.h's picture, written anew). */
function packK4(sc: number[], mn: number[]): number[] {
  const b = new Array<number>(12).fill(0);
  for (let j = 0; j < 4; j++) {
    b[j] = sc[j]! | ((sc[j + 4]! >> 4) << 6);
    b[j + 4] = mn[j]! | ((mn[j + 4]! >> 4) << 6);
    b[j + 8] = (sc[j + 4]! & 15) | ((mn[j + 4]! & 15) << 4);
  }
  return b;
}

/** Packs 16 signed six-bit scales (−32…31) as Q3_K's 12 bytes. */
function packQ3(s: number[]): number[] {
  const b = new Array<number>(12).fill(0);
  for (let j = 0; j < 16; j++) {
    const u = s[j]! + 32;
    b[j % 8]! |= (u & 15) << (j < 8 ? 0 : 4);
    b[8 + (j % 4)]! |= (u >> 4) << (2 * Math.floor(j / 4));
  }
  return b;
}

interface Worked {
  bytes: Uint8Array;
  want: Float32Array;
  /** a few elements worked out by hand, as [index, value] */
  spot: [number, number][];
}

/** One hand-built block per type and the value of each element, computed from the layout in float64 then rounded once. */
function worked(type: string): Worked {
  const r = mulberry32(type.length * 7919 + type.charCodeAt(1));
  const byte = () => Math.floor(r() * 256);
  const { bytes: size, block: n } = BLOCK_DECODERS[type]!;
  const b = new Uint8Array(size);
  const dv = new DataView(b.buffer);
  const want = new Float32Array(n);
  const bit = (word: number, k: number) => (word >>> k) & 1;
  for (let i = 0; i < size; i++) b[i] = byte();
  switch (type) {
    case 'Q4_0': {
      dv.setUint16(0, h16(0.5), true);
      for (let i = 0; i < 32; i++) want[i] = ((i < 16 ? b[2 + i]! & 15 : b[2 + i - 16]! >> 4) - 8) * 0.5;
      b[2] = 0xf0; // element 0: lo 0 → (0 − 8)·0.5 = −4; element 16: hi 15 → (15 − 8)·0.5 = 3.5
      want[0] = -4;
      want[16] = 3.5;
      return { bytes: b, want, spot: [[0, -4], [16, 3.5]] };
    }
    case 'Q4_1': {
      dv.setUint16(0, h16(0.25), true);
      dv.setUint16(2, h16(-1.5), true);
      for (let i = 0; i < 32; i++) want[i] = (i < 16 ? b[4 + i]! & 15 : b[4 + i - 16]! >> 4) * 0.25 - 1.5;
      return { bytes: b, want, spot: [[0, (b[4]! & 15) * 0.25 - 1.5]] };
    }
    case 'Q5_0': case 'Q5_1': {
      const d = v16(h16(0.1)); // 0.0999755859375
      const m = type === 'Q5_1' ? v16(h16(-0.7)) : 0;
      dv.setUint16(0, h16(0.1), true);
      if (m) dv.setUint16(2, h16(-0.7), true);
      const qhAt = type === 'Q5_1' ? 4 : 2;
      dv.setUint32(qhAt, 0x80000001, true); // high bit set for element 0 and element 31 only
      const qs = qhAt + 4;
      b[qs] = 0x00; // element 0: 0 | 16 → 16; element 16: 0, no high bit → 0
      b[qs + 15] = 0xff; // element 15: 15; element 31: 15 | 16 → 31
      const qh = dv.getUint32(qhAt, true);
      for (let i = 0; i < 32; i++) {
        const q = (i < 16 ? b[qs + i]! & 15 : b[qs + i - 16]! >> 4) | (bit(qh, i) << 4);
        want[i] = Math.fround(type === 'Q5_0' ? (q - 16) * d : q * d + m);
      }
      const spot: [number, number][] = type === 'Q5_0' ? [[0, 0], [16, -16 * d], [31, 15 * d]] : [[0, Math.fround(16 * d + m)], [31, Math.fround(31 * d + m)]];
      return { bytes: b, want, spot };
    }
    case 'Q8_0': {
      const d = v16(h16(1 / 3));
      dv.setUint16(0, h16(1 / 3), true);
      b[2] = 0x80; // −128
      for (let i = 0; i < 32; i++) want[i] = dv.getInt8(2 + i) * d;
      return { bytes: b, want, spot: [[0, -128 * d]] };
    }
    case 'Q2_K': {
      const d = v16(h16(0.02)), dmin = v16(h16(0.011));
      dv.setUint16(80, h16(0.02), true);
      dv.setUint16(82, h16(0.011), true);
      for (let i = 0; i < 256; i++) {
        const sub = i >> 4;
        const q = (b[16 + 32 * (i >> 7) + (i & 31)]! >> (2 * ((i >> 5) & 3))) & 3;
        want[i] = Math.fround(d * (b[sub]! & 15) * q - dmin * (b[sub]! >> 4));
      }
      return { bytes: b, want, spot: [] };
    }
    case 'Q3_K': {
      const s = Array.from({ length: 16 }, (_, j) => ((j * 11) % 64) - 32);
      b.set(packQ3(s), 96);
      const d = v16(h16(-0.013));
      dv.setUint16(108, h16(-0.013), true);
      for (let i = 0; i < 256; i++) {
        const low = (b[32 + 32 * (i >> 7) + (i & 31)]! >> (2 * ((i >> 5) & 3))) & 3;
        const high = (b[i & 31]! >> (i >> 5)) & 1;
        want[i] = Math.fround(d * s[i >> 4]! * (low + 4 * high - 4));
      }
      return { bytes: b, want, spot: [] };
    }
    case 'Q4_K': case 'Q5_K': {
      const sc = [63, 0, 17, 32, 45, 1, 62, 33];
      const mn = [5, 63, 0, 48, 31, 16, 2, 60];
      b.set(packK4(sc, mn), 4);
      const d = v16(h16(0.0031)), dmin = v16(h16(0.0017));
      dv.setUint16(0, h16(0.0031), true);
      dv.setUint16(2, h16(0.0017), true);
      const qs = type === 'Q4_K' ? 16 : 48;
      for (let i = 0; i < 256; i++) {
        const sub = i >> 5;
        let q = (b[qs + 32 * (i >> 6) + (i & 31)]! >> (4 * (sub & 1))) & 15;
        if (type === 'Q5_K') q += 16 * ((b[16 + (i & 31)]! >> sub) & 1);
        want[i] = Math.fround(d * sc[sub]! * q - dmin * mn[sub]!);
      }
      return { bytes: b, want, spot: [] };
    }
    case 'Q6_K': {
      const d = v16(h16(0.0007));
      dv.setUint16(208, h16(0.0007), true);
      dv.setInt8(192, -128);
      dv.setInt8(193, 127);
      for (let i = 0; i < 256; i++) {
        const l = i & 31, quarter = (i & 127) >> 5, h = i >> 7;
        const lo = (b[64 * h + l + 32 * (quarter & 1)]! >> (4 * (quarter >> 1))) & 15;
        const hi = (b[128 + 32 * h + l]! >> (2 * quarter)) & 3;
        want[i] = Math.fround(d * dv.getInt8(192 + (i >> 4)) * ((lo | (hi << 4)) - 32));
      }
      return { bytes: b, want, spot: [] };
    }
  }
  throw new Error(type);
}

const TYPES = Object.keys(BLOCK_DECODERS);

describe('de-quantisation of hand-built blocks', () => {
  it.each(TYPES)('%s: every element equals its value worked from the layout', (type) => {
    const { bytes, want, spot } = worked(type);
    const got = dequantize(type, bytes);
    for (const [i, v] of spot) expect(got[i], `${type}[${i}]`).toBe(v);
    const at = firstBitDiff(got, want);
    expect(at, at < 0 ? '' : `${type}[${at}]: got ${got[at]}, want ${want[at]}`).toBe(-1);
    // two blocks in a row decode independently
    const two = new Uint8Array(bytes.length * 2);
    two.set(bytes);
    two.set(bytes, bytes.length);
    const g2 = dequantize(type, two);
    expect(firstBitDiff(g2.subarray(want.length), want)).toBe(-1);
  });

  it('refuses a byte count that is not whole blocks', () => {
    expect(() => dequantize('Q4_K', new Uint8Array(143))).toThrow('143 bytes is not a whole number of Q4_K blocks (144 bytes each)');
  });

  it('nearestInt rounds ties to even, as ggml\'s float trick does', () => {
    expect([0.5, 1.5, 2.5, -0.5, -1.5, -2.5, 2.4999998, 3.7].map(nearestInt)).toEqual([0, 2, 2, -0, -2, -2, 2, 4]);
  });
});

/** Random blocks: random quant bytes, f16 scales of random sign and magnitude 2⁻¹²…1 (finite, so NaN never appears). */
function randomBlocks(type: string, nb: number, seed: number): Uint8Array {
  const { bytes } = BLOCK_DECODERS[type]!;
  const r = mulberry32(seed);
  const out = new Uint8Array(nb * bytes);
  for (let i = 0; i < out.length; i++) out[i] = Math.floor(r() * 256);
  const halves: Record<string, number[]> = {
    Q4_0: [0], Q4_1: [0, 2], Q5_0: [0], Q5_1: [0, 2], Q8_0: [0], Q2_K: [80, 82], Q3_K: [108], Q4_K: [0, 2], Q5_K: [0, 2], Q6_K: [208],
  };
  const dv = new DataView(out.buffer);
  for (let b = 0; b < nb; b++) {
    for (const o of halves[type]!) dv.setUint16(b * bytes + o, h16((r() < 0.5 ? -1 : 1) * 2 ** (-12 * r())), true);
  }
  return out;
}

describe.skipIf(ggufPySkip !== null)('against gguf-py (llama.cpp\'s reference Python package)', () => {
  it('de-quantises random blocks of every type to the same float32 bits', () => {
    const nb = 64;
    for (const [k, type] of TYPES.entries()) writeFileSync(join(tmp, `${type}.q`), randomBlocks(type, nb, 1000 + k));
    runPy(
      `import sys, numpy as np
from gguf import GGMLQuantizationType as T
from gguf.quants import dequantize
d = sys.argv[1]
for t in ${JSON.stringify(TYPES)}:
    raw = np.fromfile(f"{d}/{t}.q", dtype=np.uint8)
    dequantize(raw.reshape(1, -1), T[t]).astype(np.float32).tofile(f"{d}/{t}.ref")
`,
      tmp,
    );
    for (const type of TYPES) {
      const got = dequantize(type, readFileSync(join(tmp, `${type}.q`)));
      const ref = new Float32Array(new Uint8Array(readFileSync(join(tmp, `${type}.ref`))).buffer);
      expect(got.length).toBe(nb * BLOCK_DECODERS[type]!.block);
      const at = firstBitDiff(got, ref);
      expect(at, at < 0 ? '' : `${type}[${at}]: got ${got[at]}, gguf-py ${ref[at]}`).toBe(-1);
    }
  });

  it('quantises Q4_0, Q4_1, Q5_0, Q5_1 and Q8_0 to the same bytes as gguf-py', () => {
    const x = gaussian(64 * 256, 5, 0.02);
    x[3] = 0; // an exact zero, and a block of zeros (d = 0)
    x.fill(0, 256, 288);
    writeFileSync(join(tmp, 'x.f32'), new Uint8Array(x.buffer));
    runPy(
      `import sys, numpy as np
from gguf import GGMLQuantizationType as T
from gguf.quants import quantize
d = sys.argv[1]
x = np.fromfile(f"{d}/x.f32", dtype=np.float32).reshape(64, 256)
for t in ["Q4_0", "Q4_1", "Q5_0", "Q5_1", "Q8_0"]:
    quantize(x, T[t]).tofile(f"{d}/{t}.qref")
`,
      tmp,
    );
    const ours: Record<string, Uint8Array> = { Q4_0: quantizeQ4_0(x), Q4_1: quantizeQ4_1(x), Q5_0: quantizeQ5_0(x), Q5_1: quantizeQ5_1(x), Q8_0: quantizeQ8_0(x) };
    for (const [type, q] of Object.entries(ours)) {
      const ref = new Uint8Array(readFileSync(join(tmp, `${type}.qref`)));
      expect(q.length, type).toBe(ref.length);
      expect(Buffer.from(q).equals(Buffer.from(ref)), type).toBe(true);
    }
  });

  it('reads a GGUF file gguf-py\'s GGUFWriter wrote with a tensor of every type', async () => {
    for (const [k, type] of TYPES.entries()) writeFileSync(join(tmp, `${type}.w`), randomBlocks(type, 6, 2000 + k));
    runPy(
      `import sys, numpy as np
from gguf import GGUFWriter, GGMLQuantizationType as T
from gguf.quants import dequantize
d = sys.argv[1]
w = GGUFWriter(f"{d}/ref.gguf", "llama")
for t in ${JSON.stringify(TYPES)}:
    raw = np.fromfile(f"{d}/{t}.w", dtype=np.uint8).reshape(3, -1)
    w.add_tensor(f"t.{t}", raw, raw_dtype=T[t])
    dequantize(raw, T[t]).astype(np.float32).tofile(f"{d}/{t}.wref")
w.write_header_to_file(); w.write_kv_data_to_file(); w.write_tensors_to_file(); w.close()
`,
      tmp,
    );
    const file = await readGguf(fileSource(join(tmp, 'ref.gguf')));
    expect(file.tensors.map((t) => t.type.name)).toEqual(TYPES);
    for (const t of file.tensors) {
      const per = BLOCK_DECODERS[t.type.name]!.block;
      expect(t.shape).toEqual([3, 2 * per]);
      const got = ggmlToF32(t.type, await file.readRaw(t));
      const ref = new Float32Array(new Uint8Array(readFileSync(join(tmp, `${t.type.name}.wref`))).buffer);
      expect(firstBitDiff(got, ref), t.name).toBe(-1);
    }
  });
});

/** For each element, |x − x̂| minus the distance from x to the nearest representable level given the stored scales. */
function excessOverBestLevel(x: Float32Array, xhat: Float32Array, levels: (i: number) => number[]): number {
  let worst = 0;
  for (let i = 0; i < x.length; i++) {
    let best = Infinity;
    for (const v of levels(i)) best = Math.min(best, Math.abs(x[i]! - v));
    worst = Math.max(worst, Math.abs(x[i]! - xhat[i]!) - best);
  }
  return worst;
}

function rmsRel(x: Float32Array, y: Float32Array): number {
  let e = 0, s = 0;
  for (let i = 0; i < x.length; i++) {
    e += (x[i]! - y[i]!) ** 2;
    s += x[i]! ** 2;
  }
  return Math.sqrt(e / s);
}

// kquants-x.f32 (16 super-blocks: Gaussian values with outliers at scales 0.02, 1, 3·10⁻⁵ and 40, an all-zero block,
// a constant run, an all-positive block) and the bytes ggml's own quantize_row_{q3,q4,q5,q6}_K_ref wrote for it:
// those functions (with make_qkx2_quants, make_qx_quants, make_q3_quants, nearest_int, get_scale_min_k4) taken verbatim
// from llama.cpp's ggml/src/ggml-quants.c (commit 01243c58), compiled by gcc -O2 -ffp-contract=off on x86-64
// (float32 throughout, no FMA, as ggml-base builds them) with _Float16 for ggml_half. The program is not kept here.
const FIX = join(import.meta.dirname, 'fixtures');

describe('K-quant quantisers', () => {
  it('Q3_K, Q4_K, Q5_K and Q6_K write the bytes ggml\'s reference quantisers wrote, byte for byte', () => {
    const x = new Float32Array(new Uint8Array(readFileSync(join(FIX, 'kquants-x.f32'))).buffer);
    for (const [type, quant] of [['q3_k', quantizeQ3_K], ['q4_k', quantizeQ4_K], ['q5_k', quantizeQ5_K], ['q6_k', quantizeQ6_K]] as const) {
      const ref = readFileSync(join(FIX, `kquants-ggml.${type}`));
      const q = Buffer.from(quant(x));
      let diff = 0;
      for (let i = 0; i < ref.length; i++) if (q[i] !== ref[i]) diff++;
      expect(q.length, type).toBe(ref.length);
      expect(diff, `${type}: ${diff} bytes differ`).toBe(0);
    }
  });

  const x = gaussian(256 * 64, 11, 0.05);
  // a heavy outlier in one sub-block and an all-zero super-block exercise the search's edges
  x[40] = 0.9;
  x.fill(0, 512, 768);

  it('Q4_K: each level is the nearest for the stored scale and min; error within the measured bound', () => {
    const q = quantizeQ4_K(x);
    expect(q.length).toBe(64 * 144);
    const y = dequantize('Q4_K', q);
    const levels = (i: number) => {
      const o = Math.floor(i / 256) * 144;
      const d = v16(q[o]! | (q[o + 1]! << 8)), dmin = v16(q[o + 2]! | (q[o + 3]! << 8));
      const [s, m] = scaleMinK4(q, o + 4, (i % 256) >> 5);
      return Array.from({ length: 16 }, (_, l) => Math.fround(Math.fround(Math.fround(d * s) * l) - Math.fround(dmin * m)));
    };
    const excess = excessOverBestLevel(x, y, levels);
    const rel = rmsRel(x, y);
    let maxAbs = 0;
    for (let i = 0; i < x.length; i++) maxAbs = Math.max(maxAbs, Math.abs(x[i]! - y[i]!));
    console.log(`Q4_K on N(0, 0.05²): rms error / rms ${rel.toFixed(4)}, max |x − x̂| ${maxAbs.toExponential(3)}, worst excess over the nearest level ${excess.toExponential(2)}`);
    expect(excess).toBeLessThanOrEqual(1e-9); // only float32 rounding of x + dm; measured 0
    expect(Array.from(y.subarray(512, 768))).toEqual(new Array(256).fill(0));
    expect(rel).toBeLessThan(0.075); // 4.5 bits per weight; measured 0.069
  });

  it('Q4_K: the scale/min search beats the plain min/max grid it starts from', () => {
    // Plain: per 32 values, min/max mapped to 0…15 without the search and without 6-bit scale quantisation —
    // an upper bound of what the search must improve on even after the scales are quantised.
    let plain = 0, searched = 0;
    const y = dequantize('Q4_K', quantizeQ4_K(x));
    for (let s = 0; s < x.length; s += 32) {
      let mn = 0, mx = -Infinity;
      for (let i = s; i < s + 32; i++) {
        mn = Math.min(mn, x[i]!);
        mx = Math.max(mx, x[i]!);
      }
      const step = (mx - mn) / 15;
      for (let i = s; i < s + 32; i++) {
        const w = Math.abs(x[i]!) + 1e-3;
        const yp = step > 0 ? mn + Math.round((x[i]! - mn) / step) * step : mn;
        plain += w * (x[i]! - yp) ** 2;
        searched += w * (x[i]! - y[i]!) ** 2;
      }
    }
    console.log(`Q4_K weighted squared error: searched ${searched.toExponential(3)} vs plain min/max ${plain.toExponential(3)}`);
    expect(searched).toBeLessThan(plain);
  });

  it('Q6_K: each level is the nearest for the stored scale; error within the measured bound', () => {
    const q = quantizeQ6_K(x);
    expect(q.length).toBe(64 * 210);
    const y = dequantize('Q6_K', q);
    const dv = new DataView(q.buffer);
    const levels = (i: number) => {
      const o = Math.floor(i / 256) * 210;
      const ds = Math.fround(v16(dv.getUint16(o + 208, true)) * dv.getInt8(o + 192 + ((i % 256) >> 4)));
      return Array.from({ length: 64 }, (_, l) => Math.fround(ds * (l - 32)));
    };
    const excess = excessOverBestLevel(x, y, levels);
    const rel = rmsRel(x, y);
    console.log(`Q6_K on N(0, 0.05²): rms error / rms ${rel.toFixed(4)}, worst excess over the nearest level ${excess.toExponential(2)}`);
    expect(excess).toBeLessThanOrEqual(1e-9);
    expect(Array.from(q.subarray(2 * 210, 3 * 210))).toEqual(new Array(210).fill(0)); // the zero block: all zero bytes
    expect(rel).toBeLessThan(0.02); // 6.56 bits per weight; measured 0.0178
  });

  it('Q5_K and Q3_K: each level is the nearest for the stored scales; errors within the measured bounds', () => {
    const q5 = quantizeQ5_K(x);
    const y5 = dequantize('Q5_K', q5);
    const e5 = excessOverBestLevel(x, y5, (i) => {
      const o = Math.floor(i / 256) * 176;
      const d = v16(q5[o]! | (q5[o + 1]! << 8)), dmin = v16(q5[o + 2]! | (q5[o + 3]! << 8));
      const [s, m] = scaleMinK4(q5, o + 4, (i % 256) >> 5);
      return Array.from({ length: 32 }, (_, l) => Math.fround(Math.fround(Math.fround(d * s) * l) - Math.fround(dmin * m)));
    });
    const q3 = quantizeQ3_K(x);
    const y3 = dequantize('Q3_K', q3);
    const e3 = excessOverBestLevel(x, y3, (i) => {
      const o = Math.floor(i / 256) * 110;
      const ds = Math.fround(v16(q3[o + 108]! | (q3[o + 109]! << 8)) * scaleQ3K(q3, o + 96, (i % 256) >> 4));
      return Array.from({ length: 8 }, (_, l) => Math.fround(ds * (l - 4)));
    });
    const [r5, r3] = [rmsRel(x, y5), rmsRel(x, y3)];
    console.log(`Q5_K: rms error / rms ${r5.toFixed(4)}, excess ${e5.toExponential(2)}; Q3_K: rms error / rms ${r3.toFixed(4)}, excess ${e3.toExponential(2)}`);
    expect(e5).toBeLessThanOrEqual(1e-9);
    expect(e3).toBeLessThanOrEqual(1e-9);
    expect(r5).toBeLessThan(0.039); // 5.5 bits per weight; measured 0.0353
    expect(r3).toBeLessThan(0.16); // 3.4 bits per weight; measured 0.148
  });

  it('Q4_0 / Q5_0: the signed absmax lands on level −8 / −16 exactly; error ≤ d/2 + rounding of d to f16', () => {
    for (const [type, quant, lo] of [['Q4_0', quantizeQ4_0, -8], ['Q5_0', quantizeQ5_0, -16]] as const) {
      const q = quant(x);
      const y = dequantize(type, q);
      let worst = 0;
      for (let s = 0; s < x.length; s += 32) {
        let amax = 0, max = 0;
        for (let i = s; i < s + 32; i++) if (Math.abs(x[i]!) > amax) [amax, max] = [Math.abs(x[i]!), x[i]!];
        const d = Math.fround(max / lo);
        const d16 = v16(h16(d));
        for (let i = s; i < s + 32; i++) {
          if (x[i] === max && max !== 0) expect(y[i]).toBe(Math.fround(lo * d16));
          // levels run lo…−lo−1: the far end (−lo·d) is outside, clamped to (−lo−1)·d: one step more at most
          const bound = Math.abs(d) / 2 + Math.abs(lo) * Math.abs(d - d16) + (x[i]! * Math.sign(-max) > (-lo - 1) * Math.abs(d) ? Math.abs(d) / 2 : 0);
          worst = Math.max(worst, Math.abs(x[i]! - y[i]!) / (bound + 1e-12));
        }
      }
      console.log(`${type}: max error / bound ${worst.toFixed(4)}`);
      expect(worst).toBeLessThanOrEqual(1);
    }
  });
});

it('QK_K is 256', () => expect(QK_K).toBe(256));
