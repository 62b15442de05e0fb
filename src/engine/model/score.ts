/**
 * Log-likelihood of continuations given contexts, as lm-evaluation-harness's `loglikelihood`: the model reads
 * (context + continuation)[:-1] (left-truncated to max_position_embeddings + 1 tokens first), and the
 * continuation's tokens are scored at the positions that predict them. Returns the summed log-prob, the
 * per-token log-probs, and whether every continuation token is the argmax (lm-eval's is_greedy).
 *
 * Requests that read the same tokens share one row of the forward: lm-eval's multiple-choice requests of one
 * item have one context, and when every choice is a single token (MMLU's " A".." D") their inputs are identical,
 * so an item costs one context forward instead of one per choice; each request still gets its own scored rows
 * (logitRows may name a row twice) and so exactly the numbers it would get alone.
 *
 * Requests that share tokens before their first scored row share that prefix's work: lm-eval's choices of one item
 * (multi-token answers) share the context, and the items of a few-shot task share the examples that open every
 * prompt. The prefix runs once into a one-row KV cache, the cache is forked into one row per distinct input (its
 * keys and values copied, kv-cache.ts fork), and the rest of every input runs as one ragged step over it, the head
 * computed only for the scored rows. The kernels are the plain path's, reading the same keys, so the numbers match
 * it within float reordering (tests/engine/model/prefix-score.gpu.test.ts). Used only where it runs fewer rows
 * than the plain batches would (sharePrefixes).
 *
 * Memory layout: a batch is right-padded [batch, T]; logits are computed only for the R scored rows [R, vocab]
 * (forward.ts gathers them before the head), in row blocks that each fit one binding (head.ts); log-probs are
 * gathered on the GPU (logsoftmax.wgsl) per block as f32 [block rows], and the [R, vocab] logits come back once
 * for the argmax check.
 */
import { AlloyError } from '../../common/errors.ts';
import { readBuffer } from '../gpu/buffer-pool.ts';
import { encodeTargetLogProb } from '../ops/logsoftmax.ts';
import { padBatch, runForward } from './forward.ts';
import { readLogits, releaseLogits, type GpuLogits } from './head.ts';
import { KvCache } from './kv-cache.ts';
import { assertLive, type Model } from './weights.ts';

export interface ScoreRequest {
  context: readonly number[];
  continuation: readonly number[];
}

export interface ScoreResult {
  /** Σ log p(continuation token | everything before it) */
  logProb: number;
  tokenLogProbs: number[];
  /** every continuation token is the model's argmax at its position */
  greedy: boolean;
}

export interface ScoreOptions {
  /** requests per forward pass (default 8) */
  batchSize?: number;
  /** called after each batch with requests done so far */
  onProgress?: (done: number, total: number) => void;
  /** run shared prefixes once through a KV cache where that saves rows (default true) */
  sharePrefix?: boolean;
  /** counts the work, added to (tests and benchmarks compare the two paths) */
  stats?: ScoreStats;
}

export interface ScoreStats {
  forwards: number;
  /** token rows run through the layers (batch·T per forward, padding included) */
  rows: number;
}

interface Prepared {
  index: number;
  input: number[];
  /** position in input of the first scored row; continuation token j is predicted at start + j */
  start: number;
  continuation: readonly number[];
}

/** One row of a forward: an input and every request that reads exactly it. */
interface SharedRow {
  input: number[];
  members: Prepared[];
}

/** Groups requests by identical input (first-seen order within a group keeps request order). */
function shareRows(prepared: readonly Prepared[]): SharedRow[] {
  const rows = new Map<string, SharedRow>();
  for (const p of prepared) {
    const key = p.input.join(',');
    const row = rows.get(key);
    if (row) row.members.push(p);
    else rows.set(key, { input: p.input, members: [p] });
  }
  return [...rows.values()];
}

function prepare(req: ScoreRequest, index: number, maxLen: number): Prepared {
  if (req.context.length === 0) {
    // lm-eval substitutes the EOT token; we leave that choice to the caller, who knows the tokenizer.
    throw new AlloyError(`request ${index}: empty context (pass e.g. the BOS/EOS token as the context)`);
  }
  if (req.continuation.length === 0) throw new AlloyError(`request ${index}: empty continuation`);
  if (req.continuation.length > maxLen) {
    throw new AlloyError(`request ${index}: continuation of ${req.continuation.length} tokens exceeds max_position_embeddings (${maxLen})`);
  }
  const whole = [...req.context, ...req.continuation].slice(-(maxLen + 1));
  const input = whole.slice(0, -1);
  return { index, input, start: input.length - req.continuation.length, continuation: req.continuation };
}

