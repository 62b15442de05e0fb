// The pure parts of the studio's training job (src/worker/train-data.ts): dataset file → sequences with the fixture
// tokenizer (shape detected, validation split or file, truncation naming the row), and the memory plan's refusals.
import { readFileSync } from 'node:fs';
import { beforeAll, describe, expect, it } from 'vitest';
import { dirModelFiles } from '../../src/io/node/dir-model-files.ts';
import { readJson } from '../../src/io/model-files.ts';
import { parseModelConfig, type ModelConfig } from '../../src/io/config.ts';
import { loadTokenizer, type AlloyTokenizer } from '../../src/io/tokenizer.ts';
import { readDataset } from '../../src/io/datasets/shapes.ts';
import { rowsToSequences } from '../../src/io/datasets/rows.ts';
import { planTrainingMemory } from '../../src/engine/train/memory.ts';
import { assessPlan, prepareTrainData, splitRows, weightDtypeOf } from '../../src/worker/train-data.ts';
import { ensureFixtures } from '../../scripts/fixtures/index.ts';

const MODEL = 'public/hub/alloy-fixtures/tiny-llama/resolve/main';
const demo = (f: string) => ({ name: f, text: readFileSync(`public/demo/data/${f}`, 'utf8') });
let tok: AlloyTokenizer;
let cfg: ModelConfig;

beforeAll(async () => {
  await ensureFixtures();
  const files = dirModelFiles(MODEL);
  cfg = parseModelConfig(await readJson(files, 'config.json'));
  tok = await loadTokenizer(files);
});

const base = { seqLen: 64, valSplit: 0, seed: 42 } as const;

