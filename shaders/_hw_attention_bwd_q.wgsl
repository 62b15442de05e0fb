// Library (not a kernel): how the hardware attention backward (hw_attention_backward.wgsl) reads the forward's q:
// f32, one element at a time. Its twin _hw_attention_bwd_q_a16.wgsl (file tag +a16, gpu/kernels.ts variantSource)
// reads q saved as an f16 activation.
@group(0) @binding(1) var<storage, read> q: array<f32>;
fn q_at(i: u32) -> f32 { return q[i]; }
