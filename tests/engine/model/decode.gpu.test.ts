// Generation and log-likelihood scoring on the GPU against the reference forward.
// Greedy generation must reproduce the reference argmax continuation token for token (the reference's top-2
// margins are logged: a margin below the tolerance would make a mismatch legitimate, and fail loudly here rather
// than silently). Scoring: per-token and Σ log-probs within 2e-5 of the reference's float64 log-softmax (measured
// on SwiftShader: 1.5e-6; the logits themselves are within 1e-5, logits.gpu.test.ts).
import { afterAll, describe, expect, it } from 'vitest';
import { generate, prefill, scoreContinuations, stepGreedy } from '../../../src/engine/model/index.ts';
import { logSoftmaxRow } from '../../../src/engine/reference/forward.ts';
import { gpuShared, loadFixture, referenceGreedy, SEQ, type Fixture } from './model-fixtures.ts';

const TOL = 2e-5;
const loaded = new Map<string, Promise<Fixture>>();
const fixture = (name: string) => {
  if (!loaded.has(name)) loaded.set(name, loadFixture(name));
  return loaded.get(name)!;
};

afterAll(async () => {
  for (const f of loaded.values()) (await f).model.dispose();
  (await gpuShared()).pool.destroyAll();
});

describe('generation', () => {
  for (const name of ['tiny-llama', 'tiny-qwen2', 'tiny-llama-bf16']) {
    it(`${name}: temperature 0 equals the reference argmax continuation`, async () => {
      const f = await fixture(name);
      const prompt = SEQ.slice(0, 5);
      const n = 8;
      const want = referenceGreedy(f, prompt, n);
      const streamed: number[] = [];
      const got = await generate(f.model, prompt, {
        maxTokens: n,
        temperature: 0,
        eosTokenIds: [],
        onToken: (t, i) => void streamed.push(i === streamed.length ? t : -1),
      });
      console.log(`${name} greedy: ${got.tokens.join(' ')} (min reference top-2 margin ${Math.min(...want.margins).toExponential(2)})`);
      expect(Math.min(...want.margins)).toBeGreaterThan(TOL);
      expect(got.tokens).toEqual(want.tokens);
      expect(got.finishReason).toBe('length');
      expect(streamed).toEqual(want.tokens);
    });
  }

  it('stops on EOS (the EOS token is returned) and when the callback says so', async () => {
    const f = await fixture('tiny-llama');
    const prompt = SEQ.slice(0, 5);
    const { tokens } = referenceGreedy(f, prompt, 6);
    // EOS = the first token that is new in the greedy run (the random model repeats itself), so the run must end
    // exactly there.
    const at = Math.max(0, tokens.findIndex((t, i) => i > 0 && !tokens.slice(0, i).includes(t)));
    const eos = await generate(f.model, prompt, { maxTokens: 10, eosTokenIds: [tokens[at]!] });
    expect(eos).toEqual({ tokens: tokens.slice(0, at + 1), finishReason: 'eos' });
    const stopped = await generate(f.model, prompt, { maxTokens: 10, eosTokenIds: [], onToken: (_, i) => i < 1 });
    expect(stopped).toEqual({ tokens: tokens.slice(0, 2), finishReason: 'stopped' });
    // max_position_embeddings (128) bounds the run.
    const long = await generate(f.model, Array.from({ length: 126 }, (_, i) => 3 + (i % 200)), { maxTokens: 10, eosTokenIds: [] });
    expect(long.tokens.length).toBe(2);
    expect(long.finishReason).toBe('length');
  });

  it('chained steps (input = the previous pick, left on the GPU) pick what host-fed steps pick, for every row', async () => {
    const f = await fixture('tiny-llama');
    const prompts = [SEQ.slice(0, 5), SEQ.slice(2, 9)];
    const hostFed = await prefill(f.model, prompts);
    const chained = await prefill(f.model, prompts);
    try {
      const first = hostFed.logits.map((row) => row.indexOf(Math.max(...row)));
      await expect(chained.cache.submitStep('picked', 'argmax')).rejects.toThrow(/first step of a cache needs its tokens from the host/);
      const want: number[][] = [];
      let tok = first;
      for (let i = 0; i < 4; i++) want.push((tok = await stepGreedy(hostFed.cache, tok)));
      // all four queued before any is read
      const steps = [await chained.cache.submitStep(first, 'argmax')];
      for (let i = 1; i < 4; i++) steps.push(await chained.cache.submitStep('picked', 'argmax'));
      const got = await Promise.all(steps.map(async (s) => [...(await s.read)]));
      console.log(`chained greedy rows: ${JSON.stringify(got)}`);
      expect(got).toEqual(want);
      expect(chained.cache.used).toBe(hostFed.cache.used);
    } finally {
      hostFed.cache.release();
      chained.cache.release();
    }
  });

  it('sampling is reproducible from the seed, differs across seeds, and top-k 1 is greedy', async () => {
    const f = await fixture('tiny-llama');
    const prompt = SEQ.slice(0, 5);
    // Temperature 3 flattens the random model's distribution so that draws actually vary.
    const opts = { maxTokens: 6, temperature: 3, topP: 0.95, eosTokenIds: [] };
    const a = await generate(f.model, prompt, { ...opts, seed: 7 });
    const b = await generate(f.model, prompt, { ...opts, seed: 7 });
    const c = await generate(f.model, prompt, { ...opts, seed: 8 });
    expect(a.tokens).toEqual(b.tokens);
    expect(a.tokens).not.toEqual(c.tokens);
    const greedy = referenceGreedy(f, prompt, 6).tokens;
    const k1 = await generate(f.model, prompt, { maxTokens: 6, temperature: 1.5, topK: 1, seed: 3, eosTokenIds: [] });
    expect(k1.tokens).toEqual(greedy);
  });
});

