// Library (not a kernel): _hw_attention_bwd_q.wgsl's twin for q saved as an f16 activation (act-dtype.ts: IEEE
// binary16 values two to a u32 word, the lower index in the low half), as an f16-activation forward
// (hw_attention+a16) read it; the backward's arithmetic and every gradient stay f32.
@group(0) @binding(1) var<storage, read> q: array<u32>;
fn q_at(i: u32) -> f32 {
  let h = unpack2x16float(q[i / 2u]);
  return select(h.x, h.y, (i & 1u) == 1u);
}
