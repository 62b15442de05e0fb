// "Load as 4-bit" in the worker: a cached 16/32-bit model quantised tensor by tensor (io/quantize-model.ts) into a
// new cache entry written like an import (store.ts: chunks under a partial record, manifest last; a cancel or an
// error aborts the writer, so the entry is complete or absent), and the quick perplexity the Models panel shows
// beside it: each model loaded on the GPU in turn and scored on the same held-out documents (engine/eval).
import { AlloyError, CancelledError, isCancelled, throwIfAborted } from '../common/errors.ts';
import type { ByteSink } from '../io/bytes.ts';
import { createEntryWriter } from '../io/cache/store.ts';
import { shortName } from '../io/cache/names.ts';
import { ProgressMeter, type ProgressFn } from '../io/progress.ts';
import { presetName, quantizeModel } from '../io/quantize-model.ts';
import { evaluateVariant } from '../engine/recipe/benchmark-step.ts';
import { GPU_QUANT_TYPES, isGpuQuantType } from '../engine/ops/quant-layout.ts';
import { parseModelConfig } from '../io/config.ts';
import { readJson } from '../io/model-files.ts';
import type { QuantizeSummary } from '../io/quantize-model.ts';
import type { ExportDeps } from './export.ts';
import { gpuEngine } from './gpu-state.ts';
import type { QuickPerplexity, QuickPerplexityRequest, QuantizeRequest, QuantizeResult } from './quantize-api.ts';

const BLOCK_TYPE = /^Q\d/;

/**
 * What the GPU will not keep packed (weights.ts): block types other than ops/quant-layout.ts GPU_QUANT_TYPES (none
 * of the presets' choices today, Q4_K_M's Q5_0 fallbacks included; the check stays for what the table lacks) and a Gemma embedding (its scaled gather reads 16/32-bit tables) are de-quantised to f32 at load, so they take
 * more GPU memory than in the source's 16 bits; said plainly, with the preset that avoids it.
 */
export function gpuWarnings(s: QuantizeSummary, scaleEmbedding: boolean): string[] {
  const out: string[] = [];
  const unpacked = Object.entries(s.types).filter(([t]) => BLOCK_TYPE.test(t) && !isGpuQuantType(t));
  if (unpacked.length > 0) {
    const list = unpacked.map(([t, e]) => `${t} × ${e.count}`).join(', ');
    out.push(`${list} ${unpacked.length === 1 && unpacked[0]![1].count === 1 ? 'is' : 'are'} de-quantised to f32 when loaded on the GPU (only ${Object.keys(GPU_QUANT_TYPES).join(', ')} stay packed)`);
  }
  if (scaleEmbedding && BLOCK_TYPE.test(s.embedding)) {
    out.push(`the token embedding (${s.embedding}) is de-quantised to f32 on the GPU: Gemma's scaled embedding gather reads 16/32-bit tables`);
  }
  return out;
}

export async function quantizeCachedModel(deps: ExportDeps, req: QuantizeRequest, signal: AbortSignal, onProgress?: ProgressFn): Promise<QuantizeResult> {
  const cache = await deps.cache();
  const source = await cache.getSummary(req.modelId);
  if (!source) throw new AlloyError(`No cached model with id ${req.modelId} (it may have been deleted in another tab)`);
  const files = await deps.files(req.modelId);
  const name = presetName(req.type);
  const base = shortName(source);
  const writer = await createEntryWriter(cache, { label: `${base} ${name}`, source: 'merge', repo: 'quantize', lineage: { base: source.label, stage: name } });
  let meter: ProgressMeter | null = null;
  const sinkFor = async (file: string): Promise<ByteSink> => {
    const sink = await writer.openSink(file);
    return {
      async write(b) {
        throwIfAborted(signal, 'quantisation');
        await sink.write(b);
        if (req.debugDelayMs) await new Promise((r) => setTimeout(r, req.debugDelayMs));
      },
      close: () => sink.close(),
    };
  };
  try {
    const summary = await quantizeModel(files, sinkFor, {
      preset: req.type,
      signal,
      // progress over weights (elements), so a big embedding counts for what it costs
      onPlan: (plan) => (meter = new ProgressMeter(plan.reduce((n, t) => n + t.shape.reduce((a, b) => a * b, 1), 0), onProgress, `quantising to ${name}`, 'items')),
      onTensor: (t) => meter?.add(t.shape.reduce((a, b) => a * b, 1), t.name),
    });
    throwIfAborted(signal, 'quantisation');
    const entry = await writer.commit();
    (meter as ProgressMeter | null)?.finish();
    const cfg = parseModelConfig(await readJson(files, 'config.json'));
    return { entry, summary, sourceTotalBytes: source.totalBytes, gpuWarnings: gpuWarnings(summary, cfg.scaleEmbedding) };
  } catch (e) {
    await writer.abort();
    throw isCancelled(e) && !(e instanceof CancelledError) ? new CancelledError('quantisation') : e;
  }
}

/** Each model's perplexity on the same documents, one model on the GPU at a time. */
export async function quickPerplexity(deps: ExportDeps, req: QuickPerplexityRequest, signal: AbortSignal, onProgress?: ProgressFn): Promise<QuickPerplexity[]> {
  if (req.docs.length === 0) throw new AlloyError('no held-out text to score');
  const meter = new ProgressMeter(req.docs.length * req.modelIds.length, onProgress, 'scoring held-out text', 'items');
  meter.skip(0);
  const out: QuickPerplexity[] = [];
  for (const id of req.modelIds) {
    throwIfAborted(signal, 'perplexity');
    const files = await deps.files(id);
    const gpu = await gpuEngine();
    const t0 = performance.now();
    try {
      const r = await evaluateVariant({ gpu, files, items: [], docs: req.docs, signal, onDocument: () => meter.add(1, files.label) });
      const p = r.perplexity!;
      out.push({ modelId: id, tokenPerplexity: p.tokenPerplexity, bitsPerByte: p.bitsPerByte, tokens: p.tokens, seconds: (performance.now() - t0) / 1000 });
    } finally {
      gpu.pool.trim();
    }
  }
  meter.finish();
  return out;
}
