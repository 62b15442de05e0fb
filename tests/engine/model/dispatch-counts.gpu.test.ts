// WebGPU API calls per decoded token and per training step of tiny-llama, after warm-up, counted with
// countGpuCalls: the test fails when any count grows above its ceiling (issue 14: every dispatch, pass, bind group
// and buffer created costs JS and validation time on every device, so the counts bound throughput).
// Counts, never times: they are the same on every adapter.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { countGpuCalls, perUnit, type GpuCallCounts } from '../../../src/engine/gpu/call-counter.ts';
import { generate, type GenerateOptions } from '../../../src/engine/model/index.ts';
import { createLora } from '../../../src/engine/lora/adapter.ts';
import { LORA_TARGETS } from '../../../src/engine/lora/targets.ts';
import { Trainer, trainConfig } from '../../../src/engine/train/trainer.ts';
import type { Sequence } from '../../../src/common/training-data.ts';
import { gpuShared, loadFixture, SEQ, type Fixture } from './model-fixtures.ts';

// Ceilings = what the engine does today (printed by every run; the counts are deterministic, so they are the
// measured values exactly), so any growth fails. They only come DOWN: whoever lowers a count lowers its ceiling
// here in the same change. History (per token / per step): before issue 14, 34 dispatches, 34 passes, 34 bind
// groups, 35 buffers, 38 writes, 5 submits, 1536 B read (the whole 384-logit row) / 211, 211, 211, 213, 216, 15, 264.
// Now a decode step writes 4 small inputs (position, mask slot, attention's and split_qkv's `past`; its id is the
// previous step's pick, copied on the GPU; a sampled step also writes its draw), runs 8
// dispatches a layer (norm, q|k|v, split+RoPE into the cache, attention, o(+residual), norm, gate|up with SwiGLU
// in its epilogue, down(+residual)) + embed, final norm, lm_head and argmax in one pass and one submit, and reads
// back the 4-byte id (9 a layer, 22 a token, before the GLU epilogue). (Moving each norm into the next projection's 4×4 kernel made the step 18 dispatches but ~5% slower on
// SwiftShader, every thread recomputing its row's norm, so it was not kept.) A CPT/SFT
// training step runs its forward, target log-prob gather and backward as one command buffer (the token weights are
// uploaded before it; before: forward and backward one each, with the gather's submit between: 8 submits, 9 passes,
// 6 writes), AdamW from one per-step uniform block; the 2 buffers are the readbacks' staging buffers (the token
// log-probs, read after the pass, and the gradient norm's partial sums).
// tiny-llama: 2 layers, vocabulary 384.
type Ceiling = Pick<GpuCallCounts, 'dispatches' | 'passes' | 'bindGroups' | 'buffers' | 'writeBuffers' | 'submits' | 'readBytes'>;
/** per decoded token (a one-row KV-cache step + reading its logits), averaged over DECODE_TOKENS */
const PER_TOKEN: Ceiling = { dispatches: 20, passes: 1, bindGroups: 0, buffers: 0, writeBuffers: 4, submits: 1, readBytes: 4 };
/**
 * per sampled token (temperature / top-k / top-p on the GPU, ops/sample.ts): the argmax dispatch becomes the
 * sampling dispatch, one more small write (the step's draw), the same 4-byte id read back (8 with its log-prob;
 * issue 14's target is ≤ 16 bytes)
 */
const PER_SAMPLED_TOKEN: Ceiling = { ...PER_TOKEN, writeBuffers: PER_TOKEN.writeBuffers + 1 };
const PER_SAMPLED_TOKEN_LOGPROB: Ceiling = { ...PER_SAMPLED_TOKEN, readBytes: PER_TOKEN.readBytes + 4 };
/**
 * per LoRA training step: CPT, 2 rows × 16 tokens, r 4 on all seven projections, clipping + AdamW. The norm, its
 * clip scale and the update are one submit (clip.ts: the scale stays on the GPU), and 8 bytes of the norm come
 * back instead of every tensor's partial sums. Two submits (was 4): the pass (gradients zeroed in it, the
 * log-probs' readback copy at its end) and clip + update; both readbacks are awaited together, once, after both.
 * 200 dispatches before the LoRA groups (lora/adapter.ts: q, k, v's and gate, up's down-projections one batched
 * product a group, and their dA one batched product in the backward): 3 fewer a layer forward, 3 backward.
 */
