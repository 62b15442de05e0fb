/**
 * `alloy eval --model DIR --bench FILE.jsonl|FILE.csv|FILE.txt|MMLU_DIR [--json] [--limit N] [--shots K] [--adapter DIR] [--chat] [--max-tokens N]`
 * Scores a model on a benchmark with the engine the studio uses, lm-evaluation-harness style:
 *   multiple choice (JSONL in the common shapes, or MMLU CSV)  acc, acc_norm by log-likelihood
 *   held-out text (.txt, or JSONL {text})                       word/byte perplexity, bits per byte (rolling windows)
 *   open questions (JSONL {question, answer, match?})           greedy generation, exact / contains / numeric
 * An MMLU directory (dev/ val/ test/ of `<subject>_<split>.csv`) evaluates every subject's test split, shots from
 * its dev split. One line per item goes to stdout as it is scored, then the summary; with --json the lines go to
 * stderr and stdout holds exactly one JSON object, with the exact strings scored and their log-probs.
 * The interval is the 95% Wilson score interval; acc_stderr is lm-eval's sqrt(p(1-p)/(n-1)).
 */
import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import { basename, dirname, join } from 'node:path';
import { AlloyError } from '../common/errors.ts';
import { readJson, type ModelFiles } from '../io/model-files.ts';
import { parseModelConfig, type ModelConfig } from '../io/config.ts';
import { openCheckpoint, type Checkpoint } from '../io/safetensors/checkpoint.ts';
import { readPeftAdapter } from '../io/peft.ts';
import { loadTokenizer, type AlloyTokenizer } from '../io/tokenizer.ts';
import { dirModelFiles } from '../io/node/dir-model-files.ts';
import { formatBytes } from '../io/progress.ts';
import { parseBenchmark, type Benchmark } from '../io/benchmarks/load.ts';
import { mmluFileName, parseMmluCsv } from '../io/benchmarks/mmlu.ts';
import type { MultipleChoiceItem, OpenQuestionItem, TextDocument } from '../io/benchmarks/types.ts';
import { withAdapter } from '../engine/lora/fold.ts';
import { acquireNodeDevice } from '../engine/gpu/node-gpu.ts';
import { BufferPool } from '../engine/gpu/buffer-pool.ts';
import { KernelRegistry } from '../engine/gpu/kernels.ts';
import { generate, loadModel, scoreContinuations, type Model } from '../engine/model/index.ts';
import { storageOptions } from './storage-options.ts';
import { encodePairs, evaluateMultipleChoice, type ItemResult } from '../engine/eval/multiple-choice.ts';
import { buildPrompt, GENERIC_FORMAT, mmluFormat, type ApplyChatTemplate } from '../engine/eval/prompts.ts';
import { evaluatePerplexity } from '../engine/eval/perplexity.ts';
import { evaluateOpenQuestions } from '../engine/eval/open-questions.ts';
import type { CategorySummary } from '../engine/eval/categories.ts';

export type EvalArgs = Partial<Record<'model' | 'bench' | 'limit' | 'shots' | 'adapter' | 'max-tokens' | 'kv-cache' | 'activations', string>> & { json?: boolean; chat?: boolean };

interface Io {
  out: (s: string) => void;
  err: (s: string) => void;
}

/** What `--bench` named, read and limited. */
type Loaded =
  | { kind: 'multiple-choice'; mmlu: boolean; items: MultipleChoiceItem[]; pool: (item: MultipleChoiceItem) => readonly MultipleChoiceItem[]; notes: string[] }
  | { kind: 'open'; items: OpenQuestionItem[] }
  | { kind: 'perplexity'; docs: TextDocument[] };

function need(v: EvalArgs, k: 'model' | 'bench'): string {
  const x = v[k];
  if (!x) throw new AlloyError(`--${k} is required`);
  return x;
}

function count(v: EvalArgs, k: 'limit' | 'shots' | 'max-tokens', fallback: number): number {
  const x = v[k];
  if (x === undefined) return fallback;
  const n = Number(x);
  if (!Number.isInteger(n) || n < 0) throw new AlloyError(`--${k} must be a whole number ≥ 0, got "${x}"`);
  return n;
}

