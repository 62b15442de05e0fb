// The worker's benchmark job: several cached models scored on the same multiple-choice items, one model on the GPU
// at a time (uploaded, scored, disposed and the pool trimmed before the next), each item's result streamed to the
// UI as soon as its batch is scored. Prompts, scoring and token split are exactly `alloy eval`'s (buildPrompt,
// evaluateMultipleChoice, encodePairs, scoreContinuations): the page shows the engine's numbers, unrounded.
import { AlloyError, CancelledError, isCancelled, throwIfAborted } from '../common/errors.ts';
import { ProgressMeter, type ProgressFn } from '../io/progress.ts';
import { readJson, type ModelFiles } from '../io/model-files.ts';
import { parseModelConfig } from '../io/config.ts';
import { openCheckpoint } from '../io/safetensors/checkpoint.ts';
import type { AlloyTokenizer } from '../io/tokenizer.ts';
import { loadModel, scoreContinuations } from '../engine/model/index.ts';
import { encodePairs, evaluateMultipleChoice, type ItemResult, type MultipleChoiceItem } from '../engine/eval/multiple-choice.ts';
import { buildPrompt, GENERIC_FORMAT, mmluFormat, type ApplyChatTemplate } from '../engine/eval/prompts.ts';
import type { BenchmarkItemResult } from '../common/benchmark-run.ts';
import { gpuEngine } from './gpu-state.ts';
import type { BenchmarkItemUpdate, BenchmarkRequest, BenchmarkResult } from './api.ts';

export interface BenchmarkDeps {
  files(id: string): Promise<ModelFiles>;
  tokenizer(id: string): Promise<AlloyTokenizer>;
}

/** items per scoring call: small enough that results stream, large enough to batch the forward (as alloy eval) */
const ITEMS_PER_BATCH = 4;

/** How a model reads the items, as `alloy eval` builds them (few-shot from the whole benchmark, MMLU's template). */
export function promptFor(tok: AlloyTokenizer, req: Pick<BenchmarkRequest, 'benchmark' | 'fewShot' | 'chatTemplate'>) {
  const chat: ApplyChatTemplate | null = req.chatTemplate ? (msgs, o) => tok.applyChatTemplate(msgs, o) : null;
  return buildPrompt(req.benchmark.items, {
    shots: req.fewShot,
    format: req.benchmark.format === 'mmlu' ? (it) => mmluFormat(it.category ?? 'unknown') : () => GENERIC_FORMAT,
    chat,
  });
}

/** Token ids as scored: a chat-rendered prompt already holds its special tokens, so none are added to it. */
export function encoderFor(tok: AlloyTokenizer, chatTemplate: boolean): (text: string) => number[] {
  return chatTemplate ? (t) => tok.encode(t, { addSpecialTokens: false }) : (t) => tok.encode(t);
}

export function toItemResult(item: MultipleChoiceItem, index: number, r: ItemResult): BenchmarkItemResult {
  return {
    index,
    question: item.question,
    ...(item.category ? { category: item.category } : {}),
    context: r.context,
    continuations: r.continuations,
    logprobs: r.logProbs,
    answer: r.answer,
    pred: r.pred,
    predNorm: r.predNorm,
    correct: r.correct,
    correctNorm: r.correctNorm,
  };
}

function validate(req: BenchmarkRequest): number {
  if (req.models.length === 0) throw new AlloyError('choose at least one model to benchmark', { field: 'models' });
  const total = req.benchmark.items.length;
  if (total === 0) throw new AlloyError(`${req.benchmark.name} has no items`, { file: req.benchmark.name });
  if (req.limit !== null && (!Number.isInteger(req.limit) || req.limit < 1)) throw new AlloyError('the item limit must be a whole number ≥ 1 (or empty for all)', { field: 'limit' });
  if (!Number.isInteger(req.fewShot) || req.fewShot < 0) throw new AlloyError('few-shot k must be a whole number ≥ 0', { field: 'fewShot' });
  return Math.min(total, req.limit ?? total);
}

export async function runBenchmark(
  deps: BenchmarkDeps,
  req: BenchmarkRequest,
  signal: AbortSignal,
  onItem?: (u: BenchmarkItemUpdate) => void,
  onProgress?: ProgressFn,
): Promise<BenchmarkResult> {
  const n = validate(req);
  const items = req.benchmark.items.slice(0, n);
  const started = performance.now();
  // Refuse before any upload: every tokenizer must load, and have a chat template when one is asked for.
  const toks: AlloyTokenizer[] = [];
  for (const m of req.models) {
    const tok = await deps.tokenizer(m.id);
    if (req.chatTemplate && !tok.hasChatTemplate) {
      throw new AlloyError(`${m.label} has no chat template (tokenizer_config.json has no chat_template): turn "chat template" off, or leave this model out.`, { field: 'chatTemplate' });
    }
    toks.push(tok);
  }
  const meter = new ProgressMeter(n * req.models.length, onProgress, 'scoring', 'items');
  meter.skip(0);
  const perModel: BenchmarkResult['models'] = [];
  for (const [mi, m] of req.models.entries()) {
    throwIfAborted(signal, 'benchmark');
    const t0 = performance.now();
    const tok = toks[mi]!;
    const files = await deps.files(m.id);
    const config = parseModelConfig(await readJson(files, 'config.json'), `${files.label}/config.json`);
    const checkpoint = await openCheckpoint(files);
    const engine = await gpuEngine();
    meter.add(0, `uploading ${m.label}`);
    const model = await loadModel(engine.ctx, engine.kernels, engine.pool, checkpoint, config, { activations: req.activations ?? 'f32' });
    let peak = engine.pool.stats().peakBytes;
    try {
      const encode = encoderFor(tok, req.chatTemplate);
      await evaluateMultipleChoice(
        items,
        async (reqs) => {
          const scored = await scoreContinuations(model, encodePairs(encode, reqs));
          peak = Math.max(peak, engine.pool.stats().peakBytes);
          if (req.debugDelayMs) await new Promise((r) => setTimeout(r, req.debugDelayMs));
          return scored.map((s) => s.logProb);
        },
        {
          prompt: promptFor(tok, req),
          itemsPerBatch: ITEMS_PER_BATCH,
          signal,
          onItem: (r, i) => {
            onItem?.({ model: mi, modelId: m.id, item: toItemResult(items[i]!, i, r) });
            meter.add(1, m.label);
          },
        },
      );
    } catch (e) {
      throw isCancelled(e) && !(e instanceof CancelledError) ? new CancelledError('benchmark') : e;
    } finally {
      model.dispose();
      engine.pool.trim();
    }
    perModel.push({ id: m.id, seconds: (performance.now() - t0) / 1000, peakBytes: peak });
  }
  meter.finish();
  return { items: n, seconds: (performance.now() - started) / 1000, models: perModel };
}