describe('log-likelihood scoring', () => {
  it('equals the sum of reference log-probs, batched with padding, in request order', async () => {
    const f = await fixture('tiny-qwen2');
    const V = f.config.vocabSize;
    const greedy = referenceGreedy(f, SEQ.slice(0, 4), 3).tokens;
    const requests = [
      { context: SEQ.slice(0, 3), continuation: SEQ.slice(3, 6) },
      { context: [1], continuation: [72] },
      { context: SEQ.slice(0, 4), continuation: greedy }, // the model's own argmax: greedy = true
      { context: SEQ.slice(2, 9), continuation: [300, 5] },
      { context: SEQ, continuation: SEQ.slice(0, 4) },
    ];
    const got = await scoreContinuations(f.model, requests, { batchSize: 2 });
    let err = 0;
    for (const [i, r] of requests.entries()) {
      const whole = [...r.context, ...r.continuation];
      const logits = f.reference(whole.slice(0, -1));
      let sum = 0;
      let isGreedy = true;
      r.continuation.forEach((tok, j) => {
        const pos = r.context.length - 1 + j;
        const lp = logSoftmaxRow(logits, pos * V, V);
        sum += lp[tok]!;
        err = Math.max(err, Math.abs(got[i]!.tokenLogProbs[j]! - lp[tok]!));
        let best = 0;
        for (let v = 1; v < V; v++) if (lp[v]! > lp[best]!) best = v;
        if (best !== tok) isGreedy = false;
      });
      err = Math.max(err, Math.abs(got[i]!.logProb - sum));
      expect(got[i]!.tokenLogProbs).toHaveLength(r.continuation.length);
      expect(got[i]!.greedy).toBe(isGreedy);
    }
    console.log(`scoring: max|Δ log-prob| vs reference = ${err.toExponential(2)}`);
    expect(err).toBeLessThanOrEqual(TOL);
    expect(got[2]!.greedy).toBe(true);
  });

  it('refuses an empty context or continuation with a clear message', async () => {
    const f = await fixture('tiny-qwen2');
    await expect(scoreContinuations(f.model, [{ context: [], continuation: [1] }])).rejects.toThrow(/empty context/);
    await expect(scoreContinuations(f.model, [{ context: [1], continuation: [] }])).rejects.toThrow(/empty continuation/);
  });
});
