// The UI's half of a long job's lifecycle (the worker's half is worker/jobs.ts): one job at a time per runner, its
// progress, Cancel/Escape, and how it ended (a notice, or an error that names the file and tensor). The job runs in
// the worker (a Job with a cancel id, followed with `follow`) or here (an AbortController, e.g. writing files into a
// folder). A runner lives in a panel's session object (src/app/lib/*-session), not in the component, so a job, its
// progress and its Cancel survive a switch to another tab and back.
import type { SerializedError } from '../../common/errors.ts';
import type { Progress } from '../../io/progress.ts';
import { StudioError, toSerialized, type Job } from './studio-client.svelte.ts';

export interface RunningTask {
  verb: string;
  label: string;
  progress: Progress | null;
  cancelling: boolean;
}

export interface TaskControl {
  onProgress: (p: Progress) => void;
  signal: AbortSignal;
  /** Follows a worker job: cancel() reaches it; resolves with its result. */
  follow: <T>(job: Job<T>) => Promise<T>;
}

export interface RunOptions {
  /** the notice when the job was cancelled (default: "Cancelled: <verb> <label>. Nothing was kept.") */
  cancelled?: () => string;
}

export class JobRunner {
  task = $state<RunningTask | null>(null);
  error = $state<SerializedError | null>(null);
  notice = $state<string | null>(null);
  #jobId: string | null = null;
  #abort: AbortController | null = null;

  /** `cancelJob` reaches the worker (StudioClient.cancelJob) */
  constructor(private readonly cancelJob: (jobId: string) => void) {}

  get busy(): boolean {
    return this.task !== null;
  }

  /** Runs `work`; its resolved string is the notice. A cancel says "Cancelled." instead of an error. */
  async run(verb: string, label: string, work: (c: TaskControl) => Promise<string>, opts: RunOptions = {}): Promise<boolean> {
    if (this.task) return false;
    this.error = null;
    this.notice = null;
    const abort = new AbortController();
    this.#abort = abort;
    this.#jobId = null;
    this.task = { verb, label, progress: null, cancelling: false };
    try {
      this.notice = await work({
        onProgress: (p) => {
          if (this.task) this.task.progress = p;
        },
        signal: abort.signal,
        follow: (job) => {
          this.#jobId = job.id;
          // a Cancel clicked before the worker job existed reaches it now
          if (abort.signal.aborted) this.cancelJob(job.id);
          return job.done;
        },
      });
      return true;
    } catch (e) {
      const cancelled = (e instanceof StudioError && e.cancelled) || (e as { name?: string } | null)?.name === 'CancelledError' || abort.signal.aborted;
      if (cancelled) this.notice = opts.cancelled?.() ?? `Cancelled: ${verb.toLowerCase()} ${label}. Nothing was kept.`;
      else this.error = toSerialized(e);
      return false;
    } finally {
      this.task = null;
      this.#abort = null;
      this.#jobId = null;
    }
  }

  cancel(): void {
    if (!this.task || this.task.cancelling) return;
    this.task.cancelling = true;
    this.#abort?.abort();
    if (this.#jobId) this.cancelJob(this.#jobId);
  }
}
