// SmolLM3 (tiny-smollm3: layer 1 is a NoPE layer, no_rope_layers [1, 0]) end to end on the GPU: logits against the
// float64 reference (which skips RoPE where SmolLM3Attention's use_rope is 0), KV-cache decoding of ragged rows
// against the full forward (the fused split_qkv path without rotation), LoRA gradients on all seven projections
// against finite differences (RoPE's backward skipped in the NoPE layer), and a NoPE layer that also slides.
// Tolerances as in qwen3.gpu.test.ts: logits 1e-5, GPU-vs-GPU 1e-6, grads 3e-5 relative, loss 2e-6.
import { afterAll, describe, expect, it } from 'vitest';
import type { LoraTarget } from '../../../src/engine/lora/targets.ts';
import type { Method } from '../../../src/engine/train/objectives.ts';
import { referenceForward } from '../../../src/engine/reference/forward.ts';
import { decodeError, logitsError, loraFdError } from './arch-checks.ts';
import { gpuShared, loadFixture, maxAbsDiff, SEQ, type Fixture } from './model-fixtures.ts';

const NAME = 'tiny-smollm3';
const loaded = new Map<string, Promise<Fixture>>();
const get = (variant: 'plain' | 'sliding' = 'plain') => {
  let f = loaded.get(variant);
  // use_sliding_window with no layer_types: SmolLM3Config makes the NoPE layers the sliding ones
  const over = variant === 'sliding' ? { use_sliding_window: true, sliding_window: 3, layer_types: null } : undefined;
  if (!f) loaded.set(variant, (f = loadFixture(NAME, over ? { configOverrides: over } : {})));
  return f;
};

afterAll(async () => {
  for (const f of loaded.values()) (await f).model.dispose();
  (await gpuShared()).pool.destroyAll();
});

const ALL: LoraTarget[] = ['q_proj', 'k_proj', 'v_proj', 'o_proj', 'gate_proj', 'up_proj', 'down_proj'];

describe('tiny-smollm3', () => {
  it('parses as SmolLM3 with layer 1 NoPE', async () => {
    const f = await get();
    expect(f.config).toMatchObject({ family: 'smollm3', architecture: 'SmolLM3ForCausalLM', layerRope: [true, false], layerWindows: [0, 0], tieWordEmbeddings: true, ropeTheta: 5e6 });
    expect((await get('sliding')).config.layerWindows).toEqual([0, 3]);
  });

  it('logits against the float64 reference: max |Δ| ≤ 1e-5; the NoPE layer matters', async () => {
    const f = await get();
    const { err, scale } = await logitsError(f);
    const allRope = referenceForward({ ...f.config, layerRope: [true, true] }, (n) => f.weights.get(n)!, SEQ);
    const moved = maxAbsDiff(allRope, f.reference(SEQ));
    console.log(`${NAME}: max|Δlogit| = ${err.toExponential(2)} (max |logit| ${scale.toFixed(3)}); with RoPE in every layer the reference moves ${moved.toExponential(2)}`);
    expect(err).toBeLessThanOrEqual(1e-5);
    expect(moved).toBeGreaterThan(1e-2);
  });

  it('KV-cache decoding of ragged rows = the full forward (≤ 1e-6)', async () => {
    const { err, steps } = await decodeError(await get());
    console.log(`${NAME}: KV decode vs full forward max|Δ| = ${err.toExponential(2)} over ${steps} steps × 2 rows`);
    expect(err).toBeLessThanOrEqual(1e-6);
  });

  for (const method of ['cpt', 'sft', 'dpo', 'orpo'] as Method[]) {
    it(`LoRA gradients on all seven projections vs finite differences: ${method}`, async () => {
      const { lossErr, gradErr } = await loraFdError(await get(), method, ALL, { seed: 31 });
      console.log(`${NAME} · ${method}: loss rel err ${lossErr.toExponential(2)}; grads vs FD max rel err ${gradErr.toExponential(2)}`);
      expect(lossErr).toBeLessThanOrEqual(2e-6);
      expect(gradErr).toBeLessThanOrEqual(3e-5);
    });
  }

  it('a sliding NoPE layer (use_sliding_window, window 3): logits, decode and SFT gradients', async () => {
    const f = await get('sliding');
    const { err } = await logitsError(f);
    const dec = await decodeError(f);
    const { lossErr, gradErr } = await loraFdError(f, 'sft', ['q_proj', 'k_proj', 'v_proj', 'o_proj'], { seed: 32 });
    const moved = maxAbsDiff(f.reference(SEQ), (await get()).reference(SEQ));
    expect(moved).toBeGreaterThan(1e-2); // the window changes the model at this length
    console.log(`${NAME} sliding (window moves the reference ${moved.toExponential(2)}): logits ${err.toExponential(2)}, decode ${dec.err.toExponential(2)}, SFT loss ${lossErr.toExponential(2)}, grads ${gradErr.toExponential(2)}`);
    expect(err).toBeLessThanOrEqual(1e-5);
    expect(dec.err).toBeLessThanOrEqual(1e-6);
    expect(lossErr).toBeLessThanOrEqual(2e-6);
    expect(gradErr).toBeLessThanOrEqual(3e-5);
  });
});
