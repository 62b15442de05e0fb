// Library (not a kernel): _hw_c.wgsl's twin for the `+c16` variants: C stored as f16 activations (act-dtype.ts:
// two to a u32 word, the lower-indexed element low), bound as u32 words. The epilogue is f32 (alpha·v + beta·old,
// old unpacked exactly) and each result is rounded once, by pack2x16float. A word is written whole, by one store
// of one invocation: no two invocations ever share a word, so no read-modify-write races. That needs N even
// (matmul.ts requireActF16 refuses odd N) and an even batch stride, so every row starts on a word: then a thread's
// 4 columns n..n+4 (n % 4 == 0) are two whole words.
@group(0) @binding(3) var<storage, read_write> C: array<u32>;

// alpha·v (+ beta·the word's old pair), packed.
fn c_word(at: u32, v: vec2f) -> u32 {
  var x = p.alpha * v;
  if (p.beta != 0.0) { x += p.beta * unpack2x16float(C[at]); }
  return pack2x16float(x);
}

// Writes C[m, n..n+4) masked to the matrix, as the words (n, n+1) and (n+2, n+3): N even, so each is wholly in or
// out.
fn store_row(base: u32, m: u32, n: u32, v: vec4f) {
  if (m >= p.M || n >= p.N) { return; }
  let at = (base + m * p.N + n) >> 1u;
  C[at] = c_word(at, v.xy);
  if (n + 2u < p.N) { C[at + 1u] = c_word(at + 1u, v.zw); }
}
