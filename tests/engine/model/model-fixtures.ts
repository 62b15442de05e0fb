// Loading the fixture checkpoints (scripts/fixtures) for the model tests: the GPU model, and the weights the
// reference forward reads (every tensor decoded to f32 — for BF16 that is exactly what the GPU decodes).
import { join } from 'node:path';
import { ensureFixtures, OWNER, REVISION } from '../../../scripts/fixtures/index.ts';
import { parseModelConfig, type ModelConfig } from '../../../src/io/config.ts';
import { readJson } from '../../../src/io/model-files.ts';
import { dirModelFiles } from '../../../src/io/node/dir-model-files.ts';
import { openCheckpoint, type Checkpoint } from '../../../src/io/safetensors/checkpoint.ts';
import { decodeToF32, encodeFromF32 } from '../../../src/io/safetensors/dtypes.ts';
import { BufferPool } from '../../../src/engine/gpu/buffer-pool.ts';
import { loadModel, type LoadOptions, type Model } from '../../../src/engine/model/index.ts';
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

export interface FixtureOptions {
  load?: LoadOptions;
  /** store every matrix as BF16 (rounded from the fixture's F32): a BF16 variant of any fixture, untied included */
  bf16?: boolean;
  /** fields laid over the fixture's config.json before parsing (e.g. a rope_scaling the checkpoint does not have) */
  configOverrides?: Record<string, unknown>;
}

/** The checkpoint with its 2-D tensors rounded to BF16 and stored as BF16, as a BF16 checkpoint on disk would be. */
export function asBf16(base: Checkpoint): Checkpoint {
  const isMatrix = (name: string) => base.info(name).shape.length === 2;
  const raw = async (name: string) => encodeFromF32('BF16', await base.readF32(name));
  const info = (name: string) => {
    const i = base.info(name);
    return isMatrix(name) ? { ...i, dtype: 'BF16' as const, end: i.begin + i.shape.reduce((a, b) => a * b, 1) * 2 } : i;
  };
  return {
    files: base.files,
    tensors: new Map([...base.tensors].map(([n, t]) => [n, { file: t.file, info: info(n) }])),
    names: () => base.names(),
    info,
    readRaw: async (name) => (isMatrix(name) ? raw(name) : base.readRaw(name)),
    readF32: async (name) => (isMatrix(name) ? decodeToF32('BF16', await raw(name)) : base.readF32(name)),
  };
}

export async function loadFixture(name: string, opts: FixtureOptions = {}): Promise<Fixture> {
  ready ??= ensureFixtures(ROOT);
  await ready;
  const files = dirModelFiles(join(ROOT, OWNER, name, 'resolve', REVISION), `${OWNER}/${name}`);
  const json = await readJson(files, 'config.json');
  const config = parseModelConfig(opts.configOverrides ? { ...(json as object), ...opts.configOverrides } : json);
  let checkpoint = await openCheckpoint(files);
  if (opts.bf16) checkpoint = asBf16(checkpoint);
  const ctx = await testGpu();
  const { pool, kernels } = await gpuShared();
  const model = await loadModel(ctx, kernels, pool, checkpoint, config, opts.load);
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
/**
 * Tolerance between two GPU runs of one model that should agree (decode against the full forward, a padded batch
 * against a row alone, a ring cache against a whole one). The software family's kernels sum in the same order
 * whatever the shape: 1e-6. The hardware family's mat-vec (decode), tiled matmul and split-K sum in shape-dependent
 * orders: measured up to 1.3e-5 on SwiftShader (tiny-gemma3 decoding through its ring), so 2e-5. Family: the
 * model's, as ALLOY_KERNELS or the adapter chose it.
 */
export function gpuVsGpuTolerance(model: Model): number {
  return model.kernels.family === 'hardware' ? 2e-5 : 1e-6;
}

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