function readText(path: string): string {
  try {
    return readFileSync(path, 'utf8');
  } catch {
    throw new AlloyError(`cannot read ${path}`, { file: path });
  }
}

/** Every subject's test split of an MMLU directory, each with its dev split as the few-shot pool. */
function loadMmluDir(dir: string, limit: number | null): Loaded {
  const testDir = join(dir, 'test');
  if (!existsSync(testDir)) throw new AlloyError(`${dir} is a directory but has no test/ folder of MMLU CSVs (<subject>_test.csv)`, { file: dir });
  const files = readdirSync(testDir)
    .filter((f) => f.toLowerCase().endsWith('.csv'))
    .sort();
  if (files.length === 0) throw new AlloyError(`${testDir} holds no .csv files`, { file: testDir });
  const items: MultipleChoiceItem[] = [];
  const pools = new Map<string, MultipleChoiceItem[]>();
  const notes: string[] = [];
  for (const f of files) {
    const { subject } = mmluFileName(f);
    const test = parseMmluCsv(readText(join(testDir, f)), join(testDir, f), subject);
    items.push(...(limit === null ? test : test.slice(0, limit)));
    pools.set(subject, devPool(dir, subject, test, notes));
  }
  return { kind: 'multiple-choice', mmlu: true, items, pool: (it) => pools.get(it.category!) ?? [], notes };
}

/** dev/<subject>_dev.csv beside the test split, else the subject's own items (lm-eval then skips the item asked). */
function devPool(root: string, subject: string, own: MultipleChoiceItem[], notes: string[]): MultipleChoiceItem[] {
  const dev = join(root, 'dev', `${subject}_dev.csv`);
  if (existsSync(dev)) return parseMmluCsv(readText(dev), dev, subject);
  notes.push(`no ${dev}: shots for ${subject} come from its first test items`);
  return own;
}

function loadBench(path: string, limit: number | null): Loaded {
  let isDir: boolean;
  try {
    isDir = statSync(path).isDirectory();
  } catch {
    throw new AlloyError(`--bench ${path} does not exist`, { file: path });
  }
  if (isDir) return loadMmluDir(path, limit);
  const b: Benchmark = parseBenchmark(readText(path), path);
  const cut = <T>(xs: T[]): T[] => (limit === null ? xs : xs.slice(0, limit));
  switch (b.kind) {
    case 'multiple-choice': {
      if (b.format === 'mmlu') {
        // A single subject file: shots from ../dev/<subject>_dev.csv when it sits in an MMLU test/ folder.
        const notes: string[] = [];
        const subject = b.items[0]!.category!;
        const pool = devPool(dirname(dirname(path)), subject, b.items, notes);
        return { kind: 'multiple-choice', mmlu: true, items: cut(b.items), pool: () => pool, notes };
      }
      const all = b.items;
      return { kind: 'multiple-choice', mmlu: false, items: cut(all), pool: () => all, notes: [] };
    }
    case 'open':
      return { kind: 'open', items: cut(b.items) };
    case 'perplexity':
      return { kind: 'perplexity', docs: cut(b.docs) };
  }
}

interface Opened {
  files: ModelFiles;
  config: ModelConfig;
  checkpoint: Checkpoint;
  tokenizer: AlloyTokenizer;
}

async function openModel(v: EvalArgs): Promise<Opened> {
  const files = dirModelFiles(need(v, 'model'));
  const config = parseModelConfig(await readJson(files, 'config.json'));
  let checkpoint = await openCheckpoint(files);
  if (v.adapter) checkpoint = withAdapter(checkpoint, await readPeftAdapter(dirModelFiles(v.adapter)));
  return { files, config, checkpoint, tokenizer: await loadTokenizer(files) };
}

const pct = (x: number) => (100 * x).toFixed(1);
const letter = (i: number) => String.fromCharCode(65 + i);

