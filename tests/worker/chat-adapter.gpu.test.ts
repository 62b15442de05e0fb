// The Chat panel's adapters (ChatHost.setAdapter, src/worker/chat.ts) on Dawn in Node: a stored PEFT adapter applied
// to the resident model gives the logits of the model with that adapter folded in (the Train panel's Fold, the
// CLI's --adapter: io/peft.ts + lora/fold.ts), within 1e-5 (measured on SwiftShader: 9.5e-7; LoRA branch in f32
// beside the matmul vs the folded f32 weight: the same order of error as the GPU against float64); greedy
// generation with it is the folded model's token for token; back to the base gives the base's logits exactly;
// switching adapters needs no reload; an adapter made for another model is refused and changes nothing.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { join } from 'node:path';
import { ensureFixtures, OWNER, REVISION } from '../../scripts/fixtures/index.ts';
import { dirModelFiles } from '../../src/io/node/dir-model-files.ts';
import { memoryModelFiles, readJson } from '../../src/io/model-files.ts';
import { parseModelConfig, type ModelConfig } from '../../src/io/config.ts';
import { openCheckpoint } from '../../src/io/safetensors/checkpoint.ts';
import { ADAPTER_CONFIG, ADAPTER_WEIGHTS, readPeftAdapter } from '../../src/io/peft.ts';
import { loadTokenizer } from '../../src/io/tokenizer.ts';
import { BufferPool } from '../../src/engine/gpu/buffer-pool.ts';
import { KernelRegistry } from '../../src/engine/gpu/kernels.ts';
import { forward, generate, loadModel } from '../../src/engine/model/index.ts';
import { withAdapter } from '../../src/engine/lora/fold.ts';
import { ChatHost, TextStream, type StoredAdapterFiles } from '../../src/worker/chat.ts';
import type { GpuEngine } from '../../src/worker/gpu-state.ts';
import { maxAbsDiff, testGpu } from '../helpers/gpu.ts';
import { peftAdapter, type PeftFiles } from '../helpers/peft-adapter.ts';

const DIR = join('public/hub', OWNER, 'tiny-llama', 'resolve', REVISION);
const IDS = [1, 72, 101, 300, 108, 383, 2, 259, 5, 44, 17];
/** as tests/engine/lora/adapter.gpu.test.ts: the adapter path against the folded weights */
const TOL = 1e-5;

let engine: GpuEngine;
let cfg: ModelConfig;
let host: ChatHost;
const adapters = new Map<string, { files: PeftFiles; modelId: string; label: string }>();

async function stored(runId: string, step?: number): Promise<StoredAdapterFiles> {
  const a = adapters.get(runId);
  if (!a) throw new Error(`no adapter ${runId}`);
  return { runId, label: a.label, modelId: a.modelId, modelLabel: a.modelId, step: step ?? 0, imported: true, config: a.files[ADAPTER_CONFIG], weights: a.files[ADAPTER_WEIGHTS] };
}

/** The folded model (base + adapter, as Fold and `alloy logits --adapter` build it) on the same GPU. */
async function folded(runId: string) {
  const files = adapters.get(runId)!.files;
  const adapter = await readPeftAdapter(memoryModelFiles({ [ADAPTER_CONFIG]: files[ADAPTER_CONFIG], [ADAPTER_WEIGHTS]: files[ADAPTER_WEIGHTS] }));
  return loadModel(engine.ctx, engine.kernels, engine.pool, withAdapter(await openCheckpoint(dirModelFiles(DIR)), adapter), cfg);
}

beforeAll(async () => {
  await ensureFixtures('public/hub');
  const ctx = await testGpu();
  engine = { ctx, pool: new BufferPool(ctx.device), kernels: new KernelRegistry(ctx.device) };
  cfg = parseModelConfig(await readJson(dirModelFiles(DIR), 'config.json'));
  const attnAndMlp = ['model.layers.0.self_attn.q_proj', 'model.layers.0.self_attn.v_proj', 'model.layers.1.mlp.down_proj'];
  adapters.set('a', { label: 'lora-a', modelId: 'tiny', files: await peftAdapter(cfg, { r: 4, alpha: 8, modules: attnAndMlp, seed: 21 }) });
  const everyKind = ['k_proj', 'o_proj', 'gate_proj', 'up_proj'].map((t, i) => `model.layers.${i % cfg.numLayers}.${t === 'gate_proj' || t === 'up_proj' ? 'mlp' : 'self_attn'}.${t}`);
  adapters.set('b', {
    label: 'lora-b',
    modelId: 'tiny',
    files: await peftAdapter(cfg, { r: 2, alpha: 4, modules: everyKind, dtype: 'BF16', seed: 5, config: { use_rslora: true } }),
  });
  adapters.set('other', { label: 'lora-other', modelId: 'another-model', files: await peftAdapter(cfg, { r: 4, alpha: 8, modules: attnAndMlp }) });
  host = new ChatHost({
    files: async () => dirModelFiles(DIR, `${OWNER}/tiny-llama`),
    tokenizer: () => loadTokenizer(dirModelFiles(DIR)),
    adapter: stored,
    engine: async () => engine,
  });
  await host.load('tiny');
});

