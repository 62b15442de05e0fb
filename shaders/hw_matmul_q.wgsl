// C[M,N] = alpha · A · op(W) + beta · C with W a ggml block-quantised weight (Q8_0, Q4_0, Q5_0, Q4_K, Q5_K or Q6_K: QTYPE,
// laid out as _quant_blocks.wgsl documents): the hardware family's sibling of hw_matmul.wgsl (read its header:
// same tiles, same staging, same epilogue) for a model that keeps its GGUF types on the GPU. W is stored
// [rows, kw] as GGUF has it (a row is an output feature); TRANS_B: the forward y = x·Wᵀ (W [N,K], kw = K),
// otherwise the backward through the frozen weight dX = dY·W (W [K,N], kw = N). Either way a quad of op(B) staged
// along W's row is 4 consecutive weights of one stored row, de-quantised in registers by wq4 while the B tile
// is staged (each weight once per workgroup, not once per thread that reads it). kw is whole blocks, so a quad
// is wholly inside or outside W. No batch: weights are never batched. A and C: _hw_a, _hw_c, f32 or, in the
// +a16 / +c16 variants, f16 pairs (as hw_matmul.wgsl).

override TRANS_A: bool = false;
override TRANS_B: bool = false;
override A_VEC: bool = false;
override TILE_M: u32 = 64u;
override TILE_N: u32 = 64u;
override TILE_K: u32 = 16u;

struct Params {
  M: u32,
  N: u32,
  K: u32,
  kw: u32, // W's row length
  d_off: u32, // the scale table's first word in Q
  unused: u32,
  alpha: f32,
  beta: f32,
}
@group(0) @binding(0) var<uniform> p: Params;
// #include _hw_a
@group(0) @binding(2) var<storage, read> Q: array<u32>;
// #include _hw_c

// Tiles k-major, in vec4s, each k-row TILE/4 vec4s plus one of padding.
var<workgroup> As: array<vec4f, TILE_K * (TILE_M / 4u + 1u)>;
var<workgroup> Bs: array<vec4f, TILE_K * (TILE_N / 4u + 1u)>;

// Elements [col, col+4) of row `row` of a stored [rows, cols] matrix at element offset `base`, 0 past its edges.
// The whole-vec4 form needs cols, col and base to be multiples of 4 (then a quad is wholly in or out).
fn quad_a(row: u32, col: u32, rows: u32, cols: u32, base: u32) -> vec4f {
  if (row >= rows || col >= cols) { return vec4f(); }
  let e = base + row * cols + col;
  if (A_VEC) { return a_quad(e >> 2u); }
  var q = vec4f();
  for (var j = 0u; j < 4u; j++) {
    if (col + j < cols) { q[j] = a_elem(e + j); }
  }
  return q;
}

// #include _quant_blocks

// W[row, col .. col+4) de-quantised, 0 past W's edges (cols % 4 == 0 and col % 4 == 0: whole quads).
fn quad_b(row: u32, col: u32, rows: u32, cols: u32) -> vec4f {
  if (row >= rows || col >= cols) { return vec4f(); }
  return wq4(row, col);
}

@compute @workgroup_size(TILE_N / 4u, TILE_M / 4u, 1)
fn main(@builtin(workgroup_id) wg: vec3u, @builtin(local_invocation_id) lid: vec3u, @builtin(local_invocation_index) li: u32) {
  let threads = (TILE_M / 4u) * (TILE_N / 4u);
  let sa = TILE_M / 4u + 1u; // k-row strides of the tiles, in vec4s
  let sb = TILE_N / 4u + 1u;
  let m0 = wg.y * TILE_M;
  let n0 = wg.x * TILE_N;
  let base_a = 0u;
  // Stored shapes: A [M,K] or [K,M]; B [N,K] or [K,N].
  let a_rows = select(p.M, p.K, TRANS_A);
  let a_cols = select(p.K, p.M, TRANS_A);
  let b_rows = select(p.K, p.N, TRANS_B);
  let b_cols = select(p.N, p.K, TRANS_B);
  var acc0 = vec4f(); var acc1 = vec4f(); var acc2 = vec4f(); var acc3 = vec4f();
  for (var k0 = 0u; k0 < p.K; k0 += TILE_K) {
    for (var v = li; v < TILE_M * TILE_K / 4u; v += threads) {
      if (TRANS_A) {
        // quads run along m: one vec4 store
        let kk = v / (TILE_M / 4u);
        let mq = v % (TILE_M / 4u);
        As[kk * sa + mq] = quad_a(k0 + kk, m0 + mq * 4u, a_rows, a_cols, base_a);
      } else {
        // quads run along k (4 threads per row): transposed into the tile by scalar stores
        let mm = v / (TILE_K / 4u);
        let kq = v % (TILE_K / 4u);
        let q = quad_a(m0 + mm, k0 + kq * 4u, a_rows, a_cols, base_a);
        let at = kq * 4u * sa + mm / 4u;
        let c = mm % 4u;
        As[at][c] = q.x; As[at + sa][c] = q.y; As[at + 2u * sa][c] = q.z; As[at + 3u * sa][c] = q.w;
      }
    }
    for (var v = li; v < TILE_N * TILE_K / 4u; v += threads) {
      if (TRANS_B) {
        let nn = v / (TILE_K / 4u);
        let kq = v % (TILE_K / 4u);
        let q = quad_b(n0 + nn, k0 + kq * 4u, b_rows, b_cols);
        let at = kq * 4u * sb + nn / 4u;
        let c = nn % 4u;
        Bs[at][c] = q.x; Bs[at + sb][c] = q.y; Bs[at + 2u * sb][c] = q.z; Bs[at + 3u * sb][c] = q.w;
      } else {
        let kk = v / (TILE_N / 4u);
        let nq = v % (TILE_N / 4u);
        Bs[kk * sb + nq] = quad_b(k0 + kk, n0 + nq * 4u, b_rows, b_cols);
      }
    }
    workgroupBarrier();
    for (var kk = 0u; kk < TILE_K; kk++) {
      let a = As[kk * sa + lid.y];
      let b = Bs[kk * sb + lid.x];
      acc0 += a.x * b; acc1 += a.y * b; acc2 += a.z * b; acc3 += a.w * b;
    }
    workgroupBarrier();
  }
  let base_c = 0u;
  let m = m0 + lid.y * 4u;
  let n = n0 + lid.x * 4u;
  store_row(base_c, m, n, acc0);
  store_row(base_c, m + 1u, n, acc1);
  store_row(base_c, m + 2u, n, acc2);
  store_row(base_c, m + 3u, n, acc3);
}
