// The streaming merge end to end in memory: fixture tiny-llama and a perturbed copy, merged through runMerge and
// read back, against an independent per-tensor SLERP; dtype handling, slices, LoRA parents, every refusal,
// and cancel/failure never committing output.
import { beforeAll, describe, expect, it } from 'vitest';
import { join } from 'node:path';
import { ensureFixtures, OWNER, REVISION } from '../../../scripts/fixtures/index.ts';
import { memoryModelFiles, readJson, type ModelFiles } from '../../../src/io/model-files.ts';
import { openCheckpoint, writeCheckpoint } from '../../../src/io/safetensors/checkpoint.ts';
import { encodeFromF32, decodeToF32 } from '../../../src/io/safetensors/dtypes.ts';
import { parseMergeYaml, toMergeYaml } from '../../../src/engine/merge/config.ts';
import { runMerge, type RunMergeOptions } from '../../../src/engine/merge/run.ts';
import { CancelledError } from '../../../src/common/errors.ts';
import { NAMED_CHAT_TEMPLATES } from '../../../src/engine/merge/chat-templates.ts';
import { randomArray } from '../../helpers/gpu.ts';
import { concat, MemorySinks, readDir, readWeights, slerpRef, type Weights } from './merge-helpers.ts';

const fixture = (name: string) => join('public/hub', OWNER, name, 'resolve', REVISION);

let baseFiles: Record<string, Uint8Array>;
let baseW: Weights;
let otherW: Weights;
let models: Record<string, ModelFiles>;

/** A model folder in memory: the base's non-weight files, `config` edits, and these weights. */
async function modelWith(weights: Weights, configEdits: Record<string, unknown> = {}, dtype: 'F32' | 'BF16' = 'F32', fileEdits: Record<string, Uint8Array> = {}): Promise<ModelFiles> {
  const sinks = new MemorySinks();
  await writeCheckpoint(
    [...weights].map(([name, t]) => ({ name, dtype, shape: t.shape, data: encodeFromF32(dtype, t.data) })),
    { openSink: sinks.open },
  );
  const rec: Record<string, Uint8Array> = { ...baseFiles };
  delete rec['model.safetensors'];
  const cfg = { ...(JSON.parse(new TextDecoder().decode(baseFiles['config.json'])) as object), ...configEdits };
  rec['config.json'] = new TextEncoder().encode(JSON.stringify(cfg));
  for (const [k, v] of sinks.files) rec[k] = concat(v);
  Object.assign(rec, fileEdits);
  return memoryModelFiles(rec, 'memory');
}

function maxRel(got: Float32Array, want: Float32Array): number {
  let m = 0;
  for (let i = 0; i < want.length; i++) m = Math.max(m, Math.abs(got[i]! - want[i]!) / Math.max(1, Math.abs(want[i]!)));
  return m;
}

async function merge(yaml: string, over: Partial<RunMergeOptions> = {}) {
  const sinks = new MemorySinks();
  const result = await runMerge({
    config: parseMergeYaml(yaml).config,
    resolveModel: async (ref) => {
      const m = models[ref];
      if (!m) throw new Error(`unknown model ${ref}`);
      return m;
    },
    openSink: sinks.open,
    ...over,
  });
  return { sinks, result, out: sinks.model() };
}

// tiny-llama's vocabulary and width, and the permutation the permVocab parent's tokenizer applies to its ids
const VOCAB = 384;
const HIDDEN = 64;
const EXTRA = 8;
const PERM = (id: number) => (id < 60 ? id : VOCAB - 1 - (id - 60));

const SLERP_YAML = (t: string, extra = '') => `models:
  - model: A
  - model: B
merge_method: slerp
base_model: A
parameters:
  t: ${t}
${extra}`;

