// Library (not a kernel): _hw_rmsnorm_x.wgsl's twin for x stored as f16 activations (act-dtype.ts: two halves a
// u32 word, the lower index in the low half), e.g. Qwen3's per-head norm of an f16 q. A Q is QW/2 words (_hw_q4,
// _hw_q2; the scalar _hw_q1 has no f16 form). The sums stay f32.
@group(0) @binding(1) var<storage, read> x: array<QH>;
fn x_at(i: u32) -> Q { return q_unpack(x[i]); }
