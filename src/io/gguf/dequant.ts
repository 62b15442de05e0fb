// ggml's quantised block types → float32, value for value as ggml's reference de-quantisers (dequantize_row_* in
// ggml-quants.c) compute them: the same float32 operations in the same order (Math.fround after each), no fused
// multiply-add. Every product of a scale and a quant is exact in float32 except Q6_K's (d·sc)·q, so only the final
// add/subtract (and Q6_K's second product) rounds, and the result does not depend on FMA contraction either.
//
// All multi-byte fields are little-endian; "f16" is an IEEE half. Offsets are within one block.
//
// Q4_0  (32 elements, 18 B): f16 d @0; u8 qs[16] @2
//        x[j] = (lo(qs[j]) − 8)·d, x[j+16] = (hi(qs[j]) − 8)·d               (j < 16)
// Q4_1  (32, 20 B): f16 d @0; f16 m @2; u8 qs[16] @4
//        x[j] = lo(qs[j])·d + m, x[j+16] = hi(qs[j])·d + m
// Q5_0  (32, 22 B): f16 d @0; u32 qh @2; u8 qs[16] @6
//        q[j] = lo(qs[j]) | bit j of qh << 4, q[j+16] = hi(qs[j]) | bit j+16 of qh << 4; x = (q − 16)·d
// Q5_1  (32, 24 B): f16 d @0; f16 m @2; u32 qh @4; u8 qs[16] @8; q as Q5_0, x = q·d + m
// Q8_0  (32, 34 B): f16 d @0; i8 qs[32] @2; x[j] = qs[j]·d
//
// K-quants: 256-element super-blocks made of 16 sub-blocks of 16 or 8 sub-blocks of 32.
// Q2_K  (256, 84 B): u8 scales[16] @0 (lo 4 bits scale, hi 4 bits min, per 16); u8 qs[64] @16 (2 bits);
//        f16 d @80; f16 dmin @82. For half h (128 elements) and j < 4, shift 2j, q = qs[32h..]:
//        sub-block 8h+2j: x[128h+32j+l] = d·sc·((q[l] >> shift) & 3) − dmin·mn          (l < 16)
//        sub-block 8h+2j+1 uses q[l+16] for x[128h+32j+16+l]
// Q3_K  (256, 110 B): u8 hmask[32] @0 (high bit); u8 qs[64] @32 (low 2 bits); u8 scales[12] @96 (16 × 6 bits);
//        f16 d @108. Scale s (j < 16): low 4 bits = j < 8 ? scales[j] & 15 : scales[j−8] >> 4, high 2 bits =
//        (scales[8 + j%4] >> 2·⌊j/4⌋) & 3, value s − 32. Element as Q2_K's walk, with mask bit 1 << (4h+j):
//        x = d·(s−32)·(((q[l] >> shift) & 3) − (hmask[l(+16)] & bit ? 0 : 4))
// Q4_K  (256, 144 B): f16 d @0; f16 dmin @2; u8 scales[12] @4 (8 scales + 8 mins, 6 bits each, packed as
//        scaleMinK4 below); u8 qs[128] @16. For chunk c < 4 (64 elements), q = qs[32c..]:
//        x[64c+l] = d·sc(2c)·lo(q[l]) − dmin·mn(2c), x[64c+32+l] = d·sc(2c+1)·hi(q[l]) − dmin·mn(2c+1)
// Q5_K  (256, 176 B): f16 d @0; f16 dmin @2; u8 scales[12] @4; u8 qh[32] @16; u8 qs[128] @48. As Q4_K, with
//        16 added to the low-half quant when qh[l] & (1 << 2c) and to the high half when qh[l] & (2 << 2c)
// Q6_K  (256, 210 B): u8 ql[128] @0 (low 4 bits); u8 qh[64] @128 (high 2 bits); i8 scales[16] @192; f16 d @208.
//        For half h, ql = ql[64h..], qh = qh[32h..], sc = scales[8h..], l < 32, is = ⌊l/16⌋:
//        x[128h+l]    = (d·sc[is])  ·((lo(ql[l])    | (qh[l]      & 3) << 4) − 32)
//        x[128h+32+l] = (d·sc[is+2])·((lo(ql[l+32]) | (qh[l] >> 2 & 3) << 4) − 32)
//        x[128h+64+l] = (d·sc[is+4])·((hi(ql[l])    | (qh[l] >> 4 & 3) << 4) − 32)
//        x[128h+96+l] = (d·sc[is+6])·((hi(ql[l+32]) | (qh[l] >> 6 & 3) << 4) − 32)
import { f16BitsToF32 } from '../safetensors/dtypes.ts';

const f = Math.fround;
export const QK_K = 256;

