// What the merge tests share: model folders read into memory, in-memory output sinks, weights as f32, and SLERP
// from the formula (float64, rounded to f32 once) to compare merged tensors with.
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { memoryModelFiles, type ModelFiles } from '../../../src/io/model-files.ts';
import { openCheckpoint } from '../../../src/io/safetensors/checkpoint.ts';
import type { ByteSink } from '../../../src/io/bytes.ts';

export type Weights = Map<string, { shape: number[]; data: Float32Array }>;

export function readDir(dir: string): Record<string, Uint8Array> {
  return Object.fromEntries(readdirSync(dir).filter((f) => !f.startsWith('.')).map((f) => [f, new Uint8Array(readFileSync(join(dir, f)))]));
}

export function concat(parts: Uint8Array[]): Uint8Array {
  const all = new Uint8Array(parts.reduce((s, p) => s + p.byteLength, 0));
  let o = 0;
  for (const p of parts) {
    all.set(p, o);
    o += p.byteLength;
  }
  return all;
}

/** Sinks that keep each file's chunks in memory; `model` serves the closed ones as a folder. */
export class MemorySinks {
  files = new Map<string, Uint8Array[]>();
  closed = new Set<string>();
  open = async (name: string): Promise<ByteSink> => {
    const chunks: Uint8Array[] = [];
    this.files.set(name, chunks);
    return { write: async (c) => void chunks.push(c.slice()), close: async () => void this.closed.add(name) };
  };
  /** only closed files, as a committing sink would publish them */
  model(label = 'out'): ModelFiles {
    const rec: Record<string, Uint8Array> = {};
    for (const name of this.closed) rec[name] = concat(this.files.get(name)!);
    return memoryModelFiles(rec, label);
  }
}

export async function readWeights(m: ModelFiles): Promise<Weights> {
  const ck = await openCheckpoint(m);
  const w: Weights = new Map();
  for (const n of ck.names()) w.set(n, { shape: ck.info(n).shape, data: await ck.readF32(n) });
  return w;
}

/** SLERP from the formula, float64, rounded to f32 once. */
export function slerpRef(t: number, a: Float32Array, b: Float32Array): Float32Array {
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
