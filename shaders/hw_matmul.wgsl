// C[M,N] = alpha · op(A) · op(B) + beta · C, all f32, row-major: the hardware family's tiled matmul (any M, N,
// K, any layout; src/engine/ops/matmul-hw.ts picks the tile and the flags). op(A) is A[M,K], or A stored as
// [K,M] when TRANS_A; op(B) is B[K,N], or B stored as [N,K] when TRANS_B. Its 16-bit-weight sibling is
// hw_matmul_w16.wgsl (same structure, only the B load differs); rows M ≤ 4 of A·Bᵀ go to hw_matvec.wgsl.
// A, B and C live in libraries, so their storage can vary while this text is shared by every variant (gpu/kernels.ts
// variantSource): _hw_a (binding 1, the quads quad_a stages), _hw_b (binding 2, quad_b's) and _hw_c (binding 3,
// store_row's epilogue) are f32; the `+a16` / `+b16` / `+c16` variants (hw_matmul+a16+b16+c16 …) swap in
// _hw_a_a16 / _hw_b_b16 / _hw_c_c16, f16 activations stored two to a word (act-dtype.ts), while the tiles, the k
// loop and the accumulators stay f32. An f16 B is training's saved activation in a weight gradient (x in gᵀ·x).
//
// The classic shared-memory tiling for real GPUs (the software family, matmul.wgsl, is shaped for a CPU
// emulator instead). What it follows:
// - a workgroup computes a TILE_M × TILE_N block of C with (TILE_N/4) × (TILE_M/4) threads (64–256), each
//   thread a 4×4 block held in four vec4 accumulators (16 registers; no dynamically indexed private array) —
//   the register blocking of TF.js's matmul_packed_webgpu.ts (4×4 per thread, 32×32 or 64×64 tiles) and of
//   Simon Boehm's "How to optimize a CUDA matmul kernel" (kernel 5, 2D block tiling);
// - K advances TILE_K at a time; both tiles are staged in var<workgroup> memory k-major (As[k][m], Bs[k][n]),
//   so the inner loop reads one vec4 of 4 rows of A and one vec4 of 4 columns of B per k (2 loads for 16 FMAs).
//   Within a warp those reads are a broadcast (As: at most 2 distinct vec4s) and 16 consecutive vec4s (Bs):
//   conflict-free;
// - global loads are coalesced vec4s along each matrix's contiguous dimension (A_VEC / B_VEC: that dimension
//   and the batch stride are multiples of 4; otherwise the same quads are gathered element by element), so
//   neighbouring threads read neighbouring 16 bytes; an operand whose contiguous dimension is k (A plain,
//   B transposed: the forward's A·Bᵀ) is transposed into the tile by scalar stores, and each k-row of a tile
//   is padded by one vec4 so those stores hit 2-way instead of 4-way bank conflicts (CUTLASS-style padding;
//   Boehm kernel 6 discusses the same transposed store);
// - elements past M, N or K are staged as 0, so the k loop needs no edge test, and stores are masked; no thread
//   returns early, since all take part in the barriers.

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
// #include _hw_b
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
fn quad_b(row: u32, col: u32, rows: u32, cols: u32, base: u32) -> vec4f {
  if (row >= rows || col >= cols) { return vec4f(); }
  let e = base + row * cols + col;
  if (B_VEC) { return b_quad(e >> 2u); }
  var q = vec4f();
  for (var j = 0u; j < 4u; j++) {
    if (col + j < cols) { q[j] = b_elem(e + j); }
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
