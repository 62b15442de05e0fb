// LoRA on the GPU model: logits with a random (non-zero B) adapter on q/k/v/o/gate/up/down equal the float64
// reference forward on the folded weights W + scale·B·A (max |Δlogit| ≤ 1e-5, the base model's own bound in
// logits.gpu.test.ts; measured on SwiftShader: 1.0e-6); disabled, the same model gives the base logits (≤ 1e-6
// from the plain forward: identical kernels, measured 0; ≤ 1e-5 from the reference).
// PEFT init: B = 0 so a fresh adapter is a no-op, A within ±1/√in.
import { afterAll, describe, expect, it } from 'vitest';
import { forward } from '../../../src/engine/model/index.ts';
import { clearLoraGrads, createLora, loraFromTensors, readLoraF32 } from '../../../src/engine/lora/adapter.ts';
import { LORA_TARGETS } from '../../../src/engine/lora/targets.ts';
import { referenceForward } from '../../../src/engine/reference/forward.ts';
import { gpuShared, loadFixture, maxAbsDiff, SEQ, type Fixture } from '../model/model-fixtures.ts';
import { foldedWeights, randomAdapter } from './lora-helpers.ts';

/** max |Δlogit| against the float64 reference, as for the base model (logits.gpu.test.ts) */
const TOL = 1e-5;
const loaded: Fixture[] = [];
afterAll(async () => {
  for (const f of loaded) f.model.dispose();
  (await gpuShared()).pool.destroyAll();
});

describe('LoRA forward on the GPU', () => {
  for (const [name, rslora] of [['tiny-llama', false], ['tiny-qwen2', true]] as const) {
    it(`${name}: adapter on all projections = reference on folded weights (≤ ${TOL}); disabled = base`, async () => {
      const f = await loadFixture(name);
      loaded.push(f);
      const ad = randomAdapter(f.config, [...LORA_TARGETS], 2, 4, 100);
      if (rslora) ad.scale = 4 / Math.sqrt(2);
      const lora = loraFromTensors(f.model, { r: 2, loraAlpha: 4, useRslora: rslora, targetModules: null }, ad.tensors);
      expect(lora.scale).toBeCloseTo(ad.scale, 12);
      const ids = SEQ.slice(0, 9);
      const [got] = await forward(f.model, [ids], { lora });
      const folded = foldedWeights(f.weights, ad);
      const want = referenceForward(f.config, (n) => folded.get(n)!, ids);
      const err = maxAbsDiff(got!, want);
      const base = f.reference(ids);
      console.log(`${name}: LoRA logits max|Δ| vs folded reference ${err.toExponential(2)}; adapter moves logits by ${maxAbsDiff(base, want).toFixed(3)}`);
      expect(err).toBeLessThanOrEqual(TOL);
      expect(maxAbsDiff(base, want)).toBeGreaterThan(1e-2);
      lora.enabled = false;
      const [off] = await forward(f.model, [ids], { lora });
      const [plain] = await forward(f.model, [ids]);
      const offErr = maxAbsDiff(off!, plain!);
      const baseErr = maxAbsDiff(off!, base);
      console.log(`${name}: disabled adapter max|Δ| vs plain forward ${offErr.toExponential(2)}, vs base reference ${baseErr.toExponential(2)}`);
      expect(offErr).toBeLessThanOrEqual(1e-6);
      expect(baseErr).toBeLessThanOrEqual(TOL);
      lora.dispose();
    });
  }

  it('an adapter loaded without gradients (chat) gives the same logits with half the buffers, and refuses a backward', async () => {
    const f = loaded[0]!;
    const ad = randomAdapter(f.config, ['q_proj', 'down_proj'], 2, 4, 7);
    const config = { r: 2, loraAlpha: 4, useRslora: false, targetModules: null };
    const before = f.model.pool.stats().liveBytes;
    const full = loraFromTensors(f.model, config, ad.tensors);
    const fullBytes = f.model.pool.stats().liveBytes - before;
    const applied = loraFromTensors(f.model, config, ad.tensors, { grads: false });
    const appliedBytes = f.model.pool.stats().liveBytes - before - fullBytes;
    expect(appliedBytes * 2).toBe(fullBytes);
    const [a] = await forward(f.model, [SEQ], { lora: full });
    const [b] = await forward(f.model, [SEQ], { lora: applied });
    expect(maxAbsDiff(a!, b!)).toBe(0);
    expect(() => clearLoraGrads(f.model, applied)).toThrow('loaded without gradients');
    full.dispose();
    applied.dispose();
    expect(f.model.pool.stats().liveBytes).toBe(before);
  });

  it('PEFT init: B = 0 (a no-op adapter), A ~ U(±1/√in), reproducible from the seed', async () => {
    const f = loaded[0]!;
    const lora = createLora(f.model, { r: 4, alpha: 8, targets: ['q_proj', 'down_proj'], seed: 3 });
    const again = createLora(f.model, { r: 4, alpha: 8, targets: ['q_proj', 'down_proj'], seed: 3 });
    const t = await readLoraF32(f.model, lora, 'params');
    const t2 = await readLoraF32(f.model, again, 'params');
    expect([...t.keys()]).toContain('base_model.model.model.layers.1.mlp.down_proj.lora_A.weight');
    for (const [name, x] of t) {
      const v = x.data;
      expect(Array.from(v)).toEqual(Array.from(t2.get(name)!.data));
      if (name.includes('lora_B')) expect(v.every((y) => y === 0)).toBe(true);
      else {
        const bound = 1 / Math.sqrt(x.shape[1]!);
        expect(Math.max(...v.map(Math.abs))).toBeLessThanOrEqual(bound);
        expect(Math.max(...v.map(Math.abs))).toBeGreaterThan(0.8 * bound);
      }
    }
    const [withFresh] = await forward(f.model, [SEQ], { lora });
    const [plain] = await forward(f.model, [SEQ]);
    expect(maxAbsDiff(withFresh!, plain!)).toBeLessThanOrEqual(1e-6);
    lora.dispose();
    again.dispose();
  });
});
