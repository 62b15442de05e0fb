// C[M,N] = alpha · A · Bᵀ + beta · C, K % 4 == 0, one 4×4 block of C per thread: the software family's kernel
// for the forward form's small shapes, decode's mat-vec (M ≤ 4: one token per sequence) and skinny products
// (N ≤ 16: LoRA's x·Aᵀ with r outputs). A [M,K] f32, B [N,K] f32 (a weight [out, in]), C [M,N]; row blocks in y,
// batch in z; src/engine/ops/matmul.ts picks it (matmulUses4x4). W16: B a 16-bit weight bound at 4, as
// matmul_nt.wgsl.
//
// Why not matmul_nt: its threads each own a 4·ROW_GROUPS × 32 block, so a one-row product keeps one thread in
// eight busy and that thread serial over 32 columns, and an 8-column product wastes 3/4 of every thread. On SwiftShader every storage load is a
// per-lane gather (see matmul.wgsl) and the lanes of a 4-wide group run together, so the cost is the number of
// loads a group issues, spread over as many groups as possible. Here each thread owns 4 consecutive outputs of
// 4 rows: per 4-deep step it loads one quad of each of its rows of A and of its 4 weight rows, 4 loads for 16
// multiply-adds at M = 1 and 8 for 64 at 4 rows (measured at N = 344, K = 64: ~4× faster than matmul_nt's one-row path, and ahead of
// 1, 2 and 8 outputs a thread, and of scalar loads of a transposed weight). No workgroup memory, no barriers.

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
@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> A: array<vec4f>;
@group(0) @binding(2) var<storage, read> B: array<vec4f>;
@group(0) @binding(3) var<storage, read_write> C: array<f32>;
override W16: bool = false;
override IS_F16: bool = false;
@group(0) @binding(4) var<storage, read> B16: array<vec2u>;

// Weight rows r0..r3 at vec4 step k (column j: row j's 4 values along K), decoded from 16 bits with W16.
fn wblk(r0: u32, r1: u32, r2: u32, r3: u32, k: u32) -> mat4x4f {
  if (W16) { return mat4x4f(decode4(B16[r0 + k]), decode4(B16[r1 + k]), decode4(B16[r2 + k]), decode4(B16[r3 + k])); }
  return mat4x4f(B[r0 + k], B[r1 + k], B[r2 + k], B[r3 + k]);
}

@compute @workgroup_size(16, 1, 1)
fn main(@builtin(workgroup_id) wg: vec3u, @builtin(num_workgroups) nwg: vec3u, @builtin(local_invocation_index) lid: u32) {
  // threads numbered over (row block, column block), column blocks fastest: a narrow product (LoRA's x·Aᵀ, 2-4
  // column blocks) fills every thread of a workgroup with the next row blocks instead of leaving 12-14 idle
  let nb = (p.N + 3u) / 4u;
  let t = (wg.y * nwg.x + wg.x) * 16u + lid;
  if (t >= nb * ((p.M + 3u) / 4u)) { return; }
  let n0 = (t % nb) * 4u;
  let m0 = (t / nb) * 4u;
  let rows = min(4u, p.M - m0);
  let K4 = p.K / 4u;
  // weight rows of the 4 outputs, clamped to the last so edge loads stay in bounds (their sums are not stored)
  let last = p.N - 1u;
  let bb = wg.z * p.batch_stride_b;
  let r0 = bb + n0 * K4;
  let r1 = bb + min(n0 + 1u, last) * K4;
  let r2 = bb + min(n0 + 2u, last) * K4;
  let r3 = bb + min(n0 + 3u, last) * K4;
  // with GLU (_nt_4x4.wgsl) the same outputs' up rows, F = p.N rows further on
  let u0 = bb + (p.N + n0) * K4;
  let u1 = bb + (p.N + min(n0 + 1u, last)) * K4;
  let u2 = bb + (p.N + min(n0 + 2u, last)) * K4;
  let u3 = bb + (p.N + min(n0 + 3u, last)) * K4;
  let ab = wg.z * p.batch_stride_a + m0 * K4;
  // acc_m[j] = Σ_k A[m,k]·B[n0+j,k]
  var acc0 = vec4f(); var acc1 = vec4f(); var acc2 = vec4f(); var acc3 = vec4f();
  var up0 = vec4f(); var up1 = vec4f(); var up2 = vec4f(); var up3 = vec4f();
  for (var k = 0u; k < K4; k++) {
    let w = wblk(r0, r1, r2, r3, k);
    var wu = mat4x4f();
    if (GLU) { wu = wblk(u0, u1, u2, u3, k); }
    let x0 = A[ab + k];
    acc0 += x0 * w;
    if (GLU) { up0 += x0 * wu; }
    if (rows > 1u) { let x1 = A[ab + K4 + k]; acc1 += x1 * w; if (GLU) { up1 += x1 * wu; } }
    if (rows > 2u) { let x2 = A[ab + 2u * K4 + k]; acc2 += x2 * w; if (GLU) { up2 += x2 * wu; } }
    if (rows > 3u) { let x3 = A[ab + 3u * K4 + k]; acc3 += x3 * w; if (GLU) { up3 += x3 * wu; } }
  }
  let cb = wg.z * p.batch_stride_c + m0 * p.N + n0;
  store(cb, n0, acc0, up0);
  if (rows > 1u) { store(cb + p.N, n0, acc1, up1); }
  if (rows > 2u) { store(cb + 2u * p.N, n0, acc2, up2); }
  if (rows > 3u) { store(cb + 3u * p.N, n0, acc3, up3); }
}

// #include _gate_act
// #include _nt_4x4
// #include _w16