function summaryLine(name: string, s: CategorySummary): string {
  return (
    `${name}: acc ${pct(s.acc)}% (95% Wilson CI ${pct(s.ci95.lo)}–${pct(s.ci95.hi)}%, n=${s.n}), acc_norm ${pct(s.accNorm)}%` +
    (s.stderr !== null ? `, lm-eval stderr ${s.stderr.toFixed(4)}` : '')
  );
}

function summaryJson(s: CategorySummary) {
  return { n: s.n, accuracy: s.acc, acc_norm: s.accNorm, acc_stderr: s.stderr, ci95: { method: 'wilson', low: s.ci95.lo, high: s.ci95.hi } };
}

export async function evalCmd(v: EvalArgs, io: Io): Promise<number> {
  const benchPath = need(v, 'bench');
  const limit = v.limit === undefined ? null : count(v, 'limit', 0);
  const shots = count(v, 'shots', 0);
  const bench = loadBench(benchPath, limit);
  const m = await openModel(v);
  const tok = m.tokenizer;
  const chat: ApplyChatTemplate | null = v.chat ? (msgs, o) => tok.applyChatTemplate(msgs, o) : null;
  if (chat && bench.kind === 'perplexity') throw new AlloyError('--chat does not apply to perplexity (the text is scored as it is)');
  // A chat-rendered prompt holds its own special tokens; a plain one gets the tokenizer's (e.g. BOS), as `generate`.
  const encode = chat ? (t: string) => tok.encode(t, { addSpecialTokens: false }) : (t: string) => tok.encode(t);
  // Item lines stream to stdout, or to stderr when stdout is reserved for the one JSON object.
  const line = (s: string) => (v.json ? io.err : io.out)(s + '\n');
  const t0 = performance.now();

  const ctx = await acquireNodeDevice();
  const pool = new BufferPool(ctx.device);
  const model: Model = await loadModel(ctx, new KernelRegistry(ctx.device), pool, m.checkpoint, m.config, storageOptions(v));
  try {
    const header = { benchmark: benchPath, model: v.model, adapter: v.adapter ?? null, shots, chat: Boolean(chat) };
    if (bench.kind === 'multiple-choice') {
      if (shots > 0) for (const n of bench.notes) io.err(`note: ${n}\n`);
      const prompt = buildPrompt(bench.items, {
        shots,
        pool: bench.pool,
        format: bench.mmlu ? (it) => mmluFormat(it.category!) : () => GENERIC_FORMAT,
        chat,
      });
      const score = await evaluateMultipleChoice(
        bench.items,
        async (reqs) => (await scoreContinuations(model, encodePairs(encode, reqs))).map((s) => s.logProb),
        {
          prompt,
          itemsPerBatch: 4,
          onItem: (r: ItemResult, i) =>
            line(`${i + 1}\t${r.category ? r.category + '\t' : ''}pred ${letter(r.pred)}\tgold ${letter(r.answer)}\t${r.correct ? 'correct' : 'wrong'}`),
        },
      );
      const subjects = Object.entries(score.byCategory);
      if (v.json) {
        io.out(
          JSON.stringify({
            ...header,
            kind: 'multiple-choice',
            format: bench.mmlu ? 'mmlu' : 'jsonl',
            ...summaryJson(score),
            subjects: Object.fromEntries(subjects.map(([k, s]) => [k, summaryJson(s)])),
            items: score.items.map((r, i) => ({
              index: i,
              ...(r.category !== undefined ? { category: r.category } : {}),
              question: bench.items[i]!.question,
              context: r.context,
              continuations: r.continuations,
              logprobs: r.logProbs,
              pred: r.pred,
              pred_norm: r.predNorm,
              gold: r.answer,
              correct: r.correct,
              correct_norm: r.correctNorm,
            })),
          }) + '\n',
        );
      } else {
        if (subjects.length > 1) for (const [k, s] of subjects) io.out(summaryLine(k, s) + '\n');
        io.out(summaryLine('all', score) + '\n');
      }
    } else if (bench.kind === 'perplexity') {
      const prefix = tok.bosTokenId ?? tok.eosTokenIds[0];
      if (prefix === undefined) throw new AlloyError('the tokenizer has neither a BOS nor an EOS token to start the first window with');
      const score = await evaluatePerplexity(bench.docs, async (reqs) => (await scoreContinuations(model, reqs)).map((s) => s.logProb), {
        encode: (t) => tok.encode(t, { addSpecialTokens: false }),
        prefixToken: prefix,
        maxLength: m.config.maxPositionEmbeddings,
        onDocument: (d, i) => line(`${i + 1}\ttokens ${d.tokens}\twindows ${d.windows}\tlog-prob ${d.logProb.toFixed(3)}\tbits/byte ${(-d.logProb / d.bytes / Math.LN2).toFixed(4)}`),
      });
      if (v.json) {
        io.out(
          JSON.stringify({
            ...header,
            kind: 'perplexity',
            n: score.n,
            word_perplexity: score.wordPerplexity,
            byte_perplexity: score.bytePerplexity,
            bits_per_byte: score.bitsPerByte,
            token_perplexity: score.tokenPerplexity,
            logprob: score.logProb,
            tokens: score.tokens,
            words: score.words,
            bytes: score.bytes,
            docs: score.docs.map((d) => ({ logprob: d.logProb, tokens: d.tokens, words: d.words, bytes: d.bytes, windows: d.windows })),
          }) + '\n',
        );
      } else {
        io.out(
          `word perplexity ${score.wordPerplexity.toFixed(3)}, byte perplexity ${score.bytePerplexity.toFixed(4)}, ` +
            `bits per byte ${score.bitsPerByte.toFixed(4)} (${score.n} documents, ${score.tokens} tokens, ${score.bytes} bytes)\n`,
        );
      }
    } else {
      const maxTokens = count(v, 'max-tokens', 32);
      const gen = async (context: string): Promise<string> => {
        const ids = encode(context);
        const got: number[] = [];
        let text = '';
        await generate(model, ids, {
          maxTokens,
          temperature: 0,
          eosTokenIds: tok.eosTokenIds,
          onToken: (t) => {
            got.push(t);
            text = tok.decode(got, { skipSpecialTokens: true });
            // lm-eval's `until`: stop at the first newline of the answer (a leading one is the model clearing its throat)
            return !text.trimStart().includes('\n');
          },
        });
        const trimmed = text.trimStart();
        return trimmed.split('\n')[0]!.trim();
      };
      const score = await evaluateOpenQuestions(bench.items, gen, {
        shots,
        chat,
        onItem: (r, i) => line(`${i + 1}\t${r.category ? r.category + '\t' : ''}output ${JSON.stringify(r.output)}\tgold ${JSON.stringify(r.answer)} (${r.match})\t${r.correct ? 'correct' : 'wrong'}`),
      });
      const subjects = Object.entries(score.byCategory);
      if (v.json) {
        const { n, acc, stderr, ci95 } = score;
        io.out(
          JSON.stringify({
            ...header,
            kind: 'open',
            n,
            accuracy: acc,
            acc_stderr: stderr,
            ci95: { method: 'wilson', low: ci95.lo, high: ci95.hi },
            subjects: Object.fromEntries(subjects.map(([k, s]) => [k, summaryJson(s)])),
            items: score.items.map((r, i) => ({ index: i, ...r })),
          }) + '\n',
        );
      } else {
        for (const [k, s] of subjects) io.out(`${k}: exact ${pct(s.acc)}% (95% Wilson CI ${pct(s.ci95.lo)}–${pct(s.ci95.hi)}%, n=${s.n})\n`);
        io.out(`all: ${pct(score.acc)}% correct (95% Wilson CI ${pct(score.ci95.lo)}–${pct(score.ci95.hi)}%, n=${score.n})\n`);
      }
    }
  } finally {
    const { peakBytes } = pool.stats();
    io.err(
      `${basename(benchPath)} on ${m.files.label}: ${((performance.now() - t0) / 1000).toFixed(1)} s; GPU ${formatBytes(model.weightBytes)} of weights, peak ${formatBytes(peakBytes)} (${ctx.adapterInfo.description})\n`,
    );
    model.dispose();
    pool.destroyAll();
  }
  return 0;
}