describe('prepareTrainData', () => {
  it('SFT on the built-in sft.jsonl: shape, rows and tokens as rowsToSequences gives them, cut at seqLen', () => {
    const d = prepareTrainData(demo('sft.jsonl'), null, { ...base, method: 'sft' }, tok, cfg);
    const want = rowsToSequences('sft', readDataset(demo('sft.jsonl').text, 'sft.jsonl').rows, tok, cfg.vocabSize, 'sft.jsonl');
    expect(d.stats.shape.id).toBe('prompt-completion');
    expect(d.stats.rows).toBe(41);
    expect(d.train).toHaveLength(41);
    d.train.forEach((s, i) => expect(s.ids).toEqual(want[i]!.ids.slice(0, 64)));
    expect(d.stats.truncated).toBe(want.filter((s) => s.ids.length > 64).length);
    // the length that would cut nothing: what the Train panel raises its default sequence length to
    expect(d.stats.needed).toBe(Math.max(...want.map((s) => s.ids.length)));
    expect(d.stats.needed).toBeGreaterThan(64);
    expect(d.stats.tokens).toBe(d.train.reduce((n, s) => n + s.ids.length, 0));
    expect(d.stats.longest).toBeLessThanOrEqual(64);
    expect(d.stats.valSource).toBe('none');
    expect(d.val).toBeUndefined();
  });

  it('a validation split holds out ⌈f·n⌉ rows, seeded, disjoint from training; the same seed gives the same split', () => {
    const rows = Array.from({ length: 41 }, (_, i) => i);
    const a = splitRows(rows, 0.1, 42);
    expect(a.val).toHaveLength(5);
    expect(a.train).toHaveLength(36);
    expect(new Set([...a.train, ...a.val]).size).toBe(41);
    expect(splitRows(rows, 0.1, 42)).toEqual(a);
    expect(splitRows(rows, 0.1, 7).val).not.toEqual(a.val);
    const d = prepareTrainData(demo('sft.jsonl'), null, { ...base, method: 'sft', valSplit: 0.1 }, tok, cfg);
    expect(d.stats).toMatchObject({ rows: 36, valRows: 5, valSource: 'split' });
    expect(d.val).toHaveLength(5);
    expect(() => splitRows(rows, 1, 1)).toThrow(/validation split/);
  });

  it('a validation file (the built-in validation.txt) for CPT on corpus.txt; preference pairs count as one row', () => {
    const d = prepareTrainData(demo('corpus.txt'), demo('validation.txt'), { ...base, method: 'cpt', valSplit: 0.5 }, tok, cfg);
    expect(d.stats).toMatchObject({ shape: { id: 'text' }, rows: 24, valRows: 6, valSource: 'file' });
    const p = prepareTrainData(demo('preference.jsonl'), null, { ...base, method: 'orpo' }, tok, cfg);
    expect(p.stats.rows).toBe(30);
    expect(p.train).toHaveLength(60);
  });

  it('assistant-only loss (SFT on chat rows): the same tokens, only the assistant turns scored; a cut that leaves none is named', () => {
    const all = prepareTrainData(demo('sft-chat.jsonl'), null, { ...base, method: 'sft', seqLen: 128 }, tok, cfg);
    const only = prepareTrainData(demo('sft-chat.jsonl'), null, { ...base, method: 'sft', seqLen: 128, assistantOnlyLoss: true }, tok, cfg);
    expect(only.train.map((s) => s.ids)).toEqual(all.train.map((s) => s.ids));
    expect(only.stats.tokens).toBe(all.stats.tokens);
    expect(only.stats.scoredTokens).toBe(only.train.reduce((n, s) => n + s.lossMask!.reduce((a, b) => a + b, 0), 0));
    expect(only.stats.scoredTokens).toBeLessThan(all.stats.scoredTokens / 2);
    // another method ignores the box (the panel keeps its state across methods)
    expect(prepareTrainData(demo('sft-chat.jsonl'), null, { ...base, method: 'cpt', assistantOnlyLoss: true }, tok, cfg).train[0]!.lossMask).toBeUndefined();
    expect(() => prepareTrainData(demo('sft-chat.jsonl'), null, { ...base, method: 'sft', seqLen: 8, assistantOnlyLoss: true }, tok, cfg)).toThrow(
      /sft-chat\.jsonl line 1: a sequence length of 8 cuts off every assistant turn/,
    );
    expect(() => prepareTrainData(demo('sft.jsonl'), null, { ...base, method: 'sft', assistantOnlyLoss: true }, tok, cfg)).toThrow(/sft\.jsonl line 1: assistant-only loss needs chat rows/);
  });

  it('refusals name the file, line and setting', () => {
    expect(() => prepareTrainData(demo('preference.jsonl'), null, { ...base, method: 'cpt' }, tok, cfg)).toThrow(/preference\.jsonl line 1: .*method cpt expects/);
    expect(() => prepareTrainData(demo('sft.jsonl'), null, { ...base, method: 'sft', seqLen: 999 }, tok, cfg)).toThrow(/longer than the model reads \(max_position_embeddings 128\)/);
    const long = { name: 'mine.jsonl', text: `{"prompt":"${'word '.repeat(40)}","completion":" yes"}\n` };
    expect(() => prepareTrainData(long, null, { ...base, method: 'sft', seqLen: 8 }, tok, cfg)).toThrow(/mine\.jsonl line 1: its prompt is \d+ tokens/);
  });
});

