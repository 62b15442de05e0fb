// Tensors above the binding limit, split transparently (src/engine/model/split.ts, head.ts): the tiny fixtures
// loaded with a binding limit of a few KB, so embed_tokens / lm_head [384, 64] split into many row chunks (the last
// one shorter) and logits [T, 384] into row blocks, against the same fixture loaded whole.
//
// Tolerances: split vs unsplit runs the very same kernels on the same rows (each logit is one dot product over
// hidden, whichever chunk holds its row), so ≤ 1e-6 (measured: 0); against the float64 reference the
// whole-model bound of logits.gpu.test.ts, ≤ 1e-5 (measured: 7e-7 to 9.4e-7).
import { afterAll, describe, expect, it } from 'vitest';
import { readBuffer } from '../../../src/engine/gpu/buffer-pool.ts';
import { forward, generate, planRowChunks, prefill, readLogits, runForward, scoreContinuations, step } from '../../../src/engine/model/index.ts';
import { encodeEmbedding } from '../../../src/engine/ops/embedding.ts';
import { f32ToBf16Bits } from '../../../src/io/safetensors/dtypes.ts';
import { randomArray } from '../../helpers/gpu.ts';
import { gpuShared, loadFixture, maxAbsDiff, SEQ, type Fixture, type FixtureOptions } from './model-fixtures.ts';

/** 6000 B → 5888 B per binding: f32 rows of 256 B → 23 rows a chunk (17 chunks, the last 16 rows); BF16 → 46 rows
 * (9 chunks, the last 16); logits rows of 1536 B → 3 rows a block. */
const LIMIT = 6000;
const SAME = 1e-6;
const TOL = 1e-5;
const loaded: Fixture[] = [];

afterAll(async () => {
  for (const f of loaded) f.model.dispose();
  (await gpuShared()).pool.destroyAll();
});

async function fixture(name: string, opts: FixtureOptions = {}) {
  const f = await loadFixture(name, opts);
  loaded.push(f);
  return f;
}

const CASES: Array<{ label: string; name: string; bf16?: boolean }> = [
  { label: 'tied F32', name: 'tiny-llama' },
  { label: 'tied BF16', name: 'tiny-llama-bf16' },
  { label: 'untied F32', name: 'tiny-llama-untied' },
  { label: 'untied BF16', name: 'tiny-llama-untied', bf16: true },
];

describe(`logits with tables and logits split to a ${LIMIT}-byte binding`, () => {
  for (const c of CASES) {
    it(`${c.label}: equal to the unsplit model (≤ ${SAME}) and to the reference (≤ ${TOL})`, async () => {
      const whole = await fixture(c.name, { bf16: c.bf16 });
      const split = await fixture(c.name, { bf16: c.bf16, load: { maxBindingBytes: LIMIT } });
      const { embed, lmHead } = split.model;
      const per = embed.dtype === 'f32' ? 23 : 46;
      expect(embed.chunks.length).toBe(Math.ceil(384 / per));
      expect(embed.chunks.map((k) => k.rows)).toEqual([...Array(embed.chunks.length - 1).fill(per), 384 % per]);
      expect(lmHead.chunks.length).toBe(embed.chunks.length);
      if (split.config.tieWordEmbeddings) expect(lmHead).toBe(embed);
      else expect(lmHead.chunks[0]!.buffer).not.toBe(embed.chunks[0]!.buffer);
      expect(whole.model.embed.chunks).toHaveLength(1);
      if (c.bf16) expect(lmHead.dtype).toBe('bf16');

      // Two ragged rows: 22 logit rows in 3-row blocks, padding masked.
      const rows = [SEQ, SEQ.slice(2, 9)];
      const got = await forward(split.model, rows);
      const want = await forward(whole.model, rows);
      let same = 0;
      let ref = 0;
      rows.forEach((r, b) => {
        same = Math.max(same, maxAbsDiff(got[b]!, want[b]!));
        ref = Math.max(ref, maxAbsDiff(got[b]!, split.reference(r)));
      });
      console.log(`${c.label}: ${embed.chunks.length} chunks; max|Δ| split vs whole ${same.toExponential(2)}, vs reference ${ref.toExponential(2)}`);
      expect(same).toBeLessThanOrEqual(SAME);
      expect(ref).toBeLessThanOrEqual(TOL);
    });
  }
});

