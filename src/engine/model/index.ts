// The Llama-family model on the GPU: load, forward, KV-cache decoding, generation, log-likelihood scoring.
export { loadModel, type Model, type GpuMatrix, type GpuLinear, type GpuLayer, type WeightDtype, type LoadOptions } from './weights.ts';
export { forward, runForward, padBatch, type ForwardPlan, type KvTarget } from './forward.ts';
export { readLogits, releaseLogits, type GpuLogits, type LogitsBlock } from './head.ts';
export { planRowChunks, logitRowsPerBlock, bindableBytes, type SplitMatrix, type GpuMatrixChunk } from './split.ts';
export { planInferenceMemory, type MemoryPlan, type MemoryPlanOptions } from './memory.ts';
export { KV_DTYPES, kvElementBytes, parseKvDtype, type KvDtype } from '../kv-dtype.ts';
export { KvCache, prefill, step, stepGreedy, stepSample, type PrefillResult, type SampleStep } from './kv-cache.ts';
export { scoreContinuations, argmax, type ScoreRequest, type ScoreResult, type ScoreOptions, type ScoreStats } from './score.ts';
export { generate, type GenerateOptions, type GenerateResult, type FinishReason } from './generate.ts';
export { createRng, sampleToken, sampleTokenExact, samplingProbs, type SamplingOptions } from './sampling.ts';
export { warmKernels } from './warm.ts';
