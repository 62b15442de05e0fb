// How the attention forwards of both families (attention.wgsl, hw_attention.wgsl) read keys and values through
// their vec4 views at bindings 8 and 9: f32, four elements a load. The twin _kv_load_f16.wgsl reads a KV cache
// stored as f16 (kernel file NAME+f16, gpu/kernels.ts variantSource); the kernels' own text is the same for both.
@group(0) @binding(8) var<storage, read> k4: array<vec4f>;
@group(0) @binding(9) var<storage, read> v4: array<vec4f>;

// elements 4i..4i+3 of k (of v)
fn key4(i: u32) -> vec4f { return k4[i]; }
fn val4(i: u32) -> vec4f { return v4[i]; }
