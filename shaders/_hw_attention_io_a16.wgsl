// Library (not a kernel): _hw_attention_io.wgsl's twin for f16 activations (act-dtype.ts: IEEE binary16 values two
// to a u32 word, the lower index in the low half), the hardware family's f16 forward: q read and out written as
// f16 pairs (file hw_attention+a16, combined with +f16 for an f16 KV cache). Each lane owns PAIR = 2 adjacent head
// dims (D % 4 == 0), so the two halves of an out word are stored by one invocation, never two racing. The scores,
// softmax and accumulators stay f32; out is clamped to f16's range (pack2x16float leaves a value beyond it undefined).
@group(0) @binding(1) var<storage, read> q: array<u32>;
@group(0) @binding(4) var<storage, read_write> out: array<u32>;
const PAIR = 2u;
fn q_el(i: u32) -> f32 {
  let h = unpack2x16float(q[i / 2u]);
  return select(h.x, h.y, (i & 1u) == 1u);
}
fn out_put(i: u32, o: vec2f) { out[i / 2u] = pack2x16float(clamp(o, vec2f(-65504.0), vec2f(65504.0))); }