export async function scoreContinuations(
  model: Model,
  requests: readonly ScoreRequest[],
  opts: ScoreOptions = {},
): Promise<ScoreResult[]> {
  assertLive(model);
  const batchSize = Math.max(1, opts.batchSize ?? 8);
  const all = requests.map((r, i) => prepare(r, i, model.config.maxPositionEmbeddings));
  const { groups, prepared } = opts.sharePrefix === false ? { groups: [], prepared: all } : sharePrefixes(all, batchSize);
  const stats = opts.stats ?? { forwards: 0, rows: 0 };
  const results = new Array<ScoreResult>(requests.length);
  let done = 0;
  for (const group of groups) {
    const scored = await scorePrefixGroup(model, group, batchSize, stats);
    group.rows.flatMap((row) => row.members).forEach((p, j) => (results[p.index] = scored[j]!));
    done += scored.length;
    opts.onProgress?.(done, requests.length);
  }
  // Longest first, as lm-eval does: similar lengths share a batch (less padding) and memory trouble shows early.
  const order = shareRows(prepared).sort((a, b) => b.input.length - a.input.length || a.members[0]!.index - b.members[0]!.index);
  for (let i = 0; i < order.length; i += batchSize) {
    const chunk = order.slice(i, i + batchSize);
    const members = chunk.flatMap((row) => row.members);
    const scored = await scoreBatch(model, chunk, stats);
    members.forEach((p, j) => (results[p.index] = scored[j]!));
    done += members.length;
    opts.onProgress?.(done, requests.length);
  }
  return results;
}

/** Requests whose inputs agree on a prefix that ends at or before every member's first scored row. */
interface PrefixGroup {
  prefix: number[];
  rows: SharedRow[];
}

/**
 * Groups the distinct inputs by shared prefix, across requests and items: lm-eval's choices of one item share
 * their context, and the items of one few-shot task share the few-shot examples at the start of every prompt
 * (when truncation has not shifted them: inputs are compared after it, so tokens only meet at the same positions).
 * In lexicographic order, inputs with a common prefix sit together; a run grows while one cached prefix plus
 * its members' suffixes costs fewer rows than running the newcomer on its own (sharedCost). Runs where the
 * cache saves rows go to the cache path, the rest stay in `prepared` for the plain batches.
 */
function sharePrefixes(all: readonly Prepared[], batchSize: number): { groups: PrefixGroup[]; prepared: Prepared[] } {
  const rows = shareRows(all).sort((a, b) => compareTokens(a.input, b.input));
  // a prefix must end at or before every member's first scored row (the prefix run computes no logits)
  const limit = (r: SharedRow) => Math.min(...r.members.map((p) => p.start));
  const groups: PrefixGroup[] = [];
  const prepared: Prepared[] = [];
  const close = (run: SharedRow[], P: number) => {
    if (run.length >= 2 && P >= 2 && sharedCost(P, run, batchSize) < plainCost(run)) groups.push({ prefix: run[0]!.input.slice(0, P), rows: run });
    else prepared.push(...run.flatMap((r) => r.members));
  };
  let run: SharedRow[] = [];
  let P = 0;
  for (const row of rows) {
    if (run.length > 0) {
      const merged = Math.min(P, commonPrefix(run.at(-1)!.input, row.input), limit(row));
      if (merged >= 2 && runCost([...run, row], merged, batchSize) < runCost(run, P, batchSize) + row.input.length) {
        run.push(row);
        P = merged;
        continue;
      }
      close(run, P);
    }
    run = [row];
    P = limit(row);
  }
  if (run.length > 0) close(run, P);
  return { groups, prepared };
}

function compareTokens(a: readonly number[], b: readonly number[]): number {
  for (let i = 0; i < Math.min(a.length, b.length); i++) if (a[i] !== b[i]) return a[i]! - b[i]!;
  return a.length - b.length;
}

function commonPrefix(a: readonly number[], b: readonly number[]): number {
  let i = 0;
  while (i < a.length && i < b.length && a[i] === b[i]) i++;
  return i;
}

/** Rows the plain batches run for these inputs (padding aside). */
function plainCost(rows: readonly SharedRow[]): number {
  return rows.reduce((a, r) => a + r.input.length, 0);
}

/** Rows the cache path runs: the prefix once, then per chunk of batchSize inputs each padded to the chunk's longest suffix. */
function sharedCost(P: number, rows: readonly SharedRow[], batchSize: number): number {
  const suffixes = rows.map((r) => r.input.length - P);
  let cost = P;
  for (let i = 0; i < suffixes.length; i += batchSize) {
    const chunk = suffixes.slice(i, i + batchSize);
    cost += chunk.length * Math.max(...chunk);
  }
  return cost;
}

/** The cheaper of the two paths for one run (a lone input, or a prefix under 2 tokens, takes the plain one). */
function runCost(rows: readonly SharedRow[], P: number, batchSize: number): number {
  const plain = plainCost(rows);
  return rows.length >= 2 && P >= 2 ? Math.min(plain, sharedCost(P, rows, batchSize)) : plain;
}

