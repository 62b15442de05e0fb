// C[M,N] = alpha · op(A) · op(B) + beta · C with B a 16-bit weight (BF16 or F16, IS_F16): the hardware family's
// sibling of hw_matmul.wgsl (read its header: same tiles, same staging, same epilogue). A and C are f32, or f16
// pairs in the +a16 / +c16 variants (_hw_a, _hw_c and their twins, as hw_matmul.wgsl); B holds
// the raw safetensors bytes as matmul_w16.wgsl documents (16-bit elements, two per u32, the even element low),
// bound here as vec4<u32>s of 8 elements so a quad of 4 weights is one 8-byte half of one load.
// The weights are decoded once, while the B tile is staged, into f32 in workgroup memory: the k loop is
// hw_matmul.wgsl's, and each weight is decoded once per workgroup rather than once per thread that reads it.
// Decoding is exact: bf16 → bits << 16, f16 → unpack2x16float (a GPU may flush bf16 subnormals to 0).

override IS_F16: bool = false;
override TRANS_A: bool = false;
override TRANS_B: bool = false;
override A_VEC: bool = false;
override B_VEC: bool = false;
override TILE_M: u32 = 64u;
override TILE_N: u32 = 64u;
override TILE_K: u32 = 16u;

struct Params {
  M: u32,
  N: u32,
  K: u32,
  batch_stride_a: u32,
  batch_stride_b: u32,
  batch_stride_c: u32,
  alpha: f32,
  beta: f32,
}
@group(0) @binding(0) var<uniform> p: Params;
// #include _hw_a
@group(0) @binding(2) var<storage, read> B: array<vec4u>;
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
// The two 16-bit values of a word, decoded (the even element is the low half).
fn decode2(word: u32) -> vec2f {
  if (IS_F16) { return unpack2x16float(word); }
  return vec2f(bitcast<f32>(word << 16u), bitcast<f32>(word & 0xffff0000u));
}
// Elements [col, col+4) of row `row` of B, decoded; quad_a's rules (B_VEC: cols, col and base multiples of 4, so
// the quad is the low or high half of one vec4<u32>).
fn quad_b(row: u32, col: u32, rows: u32, cols: u32, base: u32) -> vec4f {
  if (row >= rows || col >= cols) { return vec4f(); }
  let e = base + row * cols + col;
  if (B_VEC) {
    let w = B[e >> 3u];
    let pair = select(w.xy, w.zw, (e & 4u) != 0u);
    return vec4f(decode2(pair.x), decode2(pair.y));
  }
  var q = vec4f();
  for (var j = 0u; j < 4u; j++) {
    if (col + j < cols) {
      let word = (e + j) >> 1u;
      q[j] = decode2(B[word >> 2u][word & 3u])[(e + j) & 1u];
    }
  }
  return q;
}

@compute @workgroup_size(TILE_N / 4u, TILE_M / 4u, 1)
fn main(@builtin(workgroup_id) wg: vec3u, @builtin(local_invocation_id) lid: vec3u, @builtin(local_invocation_index) li: u32) {
  let threads = (TILE_M / 4u) * (TILE_N / 4u);
  let sa = TILE_M / 4u + 1u; // k-row strides of the tiles, in vec4s
  let sb = TILE_N / 4u + 1u;
  let m0 = wg.y * TILE_M;
  let n0 = wg.x * TILE_N;
  let base_a = wg.z * p.batch_stride_a;
  let base_b = wg.z * p.batch_stride_b;
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
        let q = quad_b(n0 + nn, k0 + kq * 4u, b_rows, b_cols, base_b);
        let at = kq * 4u * sb + nn / 4u;
        let c = nn % 4u;
        Bs[at][c] = q.x; Bs[at + sb][c] = q.y; Bs[at + 2u * sb][c] = q.z; Bs[at + 3u * sb][c] = q.w;
      } else {
        let kk = v / (TILE_N / 4u);
        let nq = v % (TILE_N / 4u);
        Bs[kk * sb + nq] = quad_b(k0 + kk, n0 + nq * 4u, b_rows, b_cols, base_b);
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
  let base_c = wg.z * p.batch_stride_c;
  let m = m0 + lid.y * 4u;
  let n = n0 + lid.x * 4u;
  store_row(base_c, m, n, acc0);
  store_row(base_c, m + 1u, n, acc1);
  store_row(base_c, m + 2u, n, acc2);
  store_row(base_c, m + 3u, n, acc3);
}
