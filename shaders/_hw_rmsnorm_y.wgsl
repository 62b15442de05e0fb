// Library (not a kernel): how the hardware RMSNorm (_hw_rmsnorm.wgsl) stores its output y: f32, a Q at a time. The
// twin _hw_rmsnorm_y_y16.wgsl (file tag +y16) stores y as f16 pairs.
@group(0) @binding(3) var<storage, read_write> y: array<Q>;
fn y_put(i: u32, v: Q) { y[i] = v; }
