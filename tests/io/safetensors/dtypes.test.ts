import { describe, expect, it } from 'vitest';
import {
  bf16BitsToF32,
  bitsToF32,
  decodeToF32,
  dtypeBytes,
  encodeFromF32,
  f16BitsToF32,
  f32Bits,
  f32ToBf16Bits,
  f32ToF16Bits,
} from '../../../src/io/safetensors/dtypes.ts';

const hex = (n: number) => `0x${n.toString(16).padStart(4, '0')}`;

describe('bfloat16', () => {
  it('converts hand-computed values', () => {
    expect(hex(f32ToBf16Bits(1))).toBe('0x3f80');
    expect(hex(f32ToBf16Bits(-2.5))).toBe('0xc020');
    expect(hex(f32ToBf16Bits(0))).toBe('0x0000');
    expect(hex(f32ToBf16Bits(-0))).toBe('0x8000');
    expect(hex(f32ToBf16Bits(Infinity))).toBe('0x7f80');
    expect(hex(f32ToBf16Bits(-Infinity))).toBe('0xff80');
    expect(bf16BitsToF32(0x3f80)).toBe(1);
    expect(bf16BitsToF32(0xc020)).toBe(-2.5);
    expect(bf16BitsToF32(0x4049)).toBe(3.140625);
  });

  it('rounds to nearest, ties to even', () => {
    // 1 + 2^-8 lies exactly between 0x3f80 (even) and 0x3f81: stays at 1.
    expect(hex(f32ToBf16Bits(bitsToF32(0x3f808000)))).toBe('0x3f80');
    // 1 + 3·2^-8 lies between 0x3f81 (odd) and 0x3f82: goes up to even.
    expect(hex(f32ToBf16Bits(bitsToF32(0x3f818000)))).toBe('0x3f82');
    // just above the tie rounds up, just below rounds down
    expect(hex(f32ToBf16Bits(bitsToF32(0x3f808001)))).toBe('0x3f81');
    expect(hex(f32ToBf16Bits(bitsToF32(0x3f807fff)))).toBe('0x3f80');
    // the largest float32 rounds up to infinity, as PyTorch's conversion does
    expect(hex(f32ToBf16Bits(bitsToF32(0x7f7fffff)))).toBe('0x7f80');
  });

  it('keeps NaN a NaN', () => {
    const b = f32ToBf16Bits(NaN);
    expect(b & 0x7f80).toBe(0x7f80);
    expect(b & 0x7f).not.toBe(0);
    expect(bf16BitsToF32(b)).toBeNaN();
  });

  it('round-trips every bfloat16 exactly', () => {
    const wrong: string[] = [];
    for (let h = 0; h < 65536; h++) {
      const x = bf16BitsToF32(h);
      if (!Number.isNaN(x) && f32ToBf16Bits(x) !== h) wrong.push(hex(h));
    }
    expect(wrong).toEqual([]);
  });
});

describe('float16', () => {
  it('converts hand-computed values', () => {
    const cases: [number, number][] = [
      [1, 0x3c00],
      [-2.5, 0xc100],
      [65504, 0x7bff],
      [0.5, 0x3800],
      [2 ** -14, 0x0400], // smallest normal
      [2 ** -24, 0x0001], // smallest subnormal
      [1023 * 2 ** -24, 0x03ff], // largest subnormal
      [0, 0x0000],
      [-0, 0x8000],
      [Infinity, 0x7c00],
      [-Infinity, 0xfc00],
    ];
    for (const [x, h] of cases) {
      expect(hex(f32ToF16Bits(x)), String(x)).toBe(hex(h));
      expect(f16BitsToF32(h)).toBe(x);
    }
    expect(f16BitsToF32(0x3555)).toBe(0.333251953125);
  });

  it('rounds to nearest even, including overflow and subnormals', () => {
    expect(hex(f32ToF16Bits(65519))).toBe('0x7bff'); // below the midpoint to 65536
    expect(hex(f32ToF16Bits(65520))).toBe('0x7c00'); // the tie goes to the even neighbour: infinity
    expect(hex(f32ToF16Bits(1e6))).toBe('0x7c00');
    expect(hex(f32ToF16Bits(-1e6))).toBe('0xfc00');
    expect(hex(f32ToF16Bits(2 ** -25))).toBe('0x0000'); // tie between 0 and 2^-24 → 0 (even)
    expect(hex(f32ToF16Bits(3 * 2 ** -25))).toBe('0x0002'); // tie between 1 and 2 subnormal units → 2
    expect(hex(f32ToF16Bits(2 ** -25 + 2 ** -35))).toBe('0x0001');
    expect(hex(f32ToF16Bits(1e-8))).toBe('0x0000');
    expect(hex(f32ToF16Bits(-1e-8))).toBe('0x8000');
    expect(hex(f32ToF16Bits(1 + 2 ** -11))).toBe('0x3c00'); // tie, even stays
    expect(hex(f32ToF16Bits(1 + 3 * 2 ** -11))).toBe('0x3c02'); // tie, odd goes up
    // a mantissa carry into the exponent: the largest subnormal's upper tie becomes the smallest normal
    expect(hex(f32ToF16Bits(1023.5 * 2 ** -24))).toBe('0x0400');
  });

  it('keeps NaN a NaN', () => {
    expect(f32ToF16Bits(NaN) & 0x7c00).toBe(0x7c00);
    expect(f32ToF16Bits(NaN) & 0x3ff).not.toBe(0);
    expect(f16BitsToF32(0x7e00)).toBeNaN();
  });

  it('round-trips every half exactly', () => {
    const wrong: string[] = [];
    for (let h = 0; h < 65536; h++) {
      const x = f16BitsToF32(h);
      if (!Number.isNaN(x) && f32ToF16Bits(x) !== h) wrong.push(hex(h));
    }
    expect(wrong).toEqual([]);
  });

  it('picks the nearest half (ties to even) for random float32 values', () => {
    let seed = 12345;
    const rand = () => ((seed = (seed * 1103515245 + 12345) >>> 0) / 2 ** 32);
    for (let i = 0; i < 20000; i++) {
      const x = bitsToF32((rand() * 2 ** 32) >>> 0);
      if (!Number.isFinite(x) || Math.abs(x) >= 65504) continue;
      const h = f32ToF16Bits(x);
      const err = Math.abs(f16BitsToF32(h) - x);
      for (const n of [h - 1, h + 1]) {
        if ((n & 0x7fff) > 0x7bff || n < 0 || ((n ^ h) & 0x8000) !== 0) continue;
        const other = Math.abs(f16BitsToF32(n) - x);
        expect(err <= other, `${x}: ${hex(h)} vs ${hex(n)}`).toBe(true);
        if (err === other) expect(h & 1).toBe(0);
      }
    }
  });
});