describe('assessPlan', () => {
  const limits = { maxStorageBufferBindingSize: 128 * 2 ** 20, maxBufferSize: 256 * 2 ** 20 };
  const settings = { method: 'sft' as const, microBatch: 4, rank: 8, targets: ['q_proj' as const, 'v_proj' as const] };

  it('is planTrainingMemory for the longest sequence and min(micro, rows) rows; pairs double the rows', () => {
    const p = assessPlan(cfg, 'f32', settings, { rows: 41, longest: 64 }, limits, 2 ** 30);
    expect(p.memory).toEqual(planTrainingMemory(cfg, { dtype: 'f32', rows: 4, seqLen: 64, r: 8, targets: ['q_proj', 'v_proj'], method: 'sft' }));
    expect(p.refusal).toBeNull();
    // AdamW m, v: half of the adapter's tensors (A, B, dA, dB, m, v); the rest of `adapter` is the grad-norm scratch
    expect(p.optimizerBytes).toBe(p.memory.optimizer);
    const scratch = p.memory.adapter - 2 * p.optimizerBytes;
    expect(scratch).toBeGreaterThan(0);
    expect(scratch).toBeLessThan(0.01 * p.memory.adapter);
    expect(p.mode).toBe('lora');
    expect(p.otherModeTotal).toBe(planTrainingMemory(cfg, { dtype: 'f32', rows: 4, seqLen: 64, r: 8, targets: ['q_proj', 'v_proj'], method: 'sft', mode: 'full' }).poolTotal);
    expect(p.activationBytes).toBe(p.memory.total - p.memory.weights - p.memory.adapter);
    expect(assessPlan(cfg, 'f32', { ...settings, method: 'dpo' }, { rows: 2, longest: 64 }, limits, 2 ** 30).rowsPerForward).toBe(4);
    // per-layer recomputation: the plan of that knob, and the other choice's total beside it
    const re = assessPlan(cfg, 'f32', { ...settings, recompute: true }, { rows: 41, longest: 64 }, limits, 2 ** 30);
    expect(re.memory).toEqual(planTrainingMemory(cfg, { dtype: 'f32', rows: 4, seqLen: 64, r: 8, targets: ['q_proj', 'v_proj'], method: 'sft', recompute: true }));
    expect(re.otherRecomputeTotal).toBe(p.memory.poolTotal);
    expect(p.otherRecomputeTotal).toBe(re.memory.poolTotal);
    expect(re.memory.kept).toBeLessThan(p.memory.kept);
  });

  it('splits logits above the binding limit; refuses a buffer that cannot split and a plan above the budget, saying what to lower', () => {
    // 4×64 rows × 384 vocabulary = 384 KiB of logits: under a 256 KiB binding they come as two 170-row blocks
    const split = { maxStorageBufferBindingSize: 256 * 1024, maxBufferSize: 2 ** 28 };
    const p = assessPlan(cfg, 'f32', settings, { rows: 41, longest: 64 }, split, 2 ** 30);
    expect(p.refusal).toBeNull();
    expect(p.largestBuffer).toEqual({ what: 'logits block [170, 384] (1 of 2)', bytes: 170 * 384 * 4 });
    expect(p.memory).toEqual(planTrainingMemory(cfg, { dtype: 'f32', rows: 4, seqLen: 64, r: 8, targets: ['q_proj', 'v_proj'], method: 'sft', maxBindingBytes: 256 * 1024 }));
    // an activation [256 rows, 128] = 128 KiB does not split: above a 64 KiB binding the step is refused
    const tight = { maxStorageBufferBindingSize: 64 * 1024, maxBufferSize: 2 ** 28 };
    expect(assessPlan(cfg, 'f32', settings, { rows: 41, longest: 64 }, tight, 2 ** 30).refusal).toMatch(
      /needs a buffer of .* \(activation \[4×64, 128\]\), more than this GPU binds at once.*lower the micro-batch or the sequence length/,
    );
    expect(assessPlan(cfg, 'f32', settings, { rows: 41, longest: 64 }, limits, 1e5).refusal).toMatch(/more than the budget.*turn on per-layer recomputation/);
    // sizes in the studio's one unit (decimal, as the plan table shows them): a budget of 100,000 bytes reads "100 KB"
    expect(assessPlan(cfg, 'f32', settings, { rows: 41, longest: 64 }, limits, 1e5).refusal).toMatch(/needs [\d.]+ [KM]B of GPU memory, more than the budget of 100 KB/);
    // a full fine-tune over the budget is refused with LoRA's figure when LoRA fits
    const lora = assessPlan(cfg, 'f32', settings, { rows: 41, longest: 64 }, limits, 2 ** 30);
    const full = assessPlan(cfg, 'f32', { ...settings, mode: 'full' }, { rows: 41, longest: 64 }, limits, lora.memory.poolTotal + 1);
    expect(full.mode).toBe('full');
    expect(full.otherModeTotal).toBe(lora.memory.poolTotal);
    expect(full.refusal).toMatch(/^full fine-tuning needs [\d.]+ [KM]B of GPU memory .*; LoRA \(r 8\) would fit: [\d.]+ [KM]B: train a LoRA adapter instead/);
    expect(weightDtypeOf('BF16')).toBe('bf16');
    expect(weightDtypeOf('F32')).toBe('f32');
  });
});
