// The one lifecycle of a long worker call (src/worker/jobs.ts): cancellable by id, callbacks fire and forget,
// their comlink proxies released however the job ends, errors as Results with their name and location.
import * as Comlink from 'comlink';
import { describe, expect, it } from 'vitest';
import { AlloyError, CancelledError, throwIfAborted } from '../../src/common/errors.ts';
import { JobTable } from '../../src/worker/jobs.ts';

/** A stand-in for a comlink callback proxy: counts calls and releases. */
function fakeProxy<T>() {
  const seen: T[] = [];
  let released = 0;
  const fn = Object.assign((x: T) => void seen.push(x), { [Comlink.releaseProxy]: () => void released++ });
  return { fn, seen, released: () => released };
}

describe('JobTable', () => {
  it('hands the callbacks to the job and releases them when it ends', async () => {
    const jobs = new JobTable();
    const a = fakeProxy<number>();
    const b = fakeProxy<string>();
    const r = await jobs.run('j1', [a.fn, b.fn], async (_signal, onA, onB) => {
      onA?.(1);
      onB?.('x');
      return 42;
    });
    expect(r).toEqual({ ok: true, value: 42 });
    expect(a.seen).toEqual([1]);
    expect(b.seen).toEqual(['x']);
    expect([a.released(), b.released()]).toEqual([1, 1]);
  });

  it('cancel(id) aborts the job; the error comes back as a Result and the callbacks are released', async () => {
    const jobs = new JobTable();
    const p = fakeProxy<number>();
    let started!: () => void;
    const running = new Promise<void>((r) => (started = r));
    const result = jobs.run('j2', [p.fn, undefined], (signal, _onProgress, _unused) => {
      started();
      return new Promise<never>((_, reject) => signal.addEventListener('abort', () => reject(new CancelledError('merge'))));
    });
    await running;
    jobs.cancel('j2');
    expect(await result).toEqual({ ok: false, error: { name: 'CancelledError', message: 'merge cancelled', where: {} } });
    expect(p.released()).toBe(1);
    jobs.cancel('j2'); // a finished job's id is forgotten: nothing to abort
  });

  it('keeps an error location and refuses a second job under a running id', async () => {
    const jobs = new JobTable();
    const r = await jobs.run('j3', [], async () => {
      throw new AlloyError('bad tensor', { tensor: 'model.norm.weight' });
    });
    expect(r).toEqual({ ok: false, error: { name: 'AlloyError', message: 'bad tensor', where: { tensor: 'model.norm.weight' } } });

    let release!: () => void;
    const first = jobs.run('j4', [], () => new Promise<void>((r) => (release = r)));
    const p = fakeProxy<number>();
    const second = await jobs.run('j4', [p.fn], async (signal, _onProgress) => throwIfAborted(signal));
    expect(second.ok).toBe(false);
    expect(p.released()).toBe(1);
    release();
    expect(await first).toEqual({ ok: true, value: undefined });
  });

  it('drops a report the UI can no longer take instead of failing the job', async () => {
    const jobs = new JobTable();
    const gone = (_p: number) => Promise.reject(new Error('port closed'));
    const r = await jobs.run('j5', [gone], async (_s, onProgress) => {
      onProgress?.(1);
      await new Promise((res) => setTimeout(res, 0));
      return 'ok';
    });
    expect(r).toEqual({ ok: true, value: 'ok' });
  });
});
