// C[M,N] = alpha · A · Bᵀ + beta · C for A [M,K] and B [N,K], f32 row-major, K % 4 == 0: the forward pass's
// y = x·Wᵀ (HF weights are stored [out, in]), where both operands are contiguous along K. Any M and N.
// matmul.wgsl is the general kernel; see its header for why the layout suits SwiftShader (4-wide SIMD lanes,
// every storage load a per-lane gather, accumulators must be named to stay in registers).
//
// Here both operands are read as vec4 along K (one address and bounds clamp per 4 values, against 4 for scalar
// loads). A thread holds a (4·ROW_GROUPS)×32 block of C as mat4x4f accumulators; per 4-deep k step it loads
// 4×4 blocks of A and B (columns = rows of the operand along K) and does c += transpose(a)·b, 64 multiply-adds
// per block. With 16×32 per thread that is 48 vec4 loads for 2048 multiply-adds; measured at 128×576×1536:
// 16×32 ≈ 5–6 GFLOP/s, 16×16 ≈ 4.5, 8×8 (scalars) ≈ 2.9, the old 32×32 shared-memory tiling ≈ 0.1.
// ROW_GROUPS (1-4; chosen from M) trims the rows per thread so a decode step (M = a few rows) does not
// compute 16 clamped copies of one row. The override folds the unused groups away at pipeline creation.
//
// W16 (ops/matmul-w16.ts): B is a frozen 16-bit weight (BF16 or F16 with IS_F16: the raw safetensors bytes, two per
// u32, even element low) bound at 4 as vec2<u32> (4 weights along K, one load) and decoded in registers: bf16 →
// bitcast<f32>(bits << 16), f16 → unpack2x16float, both exact (a GPU may flush bf16 subnormals, |w| < 2^-126, to 0,
// as WGSL allows for f32). The other B binding then holds a placeholder (ops/dispatch.ts unusedBinding).

struct Params {
  M: u32,
  N: u32,
  K: u32,
  batch_stride_a: u32, // in vec4s
  batch_stride_b: u32, // in vec4s (W16: in vec2<u32>s, 4 weights each)
  batch_stride_c: u32, // in floats
  alpha: f32,
  beta: f32,
}
override ROW_GROUPS: u32 = 4u;
// 4-column groups per thread (1-8, chosen from N): narrow outputs (o/down of a small model, N = 64) keep every
// thread of a 4-lane SIMD group busy instead of leaving lanes past N idle.
override COL_GROUPS: u32 = 8u;
@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> A: array<vec4f>;
@group(0) @binding(2) var<storage, read> B: array<vec4f>;
@group(0) @binding(3) var<storage, read_write> C: array<f32>;
override W16: bool = false;
override IS_F16: bool = false;
@group(0) @binding(4) var<storage, read> B16: array<vec2u>;

// The 4×4 block of A's rows r at vec4 step k: column i holds row i's 4 values along K.
fn ablk(r: vec4u, k: u32) -> mat4x4f {
  return mat4x4f(A[r.x + k], A[r.y + k], A[r.z + k], A[r.w + k]);
}

// The same block of B's rows, decoded from 16 bits with W16.
fn wblk(r: vec4u, k: u32) -> mat4x4f {
  if (W16) { return mat4x4f(decode4(B16[r.x + k]), decode4(B16[r.y + k]), decode4(B16[r.z + k]), decode4(B16[r.w + k])); }
  return mat4x4f(B[r.x + k], B[r.y + k], B[r.z + k], B[r.w + k]);
}