beforeAll(async () => {
  await ensureFixtures('public/hub');
  baseFiles = readDir(fixture('tiny-llama'));
  const a = memoryModelFiles(baseFiles, 'A');
  baseW = await readWeights(a);
  // the other parent: every tensor moved by noise of a third of its scale, so angles are far from colinear
  otherW = new Map([...baseW].map(([n, t], i) => {
    const noise = randomArray(t.data.length, 1000 + i);
    return [n, { shape: t.shape, data: t.data.map((x, j) => x + 0.3 * noise[j]!) }];
  }));
  const withoutLayer1Up = new Map(otherW);
  withoutLayer1Up.delete('model.layers.1.mlp.up_proj.weight');
  const badShape: Weights = new Map(otherW);
  badShape.set('model.layers.0.self_attn.o_proj.weight', { shape: [64, 63], data: new Float32Array(64 * 63) });
  const bigVocab: Weights = new Map(otherW);
  bigVocab.set('model.embed_tokens.weight', { shape: [400, 64], data: randomArray(400 * 64, 5) });
  // permVocab: B's weights under a tokenizer that numbers the tokens from id 60 up in reverse and adds 8 new
  // ones; its embedding rows follow its own ids (row PERM(i) holds what B's token i would have).
  const tok = JSON.parse(new TextDecoder().decode(baseFiles['tokenizer.json'])) as { model: { vocab: Record<string, number> } };
  for (const [t, id] of Object.entries(tok.model.vocab)) tok.model.vocab[t] = PERM(id);
  for (let k = 0; k < EXTRA; k++) tok.model.vocab[`<extra_${k}>`] = VOCAB + k;
  const bEmbed = otherW.get('model.embed_tokens.weight')!.data;
  const permEmbed = randomArray((VOCAB + EXTRA) * HIDDEN, 77);
  for (let i = 0; i < VOCAB; i++) permEmbed.set(bEmbed.subarray(i * HIDDEN, (i + 1) * HIDDEN), PERM(i) * HIDDEN);
  const permVocab: Weights = new Map(otherW);
  permVocab.set('model.embed_tokens.weight', { shape: [VOCAB + EXTRA, HIDDEN], data: permEmbed });
  models = {
    A: a,
    permVocab: await modelWith(permVocab, { vocab_size: VOCAB + EXTRA }, 'F32', { 'tokenizer.json': new TextEncoder().encode(JSON.stringify(tok)) }),
    B: await modelWith(otherW),
    C: await modelWith(otherW),
    Bbf16: await modelWith(otherW, { torch_dtype: 'bfloat16' }, 'BF16'),
    missing: await modelWith(withoutLayer1Up),
    badShape: await modelWith(badShape),
    bigVocab: await modelWith(bigVocab, { vocab_size: 400 }),
    qwen: memoryModelFiles(readDir(fixture('tiny-qwen2')), 'qwen'),
  };
});

