// SLERP of two Qwen3, two SmolLM3 and two Gemma 3 checkpoints (each fixture and a copy moved by noise): every
// output tensor — the q/k norms and Gemma's pre/post-feed-forward norms included, per layer as mergekit's
// architecture files list them — equals SLERP from the formula, and the output config keeps what makes the
// architecture (its class, layer types, NoPE layers). Float64 reference rounded to f32 once; tolerance as
// run.test.ts (1e-5 relative).
import { beforeAll, describe, expect, it } from 'vitest';
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { ensureFixtures, OWNER, REVISION } from '../../../scripts/fixtures/index.ts';
import { memoryModelFiles, readJson, type ModelFiles } from '../../../src/io/model-files.ts';
import { openCheckpoint, writeCheckpoint } from '../../../src/io/safetensors/checkpoint.ts';
import { encodeFromF32 } from '../../../src/io/safetensors/dtypes.ts';
import type { ByteSink } from '../../../src/io/bytes.ts';
import { parseMergeYaml } from '../../../src/engine/merge/config.ts';
import { runMerge } from '../../../src/engine/merge/run.ts';
import { expectedTensorShapes, parseModelConfig } from '../../../src/io/config.ts';
import { randomArray } from '../../helpers/gpu.ts';

type Weights = Map<string, { shape: number[]; data: Float32Array }>;

function readDir(dir: string): Record<string, Uint8Array> {
  return Object.fromEntries(readdirSync(dir).filter((f) => !f.startsWith('.')).map((f) => [f, new Uint8Array(readFileSync(join(dir, f)))]));
}

function concat(parts: Uint8Array[]): Uint8Array {
  const all = new Uint8Array(parts.reduce((s, p) => s + p.byteLength, 0));
  let o = 0;
  for (const p of parts) {
    all.set(p, o);
    o += p.byteLength;
  }
  return all;
}

async function readWeights(m: ModelFiles): Promise<Weights> {
  const ck = await openCheckpoint(m);
  const w: Weights = new Map();
  for (const n of ck.names()) w.set(n, { shape: ck.info(n).shape, data: await ck.readF32(n) });
  return w;
}

function slerpRef(t: number, a: Float32Array, b: Float32Array): Float32Array {
  let aa = 0, bb = 0, ab = 0;
  for (let i = 0; i < a.length; i++) {
    aa += a[i]! * a[i]!;
    bb += b[i]! * b[i]!;
    ab += a[i]! * b[i]!;
  }
  const dot = ab / (Math.sqrt(aa) * Math.sqrt(bb));
  const out = new Float32Array(a.length);
  if (Math.abs(dot) > 0.9995) {
    for (let i = 0; i < a.length; i++) out[i] = (1 - t) * a[i]! + t * b[i]!;
    return out;
  }
  const th = Math.acos(dot);
  for (let i = 0; i < a.length; i++) out[i] = (Math.sin((1 - t) * th) * a[i]! + Math.sin(t * th) * b[i]!) / Math.sin(th);
  return out;
}

const files: Record<string, Record<string, Uint8Array>> = {};
beforeAll(async () => {
  await ensureFixtures('public/hub');
  for (const name of ['tiny-qwen3', 'tiny-smollm3', 'tiny-gemma3']) files[name] = readDir(join('public/hub', OWNER, name, 'resolve', REVISION));
});

describe('SLERP of the new architectures', () => {
  for (const name of ['tiny-qwen3', 'tiny-smollm3', 'tiny-gemma3']) {
    it(`${name}: every tensor is SLERP of the parents' and the config keeps the architecture`, async () => {
      const a = memoryModelFiles(files[name]!, 'A');
      const aw = await readWeights(a);
      const bw: Weights = new Map([...aw].map(([n, t], i) => {
        const noise = randomArray(t.data.length, 500 + i);
        return [n, { shape: t.shape, data: t.data.map((x, j) => x + 0.3 * noise[j]!) }];
      }));
      const chunks = new Map<string, Uint8Array[]>();
      const open = async (f: string): Promise<ByteSink> => {
        const c: Uint8Array[] = [];
        chunks.set(f, c);
        return { write: async (x) => void c.push(x.slice()), close: async () => {} };
      };
      await writeCheckpoint([...bw].map(([n, t]) => ({ name: n, dtype: 'F32' as const, shape: t.shape, data: encodeFromF32('F32', t.data) })), { openSink: open });
      const bFiles = { ...files[name]! };
      delete bFiles['model.safetensors'];
      for (const [k, v] of chunks) bFiles[k] = concat(v);
      const models: Record<string, ModelFiles> = { A: a, B: memoryModelFiles(bFiles, 'B') };

      const outChunks = new Map<string, Uint8Array[]>();
      await runMerge({
        config: parseMergeYaml('models:\n  - model: A\n  - model: B\nmerge_method: slerp\nbase_model: A\nparameters:\n  t: 0.3\n').config,
        resolveModel: async (ref) => models[ref]!,
        openSink: async (f) => {
          const c: Uint8Array[] = [];
          outChunks.set(f, c);
          return { write: async (x) => void c.push(x.slice()), close: async () => {} };
        },
      });
      const out = memoryModelFiles(Object.fromEntries([...outChunks].map(([k, v]) => [k, concat(v)])), 'out');
      const got = await readWeights(out);
      const cfgIn = parseModelConfig(await readJson(a, 'config.json'));
      const cfgOut = parseModelConfig(await readJson(out, 'config.json'));
      expect(cfgOut).toEqual(cfgIn);
      expect([...got.keys()].sort()).toEqual([...expectedTensorShapes(cfgIn).keys()].sort());
      let worst = 0;
      for (const [n, t] of got) {
        const want = slerpRef(0.3, aw.get(n)!.data, bw.get(n)!.data);
        for (let i = 0; i < want.length; i++) worst = Math.max(worst, Math.abs(t.data[i]! - want[i]!) / Math.max(1, Math.abs(want[i]!)));
      }
      console.log(`${name}: SLERP t=0.3 of ${got.size} tensors, max rel err ${worst.toExponential(2)}`);
      expect(worst).toBeLessThan(1e-5);
    });
  }
});