@compute @workgroup_size(8, 8, 1)
fn main(@builtin(workgroup_id) wg: vec3u, @builtin(local_invocation_id) lid: vec3u) {
  let m0 = (wg.y * 8u + lid.y) * 4u * ROW_GROUPS;
  let n0 = (wg.x * 8u + lid.x) * thread_cols();
  if (m0 >= p.M || n0 >= p.N) { return; }
  let K4 = p.K / 4u;
  let ab = wg.z * p.batch_stride_a;
  let bb = wg.z * p.batch_stride_b;
  let cb = wg.z * p.batch_stride_c;
  let ra0 = rows4(m0, p.M - 1u, K4, ab);
  let ra1 = rows4(m0 + 4u, p.M - 1u, K4, ab);
  let ra2 = rows4(m0 + 8u, p.M - 1u, K4, ab);
  let ra3 = rows4(m0 + 12u, p.M - 1u, K4, ab);
  let rb0 = group_rows(n0, 0u, K4, bb);
  let rb1 = group_rows(n0, 1u, K4, bb);
  let rb2 = group_rows(n0, 2u, K4, bb);
  let rb3 = group_rows(n0, 3u, K4, bb);
  let rb4 = group_rows(n0, 4u, K4, bb);
  let rb5 = group_rows(n0, 5u, K4, bb);
  let rb6 = group_rows(n0, 6u, K4, bb);
  let rb7 = group_rows(n0, 7u, K4, bb);
  var c00 = mat4x4f(); var c01 = mat4x4f(); var c02 = mat4x4f(); var c03 = mat4x4f();
  var c04 = mat4x4f(); var c05 = mat4x4f(); var c06 = mat4x4f(); var c07 = mat4x4f();
  var c10 = mat4x4f(); var c11 = mat4x4f(); var c12 = mat4x4f(); var c13 = mat4x4f();
  var c14 = mat4x4f(); var c15 = mat4x4f(); var c16 = mat4x4f(); var c17 = mat4x4f();
  var c20 = mat4x4f(); var c21 = mat4x4f(); var c22 = mat4x4f(); var c23 = mat4x4f();
  var c24 = mat4x4f(); var c25 = mat4x4f(); var c26 = mat4x4f(); var c27 = mat4x4f();
  var c30 = mat4x4f(); var c31 = mat4x4f(); var c32 = mat4x4f(); var c33 = mat4x4f();
  var c34 = mat4x4f(); var c35 = mat4x4f(); var c36 = mat4x4f(); var c37 = mat4x4f();
  // c(g)(h) is the 4×4 block at rows m0 + 4g, columns n0 + 4h; c[j][i] = C[row i][column j].
  for (var k = 0u; k < K4; k++) {
    let b0 = wblk(rb0, k);
    var b1 = mat4x4f(); var b2 = mat4x4f(); var b3 = mat4x4f(); var b4 = mat4x4f(); var b5 = mat4x4f(); var b6 = mat4x4f(); var b7 = mat4x4f();
    if (COL_GROUPS > 1u) { b1 = wblk(rb1, k); }
    if (COL_GROUPS > 2u) { b2 = wblk(rb2, k); }
    if (COL_GROUPS > 3u) { b3 = wblk(rb3, k); }
    if (COL_GROUPS > 4u) { b4 = wblk(rb4, k); }
    if (COL_GROUPS > 5u) { b5 = wblk(rb5, k); }
    if (COL_GROUPS > 6u) { b6 = wblk(rb6, k); }
    if (COL_GROUPS > 7u) { b7 = wblk(rb7, k); }
    let a0 = transpose(ablk(ra0, k));
    c00 += a0 * b0; if (COL_GROUPS > 1u) { c01 += a0 * b1; } if (COL_GROUPS > 2u) { c02 += a0 * b2; } if (COL_GROUPS > 3u) { c03 += a0 * b3; }
    if (COL_GROUPS > 4u) { c04 += a0 * b4; } if (COL_GROUPS > 5u) { c05 += a0 * b5; } if (COL_GROUPS > 6u) { c06 += a0 * b6; } if (COL_GROUPS > 7u) { c07 += a0 * b7; }
    if (ROW_GROUPS > 1u) {
      let a1 = transpose(ablk(ra1, k));
      c10 += a1 * b0; if (COL_GROUPS > 1u) { c11 += a1 * b1; } if (COL_GROUPS > 2u) { c12 += a1 * b2; } if (COL_GROUPS > 3u) { c13 += a1 * b3; }
      if (COL_GROUPS > 4u) { c14 += a1 * b4; } if (COL_GROUPS > 5u) { c15 += a1 * b5; } if (COL_GROUPS > 6u) { c16 += a1 * b6; } if (COL_GROUPS > 7u) { c17 += a1 * b7; }
    }
    if (ROW_GROUPS > 2u) {
      let a2 = transpose(ablk(ra2, k));
      c20 += a2 * b0; if (COL_GROUPS > 1u) { c21 += a2 * b1; } if (COL_GROUPS > 2u) { c22 += a2 * b2; } if (COL_GROUPS > 3u) { c23 += a2 * b3; }
      if (COL_GROUPS > 4u) { c24 += a2 * b4; } if (COL_GROUPS > 5u) { c25 += a2 * b5; } if (COL_GROUPS > 6u) { c26 += a2 * b6; } if (COL_GROUPS > 7u) { c27 += a2 * b7; }
    }
    if (ROW_GROUPS > 3u) {
      let a3 = transpose(ablk(ra3, k));
      c30 += a3 * b0; if (COL_GROUPS > 1u) { c31 += a3 * b1; } if (COL_GROUPS > 2u) { c32 += a3 * b2; } if (COL_GROUPS > 3u) { c33 += a3 * b3; }
      if (COL_GROUPS > 4u) { c34 += a3 * b4; } if (COL_GROUPS > 5u) { c35 += a3 * b5; } if (COL_GROUPS > 6u) { c36 += a3 * b6; } if (COL_GROUPS > 7u) { c37 += a3 * b7; }
    }
  }
  store(cb, m0, n0, c00, c01, c02, c03, c04, c05, c06, c07);
  if (ROW_GROUPS > 1u) { store(cb, m0 + 4u, n0, c10, c11, c12, c13, c14, c15, c16, c17); }
  if (ROW_GROUPS > 2u) { store(cb, m0 + 8u, n0, c20, c21, c22, c23, c24, c25, c26, c27); }
  if (ROW_GROUPS > 3u) { store(cb, m0 + 12u, n0, c30, c31, c32, c33, c34, c35, c36, c37); }
}

// #include _gate_act
// #include _nt_blocked
// #include _w16
