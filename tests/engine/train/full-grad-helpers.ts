// Shared by the full-gradient tests (full-grad.gpu.test.ts, full-grad-hardware.gpu.test.ts): the fixtures, the
// batches, one full pass read back by HF name, and its check against float64 central finite differences (see
// full-grad.gpu.test.ts for what is checked and the tolerances).
import { expect } from 'vitest';
import { expectedTensorShapes } from '../../../src/io/config.ts';
import { referenceForward } from '../../../src/engine/reference/forward.ts';
import { lossAndGrads, type PassOptions } from '../../../src/engine/train/grad.ts';
import { readFullGrads, type FullParams } from '../../../src/engine/train/full-params.ts';
import { computeObjective, gatherLogp, needsReference, objectiveTargets, referenceLogps, type Method, type Sequence } from '../../../src/engine/train/objectives.ts';
import { mulberry32 } from '../../../src/common/random.ts';
import { gpuShared, loadFixture, type Fixture, type FixtureOptions } from '../model/model-fixtures.ts';

export const H = 1e-4;
export const PER_TENSOR = 3;
export const GRAD_TOL = 3e-5;
export const LOSS_TOL = 5e-7;

const loaded = new Map<string, Fixture>();
/** Disposes every fixture loaded here and the shared pool (a test file's afterAll). */
export async function disposeFixtures(): Promise<void> {
  for (const f of loaded.values()) f.model.dispose();
  loaded.clear();
  (await gpuShared()).pool.destroyAll();
}

export async function fixture(key: string, name: string, opts: FixtureOptions = {}): Promise<Fixture> {
  let f = loaded.get(key);
  if (!f) loaded.set(key, (f = await loadFixture(name, opts)));
  return f;
}

export const seq = (ids: number[], promptLen = 0): Sequence => ({ ids, promptLen });
export const PAIRS = [seq([1, 50, 60, 70, 80, 2], 3), seq([1, 90, 91, 92, 2], 2), seq([1, 50, 60, 33, 34, 35, 2], 3), seq([1, 90, 7, 2], 2)];
export const BATCHES: Record<Method, Sequence[]> = {
  cpt: [seq([1, 72, 101, 300, 108, 383, 2, 259, 5, 44]), seq([1, 17, 250, 3, 9, 77, 12])],
  sft: [seq([1, 72, 101, 300, 108, 383, 2, 259, 5], 4), seq([1, 44, 17, 250, 3, 9, 77, 12, 40, 41, 2], 3)],
  dpo: PAIRS,
  ipo: PAIRS,
  orpo: PAIRS,
};
export const BETA = { dpo: 0.5, ipo: 0.5, orpo: 0.3 } as Record<Method, number>;

/** One pass's loss and every gradient by HF name (cleared first). */
export async function gpuFull(f: Fixture, full: FullParams, method: Method, pass: PassOptions = {}, refLogps?: number[]) {
  const r = await lossAndGrads(f.model, null, method, BATCHES[method], { beta: BETA[method], ...(refLogps ? { refLogps } : {}) }, { ...pass, full, clearGrads: true });
  const grads = new Map<string, { shape: readonly number[]; data: Float32Array }>();
  for (const t of await readFullGrads(f.model, full)) {
    const bytes = t.data as Uint8Array;
    grads.set(t.name, { shape: t.shape, data: new Float32Array(bytes.buffer, bytes.byteOffset, bytes.byteLength / 4) });
  }
  return { loss: r.loss, grads };
}

/** The largest error of any tensor (and the loss's), after checking names and shapes against the checkpoint's. */
export function checkAgainstFd(f: Fixture, method: Method, gpu: Awaited<ReturnType<typeof gpuFull>>, givenRef?: number[]): { lossErr: number; worst: number; worstName: string } {
  const cfg = f.config;
  const V = cfg.vocabSize;
  const shapes = expectedTensorShapes(cfg);
  expect([...gpu.grads.keys()]).toEqual([...shapes.keys()]);
  for (const [name, shape] of shapes) expect(gpu.grads.get(name)!.shape).toEqual(shape);

  const seqs = BATCHES[method];
  const beta = BETA[method];
  const w64 = new Map([...f.weights].map(([n, w]) => [n, Float64Array.from(w)] as const));
  const targets = objectiveTargets(method, seqs);
  const logps = () => seqs.map((s, i) => gatherLogp(referenceForward(cfg, (n) => w64.get(n)!, s.ids), V, targets[i]!));
  const refLogps = givenRef ?? (needsReference(method) ? referenceLogps(method, seqs, logps()) : undefined);
  const loss = () => computeObjective(method, seqs, logps(), { beta, refLogps }).loss;
  const want = loss();
  const lossErr = Math.abs(gpu.loss - want) / Math.abs(want);

  const rand = mulberry32(7);
  const ids = [...new Set(seqs.flatMap((s) => s.ids))];
  let worst = 0;
  let worstName = '';
  for (const name of shapes.keys()) {
    const g = gpu.grads.get(name)!.data;
    const w = w64.get(name)!;
    let scale = 0;
    let top = 0;
    g.forEach((x, i) => {
      if (Math.abs(x) > scale) [scale, top] = [Math.abs(x), i];
    });
    expect(scale, name).toBeGreaterThan(0);
    const C = cfg.hiddenSize;
    const pick = () => (name === 'model.embed_tokens.weight' ? ids[Math.floor(rand() * ids.length)]! * C + Math.floor(rand() * C) : Math.floor(rand() * w.length));
    let err = 0;
    for (const i of [top, ...Array.from({ length: PER_TENSOR }, pick)]) {
      const keep = w[i]!;
      w[i] = keep + H;
      const up = loss();
      w[i] = keep - H;
      const down = loss();
      w[i] = keep;
      err = Math.max(err, Math.abs((up - down) / (2 * H) - g[i]!));
    }
    if (err / scale > worst) [worst, worstName] = [err / scale, name];
  }
  return { lossErr, worst, worstName };
}

export const CASES: Array<{ key: string; name: string; opts?: FixtureOptions; methods: Method[]; what: string }> = [
  { key: 'tiny-llama', name: 'tiny-llama', methods: ['cpt', 'sft', 'dpo', 'ipo', 'orpo'], what: 'tied, fused q|k|v and gate|up' },
  { key: 'tiny-llama-untied', name: 'tiny-llama-untied', methods: ['cpt', 'dpo'], what: 'untied lm_head' },
  { key: 'tiny-qwen2', name: 'tiny-qwen2', methods: ['cpt', 'orpo'], what: 'q/k/v biases' },
  { key: 'tiny-qwen2-unfused', name: 'tiny-qwen2', opts: { load: { fuseProjections: false } }, methods: ['sft'], what: 'biases of unfused q, k, v' },
  { key: 'tiny-qwen3', name: 'tiny-qwen3', methods: ['sft'], what: 'q/k norms' },
  { key: 'tiny-gemma3', name: 'tiny-gemma3', methods: ['cpt', 'dpo'], what: 'sandwich norms as 1 + w, scaled embedding, GeGLU, a sliding layer' },
  { key: 'tiny-llama-split', name: 'tiny-llama-untied', opts: { load: { maxBindingBytes: 6000, fuseProjections: false } }, methods: ['cpt'], what: 'split tables, 3-row logits blocks, unfused projections' },
  { key: 'tiny-llama-bf16', name: 'tiny-llama-bf16', methods: ['cpt'], what: 'BF16 weights, f32 gradients' },
];