function half(b: Uint8Array, o: number): number {
  return f16BitsToF32(b[o]! | (b[o + 1]! << 8));
}
function u32(b: Uint8Array, o: number): number {
  return (b[o]! | (b[o + 1]! << 8) | (b[o + 2]! << 16) | (b[o + 3]! << 24)) >>> 0;
}

/** The 6-bit scale and min of sub-block j (< 8) of a Q4_K/Q5_K block's 12 packed bytes at `o`. */
export function scaleMinK4(b: Uint8Array, o: number, j: number): [number, number] {
  if (j < 4) return [b[o + j]! & 63, b[o + j + 4]! & 63];
  return [(b[o + j + 4]! & 0xf) | ((b[o + j - 4]! >> 6) << 4), (b[o + j + 4]! >> 4) | ((b[o + j]! >> 6) << 4)];
}

/** The signed 6-bit scale (−32…31) of sub-block j (< 16) of a Q3_K block's 12 packed bytes at `o`. */
export function scaleQ3K(b: Uint8Array, o: number, j: number): number {
  const lo = j < 8 ? b[o + j]! & 0xf : b[o + j - 8]! >> 4;
  const hi = (b[o + 8 + (j % 4)]! >> (2 * (j >> 2))) & 3;
  return (lo | (hi << 4)) - 32;
}

type BlockDecoder = (b: Uint8Array, o: number, y: Float32Array, at: number) => void;

const q4_0: BlockDecoder = (b, o, y, at) => {
  const d = half(b, o);
  for (let j = 0; j < 16; j++) {
    const q = b[o + 2 + j]!;
    y[at + j] = f(((q & 0xf) - 8) * d);
    y[at + j + 16] = f(((q >> 4) - 8) * d);
  }
};

const q4_1: BlockDecoder = (b, o, y, at) => {
  const d = half(b, o);
  const m = half(b, o + 2);
  for (let j = 0; j < 16; j++) {
    const q = b[o + 4 + j]!;
    y[at + j] = f(f((q & 0xf) * d) + m);
    y[at + j + 16] = f(f((q >> 4) * d) + m);
  }
};

const q5_0: BlockDecoder = (b, o, y, at) => {
  const d = half(b, o);
  const qh = u32(b, o + 2);
  for (let j = 0; j < 16; j++) {
    const q = b[o + 6 + j]!;
    y[at + j] = f((((q & 0xf) | (((qh >>> j) & 1) << 4)) - 16) * d);
    y[at + j + 16] = f((((q >> 4) | (((qh >>> (j + 16)) & 1) << 4)) - 16) * d);
  }
};

const q5_1: BlockDecoder = (b, o, y, at) => {
  const d = half(b, o);
  const m = half(b, o + 2);
  const qh = u32(b, o + 4);
  for (let j = 0; j < 16; j++) {
    const q = b[o + 8 + j]!;
    y[at + j] = f(f(((q & 0xf) | (((qh >>> j) & 1) << 4)) * d) + m);
    y[at + j + 16] = f(f(((q >> 4) | (((qh >>> (j + 16)) & 1) << 4)) * d) + m);
  }
};

const q8_0: BlockDecoder = (b, o, y, at) => {
  const d = half(b, o);
  for (let j = 0; j < 32; j++) y[at + j] = f(((b[o + 2 + j]! << 24) >> 24) * d);
};

const q2_K: BlockDecoder = (b, o, y, at) => {
  const d = half(b, o + 80);
  const dmin = half(b, o + 82);
  let is = 0;
  for (let h = 0; h < 2; h++) {
    const q = o + 16 + 32 * h;
    for (let j = 0; j < 4; j++) {
      const shift = 2 * j;
      for (let part = 0; part < 2; part++) {
        const sc = b[o + is++]!;
        const dl = f(d * (sc & 0xf));
        const ml = f(dmin * (sc >> 4));
        const base = at + 128 * h + 32 * j + 16 * part;
        for (let l = 0; l < 16; l++) y[base + l] = f(f(dl * ((b[q + l + 16 * part]! >> shift) & 3)) - ml);
      }
    }
  }
};

const q3_K: BlockDecoder = (b, o, y, at) => {
  const d = half(b, o + 108);
  let is = 0;
  for (let h = 0; h < 2; h++) {
    const q = o + 32 + 32 * h;
    for (let j = 0; j < 4; j++) {
      const shift = 2 * j;
      const bit = 1 << (4 * h + j);
      for (let part = 0; part < 2; part++) {
        const dl = f(d * scaleQ3K(b, o + 96, is++));
        const base = at + 128 * h + 32 * j + 16 * part;
        for (let l = 0; l < 16; l++) {
          const i = l + 16 * part;
          y[base + l] = f(dl * (((b[q + i]! >> shift) & 3) - (b[o + i]! & bit ? 0 : 4)));
        }
      }
    }
  }
};

