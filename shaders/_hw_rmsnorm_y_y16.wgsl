// Library (not a kernel): _hw_rmsnorm_y.wgsl's twin for y stored as f16 activations (act-dtype.ts), the input of
// an f16-activation forward's next matmul: each invocation owns whole words (a Q is QW/2 of them), so no two
// write halves of one word. Values beyond f16's range are clamped to ±65504 (q_pack).
@group(0) @binding(3) var<storage, read_write> y: array<QH>;
fn y_put(i: u32, v: Q) { y[i] = q_pack(v); }
