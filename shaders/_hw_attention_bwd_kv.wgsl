// Library (not a kernel): how the hardware attention backward (hw_attention_backward.wgsl) reads the forward's k
// and v: f32, one element at a time. Its twin _hw_attention_bwd_kv_f16.wgsl (file tag +f16) reads them as f16.
@group(0) @binding(2) var<storage, read> k: array<f32>;
@group(0) @binding(3) var<storage, read> v: array<f32>;
fn k_at(i: u32) -> f32 { return k[i]; }
fn v_at(i: u32) -> f32 { return v[i]; }
