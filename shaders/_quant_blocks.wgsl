// Library (not a kernel): de-quantising 4 consecutive weights of a ggml block-quantised matrix in registers.
// Included by the quantised matmuls (matmul_q*.wgsl, hw_mat*_q.wgsl) through `// #include _quant_blocks`
// (gpu/kernels.ts expands it). The including shader declares the weight as
//   @binding(2) var<storage, read> Q: array<u32>;   and Params fields kw (W's row length) and d_off (words).
// and sets QTYPE to the ggml type id: 8 = Q8_0, 2 = Q4_0, 6 = Q5_0, 12 = Q4_K, 13 = Q5_K, 14 = Q6_K (the list
// quant-layout.ts GPU_QUANT_TYPES keeps; the kernels' headers say "QTYPE" and defer to it).
//
// W is [rows, kw] row-major (GGUF's order: a row is an output feature, kw % block == 0), blocks numbered
// b = (row·kw + col) / block in the file's order. GGUF blocks are 34/18/22/144/176/210 bytes, not all 4-byte aligned,
// so quant-layout.ts re-lays them at upload into words, same bytes per weight (+ at most 2 bytes of padding):
//   Q8_0 (32 weights): Q[8b .. 8b+8)   the 32 i8 quants, weight j in byte j;
//                      Q[d_off + b/2]  the f16 scale d, block b in the low half when b is even.
//   Q4_0 (32):         Q[4b .. 4b+4)   the 16 bytes qs as in the block (weight j < 16 in the low nibble of
//                      byte j, weight j + 16 in its high nibble); d as Q8_0's.
//   Q5_0 (32):         Q[5b]           qh: bit j is weight j's fifth bit; Q[5b+1 .. 5b+5) qs as Q4_0's; d as
//                      Q8_0's; weight = (nibble | bit << 4) − 16, times d.
//   Q4_K (256):        Q[36b .. 36b+36) the block unchanged (144 B): word 0 = d | dmin << 16, words 1–3 the
//                      12 packed 6-bit scales and mins, words 4–35 qs[128]. d_off unused.
//   Q5_K (256):        Q[44b .. 44b+44) the block unchanged (176 B): words 0–3 as Q4_K's, words 4–11 qh[32],
//                      words 12–43 qs[128] as Q4_K's; qh[l] bit s is the fifth bit of sub-block s's weight l
//                      (ggml's u1/u2 masks), added as 16 before the scale. d_off unused.
//   Q6_K (256):        Q[52b .. 52b+52) ql[128] (words 0–31), qh[64] (32–47), i8 scales[16] (48–51);
//                      d as Q8_0's (the f16 that ends the GGUF block).
// Values equal ggml's dequantize_row_* exactly: every product is exact in f32 except Q6_K's (d·sc)·q, which
// rounds once, as in ggml (an FMA contraction of Q4_K's / Q5_K's d1·q − m1 changes nothing, d1·q being exact:
// an f16 times a 6-bit scale times a ≤ 5-bit quant is at most 22 significant bits).

override QTYPE: u32 = 8u;

// Byte i (0–3) of word w.
fn qb(w: u32, i: u32) -> u32 { return (w >> (8u * i)) & 0xffu; }

// The f16 scale of block b stored after the blocks.
fn q_scale(b: u32) -> f32 {
  let pair = unpack2x16float(Q[p.d_off + (b >> 1u)]);
  return select(pair.x, pair.y, (b & 1u) == 1u);
}

// Byte i of the 12 packed scale bytes of the Q4_K / Q5_K block at word `base`.
fn k4_byte(base: u32, i: u32) -> u32 { return qb(Q[base + 1u + i / 4u], i % 4u); }

// The 6-bit scale (x) and min (y) of sub-block `sub` (< 8) of the Q4_K / Q5_K block at word `base`: ggml's
// get_scale_min_k4.
fn k4_scale_min(base: u32, sub: u32) -> vec2u {
  if (sub < 4u) {
    return vec2u(k4_byte(base, sub) & 63u, k4_byte(base, sub + 4u) & 63u);
  }
  return vec2u((k4_byte(base, sub + 4u) & 15u) | ((k4_byte(base, sub - 4u) >> 6u) << 4u),
               (k4_byte(base, sub + 4u) >> 4u) | ((k4_byte(base, sub) >> 6u) << 4u));
}

