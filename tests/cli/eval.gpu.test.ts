// `alloy eval` end to end through main(), on the GPU (Dawn; SwiftShader without one):
// - multiple choice on tiny-llama: --json is one object whose logprobs equal the engine's scoreContinuations of
//   those exact strings (same kernels; |Δ| ≤ 1e-5 allowed for batching), and acc / acc_norm / per-category agree
//   with the items; the plain output has one line per item and a summary. The engine is the CLI's own scorer, so
//   every log-prob is also held to an independent value: the float64 reference forward (reference/forward.ts) on
//   the same token ids, Σ log-softmax over the continuation, within 5e-5 (measured on SwiftShader: 5.9e-6; the
//   one-shot contexts are ~3× longer than decode.gpu.test.ts's);
// - perplexity: each document's log-prob is the sum of the engine's scores of its rolling windows;
// - open questions: greedy outputs checked by their match rule;
// - MMLU directory (the shared chemistry/biology subjects) on the stories260K demo model, --limit 1 per subject,
//   zero-shot (lm-eval's default; the dev-shot prompt is held to hand-written strings in prompts.test.ts, and
//   SwiftShader makes each extra 100-token shot cost minutes here): per-subject accuracy reported.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { main } from '../../src/cli/main.ts';
import { capture } from './capture.ts';
import { ensureFixtures, OWNER, REVISION } from '../../scripts/fixtures/index.ts';
import { dirModelFiles } from '../../src/io/node/dir-model-files.ts';
import { readJson } from '../../src/io/model-files.ts';
import { parseModelConfig } from '../../src/io/config.ts';
import { openCheckpoint } from '../../src/io/safetensors/checkpoint.ts';
import { loadTokenizer, type AlloyTokenizer } from '../../src/io/tokenizer.ts';
import { BufferPool } from '../../src/engine/gpu/buffer-pool.ts';
import { KernelRegistry } from '../../src/engine/gpu/kernels.ts';
import { loadModel, scoreContinuations, type Model } from '../../src/engine/model/index.ts';
import { encodePair } from '../../src/engine/eval/multiple-choice.ts';
import { rollingWindows } from '../../src/engine/eval/perplexity.ts';
import { matchAnswer } from '../../src/engine/eval/open-questions.ts';
import { logSoftmaxRow, referenceForward } from '../../src/engine/reference/forward.ts';
import { testGpu } from '../helpers/gpu.ts';

const MODEL = join('public/hub', OWNER, 'tiny-llama', 'resolve', REVISION);
const STORIES = 'public/demo/stories260K';
const MMLU = resolve(process.cwd(), '../shared/data/benchmarks/mmlu');
/** the CLI batches 4 items per scoring call, the check scores one request at a time: same kernels, other padding */
const TOL = 1e-5;
/** GPU (f32) against the float64 reference forward, a sum of a few log-probs over contexts of ~30 tokens */
const REF_TOL = 5e-5;
/** SwiftShader on a shared 2-core machine: minutes per test, not the project's default 2 */
const SLOW = 900_000;

let tmp: string;
let model: Model;
let tok: AlloyTokenizer;
let weights: Map<string, Float32Array>;

/** Σ log p(continuation | context) from the float64 reference forward, tokenized as lm-eval does (the whole
 * string, cut at the context's own token count), independent of src/engine/model and src/engine/eval. */
function referenceLogProb(context: string, continuation: string): number {
  const whole = tok.encode(context + continuation);
  const cut = tok.encode(context).length;
  const V = model.config.vocabSize;
  const logits = referenceForward(model.config, (n) => weights.get(n)!, whole.slice(0, -1));
  let sum = 0;
  for (let t = cut; t < whole.length; t++) sum += logSoftmaxRow(logits, (t - 1) * V, V)[whole[t]!]!;
  return sum;
}

async function engineLogProb(context: string, continuation: string): Promise<number> {
  const ids = encodePair((t) => tok.encode(t), { context, continuation });
  return (await scoreContinuations(model, [ids]))[0]!.logProb;
}

beforeAll(async () => {
  await ensureFixtures('public/hub');
  tmp = mkdtempSync(join(tmpdir(), 'alloy-eval-'));
  const files = dirModelFiles(MODEL);
  const ctx = await testGpu();
  const config = parseModelConfig(await readJson(files, 'config.json'));
  const checkpoint = await openCheckpoint(files);
  model = await loadModel(ctx, new KernelRegistry(ctx.device), new BufferPool(ctx.device), checkpoint, config);
  weights = new Map();
  for (const n of checkpoint.names()) weights.set(n, await checkpoint.readF32(n));
  tok = await loadTokenizer(files);
}, SLOW);

afterAll(() => {
  model?.dispose();
  rmSync(tmp, { recursive: true, force: true });
});

interface McJson {
  accuracy: number;
  acc_norm: number;
  acc_stderr: number | null;
  ci95: { method: string; low: number; high: number };
  n: number;
  subjects: Record<string, { n: number; accuracy: number; acc_norm: number }>;
  items: { context: string; continuations: string[]; logprobs: number[]; pred: number; pred_norm: number; gold: number; correct: boolean; correct_norm: boolean; category?: string }[];
}