afterAll(async () => {
  await host?.unload();
  engine?.pool.destroyAll();
});

describe('Chat with a stored adapter applied to the resident model', () => {
  let base: Float32Array;

  it('gives the folded model\'s logits; back to the base gives the base\'s', async () => {
    base = await host.logits(IDS);
    const s = await host.setAdapter({ runId: 'a' });
    expect(s.adapter).toEqual({ runId: 'a', label: 'lora-a', step: 0, imported: true, summary: 'r 4, alpha 8, q_proj, v_proj, down_proj, 3 modules' });
    const got = await host.logits(IDS);
    const f = await folded('a');
    const [want] = await forward(f, [IDS]);
    f.dispose();
    const err = maxAbsDiff(got, want!);
    console.log(`adapter a: max|Δlogit| vs folded ${err.toExponential(2)}; the adapter moves logits by ${maxAbsDiff(base, want!).toFixed(3)}`);
    expect(err).toBeLessThanOrEqual(TOL);
    expect(maxAbsDiff(base, want!)).toBeGreaterThan(1e-2);

    const off = await host.setAdapter(null);
    expect(off.adapter).toBeNull();
    expect(maxAbsDiff(await host.logits(IDS), base)).toBe(0);
  });

  it('switches back on without a new upload, and to another adapter (BF16, rsLoRA, other targets)', async () => {
    const live = engine.pool.stats().liveBytes;
    const again = await host.setAdapter({ runId: 'a', step: 0 });
    expect(again.adapter?.runId).toBe('a');
    expect(again.memory.liveBytes).toBe(live); // the kept adapter's buffers, switched on
    const f = await folded('a');
    const [wantA] = await forward(f, [IDS]);
    f.dispose();
    const errA = maxAbsDiff(await host.logits(IDS), wantA!);
    console.log(`adapter a, switched back on: max|Δlogit| vs folded ${errA.toExponential(2)}`);
    expect(errA).toBeLessThanOrEqual(TOL);

    const b = await host.setAdapter({ runId: 'b', step: 0 });
    expect(b.adapter?.summary).toBe('r 2, alpha 4 (rsLoRA), k_proj, o_proj, gate_proj, up_proj, 4 modules');
    const fb = await folded('b');
    const [wantB] = await forward(fb, [IDS]);
    fb.dispose();
    const err = maxAbsDiff(await host.logits(IDS), wantB!);
    console.log(`adapter b: max|Δlogit| vs folded ${err.toExponential(2)}`);
    expect(err).toBeLessThanOrEqual(TOL);
  });

  it('generates greedily what the folded model generates, and says which adapter it used', async () => {
    await host.setAdapter({ runId: 'a', step: 0 });
    const prompt = 'Once upon a time';
    const r = await host.generate({ mode: 'text', prompt, maxTokens: 24, temperature: 0, topK: 0, topP: 1, seed: 0 }, {});
    expect(r.adapter?.label).toBe('lora-a');
    const tok = await loadTokenizer(dirModelFiles(DIR));
    const ids = tok.encode(prompt, { addSpecialTokens: true });
    const f = await folded('a');
    const want = await generate(f, ids, { maxTokens: 24, temperature: 0, topK: 0, topP: 1, seed: 0, eosTokenIds: tok.eosTokenIds });
    f.dispose();
    const stream = new TextStream(tok, ids.slice(-1));
    for (const t of want.tokens) stream.push(t);
    expect(r.tokens).toBe(want.tokens.length);
    expect(r.text).toBe(stream.text());

    await host.setAdapter(null);
    const plain = await host.generate({ mode: 'text', prompt, maxTokens: 24, temperature: 0, topK: 0, topP: 1, seed: 0 }, {});
    expect(plain.adapter).toBeNull();
    console.log(`greedy with lora-a: ${JSON.stringify(r.text)}; base: ${JSON.stringify(plain.text)}`);
  });

  it('refuses an adapter made for another model, and keeps what was applied', async () => {
    await host.setAdapter({ runId: 'b', step: 0 });
    await expect(host.setAdapter({ runId: 'other' })).rejects.toThrow(
      `lora-other is an adapter for another-model, not for ${OWNER}/tiny-llama: load that model to chat with it.`,
    );
    const r = await host.generate({ mode: 'text', prompt: 'Hi', maxTokens: 2, temperature: 0, topK: 0, topP: 1, seed: 0 }, {});
    expect(r.adapter?.runId).toBe('b');
  });

  it('a new load starts on the base model', async () => {
    await host.load('tiny');
    expect(maxAbsDiff(await host.logits(IDS), base)).toBe(0);
    const r = await host.generate({ mode: 'text', prompt: 'Hi', maxTokens: 2, temperature: 0, topK: 0, topP: 1, seed: 0 }, {});
    expect(r.adapter).toBeNull();
  });
});
