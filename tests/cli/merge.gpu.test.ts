// `alloy merge --device gpu`: every SLERP tensor through shaders/slerp.wgsl, checked against the CPU merge of
// the same config (f32 GPU reduction vs float64 CPU dots: 1e-5 relative), and t = 0 still gives the base exactly.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { copyFileSync, mkdirSync, mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { main, type Io } from '../../src/cli/main.ts';
import { ensureFixtures, OWNER, REVISION } from '../../scripts/fixtures/index.ts';
import { dirModelFiles } from '../../src/io/node/dir-model-files.ts';
import { fileSink } from '../../src/io/node/fs.ts';
import { openCheckpoint } from '../../src/io/safetensors/checkpoint.ts';
import { writeSafetensors } from '../../src/io/safetensors/writer.ts';
import { randomArray } from '../helpers/gpu.ts';

const BASE = resolve('public/hub', OWNER, 'tiny-llama', 'resolve', REVISION);
let tmp: string;
const quiet: Io = { out: () => {}, err: () => {} };

async function weights(dir: string): Promise<Map<string, Float32Array>> {
  const ck = await openCheckpoint(dirModelFiles(dir));
  const w = new Map<string, Float32Array>();
  for (const n of ck.names()) w.set(n, await ck.readF32(n));
  return w;
}

const yaml = (t: number) => `models:\n  - model: ${BASE}\n  - model: other\nmerge_method: slerp\nbase_model: ${BASE}\nparameters:\n  t: ${t}\n`;

beforeAll(async () => {
  await ensureFixtures('public/hub');
  tmp = mkdtempSync(join(tmpdir(), 'alloy-merge-gpu-'));
  const other = join(tmp, 'other');
  mkdirSync(other);
  for (const f of readdirSync(BASE)) if (f !== 'model.safetensors') copyFileSync(join(BASE, f), join(other, f));
  const ck = await openCheckpoint(dirModelFiles(BASE));
  const tensors = [];
  for (const [i, n] of ck.names().entries()) {
    const raw = await ck.readF32(n);
    const noise = randomArray(raw.length, 900 + i);
    const w = raw.map((x, j) => x + 0.3 * noise[j]!);
    tensors.push({ name: n, dtype: 'F32' as const, shape: ck.info(n).shape, data: new Uint8Array(w.buffer) });
  }
  await writeSafetensors(await fileSink(join(other, 'model.safetensors')), tensors);
  writeFileSync(join(tmp, 'm.yml'), yaml(0.4));
  writeFileSync(join(tmp, 'z.yml'), yaml(0));
});

afterAll(() => rmSync(tmp, { recursive: true, force: true }));

describe('alloy merge --device gpu', () => {
  it('matches the CPU merge, and t = 0 is the base exactly', async () => {
    expect(await main(['merge', join(tmp, 'm.yml'), '--out', join(tmp, 'cpu'), '--device', 'cpu'], quiet)).toBe(0);
    expect(await main(['merge', join(tmp, 'm.yml'), '--out', join(tmp, 'gpu'), '--device', 'gpu'], quiet)).toBe(0);
    const cpu = await weights(join(tmp, 'cpu'));
    const gpu = await weights(join(tmp, 'gpu'));
    for (const [name, want] of cpu) {
      const got = gpu.get(name)!;
      let m = 0;
      for (let i = 0; i < want.length; i++) m = Math.max(m, Math.abs(got[i]! - want[i]!) / Math.max(1, Math.abs(want[i]!)));
      expect(m, name).toBeLessThan(1e-5);
    }
    expect(await main(['merge', join(tmp, 'z.yml'), '--out', join(tmp, 'gpu0'), '--device', 'gpu'], quiet)).toBe(0);
    const base = await weights(BASE);
    const zero = await weights(join(tmp, 'gpu0'));
    for (const [name, w] of base) expect(Array.from(zero.get(name)!), name).toEqual(Array.from(w));
  });
});