describe('scoring, KV-cache decoding and generation on a split model', () => {
  it('scores like the unsplit model', async () => {
    const whole = loaded.find((f) => f.name === 'tiny-llama-untied' && f.model.embed.chunks.length === 1)!;
    const split = loaded.find((f) => f.name === 'tiny-llama-untied' && f.model.embed.chunks.length > 1)!;
    // 8 continuation tokens → 8 logit rows in 3 blocks.
    const reqs = [
      { context: SEQ.slice(0, 3), continuation: SEQ.slice(3, 11) },
      { context: [1, 72], continuation: [101, 300] },
    ];
    const a = await scoreContinuations(split.model, reqs);
    const b = await scoreContinuations(whole.model, reqs);
    for (const [i, r] of a.entries()) {
      expect(Math.abs(r.logProb - b[i]!.logProb)).toBeLessThanOrEqual(1e-5);
      expect(maxAbsDiff(r.tokenLogProbs, b[i]!.tokenLogProbs)).toBeLessThanOrEqual(SAME);
      expect(r.greedy).toBe(b[i]!.greedy);
    }
  });

  it('prefill + steps and greedy generation match the unsplit model', async () => {
    const whole = loaded.find((f) => f.name === 'tiny-llama-bf16' && f.model.embed.chunks.length === 1)!;
    const split = loaded.find((f) => f.name === 'tiny-llama-bf16' && f.model.embed.chunks.length > 1)!;
    const prompts = [SEQ.slice(0, 3), SEQ.slice(2, 8)];
    const p1 = await prefill(split.model, prompts);
    const p2 = await prefill(whole.model, prompts);
    let err = 0;
    try {
      prompts.forEach((_, b) => (err = Math.max(err, maxAbsDiff(p1.logits[b]!, p2.logits[b]!))));
      for (const toks of [[40, 50], [383, 0]]) {
        const [s1, s2] = [await step(p1.cache, toks), await step(p2.cache, toks)];
        toks.forEach((_, b) => (err = Math.max(err, maxAbsDiff(s1[b]!, s2[b]!))));
      }
    } finally {
      p1.cache.release();
      p2.cache.release();
    }
    expect(err).toBeLessThanOrEqual(SAME);
    const g1 = await generate(split.model, SEQ.slice(0, 4), { maxTokens: 6, temperature: 0, eosTokenIds: [] });
    const g2 = await generate(whole.model, SEQ.slice(0, 4), { maxTokens: 6, temperature: 0, eosTokenIds: [] });
    expect(g1.tokens).toEqual(g2.tokens);
  });

  it('logits of a long forward come back in blocks of 3 rows and read back whole', async () => {
    const split = loaded.find((f) => f.name === 'tiny-llama' && f.model.embed.chunks.length > 1)!;
    const T = SEQ.length;
    const logits = await runForward(split.model, {
      batch: 1,
      T,
      ids: Uint32Array.from(SEQ),
      positions: Uint32Array.from(SEQ, (_, i) => i),
      mask: null,
      kv: null,
      logitRows: null,
    });
    expect(logits.blocks.map((b) => [b.row0, b.rows])).toEqual([[0, 3], [3, 3], [6, 3], [9, 2]]);
    const all = await readLogits(split.model, logits);
    const err = maxAbsDiff(all, split.reference(SEQ));
    console.log(`logit row blocks read back: max|Δ| vs reference ${err.toExponential(2)}`);
    expect(err).toBeLessThanOrEqual(TOL);
  });

  it('a binding smaller than one row is refused with the tensor named', async () => {
    await expect(loadFixture('tiny-llama', { load: { maxBindingBytes: 200 } })).rejects.toThrow(
      /tensor "model.embed_tokens.weight": one row \(256 bytes\) is larger than a storage binding may be/,
    );
  });
});

describe('chunked embedding gather (op level)', () => {
  it('BF16 with an odd hidden size: even-row chunks gather exactly the unsplit rows', async () => {
    const { pool, kernels } = await gpuShared();
    const V = 37;
    const H = 5;
    const bits = Uint16Array.from(randomArray(V * H, 21), f32ToBf16Bits);
    const ids = Uint32Array.from([0, 36, 7, 8, 9, 20, 21, 1, 35]);
    // 1024 B holds the whole table; 256 B holds 25 rows, cut to 24 so that chunk 2 starts at element 120, not 125.
    const whole = planRowChunks(V, H, 'bf16', 1024);
    const split = planRowChunks(V, H, 'bf16', 256);
    expect(whole).toHaveLength(1);
    expect(split.map((c) => c.rows)).toEqual([24, 13]);
    const gather = async (chunks: Array<{ rowStart: number; rows: number }>) => {
      const idsBuf = pool.upload(ids);
      const out = pool.alloc(ids.length * H * 4);
      const enc = kernels.device.createCommandEncoder();
      const tables: GPUBuffer[] = [];
      for (const c of chunks) {
        const t = pool.upload(bits.subarray(c.rowStart * H, (c.rowStart + c.rows) * H));
        tables.push(t);
        await encodeEmbedding(kernels, enc, t, idsBuf, out, {
          count: ids.length,
          vocab: c.rows,
          hidden: H,
          dtype: 'bf16',
          rowStart: c.rowStart,
          totalRows: V,
        });
      }
      kernels.device.queue.submit([enc.finish()]);
      const got = new Float32Array(await readBuffer(kernels.device, out, ids.length * H * 4));
      for (const b of [idsBuf, out, ...tables]) pool.release(b);
      return got;
    };
    expect(maxAbsDiff(await gather(split), await gather(whole))).toBe(0);
  });
});