/**
 * The prefix once into a one-row cache (no head), then per chunk of `batchSize` distinct inputs a fork of it and
 * one ragged run of the rest of each input, logits only for the scored rows. Results in the order of rows, then members.
 */
async function scorePrefixGroup(model: Model, group: PrefixGroup, batchSize: number, stats: ScoreStats): Promise<ScoreResult[]> {
  const P = group.prefix.length;
  const suffixes = group.rows.map((r) => r.input.slice(P));
  const root = KvCache.create(model, 1, P + Math.max(...suffixes.map((x) => x.length)));
  const out: ScoreResult[] = [];
  try {
    await root.runLogits(Uint32Array.from(group.prefix), P, [P], new Uint32Array(0));
    stats.forwards++;
    stats.rows += P;
    for (let i = 0; i < group.rows.length; i += batchSize) {
      const chunk = group.rows.slice(i, i + batchSize);
      const { ids, T } = padBatch(suffixes.slice(i, i + batchSize));
      // every member's scored rows: continuation[j] is predicted at input position start + j, suffix row start − P + j
      const members = chunk.flatMap((row, b) => row.members.map((p) => ({ p, b })));
      const rows = members.flatMap(({ p, b }) => p.continuation.map((_, j) => b * T + p.start - P + j));
      const cache = root.fork(chunk.length);
      try {
        const logits = await cache.runLogits(ids, T, chunk.map((r) => r.input.length - P), Uint32Array.from(rows));
        stats.forwards++;
        stats.rows += chunk.length * T;
        out.push(...(await scoreLogits(model, logits, members.map(({ p }) => p))));
      } finally {
        cache.release();
      }
    }
  } finally {
    root.release();
  }
  return out;
}

/** Scores every member of the rows (results in the order of rows, then members). */
async function scoreBatch(model: Model, batch: readonly SharedRow[], stats: ScoreStats): Promise<ScoreResult[]> {
  const { ids, mask, T } = padBatch(batch.map((p) => p.input));
  const B = batch.length;
  const positions = new Uint32Array(B * T);
  for (let i = 0; i < B * T; i++) positions[i] = i % T;
  const rows: number[] = [];
  const members = batch.flatMap((row, b) => row.members.map((p) => ({ p, b })));
  for (const { p, b } of members) p.continuation.forEach((_, j) => rows.push(b * T + p.start + j));
  const logits = await runForward(model, { batch: B, T, ids, positions, mask, kv: null, logitRows: Uint32Array.from(rows) });
  stats.forwards++;
  stats.rows += B * T;
  return scoreLogits(model, logits, members.map(({ p }) => p));
}

/**
 * The members' results from their scored rows' logits (row r = the members' continuation tokens in order): the
 * target log-probs gathered on the GPU per block, the logits read back once for is_greedy. Releases the logits.
 */
async function scoreLogits(model: Model, logits: GpuLogits, members: readonly Prepared[]): Promise<ScoreResult[]> {
  const { device, kernels, pool } = model;
  const V = model.config.vocabSize;
  const targets = members.flatMap((p) => [...p.continuation]);
  const logp = new Float32Array(logits.rows);
  try {
    for (const block of logits.blocks) {
      const n = block.rows;
      const targetBuf = pool.upload(Uint32Array.from(targets.slice(block.row0, block.row0 + n)), 'targets');
      const picked = pool.alloc(n * 4, 'target-logp');
      try {
        const enc = device.createCommandEncoder({ label: 'score' });
        await encodeTargetLogProb(kernels, enc, block.buffer, targetBuf, picked, { rows: n, vocab: V });
        device.queue.submit([enc.finish()]);
        logp.set(new Float32Array(await readBuffer(device, picked, n * 4)), block.row0);
      } finally {
        pool.release(targetBuf);
        pool.release(picked);
      }
    }
  } catch (e) {
    releaseLogits(pool, logits);
    throw e;
  }
  const all = await readLogits(model, logits);

  let r = 0;
  return members.map((p) => {
    const tokenLogProbs: number[] = [];
    let greedy = true;
    for (const tok of p.continuation) {
      tokenLogProbs.push(logp[r]!);
      // torch.argmax picks the first maximum; a tie with an earlier token is not greedy.
      if (argmax(all, r * V, V) !== tok) greedy = false;
      r++;
    }
    return { logProb: tokenLogProbs.reduce((a, b) => a + b, 0), tokenLogProbs, greedy };
  });
}

/** Index of the first maximum of row [offset, offset + n). */
export function argmax(x: ArrayLike<number>, offset: number, n: number): number {
  let best = 0;
  for (let i = 1; i < n; i++) if (x[offset + i]! > x[offset + best]!) best = i;
  return best;
}
