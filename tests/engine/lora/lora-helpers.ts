// Random LoRA adapters for tests, and the base weights with them folded in (W + scale·B·A, float64 per element,
// written out here independently of src/engine/lora) for the reference forward.
import type { ModelConfig } from '../../../src/io/config.ts';
import { modulePath, type LoraTarget } from '../../../src/engine/lora/targets.ts';
import { randomArray } from '../../helpers/gpu.ts';

export interface TestAdapter {
  r: number;
  alpha: number;
  scale: number;
  /** module path → A [r, in], B [out, r] */
  tensors: Map<string, { a: Float32Array; b: Float32Array }>;
}

export function projShape(cfg: ModelConfig, t: LoraTarget): [out: number, inn: number] {
  const q = cfg.numHeads * cfg.headDim;
  const kv = cfg.numKvHeads * cfg.headDim;
  const C = cfg.hiddenSize;
  const F = cfg.intermediateSize;
  const shapes: Record<LoraTarget, [number, number]> = {
    q_proj: [q, C],
    k_proj: [kv, C],
    v_proj: [kv, C],
    o_proj: [C, q],
    gate_proj: [F, C],
    up_proj: [F, C],
    down_proj: [C, F],
  };
  return shapes[t];
}

/** Non-zero A and B (so the adapter changes the model and every gradient path is live). */
export function randomAdapter(cfg: ModelConfig, targets: LoraTarget[], r: number, alpha: number, seed: number, amp = 0.3): TestAdapter {
  const tensors = new Map<string, { a: Float32Array; b: Float32Array }>();
  let s = seed;
  for (let l = 0; l < cfg.numLayers; l++) {
    for (const t of targets) {
      const [out, inn] = projShape(cfg, t);
      tensors.set(modulePath(l, t), {
        a: randomArray(r * inn, s++).map((x) => (x * amp) / Math.sqrt(inn) * 4),
        b: randomArray(out * r, s++).map((x) => x * amp),
      });
    }
  }
  return { r, alpha, scale: alpha / r, tensors };
}

/** Float64 weights with every adapted projection replaced by W + scale·B·A. */
export function foldedWeights(base: ReadonlyMap<string, Float32Array>, ad: TestAdapter): Map<string, Float64Array | Float32Array> {
  const out = new Map<string, Float64Array | Float32Array>(base);
  for (const [path, { a, b }] of ad.tensors) {
    const w = base.get(`${path}.weight`)!;
    const inn = a.length / ad.r;
    const outF = b.length / ad.r;
    const m = new Float64Array(w.length);
    for (let o = 0; o < outF; o++)
      for (let i = 0; i < inn; i++) {
        let acc = 0;
        for (let k = 0; k < ad.r; k++) acc += b[o * ad.r + k]! * a[k * inn + i]!;
        m[o * inn + i] = w[o * inn + i]! + ad.scale * acc;
      }
    out.set(`${path}.weight`, m);
  }
  return out;
}
