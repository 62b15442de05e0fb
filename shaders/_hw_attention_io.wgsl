// Library (not a kernel): how the hardware attention forward (hw_attention.wgsl) reads q and writes out: f32, one
// element at a time. Its twin _hw_attention_io_a16.wgsl (file tag +a16, gpu/kernels.ts variantSource) reads and
// writes them as f16 activations. PAIR is how many consecutive head dims a lane owns (the kernel maps lane c's
// e-th dim to PAIR·(c + TPR·⌊e/PAIR⌋) + e mod PAIR): 1 here, so neighbouring lanes own neighbouring dims.
@group(0) @binding(1) var<storage, read> q: array<f32>;
@group(0) @binding(4) var<storage, read_write> out: array<f32>;
const PAIR = 1u;
fn q_el(i: u32) -> f32 { return q[i]; }
// out elements i..i+PAIR−1 (the first PAIR components of o)
fn out_put(i: u32, o: vec2f) { out[i] = o.x; }
