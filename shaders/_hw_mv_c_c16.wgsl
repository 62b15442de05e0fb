// Library (not a kernel): _hw_mv_c.wgsl's twin for the mat-vecs' `+c16` variants: C stored as f16 activations
// (act-dtype.ts: two to a u32 word, the lower-indexed element low), bound as u32 words. The epilogue is f32 (old C
// unpacked exactly) and each result is rounded once, by pack2x16float. A word is written whole, by one store of one
// invocation (no read-modify-write races between invocations): N even and an even batch stride (matmul.ts
// requireActF16), so outputs n, n + 1 (n even) are one word.
@group(0) @binding(3) var<storage, read_write> C: array<u32>;

// The mat-vec's outputs n (even rows of the workgroup) and n + 1 (odd: the next row, in the same workgroup since
// ROWS is even) share a word: each row's lane 0 leaves alpha·scale·sum in workgroup memory, and the even row's
// writes the pair. Every invocation calls it (the barrier).
var<workgroup> mv_c: array<vec4f, ROWS>;
fn store_mv(lid: vec3u, n: u32, base: u32, scale: vec4f, sum: vec4f) {
  if (lid.x == 0u) { mv_c[lid.y] = p.alpha * scale * sum; }
  workgroupBarrier();
  if (lid.x == 0u && (lid.y & 1u) == 0u && n < p.N) {
    let lo = mv_c[lid.y];
    let hi = mv_c[lid.y + 1u];
    for (var m = 0u; m < p.M; m++) {
      let at = (base + n + m * p.N) >> 1u;
      var x = vec2f(lo[m], hi[m]);
      if (p.beta != 0.0) { x += p.beta * unpack2x16float(C[at]); }
      C[at] = pack2x16float(x);
    }
  }
}
