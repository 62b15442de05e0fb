// Llama 3.1-style RoPE scaling in GGUF. Hugging Face describes it with four numbers (rope_scaling: factor,
// low_freq_factor, high_freq_factor, original_max_position_embeddings); llama.cpp's converter instead stores the
// resulting per-frequency divisors as a tensor, rope_freqs.weight [head_dim/2] (convert_hf_to_gguf.py,
// LlamaModel.generate_extra_tensors). Export computes that tensor; import recovers the four numbers by fitting them
// and accepts the fit only when it reproduces every stored factor.

export interface Llama3Scaling {
  factor: number;
  lowFreqFactor: number;
  highFreqFactor: number;
  originalMaxPositionEmbeddings: number;
}

/** The converter's factors: 1 for short wavelengths, `factor` for long ones, a smooth blend in between. */
export function llama3RopeFactors(s: Llama3Scaling, ropeTheta: number, headDim: number): Float32Array {
  const lowWavelen = s.originalMaxPositionEmbeddings / s.lowFreqFactor;
  const highWavelen = s.originalMaxPositionEmbeddings / s.highFreqFactor;
  const out = new Float32Array(headDim / 2);
  for (let i = 0; i < headDim / 2; i++) {
    // torch computes the frequencies in float32
    const freq = Math.fround(1 / Math.fround(Math.fround(ropeTheta) ** Math.fround((2 * i) / headDim)));
    const wavelen = (2 * Math.PI) / freq;
    if (wavelen < highWavelen) out[i] = 1;
    else if (wavelen > lowWavelen) out[i] = s.factor;
    else {
      const smooth = (s.originalMaxPositionEmbeddings / wavelen - s.lowFreqFactor) / (s.highFreqFactor - s.lowFreqFactor);
      out[i] = 1 / ((1 - smooth) / s.factor + smooth);
    }
  }
  return out;
}

function matches(a: Float32Array, b: ArrayLike<number>): boolean {
  for (let i = 0; i < a.length; i++) if (Math.abs(a[i]! - b[i]!) > 1e-5 * Math.max(1, Math.abs(b[i]!))) return false;
  return true;
}

/**
 * The rope_scaling that gives these factors, or null. Tried in turn: Meta's Llama 3.1/3.2 values (original context
 * 8192, low 1, high 4) with the largest factor; then, when two or more frequencies lie in the blend, the exact
 * solution for low/high given the original context (blend s = A·freq + B is linear in the frequency: two points fix
 * A and B; original context from `originalHint` or 8192).
 */
export function inferLlama3Scaling(factors: ArrayLike<number>, ropeTheta: number, headDim: number, originalHint: number | null): Llama3Scaling | null {
  if (factors.length !== headDim / 2) return null;
  const freqAt = (i: number) => Math.fround(1 / Math.fround(Math.fround(ropeTheta) ** Math.fround((2 * i) / headDim)));
  const factor = Math.max(...Array.from(factors));
  const orig = originalHint ?? 8192;
  // Meta's low/high: the factor is the value of any long wavelength, or follows from one blended entry when no
  // wavelength of this head size is long enough (1/f = (1−s)/factor + s).
  let metaFactor = factor;
  for (let i = 0; i < factors.length; i++) {
    const wavelen = (2 * Math.PI) / freqAt(i);
    const s = (orig / wavelen - 1) / (4 - 1);
    if (wavelen > orig) {
      metaFactor = factors[i]!;
      break;
    }
    if (wavelen >= orig / 4 && s < 1 && 1 / factors[i]! - s > 0) metaFactor = (1 - s) / (1 / factors[i]! - s);
  }
  const candidates: Llama3Scaling[] = [{ factor: metaFactor, lowFreqFactor: 1, highFreqFactor: 4, originalMaxPositionEmbeddings: orig }];
  if (factor > 1) {
    // smooth s = (1/f − 1/factor) / (1 − 1/factor) for blended entries; s = orig·freq/(2π(high−low)) − low/(high−low)
    const pts: { freq: number; s: number }[] = [];
    for (let i = 0; i < factors.length; i++) {
      const f = factors[i]!;
      if (f > 1 + 1e-6 && f < factor - 1e-6) {
        const freq = freqAt(i);
        pts.push({ freq, s: (1 / f - 1 / factor) / (1 - 1 / factor) });
      }
    }
    if (pts.length >= 2) {
      const [p, q] = [pts[0]!, pts[pts.length - 1]!];
      const A = (q.s - p.s) / (q.freq - p.freq);
      const B = p.s - A * p.freq;
      const span = orig / (2 * Math.PI * A); // high − low
      const low = -B * span;
      candidates.push({ factor, lowFreqFactor: low, highFreqFactor: low + span, originalMaxPositionEmbeddings: orig });
    }
  }
  // Fitted from float32 factors, the numbers carry rounding noise (31.999997 for 32): prefer round values that fit.
  const round = (x: number) => Math.round(x * 1000) / 1000;
  const tried = candidates.flatMap((c) => [
    { ...c, factor: round(c.factor), lowFreqFactor: round(c.lowFreqFactor), highFreqFactor: round(c.highFreqFactor) },
    c,
  ]);
  return tried.find((c) => c.highFreqFactor > c.lowFreqFactor && c.lowFreqFactor > 0 && matches(llama3RopeFactors(c, ropeTheta, headDim), factors)) ?? null;
}