// W[row, col .. col + 4), col % 4 == 0 (a quad never straddles a block: blocks are 32 or 256 weights).
fn wq4(row: u32, col: u32) -> vec4f {
  let e = row * p.kw + col;
  if (QTYPE == 8u) {
    let b = e / 32u;
    let w = bitcast<i32>(Q[e / 4u]); // 8 words per block: word e/4 holds weights e..e+3
    let q = vec4i(extractBits(w, 0u, 8u), extractBits(w, 8u, 8u), extractBits(w, 16u, 8u), extractBits(w, 24u, 8u));
    return vec4f(q) * q_scale(b);
  }
  if (QTYPE == 2u) {
    let b = e / 32u;
    let j = e % 32u;
    let w = Q[4u * b + (j % 16u) / 4u];
    let s = select(0u, 4u, j >= 16u);
    let q = (vec4u(w) >> (vec4u(0u, 8u, 16u, 24u) + s)) & vec4u(15u);
    return (vec4f(q) - 8.0) * q_scale(b);
  }
  if (QTYPE == 6u) {
    let b = e / 32u;
    let j = e % 32u;
    let w = Q[5u * b + 1u + (j % 16u) / 4u];
    let s = select(0u, 4u, j >= 16u);
    let lo = (vec4u(w) >> (vec4u(0u, 8u, 16u, 24u) + s)) & vec4u(15u);
    let hi = (vec4u(Q[5u * b]) >> (vec4u(j) + vec4u(0u, 1u, 2u, 3u))) & vec4u(1u);
    return (vec4f(lo | (hi << vec4u(4u))) - 16.0) * q_scale(b);
  }
  if (QTYPE == 12u || QTYPE == 13u) { // Q4_K, Q5_K: one walk, Q5_K adding qh's bit
    let five = QTYPE == 13u;
    let b = e / 256u;
    let j = e % 256u;
    let base = select(36u, 44u, five) * b;
    let dm = unpack2x16float(Q[base]);
    let c = j / 64u; // 64-weight chunk: sub-blocks 2c (low nibbles) and 2c + 1 (high)
    let hi = (j % 64u) >= 32u;
    let sub = 2u * c + select(0u, 1u, hi);
    let sm = k4_scale_min(base, sub);
    let sh = vec4u(0u, 8u, 16u, 24u);
    let w = Q[base + select(4u, 12u, five) + 8u * c + (j % 32u) / 4u];
    var q = (vec4u(w) >> (sh + select(0u, 4u, hi))) & vec4u(15u);
    if (five) {
      q |= ((vec4u(Q[base + 4u + (j % 32u) / 4u]) >> (sh + sub)) & vec4u(1u)) << vec4u(4u);
    }
    let d1 = dm.x * f32(sm.x);
    let m1 = dm.y * f32(sm.y);
    return d1 * vec4f(q) - m1;
  }
  // Q6_K
  let b = e / 256u;
  let j = e % 256u;
  let base = 52u * b;
  let h = j / 128u;
  let t = (j % 128u) / 32u; // which quarter of the half: ql low/high half, nibble, qh bit pair
  let l = j % 32u;
  let ql = Q[base + (64u * h + 32u * (t & 1u) + l) / 4u];
  let qh = Q[base + 32u + (32u * h + l) / 4u];
  let sh = vec4u(0u, 8u, 16u, 24u);
  let lo = (vec4u(ql) >> (sh + 4u * (t >> 1u))) & vec4u(15u);
  let up = (vec4u(qh) >> (sh + 2u * t)) & vec4u(3u);
  let q = vec4i(lo | (up << vec4u(4u))) - 32;
  let si = 8u * h + l / 16u + 2u * t;
  let sc = extractBits(bitcast<i32>(Q[base + 48u + si / 4u]), 8u * (si % 4u), 8u);
  return (q_scale(b) * f32(sc)) * vec4f(q);
}
