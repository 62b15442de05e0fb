// Library (not a kernel): _hw_attention_bwd_kv.wgsl's twin for k and v stored as f16 pairs (act-dtype.ts /
// kv-cache.ts layout, dense [batch, S, nKv, D]: no ring), the keys and values an f16-activation forward
// (hw_attention+a16+f16) attended over. The gradients dk, dv stay f32.
@group(0) @binding(2) var<storage, read> k: array<u32>;
@group(0) @binding(3) var<storage, read> v: array<u32>;
fn half_at(w: u32, i: u32) -> f32 {
  let h = unpack2x16float(w);
  return select(h.x, h.y, (i & 1u) == 1u);
}
fn k_at(i: u32) -> f32 { return half_at(k[i / 2u], i); }
fn v_at(i: u32) -> f32 { return half_at(v[i / 2u], i); }
