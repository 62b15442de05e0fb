// Engine throughput against anchors on the same host, in one run (issue 14, "Measure it"):
//   - greedy decode of stories260K (generate, 256 tokens) beside llama2.c's run.c, compiled here from
//     ../shared/anchors/llama2c/run.c (MIT; built in a temp dir, never part of the repo) on the same model, and
//     the same decode with an f16 KV cache beside the f32 one;
//   - a 5-shot MMLU item on stories260K through the path `alloy eval --shots 5` takes (buildPrompt → lm-eval
//     requests → scoreContinuations, 4 items per scoring call), in seconds and in llama2.c token-forwards;
//   - one LoRA training step of a tiny Llama (D128 L4 H4 KV2 I352 V512, 4 × 64 tokens, r 8, all seven
//     projections) beside the same step in PyTorch on the CPU (bench/lora_step_torch.py, Debian's python3-torch);
//   - WebGPU API calls per decoded token and per training step after warm-up (src/engine/gpu/call-counter.ts).
//   npx vitest run --config vitest.bench.config.ts bench/throughput.bench.ts
// Anchors that are missing (no ../shared, no gcc, no torch) leave their column as a note. The host is shared:
// compare numbers from one run, not across runs.
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { loadavg, tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { it } from 'vitest';
import { parseModelConfig } from '../src/io/config.ts';
import { readJson } from '../src/io/model-files.ts';
import { dirModelFiles } from '../src/io/node/dir-model-files.ts';
import { openCheckpoint } from '../src/io/safetensors/checkpoint.ts';
import { loadTokenizer } from '../src/io/tokenizer.ts';
import { mmluFileName, parseMmluCsv } from '../src/io/benchmarks/mmlu.ts';
import type { MultipleChoiceItem } from '../src/io/benchmarks/types.ts';
import { acquireNodeDevice } from '../src/engine/gpu/node-gpu.ts';
import { BufferPool } from '../src/engine/gpu/buffer-pool.ts';
import { KernelRegistry } from '../src/engine/gpu/kernels.ts';
import { countGpuCalls, perUnit, type GpuCallCounts } from '../src/engine/gpu/call-counter.ts';
import { generate, loadModel, scoreContinuations, type Model, type ScoreStats } from '../src/engine/model/index.ts';
import { encodePairs, evaluateMultipleChoice, requestsOf } from '../src/engine/eval/multiple-choice.ts';
import { buildPrompt, mmluFormat } from '../src/engine/eval/prompts.ts';
import { tinyLlamaConfig, syntheticCheckpoint } from './synthetic.ts';
import { alloySteps, type Measured } from './train-steps.ts';
import { writeSuite, type BenchRow, type BenchSuite } from './report.ts';

const SHARED = resolve('..', 'shared'); // beside the repository root (vitest runs in the root)
const RUN_C = join(SHARED, 'anchors/llama2c/run.c');
const STORIES_BIN = join(SHARED, 'data/models/stories260K/stories260K.bin');
const TOK_BIN = join(SHARED, 'data/models/stories260K/tok512.bin');
const MMLU = join(SHARED, 'data/benchmarks/mmlu');
const STORIES = 'public/demo/stories260K';

const PROMPT = 'Once upon a time';
const DECODE_TOKENS = 256;
const DECODE_RUNS = 5; // timed generate() calls, median
const LLAMA2C_RUNS = 5; // a run is ~40 ms: more runs, median
const COUNT_WARMUP_TOKENS = 8;
const COUNT_TOKENS = 32;
const MMLU_SHOTS = 5;
const MMLU_PER_SUBJECT = 1; // `--limit 1` over the MMLU directory: the first test item of each subject
const ITEMS_PER_BATCH = 4; // as src/cli/eval.ts
const MMLU_SUBJECT_ITEMS = 4;
const LORA = { B: 4, T: 64, r: 8, alpha: 16, steps: 3, warmup: 1 };

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;
const n3 = (x: number) => (x >= 100 ? x.toFixed(0) : x.toPrecision(3));
const pct = (x: number) => `${(100 * x).toPrecision(2)}%`;
const range = (xs: number[]) => `${n3(Math.min(...xs))}–${n3(Math.max(...xs))}`;
const rel = (p: string) => p.replace(resolve('.') + '/', '').replace(resolve('..') + '/', '../');

function countsText(c: GpuCallCounts): string {
  const f = (x: number) => (Number.isInteger(x) ? String(x) : x.toFixed(1));
  return (
    `${f(c.dispatches)} dispatches, ${f(c.passes)} passes, ${f(c.bindGroups)} bind groups, ${f(c.buffers)} buffers created, ` +
    `${f(c.writeBuffers)} writeBuffer, ${f(c.submits)} submits, ${f(c.readBytes)} B read back`
  );
}

interface Llama2c {
  tokPerSec: number;
  runs: number[];
  text: string;
}

/** llama2.c's run.c built with gcc -O3 in a temp dir, greedy on stories260K; null + a note when it cannot run. */
function llama2c(notes: string[]): Llama2c | null {
  for (const p of [RUN_C, STORIES_BIN, TOK_BIN]) {
    if (!existsSync(p)) return notes.push(`llama2.c skipped: ${rel(p)} is absent`), null;
  }
  if (spawnSync('gcc', ['--version']).status !== 0) return notes.push('llama2.c skipped: no gcc on this host'), null;
  const dir = mkdtempSync(join(tmpdir(), 'alloy-llama2c-'));
  try {
    const exe = join(dir, 'llama2c-run');
    const cc = spawnSync('gcc', ['-O3', '-march=native', '-o', exe, RUN_C, '-lm'], { encoding: 'utf8' });
    if (cc.status !== 0) return notes.push(`llama2.c skipped: gcc failed: ${cc.stderr.slice(0, 200)}`), null;
    const runs: number[] = [];
    let text = '';
    for (let i = 0; i < LLAMA2C_RUNS; i++) {
      const r = spawnSync(exe, [STORIES_BIN, '-z', TOK_BIN, '-t', '0', '-n', String(DECODE_TOKENS), '-i', PROMPT], { encoding: 'utf8' });
      const m = /achieved tok\/s:\s*([\d.]+)/.exec(r.stderr + r.stdout);
      if (r.status !== 0 || !m) return notes.push(`llama2.c skipped: run failed (${r.status}): ${(r.stderr + r.stdout).slice(0, 200)}`), null;
      runs.push(Number(m[1]));
      text = r.stdout.trim();
    }
    return { tokPerSec: median(runs), runs, text };
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

interface Torch {
  /** tokens/s with torch.set_num_threads(threads) */
  tokPerSec: number;
  /** the same with one thread: on this shared host two threads can lose to one (OpenMP waits on a busy core) */
  oneThreadTokPerSec: number;
  version: string;
}

function torchStep(notes: string[]): Torch | null {
  const py = '/usr/bin/python3';
  if (spawnSync(py, ['-c', 'import torch']).status !== 0) return notes.push(`PyTorch skipped: ${py} -c "import torch" fails (apt-get install python3-torch)`), null;
  const run = (threads: number) => {
    const cfg = { D: 128, L: 4, H: 4, KV: 2, I: 352, V: 512, B: LORA.B, T: LORA.T, r: LORA.r, alpha: LORA.alpha, threads, warmup: 2, steps: 10 };
    const r = spawnSync(py, ['bench/lora_step_torch.py', JSON.stringify(cfg)], { encoding: 'utf8', timeout: 600_000 });
    if (r.status !== 0) return notes.push(`PyTorch skipped: the script failed: ${r.stderr.slice(-300)}`), null;
    return JSON.parse(r.stdout.trim().split('\n').at(-1)!) as { tok_per_s: number; torch: string };
  };
  const two = run(2);
  const one = two && run(1);
  return two && one ? { tokPerSec: two.tok_per_s, oneThreadTokPerSec: one.tok_per_s, version: two.torch } : null;
}

interface MmluTimed {
  items: number;
  secPerItem: number;
  /** Σ over the item's requests of the tokens each forward reads ((context + continuation)[:-1], truncated) */
  forwardsPerItem: number;
  /** the same with the context read once (what prefix sharing would need) */
  sharedPerItem: number;
  counts: GpuCallCounts;
}

/** The first MMLU_PER_SUBJECT test items of every subject (as `--limit`), shots from each subject's dev split. */
function mmluItems(skip: number): { items: MultipleChoiceItem[]; pool: (it: MultipleChoiceItem) => MultipleChoiceItem[] } {
  const pools = new Map<string, MultipleChoiceItem[]>();
  const items: MultipleChoiceItem[] = [];
  const files = readdirSync(join(MMLU, 'test'))
    .filter((f) => f.endsWith('.csv'))
    .sort();
  for (const f of files) {
    const { subject } = mmluFileName(f);
    const test = parseMmluCsv(readFileSync(join(MMLU, 'test', f), 'utf8'), f, subject);
    items.push(...test.slice(skip, skip + MMLU_PER_SUBJECT));
    const dev = join(MMLU, 'dev', `${subject}_dev.csv`);
    pools.set(subject, existsSync(dev) ? parseMmluCsv(readFileSync(dev, 'utf8'), dev, subject) : test);
  }
  return { items, pool: (it) => pools.get(it.category!) ?? [] };
}

/** evaluateMultipleChoice as src/cli/eval.ts runs it for an MMLU directory with --shots 5. */
async function mmluRun(model: Model, encode: (t: string) => number[], skip: number): Promise<MmluTimed> {
  const { items, pool } = mmluItems(skip);
  const maxPos = model.config.maxPositionEmbeddings;
  let forwards = 0;
  let shared = 0;
  const prompt = buildPrompt(items, { shots: MMLU_SHOTS, pool, format: (it) => mmluFormat(it.category!), chat: null });
  const counter = countGpuCalls(model.device);
  const t0 = performance.now();
  try {
    await evaluateMultipleChoice(
      items,
      async (reqs) => {
        const pairs = encodePairs(encode, reqs);
        for (const p of pairs) forwards += Math.min(p.context.length + p.continuation.length, maxPos + 1) - 1;
        // per item (its choices share the context): the context once + every continuation
        for (let i = 0; i < pairs.length; i += 4) {
          const group = pairs.slice(i, i + 4);
          shared += Math.min(group[0]!.context.length, maxPos) + group.reduce((n, p) => n + p.continuation.length, 0) - 1;
        }
        return (await scoreContinuations(model, pairs)).map((s) => s.logProb);
      },
      { prompt, itemsPerBatch: ITEMS_PER_BATCH },
    );
  } finally {
    counter.dispose();
  }
  const sec = (performance.now() - t0) / 1000;
  return { items: items.length, secPerItem: sec / items.length, forwardsPerItem: forwards / items.length, sharedPerItem: shared / items.length, counts: perUnit(counter.snapshot(), items.length) };
}

/**
 * MMLU_SUBJECT_ITEMS consecutive test items of one subject in one scoring call (as `alloy eval` scores a subject's
 * items together), the subject and shot count (≤ MMLU_SHOTS) being those with the most shots whose prompts all fit
 * the model's context (stories260K: 512 tokens, shorter than most 5-shot prompts): their
 * shared opening (the description and the same first_n shots) then sits at the same positions in every prompt, so
 * scoreContinuations runs it once. Timed with prefix sharing and without (sharePrefix: false), same requests.
 */
async function mmluSubjectRun(model: Model, encode: (t: string) => number[]): Promise<SubjectTimed> {
  const fits = (pairs: { context: number[]; continuation: number[] }[]) => pairs.every((p) => p.context.length + p.continuation.length - 1 <= model.config.maxPositionEmbeddings);
  // the subject whose first items take the most shots within the context (the first such subject on ties)
  let best: { subject: string; shots: number; items: number; pairs: { context: number[]; continuation: number[] }[] } | null = null;
  for (const file of readdirSync(join(MMLU, 'test')).filter((f) => f.endsWith('.csv')).sort()) {
    const { subject } = mmluFileName(file);
    const items = parseMmluCsv(readFileSync(join(MMLU, 'test', file), 'utf8'), file, subject).slice(0, MMLU_SUBJECT_ITEMS);
    const dev = join(MMLU, 'dev', `${subject}_dev.csv`);
    const shotPool = existsSync(dev) ? parseMmluCsv(readFileSync(dev, 'utf8'), dev, subject) : [];
    for (let shots = MMLU_SHOTS; shots > (best?.shots ?? -1); shots--) {
      const prompt = buildPrompt(items, { shots, pool: () => shotPool, format: (it) => mmluFormat(it.category!), chat: null });
      const pairs = encodePairs(encode, items.flatMap((it) => requestsOf(prompt(it))));
      if (fits(pairs)) {
        best = { subject, shots, items: items.length, pairs };
        break;
      }
    }
  }
  if (!best) throw new Error('no MMLU subject has items whose 0-shot prompts fit the context');
  const { pairs } = best;
  const time = async (sharePrefix: boolean) => {
    await scoreContinuations(model, pairs, { sharePrefix }); // warm-up: this shape's pipelines and pool sizes
    const stats: ScoreStats = { forwards: 0, rows: 0 };
    const t0 = performance.now();
    await scoreContinuations(model, pairs, { sharePrefix, stats });
    return { secPerItem: (performance.now() - t0) / 1000 / best!.items, rowsPerItem: stats.rows / best!.items };
  };
  return { subject: best.subject, shots: best.shots, items: best.items, shared: await time(true), plain: await time(false) };
}

interface SubjectTimed {
  subject: string;
  shots: number;
  items: number;
  shared: { secPerItem: number; rowsPerItem: number };
  plain: { secPerItem: number; rowsPerItem: number };
}

it('throughput: decode, MMLU item and LoRA step beside llama2.c and PyTorch; API calls per token and step', async () => {
  const notes: string[] = [];
  const rows: BenchRow[] = [];
  const load0 = loadavg()[0]!;
  const ctx = await acquireNodeDevice();
  const kernels = new KernelRegistry(ctx.device);

  // ---- anchors first, while no model holds memory
  const c = llama2c(notes);
  const torch = torchStep(notes);

  // ---- decode, stories260K
  const files = dirModelFiles(STORIES);
  const config = parseModelConfig(await readJson(files, 'config.json'));
  const tok = await loadTokenizer(files);
  const pool = new BufferPool(ctx.device);
  const model = await loadModel(ctx, kernels, pool, await openCheckpoint(files), config);
  let perToken: GpuCallCounts;
  let decodeTokPerSec: number;
  let decodeRuns: number[];
  let f16Runs: number[];
  let f16Same: boolean;
  let mmlu: MmluTimed | null = null;
  let subject: SubjectTimed | null = null;
  try {
    const prompt = tok.encode(PROMPT); // with BOS, as `alloy generate`
    const greedy = { temperature: 0, eosTokenIds: [] as number[] };
    let text = '';
    await generate(model, prompt, { ...greedy, maxTokens: 32 }); // warm-up: shader compiles
    await generate(model, prompt, { ...greedy, maxTokens: 32, kvDtype: 'f16' });
    const times: number[] = [];
    // the f16 KV cache's runs alternate with the f32 ones, so both see the same host
    const f16Times: number[] = [];
    let f16Text = '';
    for (let i = 0; i < DECODE_RUNS; i++) {
      let t0 = performance.now();
      const got = await generate(model, prompt, { ...greedy, maxTokens: DECODE_TOKENS });
      times.push(performance.now() - t0);
      text = tok.decode([...prompt, ...got.tokens], { skipSpecialTokens: true });
      t0 = performance.now();
      const got16 = await generate(model, prompt, { ...greedy, maxTokens: DECODE_TOKENS, kvDtype: 'f16' });
      f16Times.push(performance.now() - t0);
      f16Text = tok.decode([...prompt, ...got16.tokens], { skipSpecialTokens: true });
    }
    f16Runs = f16Times.map((t) => DECODE_TOKENS / (t / 1000));
    f16Same = f16Text === text;
    decodeTokPerSec = DECODE_TOKENS / (median(times) / 1000);
    decodeRuns = times.map((t) => DECODE_TOKENS / (t / 1000));
    console.log(`Alloy greedy (${decodeRuns.map((x) => x.toFixed(1)).join(', ')} tok/s): ${text.slice(0, 200)}…`);
    if (c) console.log(`greedy text ${c.text.startsWith(text.slice(0, 200)) ? 'starts as' : 'DIFFERS from'} llama2.c's`);
    if (c) console.log(`llama2.c greedy (${c.runs.map((x) => x.toFixed(0)).join(', ')} tok/s): ${c.text.slice(0, 200)}…`);

    // API calls per decoded token: generate() chains its steps, so when onToken(i) runs the step for token i + 1 is
    // queued; the window holds exactly COUNT_TOKENS steps when the run goes one token past it
    const counter = countGpuCalls(ctx.device);
    let counted: GpuCallCounts | null = null;
    try {
      await generate(model, prompt, {
        ...greedy,
        maxTokens: COUNT_WARMUP_TOKENS + COUNT_TOKENS + 2,
        onToken: (_, i) => {
          if (i === COUNT_WARMUP_TOKENS) counter.reset();
          if (i === COUNT_WARMUP_TOKENS + COUNT_TOKENS) counted = counter.snapshot();
        },
      });
    } finally {
      counter.dispose();
    }
    perToken = perUnit(counted!, COUNT_TOKENS);

    // ---- 5-shot MMLU items: a warm-up batch (the next item of each subject), then the timed one
    if (existsSync(join(MMLU, 'test'))) {
      const encode = (t: string) => tok.encode(t);
      await mmluRun(model, encode, MMLU_PER_SUBJECT);
      mmlu = await mmluRun(model, encode, 0);
      subject = await mmluSubjectRun(model, encode);
    } else notes.push(`MMLU skipped: ${rel(MMLU)}/test is absent`);
  } finally {
    model.dispose();
    pool.destroyAll();
  }

  rows.push({
    work: `greedy decode, stories260K ("${PROMPT}", ${DECODE_TOKENS} tokens, generate(), prefill included)`,
    Alloy: `${n3(decodeTokPerSec)} tok/s (runs ${range(decodeRuns)})`,
    anchor: c ? `llama2.c run.c (gcc -O3 -march=native, 1 thread): ${n3(c.tokPerSec)} tok/s (runs ${range(c.runs)})` : 'llama2.c: skipped (see note)',
    'Alloy vs anchor': c ? `${pct(decodeTokPerSec / c.tokPerSec)} of llama2.c` : '—',
  });
  const f16TokPerSec = median(f16Runs);
  rows.push({
    work: `the same decode with an f16 KV cache (--kv-cache f16; runs alternate with the f32 cache's)`,
    Alloy: `${n3(f16TokPerSec)} tok/s (runs ${range(f16Runs)}); ${f16Same ? 'the same' : 'a DIFFERENT'} greedy text`,
    anchor: 'the f32 cache, above',
    'Alloy vs anchor': `${(f16TokPerSec / decodeTokPerSec).toFixed(2)}×`,
  });
  if (mmlu) {
    rows.push({
      work: `5-shot MMLU item, stories260K (alloy eval --shots ${MMLU_SHOTS} path, ${mmlu.items} items in batches of ${ITEMS_PER_BATCH}, after a warm-up batch)`,
      Alloy: `${mmlu.secPerItem.toFixed(2)} s per item`,
      anchor: c
        ? `its requests read ${n3(mmlu.forwardsPerItem)} token-forwards (${n3(mmlu.sharedPerItem)} with the context once): ${(mmlu.forwardsPerItem / c.tokPerSec).toFixed(3)} s (${(mmlu.sharedPerItem / c.tokPerSec).toFixed(3)} s) at llama2.c's speed`
        : `its requests read ${n3(mmlu.forwardsPerItem)} token-forwards (${n3(mmlu.sharedPerItem)} with the context once); llama2.c skipped`,
      'Alloy vs anchor': c ? `item = ${Math.round(mmlu.secPerItem * c.tokPerSec).toLocaleString('en-US')} llama2.c token-forwards` : '—',
    });
  }

  if (subject) {
    rows.push({
      work: `${subject.shots}-shot MMLU, ${subject.items} items of ${subject.subject} in one scoring call (the most shots whose prompts fit stories260K's 512 tokens, so every prompt opens with the same shots at the same positions)`,
      Alloy: `${subject.shared.secPerItem.toFixed(3)} s per item, ${n3(subject.shared.rowsPerItem)} rows run (the shared opening once)`,
      anchor: `the same requests without prefix sharing: ${subject.plain.secPerItem.toFixed(3)} s per item, ${n3(subject.plain.rowsPerItem)} rows`,
      'Alloy vs anchor': `${(subject.plain.secPerItem / subject.shared.secPerItem).toFixed(2)}× faster with the shared opening`,
    });
  }

  // ---- LoRA step, tiny Llama (synthetic f32 weights)
  const tiny = tinyLlamaConfig();
  const counter = countGpuCalls(ctx.device);
  let perStep: GpuCallCounts | null = null;
  let ours: Measured;
  try {
    // counted: the first step after warm-up (the wrappers cost well under 1 ms of a step's ~600 calls)
    ours = await alloySteps(ctx, kernels, tiny, syntheticCheckpoint(tiny, 'F32'), LORA.B, LORA.T, {
      steps: LORA.steps,
      warmup: LORA.warmup,
      r: LORA.r,
      alpha: LORA.alpha,
      onStep: (s) => {
        if (s === LORA.warmup) counter.reset();
        if (s === LORA.warmup + 1) perStep = counter.snapshot();
      },
    });
  } finally {
    counter.dispose();
  }
  rows.push({
    work: `LoRA step, tiny Llama D128 L4 H4 KV2 I352 V512 (f32), ${LORA.B} × ${LORA.T} tokens, r ${LORA.r}, all seven projections, CPT + clip + AdamW`,
    Alloy: `${n3(ours.tokPerSec)} tok/s`,
    anchor: torch ? `PyTorch ${torch.version} CPU, 2 threads: ${n3(torch.tokPerSec)} tok/s (1 thread: ${n3(torch.oneThreadTokPerSec)} tok/s)` : 'PyTorch: skipped (see note)',
    'Alloy vs anchor': torch ? `${(ours.tokPerSec / torch.tokPerSec).toFixed(2)}× PyTorch (${(ours.tokPerSec / torch.oneThreadTokPerSec).toFixed(2)}× its 1-thread run)` : '—',
  });
  rows.push({ work: `WebGPU calls per decoded token, stories260K (after ${COUNT_WARMUP_TOKENS} tokens, mean of ${COUNT_TOKENS})`, Alloy: countsText(perToken), anchor: '—', 'Alloy vs anchor': '—' });
  if (mmlu) rows.push({ work: 'WebGPU calls per 5-shot MMLU item, stories260K (the timed batch)', Alloy: countsText(mmlu.counts), anchor: '—', 'Alloy vs anchor': '—' });
  rows.push({ work: 'WebGPU calls per LoRA step, tiny Llama (the first step after warm-up)', Alloy: countsText(perStep!), anchor: '—', 'Alloy vs anchor': '—' });

  const suite: BenchSuite & Record<string, unknown> = {
    suite: 'throughput',
    adapter: ctx.adapterInfo.description,
    note:
      `After issue 14's dispatch layer, fused layer, GPU argmax and shared scoring rows: Alloy on SwiftShader (WGSL on the CPU; Dawn's robustness off, as the Node engine runs by default: ALLOY_ROBUSTNESS) on a shared 2-core host, anchors ` +
      `run on the same host in the same run. Decode: median of ${DECODE_RUNS} greedy generate() calls after a ` +
      `warm-up; llama2.c: median of ${LLAMA2C_RUNS} runs of its "achieved tok/s" (run.c -t 0 -n ${DECODE_TOKENS}). ` +
      `MMLU item time includes tokenizing and prompt building; "token-forwards" = the tokens the item's lm-eval ` +
      `requests make the model read, as scoreContinuations truncates them. LoRA: median of ${LORA.steps} steps after ` +
      `${LORA.warmup} warm-up; PyTorch = bench/lora_step_torch.py (the same step written in torch, ` +
      `torch.set_num_threads(2), and 1 for comparison, median of 10 steps after 2). API calls counted by src/engine/gpu/call-counter.ts. ` +
      `The machine is shared with other jobs, so times are noisy (1-min load average ${load0.toFixed(1)} at the start, ` +
      `${loadavg()[0]!.toFixed(1)} at the end of this run, on 2 cores); counts are exact.` +
      (notes.length ? ` Notes: ${notes.join('; ')}.` : ''),
    rows,
    figures: {
      loadAverage: { start: load0, end: loadavg()[0] },
      decode: { alloyTokPerSec: decodeTokPerSec, alloyRuns: decodeRuns, llama2cTokPerSec: c?.tokPerSec ?? null, llama2cRuns: c?.runs ?? null },
      decodeF16KvCache: { alloyTokPerSec: f16TokPerSec, alloyRuns: f16Runs, sameTextAsF32: f16Same },
      mmlu,
      lora: { alloyTokPerSec: ours.tokPerSec, alloyStepSec: ours.stepSec, torchTokPerSec: torch?.tokPerSec ?? null, torchOneThreadTokPerSec: torch?.oneThreadTokPerSec ?? null, torch: torch?.version ?? null },
      counts: { perToken, perStep },
    },
  };
  writeSuite(suite);
});
