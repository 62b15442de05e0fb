// Full-parameter gradients on the hardware kernel family (ALLOY_KERNELS=hardware: its tiled matmul computes every
// dW = dYᵀ·X, on SwiftShader here), against the float64 finite differences of full-grad.gpu.test.ts with its
// tolerances (gradient 3e-5 of the tensor's max |grad|, loss 5e-7 relative), on the cases that cover every tensor
// kind: tied and fused (tiny-llama), biases (tiny-qwen2), Gemma 3, split tables and unfused projections; and
// recomputation bit for bit. Measured (printed): worst tensor 7e-7 to 2.5e-6 (with the hardware row kernels; 6e-7
// to 5.5e-6 before them), loss ≤ 6e-8 relative (1.2e-7 before).
import { afterAll, describe, expect, it } from 'vitest';
import { createFullParams } from '../../../src/engine/train/full-params.ts';
import type { Method } from '../../../src/engine/train/objectives.ts';
import { CASES, checkAgainstFd, disposeFixtures, fixture, GRAD_TOL, gpuFull, LOSS_TOL } from './full-grad-helpers.ts';

// Read by acquireNodeDevice when this file's device is first acquired; vitest runs each GPU test file in its own process.
process.env.ALLOY_KERNELS = 'hardware';

afterAll(disposeFixtures);

const PICK: Array<[key: string, method: Method]> = [
  ['tiny-llama', 'orpo'],
  ['tiny-qwen2', 'cpt'],
  ['tiny-gemma3', 'dpo'],
  ['tiny-llama-split', 'cpt'],
];

describe('full-parameter gradients, hardware kernel family', () => {
  for (const [key, method] of PICK) {
    const c = CASES.find((x) => x.key === key)!;
    it(`${key} · ${method} (${c.what}): = float64 FD; recompute bit for bit`, async () => {
      const f = await fixture(c.key, c.name, c.opts);
      expect(f.model.kernels.family).toBe('hardware');
      const full = createFullParams(f.model);
      try {
        const gpu = await gpuFull(f, full, method);
        const { lossErr, worst, worstName } = checkAgainstFd(f, method, gpu);
        console.log(`hardware · ${key} · ${method}: loss rel err ${lossErr.toExponential(2)}; grads vs FD worst ${worst.toExponential(2)} (${worstName})`);
        expect(lossErr).toBeLessThanOrEqual(LOSS_TOL);
        expect(worst).toBeLessThanOrEqual(GRAD_TOL);
        const re = await gpuFull(f, full, method, { recompute: true });
        expect(re.loss).toBe(gpu.loss);
        for (const [name, g] of gpu.grads) expect(new Uint32Array(re.grads.get(name)!.data.buffer), name).toEqual(new Uint32Array(g.data.buffer));
      } finally {
        full.dispose();
      }
    });
  }
});