const q4_K: BlockDecoder = (b, o, y, at) => {
  const d = half(b, o);
  const dmin = half(b, o + 2);
  for (let c = 0; c < 4; c++) {
    const [s1, m1] = scaleMinK4(b, o + 4, 2 * c);
    const [s2, m2] = scaleMinK4(b, o + 4, 2 * c + 1);
    const d1 = f(d * s1), n1 = f(dmin * m1), d2 = f(d * s2), n2 = f(dmin * m2);
    const q = o + 16 + 32 * c;
    for (let l = 0; l < 32; l++) {
      y[at + 64 * c + l] = f(f(d1 * (b[q + l]! & 0xf)) - n1);
      y[at + 64 * c + 32 + l] = f(f(d2 * (b[q + l]! >> 4)) - n2);
    }
  }
};

const q5_K: BlockDecoder = (b, o, y, at) => {
  const d = half(b, o);
  const dmin = half(b, o + 2);
  for (let c = 0; c < 4; c++) {
    const [s1, m1] = scaleMinK4(b, o + 4, 2 * c);
    const [s2, m2] = scaleMinK4(b, o + 4, 2 * c + 1);
    const d1 = f(d * s1), n1 = f(dmin * m1), d2 = f(d * s2), n2 = f(dmin * m2);
    const u1 = 1 << (2 * c), u2 = 2 << (2 * c);
    const q = o + 48 + 32 * c;
    for (let l = 0; l < 32; l++) {
      const qh = b[o + 16 + l]!;
      y[at + 64 * c + l] = f(f(d1 * ((b[q + l]! & 0xf) + (qh & u1 ? 16 : 0))) - n1);
      y[at + 64 * c + 32 + l] = f(f(d2 * ((b[q + l]! >> 4) + (qh & u2 ? 16 : 0))) - n2);
    }
  }
};

const q6_K: BlockDecoder = (b, o, y, at) => {
  const d = half(b, o + 208);
  const sc = (i: number) => (b[o + 192 + i]! << 24) >> 24;
  for (let h = 0; h < 2; h++) {
    const ql = o + 64 * h;
    const qh = o + 128 + 32 * h;
    const s = 8 * h;
    const base = at + 128 * h;
    for (let l = 0; l < 32; l++) {
      const is = l >> 4;
      const a = b[ql + l]!, c = b[ql + l + 32]!, hb = b[qh + l]!;
      y[base + l] = f(f(d * sc(s + is)) * (((a & 0xf) | ((hb & 3) << 4)) - 32));
      y[base + l + 32] = f(f(d * sc(s + is + 2)) * (((c & 0xf) | (((hb >> 2) & 3) << 4)) - 32));
      y[base + l + 64] = f(f(d * sc(s + is + 4)) * (((a >> 4) | (((hb >> 4) & 3) << 4)) - 32));
      y[base + l + 96] = f(f(d * sc(s + is + 6)) * (((c >> 4) | (((hb >> 6) & 3) << 4)) - 32));
    }
  }
};

/** Block decoders by ggml type name, with elements and bytes per block. */
export const BLOCK_DECODERS: Readonly<Record<string, { block: number; bytes: number; decode: BlockDecoder }>> = {
  Q4_0: { block: 32, bytes: 18, decode: q4_0 },
  Q4_1: { block: 32, bytes: 20, decode: q4_1 },
  Q5_0: { block: 32, bytes: 22, decode: q5_0 },
  Q5_1: { block: 32, bytes: 24, decode: q5_1 },
  Q8_0: { block: 32, bytes: 34, decode: q8_0 },
  Q2_K: { block: QK_K, bytes: 84, decode: q2_K },
  Q3_K: { block: QK_K, bytes: 110, decode: q3_K },
  Q4_K: { block: QK_K, bytes: 144, decode: q4_K },
  Q5_K: { block: QK_K, bytes: 176, decode: q5_K },
  Q6_K: { block: QK_K, bytes: 210, decode: q6_K },
};

/** De-quantises whole blocks of `type` (a name in BLOCK_DECODERS) to a fresh float32 array. */
export function dequantize(type: string, bytes: Uint8Array): Float32Array<ArrayBuffer> {
  const t = BLOCK_DECODERS[type];
  if (!t) throw new Error(`ggml type ${type} cannot be de-quantised`);
  if (bytes.byteLength % t.bytes !== 0) {
    throw new RangeError(`${bytes.byteLength} bytes is not a whole number of ${type} blocks (${t.bytes} bytes each)`);
  }
  const nb = bytes.byteLength / t.bytes;
  const out = new Float32Array(nb * t.block);
  for (let i = 0; i < nb; i++) t.decode(bytes, i * t.bytes, out, i * t.block);
  return out;
}
