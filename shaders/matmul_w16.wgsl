// C[M,N] = alpha · op(A) · op(B) + beta · C with B a 16-bit weight: the sibling of matmul.wgsl for frozen
// BF16/F16 checkpoints, which stay 16-bit on the GPU (half the memory of an f32 copy).
// A and C are f32 row-major as in matmul.wgsl. B holds the raw safetensors bytes: 16-bit elements, two per u32,
// element e in word e/2, the even element in the low half (little-endian), so shard bytes upload unchanged.
// op(B) is B[K,N], or B stored as [N,K] when TRANS_B (the forward y = x·Wᵀ with W [out, in]); the plain form
// serves dx = dy·W in the backward pass. Decoding: bf16 → bitcast<f32>(bits << 16), f16 → unpack2x16float,
// both exact (except that a GPU may flush bf16 subnormals, |w| < 2^-126, to 0: WGSL allows it for f32).
// Accumulation is f32, as everywhere.
//
// Blocking is matmul.wgsl's (16×16 per thread in named mat4x4f accumulators, no workgroup memory; see its header
// for why); only the B load differs. Any M, N, K, odd element counts and odd batch strides work. The forward
// case with K % 4 == 0 has a faster sibling, matmul_w16_nt.wgsl.

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

// Offsets of 4 consecutive rows of op(A) (or columns of op(B)) at k = 0, clamped to the last one.
fn lines4(first: u32, last: u32, stride: u32, base: u32) -> vec4u {
  return base + min(vec4u(first) + vec4u(0u, 1u, 2u, 3u), vec4u(last)) * stride;
}
fn ld4(o: vec4u) -> vec4f {
  return vec4f(A[o.x], A[o.y], A[o.z], A[o.w]);
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

fn ld4_16(o: vec4u) -> vec4f {
  return vec4f(decode(o.x), decode(o.y), decode(o.z), decode(o.w));
}

// outer(a, b)[j][i] = a[i]·b[j]: column j of a C block is column n+j.
fn outer(a: vec4f, b: vec4f) -> mat4x4f {
  return mat4x4f(a * b.x, a * b.y, a * b.z, a * b.w);
}

@compute @workgroup_size(8, 8, 1)
fn main(@builtin(workgroup_id) wg: vec3u, @builtin(local_invocation_id) lid: vec3u) {
  let m0 = (wg.y * 8u + lid.y) * 16u;
  let n0 = (wg.x * 8u + lid.x) * 16u;
  if (m0 >= p.M || n0 >= p.N) { return; }
  // Element (m, k) of op(A) is at m·a_line + k·a_step; element (k, n) of op(B) at n·b_line + k·b_step.
  let a_line = select(p.K, 1u, TRANS_A);
  let a_step = select(1u, p.M, TRANS_A);
  let b_line = select(1u, p.K, TRANS_B);
  let b_step = select(p.N, 1u, TRANS_B);
  let ab = wg.z * p.batch_stride_a;
  let bb = wg.z * p.batch_stride_b;
  let ra0 = lines4(m0, p.M - 1u, a_line, ab);
  let ra1 = lines4(m0 + 4u, p.M - 1u, a_line, ab);
  let ra2 = lines4(m0 + 8u, p.M - 1u, a_line, ab);
  let ra3 = lines4(m0 + 12u, p.M - 1u, a_line, ab);
  let rb0 = lines4(n0, p.N - 1u, b_line, bb);
  let rb1 = lines4(n0 + 4u, p.N - 1u, b_line, bb);
  let rb2 = lines4(n0 + 8u, p.N - 1u, b_line, bb);
  let rb3 = lines4(n0 + 12u, p.N - 1u, b_line, bb);
  var c00 = mat4x4f(); var c01 = mat4x4f(); var c02 = mat4x4f(); var c03 = mat4x4f();
  var c10 = mat4x4f(); var c11 = mat4x4f(); var c12 = mat4x4f(); var c13 = mat4x4f();
  var c20 = mat4x4f(); var c21 = mat4x4f(); var c22 = mat4x4f(); var c23 = mat4x4f();
  var c30 = mat4x4f(); var c31 = mat4x4f(); var c32 = mat4x4f(); var c33 = mat4x4f();
  for (var k = 0u; k < p.K; k++) {
    let ka = vec4u(k * a_step);
    let kb = vec4u(k * b_step);
    let a0 = ld4(ra0 + ka); let a1 = ld4(ra1 + ka); let a2 = ld4(ra2 + ka); let a3 = ld4(ra3 + ka);
    let b0 = ld4_16(rb0 + kb); let b1 = ld4_16(rb1 + kb); let b2 = ld4_16(rb2 + kb); let b3 = ld4_16(rb3 + kb);
    c00 += outer(a0, b0); c01 += outer(a0, b1); c02 += outer(a0, b2); c03 += outer(a0, b3);
    c10 += outer(a1, b0); c11 += outer(a1, b1); c12 += outer(a1, b2); c13 += outer(a1, b3);
    c20 += outer(a2, b0); c21 += outer(a2, b1); c22 += outer(a2, b2); c23 += outer(a2, b3);
    c30 += outer(a3, b0); c31 += outer(a3, b1); c32 += outer(a3, b2); c33 += outer(a3, b3);
  }
  let cb = wg.z * p.batch_stride_c;
  store(cb, m0, n0, c00, c01, c02, c03);
  store(cb, m0 + 4u, n0, c10, c11, c12, c13);
  store(cb, m0 + 8u, n0, c20, c21, c22, c23);
  store(cb, m0 + 12u, n0, c30, c31, c32, c33);
}

// Writes 4 rows × 16 columns from four 4×4 blocks, masked to the matrix; beta == 0 never reads C (it may hold
// garbage, even NaN, from a reused buffer).
fn store(base: u32, m: u32, n: u32, q0: mat4x4f, q1: mat4x4f, q2: mat4x4f, q3: mat4x4f) {
  let q = array<mat4x4f, 4>(q0, q1, q2, q3);
  for (var i = 0u; i < 4u; i++) {
    if (m + i >= p.M) { return; }
    for (var j = 0u; j < 16u; j++) {
      if (n + j >= p.N) { break; }
      let at = base + (m + i) * p.N + n + j;
      var v = p.alpha * q[j / 4u][j % 4u][i];
      if (p.beta != 0.0) { v += p.beta * C[at]; }
      C[at] = v;
    }
  }
}
