// Random LoRA adapters for tests, and the base weights with them folded in (W + scale·B·A, float64 per element,
// written out here independently of src/engine/lora) for the reference forward.
import type { ModelConfig } from '../../../src/io/config.ts';
import { modulePath, type LoraTarget } from '../../../src/engine/lora/targets.ts';
import { expect } from 'vitest';
import { mulberry32 } from '../../../src/common/random.ts';
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

/**
 * The adapter in float64 beside the base weights, for finite differences: `weights` always holds every adapted
 * projection folded (W + scale·B·A); after moving an entry of a64/b64, `fold(path)` refolds that one module.
 */
export function perturbableFold(base: ReadonlyMap<string, Float32Array>, ad: TestAdapter) {
  const a64 = new Map([...ad.tensors].map(([p, t]) => [p, Float64Array.from(t.a)]));
  const b64 = new Map([...ad.tensors].map(([p, t]) => [p, Float64Array.from(t.b)]));
  const weights = new Map<string, ArrayLike<number>>(base);
  const fold = (path: string) => {
    const w = base.get(`${path}.weight`)!;
    const a = a64.get(path)!;
    const b = b64.get(path)!;
    const inn = a.length / ad.r;
    const m = new Float64Array(w.length);
    for (let o = 0; o < b.length / ad.r; o++)
      for (let i = 0; i < inn; i++) {
        let acc = 0;
        for (let k = 0; k < ad.r; k++) acc += b[o * ad.r + k]! * a[k * inn + i]!;
        m[o * inn + i] = w[o * inn + i]! + ad.scale * acc;
      }
    weights.set(`${path}.weight`, m);
  };
  for (const p of ad.tensors.keys()) fold(p);
  return { a64, b64, weights, fold };
}

/**
 * The largest |central difference − GPU gradient| over `perTensor` random entries of every A and B, relative to
 * each tensor's largest |gradient| (asserted non-zero: every path must be live). `loss` reads `fd.weights`.
 */
export function worstFdError(
  fd: ReturnType<typeof perturbableFold>,
  grads: ReadonlyMap<string, { data: Float32Array }>,
  loss: () => number,
  o: { layers: number; targets: readonly LoraTarget[]; perTensor: number; h: number; seed: number },
): number {
  const rand = mulberry32(o.seed);
  let worst = 0;
  for (let l = 0; l < o.layers; l++) {
    for (const t of o.targets) {
      const path = modulePath(l, t);
      for (const half of ['A', 'B'] as const) {
        const arr = (half === 'A' ? fd.a64 : fd.b64).get(path)!;
        const g = grads.get(`base_model.model.${path}.lora_${half}.weight`)!.data;
        expect(g.length).toBe(arr.length);
        const scale = Math.max(...g.map(Math.abs));
        expect(scale).toBeGreaterThan(0);
        let err = 0;
        for (let n = 0; n < o.perTensor; n++) {
          const i = Math.floor(rand() * arr.length);
          const keep = arr[i]!;
          arr[i] = keep + o.h;
          fd.fold(path);
          const up = loss();
          arr[i] = keep - o.h;
          fd.fold(path);
          const down = loss();
          arr[i] = keep;
          fd.fold(path);
          err = Math.max(err, Math.abs((up - down) / (2 * o.h) - g[i]!));
        }
        worst = Math.max(worst, err / scale);
      }
    }
  }
  return worst;
}