describe('runMerge', () => {
  it('SLERP with a t gradient and filters equals an independent per-tensor computation', async () => {
    const { result, out } = await merge(SLERP_YAML(`
    - filter: self_attn
      value: [0.2, 0.9]
    - filter: mlp
      value: 0.8
    - value: [0.1, 0.4]`));
    const got = await readWeights(out);
    expect([...got.keys()].sort()).toEqual([...baseW.keys()].sort()); // tied: no lm_head written
    for (const [name, t] of got) {
      const layer = /layers\.(\d+)\./.exec(name)?.[1];
      const p = layer === undefined ? (name.includes('embed') ? 0 : 1) : Number(layer); // 2 layers: p = 0, 1
      const tv = name.includes('self_attn') ? 0.2 + 0.7 * p : name.includes('mlp') ? 0.8 : 0.1 + 0.3 * p;
      expect(maxRel(t.data, slerpRef(tv, baseW.get(name)!.data, otherW.get(name)!.data)), name).toBeLessThan(1e-5);
    }
    expect(result.plan.tensors.find((x) => x.name === 'model.norm.weight')!.params.t).toBeCloseTo(0.4, 12); // post-weights at p = 1
    const cfg = (await readJson(out, 'config.json')) as Record<string, unknown>;
    expect(cfg.num_hidden_layers).toBe(2);
    expect(cfg.torch_dtype).toBe('float32');
    for (const f of ['tokenizer.json', 'tokenizer_config.json', 'special_tokens_map.json', 'generation_config.json']) {
      expect(out.files.some((x) => x.path === f), f).toBe(true);
    }
    const yaml = new TextDecoder().decode(await (await out.open('mergekit_config.yml')).read(0, out.files.find((f) => f.path === 'mergekit_config.yml')!.size));
    expect(parseMergeYaml(yaml).config).toEqual(parseMergeYaml(toMergeYaml(parseMergeYaml(yaml).config)).config);
  });

  it('postWeights "head" reads final norm at p = 0', async () => {
    const { result } = await merge(SLERP_YAML('[0.1, 0.4]'), { postWeights: 'head' });
    expect(result.plan.tensors.find((x) => x.name === 'model.norm.weight')!.params.t).toBeCloseTo(0.1, 12);
  });

  it('t = 0 gives the base exactly and t = 1 the other model', async () => {
    const zero = await readWeights((await merge(SLERP_YAML('0'))).out);
    const one = await readWeights((await merge(SLERP_YAML('1'))).out);
    for (const [name, t] of baseW) {
      expect(Array.from(zero.get(name)!.data), name).toEqual(Array.from(t.data));
      expect(Array.from(one.get(name)!.data), name).toEqual(Array.from(otherW.get(name)!.data));
    }
  });

  it('slices map input layers to output layers and restart the gradient per slice', async () => {
    const { result, out } = await merge(`slices:
  - sources:
      - model: A
        layer_range: [1, 2]
      - model: B
        layer_range: [1, 2]
  - sources:
      - model: A
        layer_range: [0, 2]
      - model: B
        layer_range: [0, 2]
merge_method: slerp
base_model: A
parameters:
  t: [0, 1]
`);
    expect(result.plan.numLayers).toBe(3);
    const got = await readWeights(out);
    const name = (l: number) => `model.layers.${l}.mlp.up_proj.weight`;
    // out 0 ← in 1 at p = 1 (one-layer slice); out 1 ← in 0 at p = 0; out 2 ← in 1 at p = 1
    expect(maxRel(got.get(name(0))!.data, otherW.get(name(1))!.data)).toBe(0);
    expect(maxRel(got.get(name(1))!.data, baseW.get(name(0))!.data)).toBe(0);
    expect(maxRel(got.get(name(2))!.data, otherW.get(name(1))!.data)).toBe(0);
    expect(((await readJson(out, 'config.json')) as { num_hidden_layers: number }).num_hidden_layers).toBe(3);
  });

  it('writes the base\'s dtype by default, and dtype / out_dtype when given', async () => {
    const bf = await merge(SLERP_YAML('0.5').replace('model: A\n  - model: B\nmerge_method: slerp\nbase_model: A', 'model: Bbf16\n  - model: A\nmerge_method: slerp\nbase_model: Bbf16'));
    const ck = await openCheckpoint(bf.out);
    expect(new Set(ck.names().map((n) => ck.info(n).dtype))).toEqual(new Set(['BF16']));
    expect(((await readJson(bf.out, 'config.json')) as { torch_dtype: string }).torch_dtype).toBe('bfloat16');
    const f16 = await merge(SLERP_YAML('0.5', 'dtype: bfloat16\nout_dtype: float16\n'));
    const ck16 = await openCheckpoint(f16.out);
    expect(new Set(ck16.names().map((n) => ck16.info(n).dtype))).toEqual(new Set(['F16']));
    expect(((await readJson(f16.out, 'config.json')) as { torch_dtype: string }).torch_dtype).toBe('float16');
    // inputs are rounded to bf16 before merging, the result to bf16 and then f16 (mergekit's casts)
    const name = 'model.layers.0.mlp.gate_proj.weight';
    const bf16 = (x: Float32Array) => decodeToF32('BF16', encodeFromF32('BF16', x));
    const want = decodeToF32('F16', encodeFromF32('F16', bf16(slerpRef(0.5, bf16(baseW.get(name)!.data), bf16(otherW.get(name)!.data)))));
    expect(maxRel(await ck16.readF32(name), want)).toBeLessThan(2e-3);
  });

  it('task_arithmetic through the planner uses per-model weights', async () => {
    const { out } = await merge(`models:
  - model: A
  - model: B
    parameters:
      weight: 0.5
merge_method: task_arithmetic
base_model: A
`);
    const got = await readWeights(out);
    for (const [name, t] of got) {
      const a = baseW.get(name)!.data;
      const b = otherW.get(name)!.data;
      expect(maxRel(t.data, a.map((x, i) => x + 0.5 * (b[i]! - x))), name).toBeLessThan(1e-6);
    }
  });

  it('tokenizer_source union/base/model permutes each embedding into the output vocabulary', async () => {
    const yaml = (rule: string) => `models:\n  - model: A\n    parameters:\n      weight: 0.5\n  - model: permVocab\n    parameters:\n      weight: 0.5\nmerge_method: linear\nbase_model: A\n${rule}\n`;
    const a = baseW.get('model.embed_tokens.weight')!.data;
    const b = otherW.get('model.embed_tokens.weight')!.data;
    const bRows = models.permVocab!;
    const bEmbed = (await readWeights(bRows)).get('model.embed_tokens.weight')!.data;
    const row = (m: Float32Array, i: number) => Array.from(m.subarray(i * HIDDEN, (i + 1) * HIDDEN));
    const mean = (x: number[], y: number[]) => x.map((v, i) => Math.fround(Math.fround(0.5 * v) + Math.fround(0.5 * y[i]!)));

    // union: A's 384 ids, then permVocab's 8 new tokens, which only it has (so A's rows for them are copies)
    const union = await merge(yaml('tokenizer_source: union'));
    const ue = (await readWeights(union.out)).get('model.embed_tokens.weight')!;
    expect(ue.shape).toEqual([VOCAB + EXTRA, HIDDEN]);
    for (const i of [0, 59, 60, 200, 383]) {
      const want = mean(row(a, i), row(b, i));
      row(ue.data, i).forEach((v, c) => expect(v, `token ${i}`).toBeCloseTo(want[c]!, 6));
    }
    for (let k = 0; k < EXTRA; k++) expect(row(ue.data, VOCAB + k)).toEqual(row(bEmbed, VOCAB + k).map((v) => Math.fround(Math.fround(0.5 * v) + Math.fround(0.5 * v))));
    expect(((await readJson(union.out, 'config.json')) as { vocab_size: number }).vocab_size).toBe(VOCAB + EXTRA);
    const utok = (await readJson(union.out, 'tokenizer.json')) as { added_tokens: Array<{ id: number; content: string }> };
    expect(utok.added_tokens.slice(-EXTRA)).toEqual(Array.from({ length: EXTRA }, (_, k) => expect.objectContaining({ id: VOCAB + k, content: `<extra_${k}>`, special: false })));

    // permVocab's vocabulary: its ids, its tokenizer; A lacks the 8 extra tokens, so they are copied from permVocab
    const own = await merge(yaml('tokenizer_source: permVocab'));
    const oe = (await readWeights(own.out)).get('model.embed_tokens.weight')!;
    expect(oe.shape).toEqual([VOCAB + EXTRA, HIDDEN]);
    expect(row(oe.data, PERM(200))).toEqual(row(ue.data, 200));
    expect(row(oe.data, VOCAB + 3)).toEqual(row(ue.data, VOCAB + 3));
    expect(await readJson(own.out, 'tokenizer.json')).toEqual(await readJson(bRows, 'tokenizer.json'));

    // base with padding: A's 384 tokens padded to 400 rows, each padding row the mean of the real rows
    const padded = await merge(yaml('tokenizer:\n  source: base\n  pad_to_multiple_of: 100'));
    const pe = (await readWeights(padded.out)).get('model.embed_tokens.weight')!;
    expect(pe.shape).toEqual([400, HIDDEN]);
    expect(row(pe.data, 200)).toEqual(row(ue.data, 200));
    for (let c = 0; c < HIDDEN; c++) {
      let s = 0;
      for (let i = 0; i < VOCAB; i++) s += Math.fround(0.5 * a[i * HIDDEN + c]!) + Math.fround(0.5 * b[i * HIDDEN + c]!);
      expect(pe.data[390 * HIDDEN + c]).toBeCloseTo(s / VOCAB, 5);
    }

    // a per-token override with force: the zero row for every model, so the merge writes zeros
    const forced = await merge(yaml('tokenizer:\n  source: base\n  tokens:\n    "<|im_start|>":\n      source:\n        kind: zero\n      force: true'));
    expect(row((await readWeights(forced.out)).get('model.embed_tokens.weight')!.data, 1).every((v) => v === 0)).toBe(true);

    // SLERP goes through the same permutation (its bytes fast path is for unpermuted tensors only)
    const slerp = await merge(SLERP_YAML('0.5', 'tokenizer_source: union').replace('model: B', 'model: permVocab'));
    const se = (await readWeights(slerp.out)).get('model.embed_tokens.weight')!;
    // the angle is taken over the whole permuted matrices, extra rows (copied from permVocab into A's) included
    const extra = bEmbed.subarray(VOCAB * HIDDEN);
    const aPerm = Float32Array.from([...a, ...extra]);
    const bPerm = Float32Array.from([...b, ...extra]);
    expect(maxRel(se.data, slerpRef(0.5, aPerm, bPerm))).toBeLessThan(1e-5);
  });

  it('chat_template: a mergekit name writes that template; an unknown name is refused', async () => {
    const { out } = await merge(SLERP_YAML('0.5', 'chat_template: chatml'));
    expect(((await readJson(out, 'tokenizer_config.json')) as { chat_template: string }).chat_template).toBe(NAMED_CHAT_TEMPLATES.chatml);
    await expect(merge(SLERP_YAML('0.5', 'chat_template: vicuna'))).rejects.toThrow(/chat_template "vicuna": give "auto", one of chatml, llama3, alpaca, or the Jinja template itself/);
  });

  it('refuses a tokenizer rule it cannot follow', async () => {
    const noTok = await modelWith(otherW, {}, 'F32', {});
    const files = noTok.files.filter((f) => f.path !== 'tokenizer.json').map((f) => f.path);
    const rec: Record<string, Uint8Array> = {};
    for (const f of files) rec[f] = new Uint8Array(await (await noTok.open(f)).read(0, noTok.files.find((x) => x.path === f)!.size));
    models.noTok = memoryModelFiles(rec, 'noTok');
    await expect(merge(SLERP_YAML('0.5', 'tokenizer_source: union').replace('model: B', 'model: noTok'))).rejects.toThrow(/noTok has no tokenizer\.json/);
    await expect(merge(SLERP_YAML('0.5', 'tokenizer_source: Z'))).rejects.toThrow(/tokenizer_source "Z" is neither base, union nor one of the merge's models \(A, B\)/);
  });

  it('refuses what mergekit would refuse, before writing anything', async () => {
    const cases: Array<[string, RegExp]> = [
      [SLERP_YAML('0.5').replace('model: B', 'model: qwen'), /different architectures \(A: LlamaForCausalLM, qwen: Qwen2ForCausalLM\)/],
      [SLERP_YAML('0.5').replace('model: B', 'model: badShape'), /tensor "model\.layers\.0\.self_attn\.o_proj\.weight" has shape \[64, 63\] in badShape/],
      [SLERP_YAML('0.5').replace('model: B', 'model: missing'), /missing has no tensor "model\.layers\.1\.mlp\.up_proj\.weight"/],
      [SLERP_YAML('0.5').replace('model: B', 'model: bigVocab'), /"model\.embed_tokens\.weight": the vocabularies differ \(bigVocab has 400 rows, A 384\); set tokenizer_source/],
      [SLERP_YAML('0.5').replace('  - model: B', '  - model: B\n  - model: C'), /slerp merges exactly 2 models, but 3 are given/],
      [SLERP_YAML('0.5').replace('parameters:\n  t: 0.5', ''), /missing required parameter t for model\.embed_tokens\.weight/],
      [SLERP_YAML('0.5').replace('base_model: A', 'base_model: C'), /slerp merges exactly 2 models, but 3 are given/],
      ['models:\n  - model: A\n  - model: B\nmerge_method: linear\n', /missing required parameter weight for A\.model\.embed_tokens\.weight/],
    ];
    for (const [yaml, re] of cases) {
      const sinks = new MemorySinks();
      await expect(runMerge({ config: parseMergeYaml(yaml).config, resolveModel: async (r) => models[r]!, openSink: sinks.open }), yaml).rejects.toThrow(re);
      expect(sinks.files.size).toBe(0);
    }
    // --allow-crimes lets different architectures through to the shape checks (qwen2 has q/k/v biases llama lacks)
    await expect(merge(SLERP_YAML('0.5').replace('model: B', 'model: qwen'), { allowCrimes: true })).rejects.toThrow(/qwen has no tensor|has shape/);
  });

  it('cancel and read failures stop the merge without closing (publishing) any output file', async () => {
    const ctl = new AbortController();
    const sinks = new MemorySinks();
    const run = runMerge({
      config: parseMergeYaml(SLERP_YAML('0.5')).config,
      resolveModel: async (r) => models[r]!,
      openSink: sinks.open,
      signal: ctl.signal,
      onProgress: (p) => p.tensorsDone === 3 && ctl.abort(),
    });
    await expect(run).rejects.toBeInstanceOf(CancelledError);
    expect(sinks.closed.size).toBe(0);

    const flaky: ModelFiles = {
      ...models.B!,
      async open(path) {
        const src = await models.B!.open(path);
        let reads = 0;
        return { ...src, read: async (o, n) => (++reads > 6 ? Promise.reject(new Error('disk gone')) : src.read(o, n)) };
      },
    };
    const sinks2 = new MemorySinks();
    await expect(
      runMerge({ config: parseMergeYaml(SLERP_YAML('0.5')).config, resolveModel: async (r) => (r === 'B' ? flaky : models[r]!), openSink: sinks2.open }),
    ).rejects.toThrow(/disk gone/);
    expect(sinks2.closed.size).toBe(0);
  });

  it('reports progress over every tensor and the bytes read and written', async () => {
    const seen: number[] = [];
    let last = { tensorsTotal: 0, bytesRead: 0, bytesWritten: 0 };
    await merge(SLERP_YAML('0.5'), { onProgress: (p) => (seen.push(p.tensorsDone), (last = p)) });
    expect(seen).toEqual(Array.from({ length: baseW.size }, (_, i) => i + 1));
    const bytes = [...baseW.values()].reduce((s, t) => s + t.data.byteLength, 0);
    expect(last.bytesWritten).toBe(bytes);
    expect(last.bytesRead).toBe(2 * bytes);
  });
});