const PER_STEP: Ceiling = { dispatches: 188, passes: 6, bindGroups: 0, buffers: 1, writeBuffers: 5, submits: 2, readBytes: 136 };
/**
 * per decoded token with a LoRA adapter (r 4) on all seven projections: the layer runs q, k, v and gate, up apart
 * (LoRA adds before RoPE and SwiGLU) and copies k, v into the cache (the copies close the pass: 3 passes), and each
 * adapter group adds one down-projection for all its members and one up-projection per member (lora/adapter.ts):
 * 54 dispatches before the groups, 3 fewer a layer now.
 */
const PER_LORA_TOKEN: Ceiling = { ...PER_TOKEN, dispatches: 48, passes: 3 };

const WARMUP_TOKENS = 4;
const DECODE_TOKENS = 8;

let f: Fixture;
beforeAll(async () => {
  f = await loadFixture('tiny-llama');
});
afterAll(async () => {
  f.model.dispose();
  (await gpuShared()).pool.destroyAll();
});

function check(what: string, got: GpuCallCounts, ceiling: Ceiling): void {
  console.log(`${what}: ${JSON.stringify(got)}`);
  for (const k of Object.keys(ceiling) as (keyof Ceiling)[]) {
    expect.soft(got[k], `${what}: ${k}`).toBeLessThanOrEqual(ceiling[k]);
  }
}

/** Counts per decoded token of a generate() run with these options. */
async function perToken(opts: Omit<GenerateOptions, 'maxTokens' | 'onToken'>): Promise<GpuCallCounts> {
  const counter = countGpuCalls(f.model.device);
  let counted: GpuCallCounts | null = null;
  try {
    // generate() chains its steps: when onToken(i) runs, the step that makes token i + 1 is already queued. So
    // between token WARMUP_TOKENS's callback (the count starts) and DECODE_TOKENS tokens later (it is read),
    // exactly DECODE_TOKENS steps are queued, as long as the run goes one token past the window.
    await generate(f.model, SEQ.slice(0, 5), {
      ...opts,
      maxTokens: WARMUP_TOKENS + DECODE_TOKENS + 2,
      eosTokenIds: [],
      onToken: (_, i) => {
        if (i === WARMUP_TOKENS) counter.reset();
        if (i === WARMUP_TOKENS + DECODE_TOKENS) counted = counter.snapshot();
      },
    });
  } finally {
    counter.dispose();
  }
  expect(counted).not.toBeNull();
  return perUnit(counted!, DECODE_TOKENS);
}

describe('WebGPU calls after warm-up (ceilings at the top of this file)', () => {
  it('per decoded token', async () => {
    check('per decoded token', await perToken({ temperature: 0 }), PER_TOKEN);
  });

  it('per sampled token (temperature 0.8, top-k 40, top-p 0.9 on the GPU), without and with its log-prob', async () => {
    const opts = { temperature: 0.8, topK: 40, topP: 0.9, seed: 5 };
    check('per sampled token', await perToken(opts), PER_SAMPLED_TOKEN);
    check('per sampled token with log-prob', await perToken({ ...opts, logProbs: true }), PER_SAMPLED_TOKEN_LOGPROB);
  });

  it('per decoded token with LoRA on all seven projections', async () => {
    const lora = createLora(f.model, { r: 4, alpha: 8, targets: [...LORA_TARGETS], seed: 0, grads: false });
    try {
      check('per LoRA decoded token', await perToken({ temperature: 0, lora }), PER_LORA_TOKEN);
    } finally {
      lora.dispose();
    }
  });

  it('per LoRA training step', async () => {
    const lora = createLora(f.model, { r: 4, alpha: 8, targets: [...LORA_TARGETS], seed: 0 });
    const V = f.config.vocabSize;
    const train: Sequence[] = Array.from({ length: 2 }, (_, b) => ({ ids: Array.from({ length: 16 }, (_, t) => (b * 131 + t * 7919 + 13) % V), promptLen: 0 }));
    const counter = countGpuCalls(f.model.device);
    let counted: GpuCallCounts | null = null;
    // the step event comes after its step's work: step 5's event starts the count, step 6's reads it (the pool's
    // hand-out order, and so the bind groups it meets, settles after a few steps)
    const trainer = new Trainer(f.model, lora, trainConfig({ method: 'cpt', steps: 6, lr: 1e-3, microBatch: 2, warmupSteps: 0 }), { train }, {
      onEvent: (e) => {
        if (e.type !== 'step') return;
        if (e.step === 5) counter.reset();
        if (e.step === 6) counted = counter.snapshot();
      },
    });
    try {
      await trainer.run();
    } finally {
      counter.dispose();
      trainer.dispose();
      lora.dispose();
    }
    expect(counted).not.toBeNull();
    check('per training step', counted!, PER_STEP);
  });
});
