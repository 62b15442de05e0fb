// safetensors element types and exact conversions between them and float32.
// Byte order is little-endian in the format; typed-array views below assume a little-endian host, which every
// platform with WebGPU is (checked once at load so a big-endian host fails loudly instead of reading garbage).

/** In safetensors' own enum order, which is also the writer's sort key (higher = larger alignment). */
export const DTYPES = [
  'BOOL',
  'U8',
  'I8',
  'F8_E5M2',
  'F8_E4M3',
  'I16',
  'U16',
  'F16',
  'BF16',
  'I32',
  'U32',
  'F32',
  'F64',
  'I64',
  'U64',
] as const;

export type DType = (typeof DTYPES)[number];

const BYTES: Record<DType, number> = {
  BOOL: 1,
  U8: 1,
  I8: 1,
  F8_E5M2: 1,
  F8_E4M3: 1,
  I16: 2,
  U16: 2,
  F16: 2,
  BF16: 2,
  I32: 4,
  U32: 4,
  F32: 4,
  F64: 8,
  I64: 8,
  U64: 8,
};

export function isDType(s: unknown): s is DType {
  return typeof s === 'string' && Object.hasOwn(BYTES, s);
}

export function dtypeBytes(d: DType): number {
  return BYTES[d];
}

/** Position in safetensors' dtype enum; the reference writer orders tensors by it, descending. */
export function dtypeRank(d: DType): number {
  return DTYPES.indexOf(d);
}

if (new Uint8Array(new Uint16Array([1]).buffer)[0] !== 1) {
  throw new Error('Alloy needs a little-endian host: safetensors data is little-endian');
}

const f32 = new Float32Array(1);
const u32 = new Uint32Array(f32.buffer);

export function f32Bits(x: number): number {
  f32[0] = x;
  return u32[0]!;
}

export function bitsToF32(bits: number): number {
  u32[0] = bits >>> 0;
  return f32[0]!;
}

/** float32 → bfloat16 bits, round to nearest even (as PyTorch's `.to(torch.bfloat16)`); NaN stays a quiet NaN. */
export function f32ToBf16Bits(x: number): number {
  const bits = f32Bits(x);
  if ((bits & 0x7f800000) === 0x7f800000 && (bits & 0x7fffff) !== 0) return ((bits >>> 16) | 0x40) & 0xffff;
  // Adding 0x7fff (+1 when the kept lsb is odd) carries into the kept half exactly when RNE rounds up;
  // a carry out of the exponent lands on infinity, which is the correct overflow.
  const rounded = bits + 0x7fff + ((bits >>> 16) & 1);
  return (rounded >>> 16) & 0xffff;
}

export function bf16BitsToF32(h: number): number {
  return bitsToF32((h & 0xffff) << 16);
}

/** float32 → IEEE half bits, round to nearest even, with subnormals, ±inf on overflow and NaN kept. */
export function f32ToF16Bits(x: number): number {
  const bits = f32Bits(x);
  const sign = (bits >>> 16) & 0x8000;
  const exp = (bits >>> 23) & 0xff;
  const mant = bits & 0x7fffff;
  if (exp === 0xff) return sign | 0x7c00 | (mant !== 0 ? 0x200 | (mant >>> 13) : 0);
  const e = exp - 127 + 15;
  if (e >= 0x1f) return sign | 0x7c00;
  if (e <= 0) {
    // Half subnormal: value = m·2^-24. Below half the smallest subnormal everything rounds to ±0.
    if (e < -10) return sign;
    const m = mant | 0x800000;
    const shift = 14 - e;
    let h = m >>> shift;
    const rem = m & ((1 << shift) - 1);
    const half = 1 << (shift - 1);
    if (rem > half || (rem === half && (h & 1) === 1)) h++;
    return sign | h;
  }
  let h = (e << 10) | (mant >>> 13);
  const rem = mant & 0x1fff;
  // A carry out of the mantissa bumps the exponent, and from the top exponent lands on inf: both correct.
  if (rem > 0x1000 || (rem === 0x1000 && (h & 1) === 1)) h++;
  return sign | h;
}

export function f16BitsToF32(h: number): number {
  const sign = (h & 0x8000) << 16;
  const exp = (h >>> 10) & 0x1f;
  const mant = h & 0x3ff;
  if (exp === 0) {
    const v = mant * 2 ** -24;
    return sign ? -v : v;
  }
  if (exp === 0x1f) return bitsToF32(sign | 0x7f800000 | (mant << 13));
  return bitsToF32(sign | ((exp - 15 + 127) << 23) | (mant << 13));
}

let f16Table: Float32Array | undefined;
/** All 65536 halves decoded once: a lookup is several times faster than decoding each element. */
export function f16Lut(): Float32Array {
  if (!f16Table) {
    f16Table = new Float32Array(65536);
    for (let i = 0; i < 65536; i++) f16Table[i] = f16BitsToF32(i);
  }
  return f16Table;
}

