// C[M,N] = alpha · op(A) · op(B) + beta · C, all f32, row-major.
// op(A) is A[M,K], or A stored as [K,M] when TRANS_A; op(B) is B[K,N], or B stored as [N,K] when TRANS_B.
// The forward pass uses TRANS_B (y = x·Wᵀ with HF weights stored [out, in]); the backward pass needs the
// plain (dx = dy·W) and TRANS_A (dW = dyᵀ·x) forms.
//
// Tiling: a workgroup of 8×8 threads computes a 32×32 tile of C, each thread a 4×4 block held in registers;
// K advances in steps of 16 through workgroup memory. Edges are zero-padded on load and masked on store,
// so any M, N, K works (tests use shapes that are not tile multiples).

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
@group(0) @binding(2) var<storage, read> B: array<f32>;
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

fn b_at(base: u32, k: u32, n: u32) -> f32 {
  if (k >= p.K || n >= p.N) { return 0.0; }
  if (TRANS_B) { return B[base + n * p.K + k]; }
  return B[base + k * p.N + n];
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
    for (var i = 0u; i < 8u; i++) {
      let idx = li + i * THREADS;
      As[idx] = a_at(a_base, m0 + idx % TILE_M, k0 + idx / TILE_M);
      Bs[idx] = b_at(b_base, k0 + idx / TILE_N, n0 + idx % TILE_N);
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