describe('array helpers', () => {
  const values = new Float32Array([1, -2.5, 0.1, 65504, 3.140625, -0, 1e-7, 1234.5678]);

  it('round-trips F32, F16 and BF16 bit-exactly', () => {
    const f32 = decodeToF32('F32', encodeFromF32('F32', values));
    expect([...f32].map(f32Bits)).toEqual([...values].map(f32Bits));
    for (const dtype of ['F16', 'BF16'] as const) {
      const bytes = encodeFromF32(dtype, values);
      expect(bytes.byteLength).toBe(values.length * 2);
      // decoding then re-encoding gives the same bytes: the decode is exact
      expect(encodeFromF32(dtype, decodeToF32(dtype, bytes))).toEqual(bytes);
    }
    const bf = new Uint16Array(encodeFromF32('BF16', values).buffer);
    expect([...bf]).toEqual([...values].map(f32ToBf16Bits));
    const hf = new Uint16Array(encodeFromF32('F16', values).buffer);
    expect([...hf]).toEqual([...values].map(f32ToF16Bits));
  });

  it('writes little-endian bytes', () => {
    expect([...encodeFromF32('F32', new Float32Array([1]))]).toEqual([0x00, 0x00, 0x80, 0x3f]);
    expect([...encodeFromF32('BF16', new Float32Array([1]))]).toEqual([0x80, 0x3f]);
    expect([...encodeFromF32('F16', new Float32Array([1]))]).toEqual([0x00, 0x3c]);
  });

  it('decodes from unaligned offsets', () => {
    for (const dtype of ['F32', 'F16', 'BF16'] as const) {
      const bytes = encodeFromF32(dtype, values);
      const shifted = new Uint8Array(bytes.byteLength + 1);
      shifted.set(bytes, 1);
      expect(decodeToF32(dtype, shifted.subarray(1))).toEqual(decodeToF32(dtype, bytes));
    }
    const i64 = new Uint8Array(17);
    new DataView(i64.buffer).setBigInt64(1, -7n, true);
    new DataView(i64.buffer).setBigInt64(9, 1234567n, true);
    expect([...decodeToF32('I64', i64.subarray(1))]).toEqual([-7, 1234567]);
  });

  it('decodes integer and other types as numbers', () => {
    expect([...decodeToF32('I32', new Uint8Array(new Int32Array([-3, 0, 70000]).buffer))]).toEqual([-3, 0, 70000]);
    expect([...decodeToF32('U8', new Uint8Array([0, 7, 255]))]).toEqual([0, 7, 255]);
    expect([...decodeToF32('I8', new Uint8Array([0xff, 5]))]).toEqual([-1, 5]);
    expect([...decodeToF32('BOOL', new Uint8Array([0, 1, 2]))]).toEqual([0, 1, 1]);
    expect([...decodeToF32('F64', new Uint8Array(new Float64Array([0.5, -8]).buffer))]).toEqual([0.5, -8]);
    expect([...decodeToF32('U16', new Uint8Array(new Uint16Array([65535]).buffer))]).toEqual([65535]);
    expect([...decodeToF32('F8_E5M2', new Uint8Array([0x3c, 0xc1]))]).toEqual([1, -2.5]);
    expect([...decodeToF32('F8_E4M3', new Uint8Array([0x38, 0x7e, 0x01]))]).toEqual([1, 448, 2 ** -9]);
    expect(decodeToF32('F8_E4M3', new Uint8Array([0x7f]))[0]).toBeNaN();
  });

  it('returns fresh arrays, never views of the input', () => {
    const bytes = encodeFromF32('F32', values);
    const out = decodeToF32('F32', bytes);
    out[0] = 42;
    expect(decodeToF32('F32', bytes)[0]).toBe(1);
  });

  it('refuses a byte count that is not whole elements', () => {
    expect(() => decodeToF32('F32', new Uint8Array(6))).toThrow(/not a whole number of F32/);
  });

  it('knows every dtype width', () => {
    expect(dtypeBytes('BOOL')).toBe(1);
    expect(dtypeBytes('F8_E4M3')).toBe(1);
    expect(dtypeBytes('BF16')).toBe(2);
    expect(dtypeBytes('U32')).toBe(4);
    expect(dtypeBytes('I64')).toBe(8);
    expect(dtypeBytes('U64')).toBe(8);
  });
});