describe('alloy eval', () => {
  it('multiple choice --json: the exact strings, the engine scores of them, and acc consistent with the items', async () => {
    const bench = join(tmp, 'mc.jsonl');
    writeFileSync(
      bench,
      [
        { question: 'Which metal rusts?', choices: ['iron', 'gold', 'platinum'], answer: 'A', category: 'materials' },
        { question: 'Silk is made by', choices: ['spiders', 'cows'], answer: 'spiders', category: 'bio' },
        { query: 'Question: Bone is mostly\nAnswer:', choices: ['calcium phosphate', 'steel'], gold: 0, subject: 'bio' },
        { question: 'Glass is', choices: ['amorphous', 'crystalline'], answer: 0 },
      ]
        .map((o) => JSON.stringify(o))
        .join('\n'),
    );
    const io = capture();
    expect(await main(['eval', '--model', MODEL, '--bench', bench, '--json', '--shots', '1'], io), io.stderr).toBe(0);
    const out = JSON.parse(io.stdout) as McJson; // exactly one JSON value on stdout
    expect(out.items).toHaveLength(4);
    // item lines went to stderr, stdout holds only the object
    expect(io.stderr.match(/^\d+\t.*pred [A-Z]\tgold [A-Z]\t(correct|wrong)$/gm)).toHaveLength(4);

    // first_n shots from the same file, skipping the item asked; lm-eval's generic prompt
    expect(out.items[0]!.context).toBe('Question: Silk is made by\nAnswer: spiders\n\nQuestion: Which metal rusts?\nAnswer:');
    expect(out.items[0]!.continuations).toEqual([' iron', ' gold', ' platinum']);
    expect(out.items[2]!.context).toBe('Question: Which metal rusts?\nAnswer: iron\n\nQuestion: Bone is mostly\nAnswer:');

    let maxDiff = 0;
    let refDiff = 0;
    for (const it of out.items) {
      for (const [j, c] of it.continuations.entries()) {
        maxDiff = Math.max(maxDiff, Math.abs(it.logprobs[j]! - (await engineLogProb(it.context, c))));
        refDiff = Math.max(refDiff, Math.abs(it.logprobs[j]! - referenceLogProb(it.context, c)));
      }
      const best = it.logprobs.indexOf(Math.max(...it.logprobs));
      expect(it.pred).toBe(best);
      expect(it.correct).toBe(it.pred === it.gold);
      expect(it.correct_norm).toBe(it.pred_norm === it.gold);
    }
    console.log(`alloy eval log-probs: max|Δ| vs scoreContinuations ${maxDiff.toExponential(2)}, vs float64 reference ${refDiff.toExponential(2)}`);
    expect(maxDiff).toBeLessThanOrEqual(TOL);
    expect(refDiff).toBeLessThanOrEqual(REF_TOL);
    expect(out.items.map((i) => i.gold)).toEqual([0, 0, 0, 0]);
    expect(out.n).toBe(4);
    expect(out.accuracy).toBe(out.items.filter((i) => i.correct).length / 4);
    expect(out.acc_norm).toBe(out.items.filter((i) => i.correct_norm).length / 4);
    expect(out.ci95.method).toBe('wilson');
    expect(out.ci95.low).toBeLessThanOrEqual(out.accuracy);
    expect(out.ci95.high).toBeGreaterThanOrEqual(out.accuracy);
    expect(out.subjects.bio!.n).toBe(2);
    expect(out.subjects.bio!.accuracy).toBe([out.items[1]!, out.items[2]!].filter((i) => i.correct).length / 2);
    expect(Object.keys(out.subjects)).toEqual(['materials', 'bio']);

    // without --json: the same items as lines on stdout, then per-category and overall summaries
    const plain = capture();
    expect(await main(['eval', '--model', MODEL, '--bench', bench, '--shots', '1', '--limit', '2'], plain)).toBe(0);
    const lines = plain.stdout.trim().split('\n');
    expect(lines[0]).toMatch(/^1\tmaterials\tpred [A-C]\tgold A\t(correct|wrong)$/);
    expect(lines[1]).toMatch(/^2\tbio\tpred [AB]\tgold A\t(correct|wrong)$/);
    expect(lines.at(-1)).toMatch(/^all: acc [\d.]+% \(95% Wilson CI [\d.]+–[\d.]+%, n=2\), acc_norm [\d.]+%/);
  }, SLOW);

  it('perplexity of a text: each document is the sum of the engine scores of its rolling windows', async () => {
    const text = 'The spider spins silk. Silk is strong and light, and the web holds the rain. '.repeat(4);
    const bench = join(tmp, 'held.txt');
    writeFileSync(bench, text);
    const io = capture();
    expect(await main(['eval', '--model', MODEL, '--bench', bench, '--json'], io), io.stderr).toBe(0);
    const out = JSON.parse(io.stdout) as { docs: { logprob: number; tokens: number; windows: number; bytes: number }[]; bits_per_byte: number; word_perplexity: number; words: number };
    const ids = tok.encode(text, { addSpecialTokens: false });
    const windows = rollingWindows(ids, tok.bosTokenId!, model.config.maxPositionEmbeddings);
    expect(windows.length).toBeGreaterThan(1); // the text is longer than the model's 128 positions
    const want = (await scoreContinuations(model, windows)).reduce((a, s) => a + s.logProb, 0);
    expect(out.docs[0]!.tokens).toBe(ids.length);
    expect(out.docs[0]!.windows).toBe(windows.length);
    expect(Math.abs(out.docs[0]!.logprob - want)).toBeLessThanOrEqual(TOL * windows.length);
    expect(out.bits_per_byte).toBeCloseTo(-out.docs[0]!.logprob / new TextEncoder().encode(text).byteLength / Math.LN2, 10);
    expect(out.word_perplexity).toBeCloseTo(Math.exp(-out.docs[0]!.logprob / out.words), 8);
  }, SLOW);

  it('open questions: greedy answers checked by their rule', async () => {
    const bench = join(tmp, 'open.jsonl');
    writeFileSync(bench, ['{"question": "What spins silk?", "answer": "spider", "match": "contains"}', '{"question": "2+2?", "answer": 4, "match": "numeric"}'].join('\n'));
    const io = capture();
    expect(await main(['eval', '--model', MODEL, '--bench', bench, '--json', '--max-tokens', '4'], io), io.stderr).toBe(0);
    const out = JSON.parse(io.stdout) as { accuracy: number; items: { output: string; answer: string; match: 'contains' | 'numeric'; correct: boolean; context: string }[] };
    expect(out.items[0]!.context).toBe('Question: What spins silk?\nAnswer:');
    for (const it of out.items) {
      expect(it.output).not.toContain('\n');
      expect(it.correct).toBe(matchAnswer({ question: '', answer: it.answer, match: it.match }, it.output));
    }
    expect(out.accuracy).toBe(out.items.filter((i) => i.correct).length / 2);
  }, SLOW);

  it('a malformed benchmark fails before the model loads, naming file and line', async () => {
    const bench = join(tmp, 'bad.jsonl');
    writeFileSync(bench, '{"question": "q", "choices": ["a", "b"], "answer": 0}\n{"question": "q", "choices": ["a", "b"], "answer": 5}\n');
    const io = capture();
    expect(await main(['eval', '--model', MODEL, '--bench', bench], io)).toBe(1);
    expect(io.stderr).toMatch(/^alloy: .*bad\.jsonl:2: "answer" must be the index, letter or text of one of the 2 choices/);
    const csv = join(tmp, 'x_test.csv');
    writeFileSync(csv, 'q,a,b,c,d,A\nq,a,b,c,d\n');
    const io2 = capture();
    expect(await main(['eval', '--model', MODEL, '--bench', csv], io2)).toBe(1);
    expect(io2.stderr).toMatch(/x_test\.csv:2: expected 6 fields/);
  }, SLOW);

  it('MMLU directory on stories260K: every subject test split, accuracy per subject', async () => {
    for (const p of [MMLU, STORIES]) if (!existsSync(p)) throw new Error(`missing ${p}: needs ../shared/data and the stories260K demo model`);
    const io = capture();
    expect(await main(['eval', '--model', STORIES, '--bench', MMLU, '--limit', '1', '--json'], io), io.stderr).toBe(0);
    const out = JSON.parse(io.stdout) as McJson;
    expect(Object.keys(out.subjects)).toEqual(['college_biology', 'college_chemistry', 'high_school_biology', 'high_school_chemistry']);
    expect(out.n).toBe(4);
    const chem = out.items.find((i) => i.category === 'college_chemistry')!;
    // lm-eval mmlu: description, the first test question, lettered choices; continuations " A" … " D"
    expect(chem.context).toBe(
      'The following are multiple choice questions (with answers) about college chemistry.\n\n' +
        'The rate, r, of a zero-order chemical reaction A → B can be expressed as which of the following?\n' +
        'A. r = k ln[A]\nB. r = k [A]^2\nC. r = k [A]\nD. r = k\nAnswer:',
    );
    expect(chem.continuations).toEqual([' A', ' B', ' C', ' D']);
    expect(chem.gold).toBe(3);
    for (const [name, s] of Object.entries(out.subjects)) {
      expect(s.n, name).toBe(1);
      // single-letter choices: acc_norm = acc, as in lm-eval's mmlu
      expect(s.acc_norm, name).toBe(s.accuracy);
    }
    expect(out.accuracy).toBe(out.items.filter((i) => i.correct).length / 4);
    // the numbers, for the record (stories260K was trained on children's stories: chance is 25%)
    console.log(Object.entries(out.subjects).map(([k, s]) => `${k}: ${s.accuracy} (n=${s.n})`).join('; '));
  }, SLOW);
});
