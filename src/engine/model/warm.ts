/**
 * Kernel warm-up at model load: every pipeline the model's inference paths use is compiled before the first real
 * token, so a chat's first reply (and an eval's first item) does not pay shader compilation (on SwiftShader tens of
 * milliseconds per pipeline, on some drivers much more). Pipelines are keyed by (shader, entry, override constants)
 * and those constants follow the work's shape (matmul row groups by the number of rows, masked or unmasked
 * attention, …), so rather than list them (a list that would drift from the ops), the warm-up runs small pieces of
 * the same work: a ragged scoring batch (the same kernels as a plain forward, plus the log-prob gather), forwards
 * with every row's logits and prefills of 5, 9 and 16 tokens into a KV cache (one per matmul row-group count), a
 * greedy step and a sampled step. Every buffer goes back to the pool; the results are thrown away.
 */
import type { ProgressFn } from '../../io/progress.ts';
import { ProgressMeter } from '../../io/progress.ts';
import { drawBits, sampleParams } from '../ops/sample.ts';
import { forward } from './forward.ts';
import { prefill, stepGreedy, stepSample } from './kv-cache.ts';
import { slidingWindowOf } from './kv-ring.ts';
import { scoreContinuations } from './score.ts';
import type { Model } from './weights.ts';

/** Runs the warm-up pieces in order; `onProgress` counts them (items). */
export async function warmKernels(model: Model, onProgress?: ProgressFn): Promise<void> {
  const V = model.config.vocabSize;
  const maxPos = model.config.maxPositionEmbeddings;
  const ids = (n: number) => Array.from({ length: Math.min(n, maxPos - 1) }, (_, i) => (i * 7 + 1) % V);
  const pieces: Array<() => Promise<unknown>> = [
    // scoring: ragged rows (key mask, gathered logit rows, target log-probs)
    // and a prefix shared through a forked KV cache (a masked ragged run over cached keys)
    () =>
      scoreContinuations(model, [
        { context: ids(3), continuation: [1 % V] },
        { context: ids(1), continuation: [2 % V, 3 % V] },
        { context: ids(4), continuation: [1 % V, 2 % V] },
        { context: ids(4), continuation: [3 % V, 4 % V] },
      ]),
    ...[5, 9, 16].map((n) => async () => {
      // every row's logits once (the head's row-group count follows the rows asked, its column groups the vocab)
      await forward(model, [ids(n)]);
      const { cache } = await prefill(model, [ids(n)], { capacity: Math.min(n + 2, maxPos) });
      try {
        if (n === 16) {
          await stepGreedy(cache, [1 % V]);
          await stepSample(cache, [2 % V], { params: sampleParams({ temperature: 1, topK: 8, topP: 0.9 }), draws: Uint32Array.of(drawBits(0.5)) });
        }
      } finally {
        cache.release();
      }
      const W = slidingWindowOf(model.config);
      if (n === 16 && W > 0 && W + 8 <= maxPos) {
        // capacity W + 8 > (W − 1) + 4 prompt tokens: the sliding layers ring
        const ringed = (await prefill(model, [ids(4)], { capacity: W + 8 })).cache;
        try {
          await stepGreedy(ringed, [1 % V]);
        } finally {
          ringed.release();
        }
      }
    }),
  ];
  const meter = new ProgressMeter(pieces.length, onProgress, 'compiling kernels', 'items');
  for (const run of pieces) {
    await run();
    meter.add(1);
  }
}
