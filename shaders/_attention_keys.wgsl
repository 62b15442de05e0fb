// Which keys a query sees, and the score's soft cap: shared by the attention kernels of both families
// (attention.wgsl, attention_backward.wgsl, hw_attention.wgsl, hw_attention_backward.wgsl), included at their end
// through `// #include _attention_keys` (gpu/kernels.ts). The includer defines the overrides WINDOW (u32), USE_MASK
// (bool) and SOFTCAP (f32) and the `mask` binding (u32 [B, S]: 1 a real key, 0 padding).

// Gemma's tanh soft cap of a raw score s = scale·q·k (attn_logit_softcapping; SOFTCAP 0: none). Clamped so that
// tanh never sees a huge argument (its value is ±1 there anyway).
fn cap(s: f32) -> f32 {
  if (SOFTCAP > 0.0) { return SOFTCAP * tanh(clamp(s / SOFTCAP, -10.0, 10.0)); }
  return s;
}

// (capped score, d capped / d raw): the backward's chain rule through the cap
fn cap_slope(s: f32) -> vec2f {
  if (SOFTCAP > 0.0) {
    let t = tanh(clamp(s / SOFTCAP, -10.0, 10.0));
    return vec2f(SOFTCAP * t, 1.0 - t * t);
  }
  return vec2f(s, 1.0);
}

fn key_real(at: u32) -> bool {
  if (USE_MASK) { return mask[at] != 0u; }
  return true;
}

// The first slot a query seeing slots 0..n_keys−1 attends to: the WINDOW-th most recent real key (0 without a window).
fn window_start(kv_batch: u32, n_keys: u32) -> u32 {
  if (WINDOW == 0u) { return 0u; }
  if (!USE_MASK) { return select(0u, n_keys - WINDOW, n_keys > WINDOW); }
  var seen = 0u;
  var j = n_keys;
  while (j > 0u) {
    j--;
    if (mask[kv_batch + j] != 0u) {
      seen++;
      if (seen == WINDOW) { return j; }
    }
  }
  return 0u;
}
