// Loading the fixture checkpoints (scripts/fixtures) for the model tests: the GPU model, and the weights the
// reference forward reads (every tensor decoded to f32 — for BF16 that is exactly what the GPU decodes).
import { join } from 'node:path';
import { ensureFixtures, OWNER, REVISION } from '../../../scripts/fixtures/index.ts';
import { parseModelConfig, type ModelConfig } from '../../../src/io/config.ts';
import { readJson } from '../../../src/io/model-files.ts';
import { dirModelFiles } from '../../../src/io/node/dir-model-files.ts';
import { openCheckpoint } from '../../../src/io/safetensors/checkpoint.ts';
import { BufferPool } from '../../../src/engine/gpu/buffer-pool.ts';
import { loadModel, type Model } from '../../../src/engine/model/index.ts';
import { referenceForward } from '../../../src/engine/reference/forward.ts';
import { testGpu, testKernels } from '../../helpers/gpu.ts';

const ROOT = 'public/hub';

export interface Fixture {
  name: string;
  config: ModelConfig;
  model: Model;
  weights: Map<string, Float32Array>;
  /** reference logits [T, V], float64 */
  reference(ids: readonly number[]): Float64Array;
}

let ready: Promise<unknown> | undefined;
let shared: Promise<{ pool: BufferPool; kernels: Awaited<ReturnType<typeof testKernels>> }> | undefined;

export function gpuShared() {
  shared ??= (async () => {
    const ctx = await testGpu();
    return { pool: new BufferPool(ctx.device), kernels: await testKernels() };
  })();
  return shared;
}

export async function loadFixture(name: string): Promise<Fixture> {
  ready ??= ensureFixtures(ROOT);
  await ready;
  const files = dirModelFiles(join(ROOT, OWNER, name, 'resolve', REVISION), `${OWNER}/${name}`);
  const config = parseModelConfig(await readJson(files, 'config.json'));
  const checkpoint = await openCheckpoint(files);
  const ctx = await testGpu();
  const { pool, kernels } = await gpuShared();
  const model = await loadModel(ctx, kernels, pool, checkpoint, config);
  const weights = new Map<string, Float32Array>();
  for (const n of checkpoint.names()) weights.set(n, await checkpoint.readF32(n));
  return {
    name,
    config,
    model,
    weights,
    reference: (ids) => referenceForward(config, (n) => weights.get(n)!, ids),
  };
}

/** A few token ids spread over the fixture vocabulary (384): specials, bytes, merges. */
export const SEQ = [1, 72, 101, 300, 108, 383, 2, 259, 5, 44, 17];

export function maxAbsDiff(a: ArrayLike<number>, b: ArrayLike<number>): number {
  if (a.length !== b.length) throw new Error(`length ${a.length} vs ${b.length}`);
  let m = 0;
  for (let i = 0; i < a.length; i++) m = Math.max(m, Math.abs(a[i]! - b[i]!));
  return m;
}

/** Greedy continuation with the CPU reference: argmax of the last row, appended, repeated. */
export function referenceGreedy(f: Fixture, prompt: readonly number[], n: number): { tokens: number[]; margins: number[] } {
  const seq = [...prompt];
  const tokens: number[] = [];
  const margins: number[] = [];
  const V = f.config.vocabSize;
  for (let i = 0; i < n; i++) {
    const logits = f.reference(seq);
    const row = logits.subarray((seq.length - 1) * V, seq.length * V);
    let best = 0;
    for (let v = 1; v < V; v++) if (row[v]! > row[best]!) best = v;
    let second = -Infinity;
    for (let v = 0; v < V; v++) if (v !== best) second = Math.max(second, row[v]!);
    margins.push(row[best]! - second);
    tokens.push(best);
    seq.push(best);
  }
  return { tokens, margins };
}
