// The Trainer's host-side pieces without a GPU: the per-epoch permutation (seeded, a permutation, different per
// epoch, the same on every call), defaults and validation of the config, pause/resume/cancel controls, and the
// Node directory checkpoint store (atomic names: a leftover temp file is never listed).
import { afterAll, describe, expect, it } from 'vitest';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { epochOrder, TrainControl, trainConfig } from '../../../src/engine/train/trainer.ts';
import { TRAIN_DEFAULTS } from '../../../src/engine/train/defaults.ts';
import { dirCheckpointStore } from '../../../src/io/node/checkpoint-dir.ts';

const tmp = mkdtempSync(join(tmpdir(), 'alloy-trainer-unit-'));
afterAll(() => rmSync(tmp, { recursive: true, force: true }));

describe('Trainer host side', () => {
  it('epoch order: a seeded permutation, new each epoch, reproducible', () => {
    const a = epochOrder(50, 42, 0);
    expect([...a].sort((x, y) => x - y)).toEqual(Array.from({ length: 50 }, (_, i) => i));
    expect(epochOrder(50, 42, 0)).toEqual(a);
    expect(epochOrder(50, 42, 1)).not.toEqual(a);
    expect(epochOrder(50, 43, 0)).not.toEqual(a);
    expect([...epochOrder(1, 42, 0)]).toEqual([0]);
  });

  it('config: defaults from defaults.ts, warm-up = ceil(ratio · steps), bad values refused', () => {
    const c = trainConfig({ method: 'sft', steps: 25 });
    expect(c).toMatchObject({ lr: TRAIN_DEFAULTS.lr, schedule: 'cosine', warmupSteps: 3, maxGradNorm: 1, beta1: 0.9, beta2: 0.999, eps: 1e-8, weightDecay: 0, seed: 42 });
    expect(trainConfig({ method: 'sft', steps: 10, warmupSteps: 0 }).warmupSteps).toBe(0);
    expect(() => trainConfig({ method: 'sft', steps: 0 })).toThrow(/steps must be a positive integer/);
    expect(() => trainConfig({ method: 'sft', steps: 5, accum: 1.5 })).toThrow(/accum/);
    expect(() => trainConfig({ method: 'sft', steps: 5, lr: -1 })).toThrow(/lr/);
  });

  it('controls: pause holds until resume; cancel releases a pause', async () => {
    const c = new TrainControl();
    await c.waitWhilePaused(); // running: returns at once
    c.pause();
    let released = false;
    const waiting = c.waitWhilePaused().then(() => (released = true));
    await new Promise((r) => setTimeout(r, 20));
    expect(released).toBe(false);
    c.resume();
    await waiting;
    expect(released).toBe(true);
    c.pause();
    const w2 = c.waitWhilePaused();
    c.cancel();
    await w2;
    expect(c.cancelled).toBe(true);
    expect(c.paused).toBe(false);
  });

  it('directory store: save, list ascending, open, replace, delete; temp files are not checkpoints', async () => {
    const dir = join(tmp, 'ck');
    const s = dirCheckpointStore(dir);
    expect(await s.steps()).toEqual([]);
    await s.save(20, new Blob([new Uint8Array([1, 2, 3])]));
    await s.save(3, new Blob([new Uint8Array([9])]));
    writeFileSync(join(dir, '.checkpoint-40.123.tmp'), 'half a write');
    expect(await s.steps()).toEqual([3, 20]);
    const src = await s.open(20);
    expect([...(await src.read(0, src.size))]).toEqual([1, 2, 3]);
    await s.save(20, new Blob([new Uint8Array([7, 7])]));
    expect([...readFileSync(join(dir, 'checkpoint-20.safetensors'))]).toEqual([7, 7]);
    await s.delete(3);
    expect(await s.steps()).toEqual([20]);
    await expect(s.open(3)).rejects.toThrow(/no checkpoint for step 3/);
  });
});
