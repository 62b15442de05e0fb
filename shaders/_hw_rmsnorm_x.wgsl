// Library (not a kernel): how the hardware RMSNorm (_hw_rmsnorm.wgsl) reads its input x: f32, a Q at a time. The
// twin _hw_rmsnorm_x_x16.wgsl (file tag +x16, gpu/kernels.ts variantSource) reads x stored as f16 pairs.
@group(0) @binding(1) var<storage, read> x: array<Q>;
fn x_at(i: u32) -> Q { return x[i]; }
