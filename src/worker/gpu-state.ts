// The worker's GPU: one device, with the buffer pool and kernel registry that belong to it. Acquired on first
// use, not at start-up (merely opening the studio should not claim a GPU), and forgotten when the device is lost,
// so the next call acquires a fresh one. Pool and registry live and die with their device: their buffers and
// pipelines are worthless on any other.
import { AlloyError } from '../common/errors.ts';
import { acquireDevice, type GpuContext } from '../engine/gpu/device.ts';
import type { KernelFamily } from '../engine/kernel-family.ts';
import { BufferPool } from '../engine/gpu/buffer-pool.ts';
import { KernelRegistry } from '../engine/gpu/kernels.ts';

export interface GpuEngine {
  ctx: GpuContext;
  pool: BufferPool;
  kernels: KernelRegistry;
}

export type LostListener = (info: { reason: string; message: string }, lost: GpuEngine) => void;

let pending: Promise<GpuEngine> | null = null;
/** the kernel family forced on the next device acquired (the studio's ?kernels=); null: by adapter */
let forcedFamily: KernelFamily | null = null;
/** subgroups forced on or off on the next device acquired (the studio's ?subgroups=); null: when it has them */
let forcedSubgroups: boolean | null = null;
/** the engine once acquired, so memory can be read without waiting on (or triggering) an acquisition */
let ready: GpuEngine | null = null;
const listeners = new Set<LostListener>();

export function gpuEngine(): Promise<GpuEngine> {
  if (!pending) {
    const p = acquireDevice({ ...(forcedFamily ? { kernels: forcedFamily } : {}), ...(forcedSubgroups !== null ? { subgroups: forcedSubgroups } : {}) }).then(
      (ctx): GpuEngine => ({ ctx, pool: new BufferPool(ctx.device), kernels: new KernelRegistry(ctx.device) }),
      (e: unknown) => {
        pending = null; // let a later call retry (e.g. after the user enables WebGPU)
        const reason = e instanceof Error ? e.message : String(e);
        throw new AlloyError(reason.startsWith('WebGPU unavailable') ? reason : `WebGPU unavailable: ${reason}`, {}, { cause: e });
      },
    );
    pending = p;
    void p.then(
      (engine) => {
        ready = engine;
        // A lost device (driver reset, OOM, destroy) is gone for good: forget it, then tell whoever held its buffers.
        void engine.ctx.lost.then((info) => {
          if (pending === p) pending = null;
          if (ready === engine) ready = null;
          for (const fn of listeners) fn({ reason: info.reason, message: info.message }, engine);
        });
      },
      () => {},
    );
  }
  return pending;
}

/** Forces `family` (null: by adapter) on devices acquired from now on; a device already held keeps its own. */
export function requestKernelFamily(family: KernelFamily | null): void {
  forcedFamily = family;
}

/** Forces subgroups on or off (null: when the device has them) on devices acquired from now on, as requestKernelFamily. */
export function requestSubgroups(on: boolean | null): void {
  forcedSubgroups = on;
}

/** The current engine, or null when no device is held (never acquired, or lost). */
export function currentGpuEngine(): GpuEngine | null {
  return ready;
}

export function onDeviceLost(fn: LostListener): () => void {
  listeners.add(fn);
  return () => listeners.delete(fn);
}
