// The lifecycle of every call across the worker boundary, in one place. A call returns a Result, so an error keeps
// its name and location through comlink (which would keep only name, message and stack); a long call is also a job:
// cancellable by id, its callbacks reported fire and forget, and their comlink proxies released when it ends.
import * as Comlink from 'comlink';
import { AlloyError, serializeError } from '../common/errors.ts';
import type { Result } from './api.ts';

/** Runs `fn` and folds any throw into a Result. */
export async function guard<T>(fn: () => Promise<T>): Promise<Result<T>> {
  try {
    return { ok: true, value: await fn() };
  } catch (e) {
    return { ok: false, error: serializeError(e) };
  }
}

type Callback = (x: never) => unknown;

/**
 * A report to the UI that is not awaited: awaiting each one would pace the job by the UI's round trips. A report
 * the UI can no longer take (its page went away) is dropped, not an unhandled rejection here.
 */
function fireAndForget<C extends Callback>(cb: C | undefined): C | undefined {
  if (!cb) return undefined;
  return ((x: never) => {
    Promise.resolve(cb(x)).catch(() => {});
  }) as C;
}

/** A comlink callback proxy holds a MessagePort until released; a job's callbacks are released when it ends. */
function release(cb: unknown): void {
  (cb as Partial<Comlink.ProxyMethods> | undefined)?.[Comlink.releaseProxy]?.();
}

/** The running jobs by id: `run` starts one, `cancel` aborts its signal. */
export class JobTable {
  readonly #running = new Map<string, AbortController>();

  /**
   * Runs `fn` as job `jobId`: it gets the job's abort signal and `callbacks` wrapped fire and forget (in the same
   * order); whatever way it ends, the job is forgotten and the callbacks' proxies released, and a throw comes back as
   * a Result.
   */
  run<T, const C extends (Callback | undefined)[]>(
    jobId: string,
    callbacks: C,
    fn: (signal: AbortSignal, ...callbacks: NoInfer<C>) => Promise<T>,
  ): Promise<Result<T>> {
    return guard(async () => {
      try {
        if (this.#running.has(jobId)) throw new AlloyError(`A job with id ${jobId} is already running`);
        const controller = new AbortController();
        this.#running.set(jobId, controller);
        try {
          return await fn(controller.signal, ...(callbacks.map(fireAndForget) as unknown as C));
        } finally {
          this.#running.delete(jobId);
        }
      } finally {
        for (const cb of callbacks) release(cb);
      }
    });
  }

  cancel(jobId: string): void {
    this.#running.get(jobId)?.abort();
  }
}
