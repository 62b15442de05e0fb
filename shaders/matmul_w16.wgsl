// C[M,N] = alpha · op(A) · op(B) + beta · C with B a 16-bit weight: the sibling of matmul.wgsl for frozen
// BF16/F16 checkpoints, which stay 16-bit on the GPU (half the memory of an f32 copy).
// A and C are f32 row-major as in matmul.wgsl. B holds the raw safetensors bytes: 16-bit elements, two per u32,
// element e in word e/2, the even element in the low half (little-endian), so shard bytes upload unchanged.
// op(B) is B[K,N], or B stored as [N,K] when TRANS_B (the forward y = x·Wᵀ with W [out, in]); the plain form
// serves dx = dy·W in the backward pass. Decoding: bf16 → bitcast<f32>(bits << 16), f16 → unpack2x16float,
// both exact (except that a GPU may flush bf16 subnormals, |w| < 2^-126, to 0: WGSL allows it for f32).
// Accumulation is f32, as everywhere.
//
// Tiling is matmul.wgsl's (32×32 tile per 8×8 workgroup, 4×4 registers per thread, K in steps of 16); only the
// B load differs. Any M, N, K, and odd element counts and batch strides, work.

override IS_F16: bool = false;

override TRANS_A: bool = false;
override TRANS_B: bool = false;

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
@group(0) @binding(1) var<storage, read> A: array<f32>;
@group(0) @binding(2) var<storage, read> B: array<u32>;
@group(0) @binding(3) var<storage, read_write> C: array<f32>;

const TILE_M = 32u;
const TILE_N = 32u;
const TILE_K = 16u;
const REG = 4u;
const THREADS = 64u;

var<workgroup> As: array<f32, 512>; // [TILE_K][TILE_M]
var<workgroup> Bs: array<f32, 512>; // [TILE_K][TILE_N]

fn a_at(base: u32, m: u32, k: u32) -> f32 {
  if (m >= p.M || k >= p.K) { return 0.0; }
  if (TRANS_A) { return A[base + k * p.M + m]; }
  return A[base + m * p.K + k];
}

fn decode(e: u32) -> f32 {
  let word = B[e >> 1u];
  let hi = (e & 1u) == 1u;
  if (IS_F16) {
    let v = unpack2x16float(word);
    return select(v.x, v.y, hi);
  }
  return bitcast<f32>(select(word << 16u, word & 0xffff0000u, hi));
}

fn b_at(base: u32, k: u32, n: u32) -> f32 {
  if (k >= p.K || n >= p.N) { return 0.0; }
  if (TRANS_B) { return decode(base + n * p.K + k); }
  return decode(base + k * p.N + n);
}

@compute @workgroup_size(8, 8, 1)
fn main(
  @builtin(workgroup_id) wg: vec3u,
  @builtin(local_invocation_id) lid: vec3u,
  @builtin(local_invocation_index) li: u32,
) {
  let m0 = wg.y * TILE_M;
  let n0 = wg.x * TILE_N;
  let a_base = wg.z * p.batch_stride_a;
  let b_base = wg.z * p.batch_stride_b;
  let c_base = wg.z * p.batch_stride_c;

  var acc: array<f32, 16>;
  for (var k0 = 0u; k0 < p.K; k0 += TILE_K) {
    // Neighbouring threads read neighbouring addresses: along K when the operand is K-contiguous in memory
    // (A plain, B transposed: the forward pass), along M or N otherwise.
    for (var i = 0u; i < 8u; i++) {
      let idx = li + i * THREADS;
      if (TRANS_A) {
        As[idx] = a_at(a_base, m0 + idx % TILE_M, k0 + idx / TILE_M);
      } else {
        As[(idx % TILE_K) * TILE_M + idx / TILE_K] = a_at(a_base, m0 + idx / TILE_K, k0 + idx % TILE_K);
      }
      if (TRANS_B) {
        Bs[(idx % TILE_K) * TILE_N + idx / TILE_K] = b_at(b_base, k0 + idx % TILE_K, n0 + idx / TILE_K);
      } else {
        Bs[idx] = b_at(b_base, k0 + idx / TILE_N, n0 + idx % TILE_N);
      }
    }
    workgroupBarrier();
    for (var k = 0u; k < TILE_K; k++) {
      var a: array<f32, 4>;
      var b: array<f32, 4>;
      for (var r = 0u; r < REG; r++) {
        a[r] = As[k * TILE_M + lid.y * REG + r];
        b[r] = Bs[k * TILE_N + lid.x * REG + r];
      }
      for (var i = 0u; i < REG; i++) {
        for (var j = 0u; j < REG; j++) {
          acc[i * REG + j] = fma(a[i], b[j], acc[i * REG + j]);
        }
      }
    }
    workgroupBarrier();
  }

  for (var i = 0u; i < REG; i++) {
    let m = m0 + lid.y * REG + i;
    if (m >= p.M) { continue; }
    for (var j = 0u; j < REG; j++) {
      let n = n0 + lid.x * REG + j;
      if (n >= p.N) { continue; }
      let at = c_base + m * p.N + n;
      var v = p.alpha * acc[i * REG + j];
      // beta == 0 must not read C: it may hold garbage (even NaN) from a reused buffer.
      if (p.beta != 0.0) { v += p.beta * C[at]; }
      C[at] = v;
    }
  }
}
