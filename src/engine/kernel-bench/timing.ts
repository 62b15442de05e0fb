/**
 * GPU time of one case repetition. With timestamp-query a batch of repetitions is one compute pass whose start
 * and end the GPU stamps (dispatch.ts timestampNextPass), so the figure is kernel time without submit, JavaScript
 * or readback; without it, the wall time from submit to onSubmittedWorkDone of a batch of repetitions, less the same
 * for an empty submit, labelled 'wall' wherever it is shown.
 */
import { endPass, timestampNextPass } from '../ops/dispatch.ts';
import type { PreparedCase } from './cases.ts';

export type TimingMethod = 'timestamp' | 'wall';

/** Repetitions aim at this much GPU time per measurement (bounded by MAX_REPS), after one untimed run (tests ask less). */
export const TARGET_MS = 150;
const MAX_REPS = 50;
/** Beyond this one repetition is the measurement. */
const SLOW_MS = 1000;

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;

export function timingMethod(device: GPUDevice): TimingMethod {
  return device.features.has('timestamp-query') ? 'timestamp' : 'wall';
}

/** GPU milliseconds of `reps` repetitions in one compute pass, per repetition. */
async function timestamped(device: GPUDevice, c: PreparedCase, reps: number): Promise<number> {
  const querySet = device.createQuerySet({ type: 'timestamp', count: 2 });
  const resolve = device.createBuffer({ size: 16, usage: 0x200 /* QUERY_RESOLVE */ | 0x04 /* COPY_SRC */ });
  const staging = device.createBuffer({ size: 16, usage: 0x01 /* MAP_READ */ | 0x08 /* COPY_DST */ });
  try {
    const enc = device.createCommandEncoder({ label: 'kernel-bench.timed' });
    timestampNextPass(enc, { querySet, beginningOfPassWriteIndex: 0, endOfPassWriteIndex: 1 });
    for (let i = 0; i < reps; i++) await c.encode(enc);
    endPass(enc);
    enc.resolveQuerySet(querySet, 0, 2, resolve, 0);
    enc.copyBufferToBuffer(resolve, 0, staging, 0, 16);
    device.queue.submit([enc.finish()]);
    await staging.mapAsync(0x01);
    const ns = new BigUint64Array(staging.getMappedRange().slice(0));
    staging.unmap();
    return Number(ns[1]! - ns[0]!) / 1e6 / reps;
  } finally {
    querySet.destroy();
    resolve.destroy();
    staging.destroy();
  }
}

async function wall(device: GPUDevice, c: PreparedCase | null, reps: number): Promise<number> {
  const enc = device.createCommandEncoder({ label: 'kernel-bench.wall' });
  if (c) for (let i = 0; i < reps; i++) await c.encode(enc);
  const t0 = performance.now();
  device.queue.submit([enc.finish()]);
  await device.queue.onSubmittedWorkDone();
  return performance.now() - t0;
}

/**
 * Milliseconds per repetition (median of 3 measurements), by `method`. The case has run once already. The
 * repetitions of a measurement share one pass (timestamps) or one submit (wall): each writes the same outputs,
 * so they run one after another, and a timer's tick (SwiftShader stamps in ~66 µs steps) is divided by their count.
 */
export async function timeCase(device: GPUDevice, c: PreparedCase, method: TimingMethod, targetMs = TARGET_MS): Promise<{ ms: number; reps: number }> {
  const once = async (reps: number) => {
    if (method === 'timestamp') return timestamped(device, c, reps);
    const empty = await wall(device, null, 0);
    return Math.max(0, (await wall(device, c, reps)) - empty) / reps;
  };
  // one repetition sizes the batch; a case that takes seconds (a 49152-row head on a CPU adapter) is measured once
  const first = await once(1);
  if (first >= SLOW_MS) return { ms: first, reps: 1 };
  const reps = Math.max(1, Math.min(MAX_REPS, Math.round(targetMs / Math.max(first, 1e-3))));
  const runs: number[] = [];
  for (let n = 0; n < 3; n++) runs.push(await once(reps));
  return { ms: median(runs), reps };
}