/** float8 e4m3fn (PyTorch's float8_e4m3fn): bias 7, no infinities, only S.1111.111 is NaN. */
function f8e4m3ToF32(b: number): number {
  const sign = b & 0x80 ? -1 : 1;
  const exp = (b >>> 3) & 0xf;
  const mant = b & 0x7;
  if (exp === 0xf && mant === 0x7) return NaN;
  if (exp === 0) return sign * mant * 2 ** -9;
  return sign * (1 + mant / 8) * 2 ** (exp - 7);
}

/** A view of `bytes` as T, copying first when the offset is not a multiple of the element size. */
function view<T>(bytes: Uint8Array, size: number, make: (buf: ArrayBufferLike, off: number, len: number) => T): T {
  const b = bytes.byteOffset % size === 0 ? bytes : bytes.slice();
  return make(b.buffer, b.byteOffset, b.byteLength / size);
}

/**
 * Decodes raw little-endian tensor bytes to float32. Integer types become their numeric values (I64/U64 beyond
 * 2^24 lose precision in float32, as a token id table never does); BOOL becomes 0/1.
 */
export function decodeToF32(dtype: DType, bytes: Uint8Array): Float32Array<ArrayBuffer> {
  const size = dtypeBytes(dtype);
  if (bytes.byteLength % size !== 0) {
    throw new RangeError(`${bytes.byteLength} bytes is not a whole number of ${dtype} elements`);
  }
  switch (dtype) {
    case 'F32':
      // Always a fresh array: callers may mutate the result without touching the source bytes.
      return bytes.byteOffset % 4 === 0
        ? new Float32Array(bytes.buffer, bytes.byteOffset, bytes.byteLength / 4).slice()
        : new Float32Array(bytes.slice().buffer);
    case 'BF16': {
      const src = view(bytes, 2, (b, o, n) => new Uint16Array(b, o, n));
      const out = new Uint32Array(src.length);
      for (let i = 0; i < src.length; i++) out[i] = src[i]! << 16;
      return new Float32Array(out.buffer);
    }
    case 'F16': {
      const src = view(bytes, 2, (b, o, n) => new Uint16Array(b, o, n));
      const lut = f16Lut();
      const out = new Float32Array(src.length);
      for (let i = 0; i < src.length; i++) out[i] = lut[src[i]!]!;
      return out;
    }
    case 'F64':
      return Float32Array.from(view(bytes, 8, (b, o, n) => new Float64Array(b, o, n)));
    case 'F8_E5M2': {
      // e5m2 is the top byte of an IEEE half.
      const lut = f16Lut();
      return Float32Array.from(bytes, (b) => lut[b << 8]!);
    }
    case 'F8_E4M3':
      return Float32Array.from(bytes, f8e4m3ToF32);
    case 'BOOL':
      return Float32Array.from(bytes, (b) => (b !== 0 ? 1 : 0));
    case 'U8':
      return Float32Array.from(bytes);
    case 'I8':
      return Float32Array.from(new Int8Array(bytes.buffer, bytes.byteOffset, bytes.byteLength));
    case 'I16':
      return Float32Array.from(view(bytes, 2, (b, o, n) => new Int16Array(b, o, n)));
    case 'U16':
      return Float32Array.from(view(bytes, 2, (b, o, n) => new Uint16Array(b, o, n)));
    case 'I32':
      return Float32Array.from(view(bytes, 4, (b, o, n) => new Int32Array(b, o, n)));
    case 'U32':
      return Float32Array.from(view(bytes, 4, (b, o, n) => new Uint32Array(b, o, n)));
    case 'I64': {
      const src = view(bytes, 8, (b, o, n) => new BigInt64Array(b, o, n));
      return Float32Array.from(src, (v) => Number(v));
    }
    case 'U64': {
      const src = view(bytes, 8, (b, o, n) => new BigUint64Array(b, o, n));
      return Float32Array.from(src, (v) => Number(v));
    }
  }
}

export type FloatDType = 'F32' | 'F16' | 'BF16';

/** Encodes float32 values as little-endian F32, F16 or BF16 bytes (16-bit types rounded to nearest even). */
export function encodeFromF32(dtype: FloatDType, values: Float32Array): Uint8Array<ArrayBuffer> {
  switch (dtype) {
    case 'F32':
      return new Uint8Array(values.slice().buffer);
    case 'BF16': {
      const out = new Uint16Array(values.length);
      for (let i = 0; i < values.length; i++) out[i] = f32ToBf16Bits(values[i]!);
      return new Uint8Array(out.buffer);
    }
    case 'F16': {
      const out = new Uint16Array(values.length);
      for (let i = 0; i < values.length; i++) out[i] = f32ToF16Bits(values[i]!);
      return new Uint8Array(out.buffer);
    }
    default:
      throw new Error(`encodeFromF32: unsupported dtype ${String(dtype)} (F32, F16 or BF16)`);
  }
}
